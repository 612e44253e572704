// storage::multilevel under mpiexec (n = 1, 2, 4): the background copy to the slow level is
// committed there only when every rank's copy is durable; a version aborted on one rank (its fast
// write failed) while the others had begun its background copy leaves nothing on the slow level.
#include <catch2/catch.hpp>
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/consistency/eventual.hpp>
#include <strata/storage/multilevel.hpp>
#include <support/files.hpp>

#include <algorithm>
#include <sstream>

using namespace strata;
namespace fs = std::filesystem;

namespace {
/// The fast level of the last rank refuses version 2.
struct refusing_dir : storage::posix_dir {
  static constexpr std::string_view name = "posix_dir";
  int rank = 0, refuse_on = -1;
  template <comm::communicator Comm>
  void attach(Comm const& c, fs::path const& dir) {
    rank = c.rank();
    refuse_on = c.size() - 1;
    posix_dir::attach(c, dir);
  }
  void write_shard(std::uint64_t v, snapshot::encoded_shard const& s) {
    if (v == 2 && rank == refuse_on) throw checkpoint_error("test: the node-local disk refuses version 2");
    posix_dir::write_shard(v, s);
  }
  friend bool operator==(refusing_dir const&, refusing_dir const&) noexcept { return true; }
};
}  // namespace

TEST_CASE("multilevel across ranks: an aborted version's background copy is never committed on the slow level",
          "[mpi][multilevel]") {
  comm::mpi world{MPI_COMM_WORLD};
  test::scratch_dir dir{world, "mpi-ml-abort"};
  using store = storage::multilevel<refusing_dir, storage::posix_dir, 2>;
  using ck_t = checkpointer<comm::mpi, snapshot::full, store>;
  std::ostringstream log;
  std::vector<double> u(2048, double(world.rank()));
  {
    ck_t ck{world, {.directory = dir.path(), .retention = {.count = 5}, .log_level = verbosity::info, .log = &log}};
    ck.protect("u", u);
    REQUIRE(ck.checkpoint() == 1);
    u[3] = 2.0;
    CHECK_THROWS_AS(ck.checkpoint(), checkpoint_error);  // version 2: refused on the last rank, aborted everywhere
    ck.wait();  // the copy other ranks began is settled: given up, its files removed
    CHECK_FALSE(fs::exists(dir.path() / "v00000002.manifest.json"));
    CHECK_FALSE(fs::exists(dir.path() / "v00000002" / ("r" + std::string(4, '0') + std::to_string(world.rank()) + ".shard")));
    if (world.rank() == 0 && world.size() > 1)
      CHECK_THAT(log.str(), Catch::Contains("the background flush of version 2 to the slow level failed"));
    u[3] = 4.0;
    REQUIRE(ck.checkpoint() == 3);
    REQUIRE(ck.checkpoint() == 4);  // flushed: committed on the slow level once every rank's copy is durable
    ck.wait();
    CHECK(fs::exists(dir.path() / "v00000004.manifest.json"));
  }
  // The fast level lost: version 4 comes back from the slow level alone, on every rank.
  world.barrier();
  if (world.rank() == 0) fs::remove_all(dir.path() / "fast");
  world.barrier();
  std::vector<double> back(2048, -1.0);
  ck_t ck{world, {.directory = dir.path(), .log = nullptr}};
  ck.protect("u", back);
  CHECK(ck.restore_latest() == std::optional<std::uint64_t>(4));
  CHECK(back == u);
}

// SPEC R5/R8: one rank lost its newest fast copy; it alone is served by the slow level, the others
// read their own fast copies (left as they were), and no rank is rolled back to an older version.
TEMPLATE_TEST_CASE("multilevel: a rank that lost its newest fast shard is served by the slow level alone",
                   "[mpi][multilevel]", consistency::coordinated, consistency::eventual) {
  comm::mpi world{MPI_COMM_WORLD};
  test::scratch_dir dir{world, "mpi-ml-lagging"};
  using store = storage::multilevel<storage::posix_dir, storage::posix_dir, 2>;
  using ck_t = checkpointer<comm::mpi, snapshot::full, store, TestType>;
  int const r = world.rank(), last = world.size() - 1;
  std::vector<double> u(4096);
  {
    ck_t ck{world, {.directory = dir.path(), .log = nullptr}};
    ck.protect("u", u);
    for (std::uint64_t v = 1; v <= 4; ++v) {
      std::fill(u.begin(), u.end(), double(r) * 100 + double(v));
      REQUIRE(ck.checkpoint() == v);
    }
    ck.wait();
  }
  auto const fast = [&](int rank) { return test::shard_path(dir.path() / "fast", 4, rank); };
  world.barrier();
  if (r == last) REQUIRE(fs::remove(fast(last)));
  world.barrier();
  fs::file_time_type before{};
  if (r != last) before = fs::last_write_time(fast(r));
  std::vector<double> back(4096, -1.0);
  std::ostringstream log;
  ck_t ck{world, {.directory = dir.path(), .log = &log}};
  ck.protect("u", back);
  REQUIRE(ck.restore_latest() == std::optional<std::uint64_t>(4));  // not 3: nobody rolled back
  CHECK(back == std::vector<double>(4096, double(r) * 100 + 4));
  if (r != last) CHECK(fs::last_write_time(fast(r)) == before);   // untouched
  else CHECK_FALSE(fs::exists(fast(last)));                      // its copy came from the slow level
  CHECK_THAT(log.str(), !Catch::Contains("hold no complete, valid copy"));
}
