// Issue 3 under mpiexec (n = 1, 2, 4): incremental chains and the asynchronous writer across ranks,
// and partner_memory rebuilding a rank's lost shards from its partner, without a disk.
#include <catch2/catch.hpp>
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/snapshot/compressed.hpp>
#include <strata/snapshot/incremental.hpp>
#include <strata/storage/multilevel.hpp>
#include <strata/storage/partner_memory.hpp>
#include <support/files.hpp>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

using namespace strata;

namespace {
struct rank_state {
  std::vector<double> u = std::vector<double>(512 * 32, 0.0);
  thrust::device_vector<float> d = thrust::device_vector<float>(1024 * 8, 0.0f);
  void set(int rank, std::uint64_t v) {
    u[(v % 32) * 512] = static_cast<double>(rank * 100 + static_cast<int>(v));
    d[(v % 8) * 1024] = static_cast<float>(rank + static_cast<int>(v));
  }
  bool operator==(rank_state const& o) const {
    return u == o.u && thrust::host_vector<float>(d) == thrust::host_vector<float>(o.d);
  }
};
}  // namespace

TEMPLATE_TEST_CASE("incremental + async across ranks: the newest committed state comes back", "[mpi][incremental]",
                   snapshot::incremental<4096>, snapshot::compressed<snapshot::incremental<4096>>) {
  comm::mpi world{MPI_COMM_WORLD};
  test::scratch_dir dir{world, "mpi-inc-async"};
  rank_state s;
  using ck_t = checkpointer<comm::mpi, TestType>;
  {
    ck_t ck{world, {.directory = dir.path(), .retention = {.count = 2}, .async = true, .log = nullptr}};
    ck.protect("u", s.u);
    ck.protect("d", s.d);
    for (std::uint64_t v = 1; v <= 5; ++v) {
      s.set(world.rank(), v);
      ck.checkpoint();
    }
    ck.wait();
    CHECK(ck.versions().back() == 5u);
  }
  rank_state r;
  ck_t ck{world, {.directory = dir.path(), .log = nullptr}};
  ck.protect("u", r.u);
  ck.protect("d", r.d);
  REQUIRE(ck.restore_latest() == 5u);
  CHECK(r == s);
}

TEST_CASE("partner_memory: a rank that lost its memory is rebuilt from its partner, no disk", "[mpi][partner]") {
  comm::mpi world{MPI_COMM_WORLD};
  if (world.size() < 2) return;  // one rank has no partner
  rank_state s;
  checkpointer<comm::mpi, snapshot::full, storage::partner_memory> ck{world, {.directory = "partner-test", .log = nullptr}};
  ck.protect("u", s.u);
  ck.protect("d", s.d);
  s.set(world.rank(), 1);
  ck.checkpoint();
  s.set(world.rank(), 2);
  ck.checkpoint();
  auto const saved = s;
  auto const& sp = ck.storage();
  CHECK(sp.partner() != world.rank());
  int const victim = world.size() - 1;
  if (world.rank() == victim) ck.storage().lose_memory();  // node lost: own shards, partner copies, commit records
  s.set(world.rank(), 9);
  REQUIRE(ck.restore_latest() == 2u);
  CHECK(s == saved);
  if (world.rank() == victim) CHECK(ck.storage().rebuilt() >= 1);
}
