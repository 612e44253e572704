// N→M restore: a checkpoint written by N ranks restored on M ranks for distributed and
// replicated state (SPEC S8), under real mpiexec. N and M come from sub-communicators.
#include <catch2/catch.hpp>
#include <strata/strata.hpp>
#include <strata/snapshot/incremental.hpp>
#include <support/files.hpp>

#include <sstream>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

using namespace strata;

namespace {
constexpr std::uint64_t global_size = 1000;
constexpr std::uint64_t halo = 2;

double value_at(std::uint64_t g, std::uint64_t version) { return static_cast<double>(g) * 0.5 + static_cast<double>(version); }

/// This rank's block of the global array, deliberately uneven (rank r gets a share ∝ r + 1),
/// stored with `halo` extra elements on each side.
struct block_state {
  std::uint64_t first = 0, count = 0, step = 0;
  thrust::device_vector<double> field;
  block_state(int rank, int ranks) {
    std::uint64_t const weights = static_cast<std::uint64_t>(ranks) * (ranks + 1) / 2;
    std::uint64_t acc = 0;
    for (int r = 0; r < rank; ++r) acc += static_cast<std::uint64_t>(r + 1);
    first = global_size * acc / weights;
    auto const last = global_size * (acc + static_cast<std::uint64_t>(rank + 1)) / weights;
    count = last - first;
    field.assign(count + 2 * halo, -1.0);
  }
  void set(std::uint64_t version) {
    step = version * 10;
    thrust::host_vector<double> h(field.size(), -7.0);
    for (std::uint64_t i = 0; i < count; ++i) h[halo + i] = value_at(first + i, version);
    field = h;
  }
  /// Number of elements of the window that do not hold the value saved at `version`.
  std::uint64_t wrong(std::uint64_t version) const {
    thrust::host_vector<double> h = field;
    std::uint64_t bad = 0;
    for (std::uint64_t i = 0; i < count; ++i) bad += h[halo + i] != value_at(first + i, version);
    return bad + (step != version * 10);
  }
  distributed layout() const {
    return {.global_offset = first, .global_size = global_size, .local_offset = halo, .local_count = count};
  }
  template <class C>
  void protect(C& ckpt) {
    ckpt.protect("field", field, layout());
    ckpt.protect("step", step, replicated{});
  }
};

template <class Ckpt>
std::uint64_t write(comm::mpi const& c, std::filesystem::path const& dir, std::uint64_t version) {
  block_state s{c.rank(), c.size()};
  Ckpt ckpt{c, {.directory = dir, .log = nullptr}};
  s.protect(ckpt);
  if (version > 1) REQUIRE(ckpt.restore_latest());
  s.set(version);
  return ckpt.checkpoint();
}

template <class Ckpt>
std::uint64_t restore_and_count_wrong(comm::mpi const& c, std::filesystem::path const& dir, std::uint64_t version) {
  block_state s{c.rank(), c.size()};
  Ckpt ckpt{c, {.directory = dir, .log = nullptr}};
  s.protect(ckpt);
  auto v = ckpt.restore_latest();
  REQUIRE(v);
  return s.wrong(version);
}

using full_ckpt = checkpointer<comm::mpi>;
using incr_ckpt = checkpointer<comm::mpi, snapshot::incremental<256>>;
}  // namespace

TEMPLATE_TEST_CASE("a checkpoint of N ranks restores on M ranks and back", "[mpi][checkpoint][resize]", full_ckpt,
                   incr_ckpt) {
  comm::mpi world{MPI_COMM_WORLD};
  if (world.size() == 1) return;  // needs two rank counts
  test::scratch_dir dir{world, "resize"};
  int const n = world.size() - 1;  // N = size - 1 writes, all `size` ranks restore, then 2 ranks (or 1) restore
  {
    auto part = world.split(world.rank() < n ? 0 : 1, world.rank());
    if (world.rank() < n) {
      write<TestType>(part, dir, 1);
      write<TestType>(part, dir, 2);  // for incremental: a delta on top of the base
    }
  }
  world.barrier();
  CHECK(restore_and_count_wrong<TestType>(world, dir, 2) == 0);
  CHECK(write<TestType>(world, dir, 3) > 2);  // now written by `size` ranks
  int const m = world.size() >= 4 ? 2 : 1;
  {
    auto part = world.split(world.rank() < m ? 0 : 1, world.rank());
    if (world.rank() < m) CHECK(restore_and_count_wrong<TestType>(part, dir, 3) == 0);
  }
  world.barrier();
}

TEST_CASE("N→M restore is refused before touching state when it cannot work", "[mpi][checkpoint][resize]") {
  comm::mpi world{MPI_COMM_WORLD};
  if (world.size() == 1) return;
  test::scratch_dir dir{world, "resize-refuse"};
  {
    auto part = world.split(world.rank() == 0 ? 0 : 1, world.rank());
    if (world.rank() == 0) write<full_ckpt>(part, dir, 1);  // one rank wrote it
  }
  world.barrier();
  block_state s{world.rank(), world.size()};
  s.set(42);
  SECTION("over the memory limit") {
    full_ckpt ckpt{world, {.directory = dir.path(), .memory_limit_bytes = 64, .log = nullptr}};
    s.protect(ckpt);
    REQUIRE_THROWS_WITH(ckpt.restore_latest(), Catch::Contains("over its memory limit of 64 bytes"));
  }
  SECTION("another global size") {
    full_ckpt ckpt{world, {.directory = dir.path(), .log = nullptr}};
    auto l = s.layout();
    l.global_size = global_size + 1;
    l.local_count = std::min<std::uint64_t>(l.local_count, 1);
    ckpt.protect("field", s.field, l);
    ckpt.protect("step", s.step, replicated{});
    REQUIRE_THROWS_WITH(ckpt.restore_latest(), Catch::Contains("saved with global size 1000"));
  }
  SECTION("a per-rank region") {
    full_ckpt ckpt{world, {.directory = dir.path(), .log = nullptr}};
    ckpt.protect("field", s.field, s.layout());
    ckpt.protect("step", s.step);  // not declared replicated
    REQUIRE_THROWS_WITH(ckpt.restore_latest(), Catch::Contains("region 'step' is per-rank state") &&
                                                   Catch::Contains("written by 1 ranks"));
  }
  CHECK(s.wrong(42) == 0);  // untouched
}
