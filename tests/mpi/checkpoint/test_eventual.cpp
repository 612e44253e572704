// consistency::eventual (SPEC R4, R5, R8) under real mpiexec (registered at n = 1, 2, 4): each rank
// commits alone; a version is usable once every rank holds it; restore takes the newest such version.
#include <catch2/catch.hpp>
#include <strata/strata.hpp>
#include <strata/storage/multilevel.hpp>
#include <strata/storage/node_local.hpp>
#include <support/files.hpp>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

using namespace strata;
namespace fs = std::filesystem;

namespace {
template <class Storage>
using eventual_on = checkpointer<comm::mpi, snapshot::full, Storage, consistency::eventual, trigger::every_n,
                                 retention::keep_last<10>>;
using eventual_ckpt = eventual_on<storage::posix_dir>;

template <class Storage = storage::posix_dir>
typename eventual_on<Storage>::options opts(fs::path const& dir, std::ostream* log = nullptr) {
  return {.directory = dir, .trigger = {.n = 1000}, .log = log, .preemption = {.signals = {}}};
}

/// Waits (up to 60 s) until `p` exists: how a rank learns that another got somewhere without a message.
void await_file(fs::path const& p) {
  for (int i = 0; i < 6000 && !fs::exists(p); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(fs::exists(p));
}

struct rank_state {
  std::vector<double> field = std::vector<double>(500);
  std::uint64_t tag = 0;
  void set(int rank, std::uint64_t t) {
    tag = t;
    for (std::size_t i = 0; i < field.size(); ++i) field[i] = rank * 1e6 + static_cast<double>(t * 1000 + i);
  }
  [[nodiscard]] bool is(int rank, std::uint64_t t) const {
    rank_state want;
    want.set(rank, t);
    return tag == t && field == want.field;
  }
};
}  // namespace

// The same protocol over every storage that writes alone: the shared directory, node-local shards
// (one node here: tests/cluster/eventual_levels.sh runs it across nodes) and the two levels together.
TEMPLATE_TEST_CASE("eventual: a rank checkpoints while another has not started; the manifest's version vector is measured",
                   "[mpi][eventual]", storage::posix_dir, storage::node_local,
                   (storage::multilevel<storage::node_local, storage::posix_dir, 2>)) {
  using ckpt_type = eventual_on<TestType>;
  comm::mpi world;
  int const r = world.rank(), last = world.size() - 1;
  test::scratch_dir dir{world, "eventual"};
  rank_state s;
  {
    ckpt_type ckpt{world, opts<TestType>(dir)};
    ckpt.protect("field", s.field);
    ckpt.protect("tag", s.tag);
    auto const record = [&](std::uint64_t v, int rank) { return checkpoint::detail::rank_record_path(dir, v, static_cast<std::uint32_t>(rank)); };
    if (r != last || world.size() == 1) {
      for (std::uint64_t v = 1; v <= 3; ++v) {
        s.set(r, v);
        CHECK(ckpt.checkpoint() == v);
      }
    }
    if (world.size() > 1 && r == last) {
      // Rank 0 recorded three versions before this rank took its first: no vote waited for it.
      await_file(record(3, 0));
      s.set(r, 1);
      CHECK(ckpt.checkpoint() == 1);  // version 1: every rank holds it now...
      await_file(dir.path() / "rank0-done");
    }
    if (world.size() > 1 && r == 0) {
      await_file(record(1, last));
      s.set(r, 4);
      CHECK(ckpt.checkpoint() == 4);  // ...and rank 0 makes it usable at its next checkpoint
      auto const text = ckpt.storage().read_commit(1);
      REQUIRE(text);
      auto const m = checkpoint::manifest::parse(*text, "v1");
      CHECK(m.consistency == "eventual");
      REQUIRE(m.version_vector.size() == static_cast<std::size_t>(world.size()));
      CHECK(m.version_vector[0] == 4);     // rank 0 had recorded version 4
      CHECK(m.version_vector[static_cast<std::size_t>(last)] == 1);  // the slow rank only version 1
      std::ofstream{dir.path() / "rank0-done"} << "go\n";
    }
    // The others catch up to four versions each; wait() (collective) makes usable what all hold.
    for (std::uint64_t v = world.size() == 1 ? 4 : r == last ? 2 : r == 0 ? 5 : 4; v <= 4; ++v) {
      s.set(r, v);
      ckpt.checkpoint();
    }
    ckpt.wait();
    CHECK(ckpt.versions() == std::vector<std::uint64_t>{1, 2, 3, 4});
  }
  rank_state back;
  ckpt_type ckpt{world, opts<TestType>(dir)};
  ckpt.protect("field", back.field);
  ckpt.protect("tag", back.tag);
  REQUIRE(ckpt.restore_latest() == std::optional<std::uint64_t>(4));
  CHECK(back.is(r, 4));
  if constexpr (!std::is_same_v<TestType, storage::posix_dir>) {
    // Versions 2 and 4 also went to the shared level, written by each rank before its record.
    if constexpr (requires { ckpt.storage().slow; })
      CHECK(ckpt.storage().slow.list().committed == std::vector<std::uint64_t>{2, 4});
  }
}

TEST_CASE("eventual: a restart restores the newest version every rank holds and drops the rest", "[mpi][eventual]") {
  comm::mpi world;
  int const r = world.rank(), last = world.size() - 1;
  test::scratch_dir dir{world, "eventual-restart"};
  {
    rank_state s;
    eventual_ckpt ckpt{world, opts(dir)};
    ckpt.protect("field", s.field);
    ckpt.protect("tag", s.tag);
    std::uint64_t const mine = (r == last && world.size() > 1) ? 1 : 3;  // the last rank falls behind, then the job ends
    for (std::uint64_t v = 1; v <= mine; ++v) {
      s.set(r, v);
      ckpt.checkpoint();
    }
  }  // the destructor is the first collective: versions 2 and 3 are on some ranks only
  std::uint64_t const want = world.size() > 1 ? 1 : 3;
  rank_state back;
  std::ostringstream log;
  eventual_ckpt ckpt{world, opts(dir, &log)};
  ckpt.protect("field", back.field);
  ckpt.protect("tag", back.tag);
  REQUIRE(ckpt.restore_latest() == std::optional<std::uint64_t>(want));
  CHECK(back.is(r, want));
  world.barrier();
  for (std::uint64_t v = want + 1; v <= 3; ++v) {  // what only some ranks held is gone
    CHECK_FALSE(fs::exists(checkpoint::detail::rank_record_path(dir, v, static_cast<std::uint32_t>(r))));
    CHECK_FALSE(fs::exists(test::shard_path(dir, v, r)));
  }
  back.set(r, 9);
  CHECK(ckpt.checkpoint() > 3);  // a new number: never one a lost attempt used
}

TEST_CASE("eventual: storage that needs collectives is refused; a coordinated restore names unfinished versions",
          "[mpi][eventual]") {
  comm::mpi world;
  test::scratch_dir dir{world, "eventual-bad"};
  using mpiio_eventual = checkpointer<comm::mpi, snapshot::full, storage::mpiio_file, consistency::eventual>;
  REQUIRE_THROWS_WITH((mpiio_eventual{world, {.directory = dir.path() / "m"}}),
                      Catch::Contains("eventual writes each rank's shard with no collective") &&
                          Catch::Contains("storage 'mpiio_file' moves shards with collectives"));
  using parity_eventual = checkpointer<comm::mpi, snapshot::full, storage::node_local, consistency::eventual>;
  parity_eventual::options parity_opts{.directory = dir.path() / "x"};
  parity_opts.storage.copies = storage::redundancy::xor_group;
  REQUIRE_THROWS_WITH((parity_eventual{world, parity_opts}),
                      Catch::Contains("redundancy xor_group encodes parity across a group of ranks at the same version"));
  using two_level = storage::multilevel<storage::node_local, storage::mpiio_file, 2>;
  REQUIRE_THROWS_WITH((checkpointer<comm::mpi, snapshot::full, two_level, consistency::eventual>{world, {.directory = dir.path() / "y"}}),
                      Catch::Contains("the slow level 'mpiio_file' writes with a collective"));
  {
    rank_state s;
    eventual_ckpt ckpt{world, opts(dir)};
    ckpt.protect("field", s.field);
    ckpt.protect("tag", s.tag);
    s.set(world.rank(), 1);
    ckpt.checkpoint();
    ckpt.wait();
    s.set(world.rank(), 2);
    if (world.rank() == 0) ckpt.checkpoint();  // only rank 0 records version 2
    world.barrier();
    // Leaving without the destructor's settle would need a crash; the destructor keeps version 2 unusable anyway.
  }
  rank_state back;
  std::ostringstream log;
  checkpointer<comm::mpi> coordinated{world, {.directory = dir, .log = &log}};
  coordinated.protect("field", back.field);
  coordinated.protect("tag", back.tag);
  std::uint64_t const want = world.size() > 1 ? 1 : 2;  // one rank: version 2 is held by every rank
  REQUIRE(coordinated.restore_latest() == std::optional<std::uint64_t>(want));  // eventual's usable versions are ordinary
  CHECK(back.is(world.rank(), want));
  if (world.rank() == 0 && world.size() > 1)
    CHECK_THAT(log.str(), Catch::Contains("per-rank records of version(s) 2 written with consistency::eventual"));
}
