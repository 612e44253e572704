// configured_checkpointer under real mpiexec (n = 1, 2, 4): policies chosen at run time write what
// the concrete checkpointer restores and the reverse, with storage that keeps commit records on
// every rank (partner memory) and storage that does not (posix), and the manifests name them.
#include <catch2/catch.hpp>
#include <strata/checkpoint/configured.hpp>
#include <support/files.hpp>

using namespace strata;
namespace fs = std::filesystem;

namespace {
using configured = configured_checkpointer<>;

struct rank_state {
  std::vector<double> field;
  std::uint64_t step = 0;
  explicit rank_state(int rank) : field(static_cast<std::size_t>(5000 + 100 * rank), 0.0) {}
  void advance(int rank) {
    ++step;
    for (std::size_t i = 0; i < field.size(); i += 61) field[(i + step) % field.size()] += static_cast<double>(rank + step);
  }
};

checkpoint::configuration config_for(fs::path const& dir, std::string const& snap, std::string const& fast) {
  checkpoint::configuration c;
  c.directory = dir;
  c.snapshot = snap;
  c.storage = fast.empty() ? "posix" : "multilevel";
  c.multilevel_fast = fast.empty() ? "posix" : fast;
  c.multilevel_flush_every = fast == "partner" ? 1 : 2;  // memory does not outlive the job: every version to posix
  c.every_n.n = 1;
  c.keep_last.count = 10;
  c.preemption.signals.clear();
  c.log_level = verbosity::quiet;
  return c;
}

template <class Ckpt>
rank_state run(Ckpt& ck, int steps) {
  rank_state s{ck.communicator().rank()};
  ck.protect("field", s.field);
  ck.protect("step", s.step);
  for (int i = 0; i < steps; ++i) {
    s.advance(ck.communicator().rank());
    ck.step(s.step);
  }
  ck.wait();
  return s;
}

template <class Concrete>
void both_ways(std::string const& snap, std::string const& fast, std::string const& snap_name, std::string const& store_name) {
  comm::mpi world{MPI_COMM_WORLD};
  typename Concrete::options co;
  co.trigger = {.n = 1};
  co.retention = {.count = 10};
  co.preemption.signals.clear();
  co.log_level = verbosity::quiet;
  {
    test::scratch_dir dir{world, "cfgmpi-a"};
    rank_state want{world.rank()};
    {
      configured ck{world, checkpoint::to_options(config_for(dir, snap, fast))};
      want = run(ck, 5);
      auto const m = checkpoint::manifest::parse(*ck.storage().read_commit(5), "v5");
      CHECK(m.snapshot == snap_name);
      CHECK(m.storage == store_name);
    }
    co.directory = dir.path();
    Concrete ck{world, co};
    rank_state got{world.rank()};
    ck.protect("field", got.field);
    ck.protect("step", got.step);
    REQUIRE(ck.restore_latest() == std::optional<std::uint64_t>{5});
    CHECK(got.field == want.field);
    CHECK(got.step == want.step);
  }
  {
    test::scratch_dir dir{world, "cfgmpi-b"};
    rank_state want{world.rank()};
    co.directory = dir.path();
    {
      Concrete ck{world, co};
      want = run(ck, 5);
    }
    configured ck{world, checkpoint::to_options(config_for(dir, snap, fast))};
    rank_state got{world.rank()};
    ck.protect("field", got.field);
    ck.protect("step", got.step);
    REQUIRE(ck.restore_latest() == std::optional<std::uint64_t>{5});
    CHECK(got.field == want.field);
    // The checkpointer goes on through the erased types from the restored chain.
    got.advance(world.rank());
    ck.step(got.step);
    ck.wait();
    CHECK(ck.versions().back() == 6);
  }
}
}  // namespace

TEST_CASE("configured (MPI): incremental over posix, both ways", "[configured][mpi]") {
  both_ways<checkpointer<comm::mpi, snapshot::incremental<>>>("incremental", "", "incremental", "posix_dir");
}

TEST_CASE("configured (MPI): full over partner memory + posix, both ways", "[configured][mpi]") {
  // Commit records replicated on every rank: the erased driver says so at run time.
  using partner = storage::multilevel<storage::partner_memory, storage::posix_dir, 1>;
  both_ways<checkpointer<comm::mpi, snapshot::full, partner>>("full", "partner", "full", "multilevel");
}

#ifdef STRATA_HAVE_ZSTD
TEST_CASE("configured (MPI): compressed incremental over posix + posix, both ways", "[configured][mpi]") {
  using levels = storage::multilevel<storage::posix_dir, storage::posix_dir, 2>;
  both_ways<checkpointer<comm::mpi, snapshot::compressed<snapshot::incremental<>>, levels>>(
      "compressed", "posix", "compressed+incremental", "multilevel");
}
#endif
