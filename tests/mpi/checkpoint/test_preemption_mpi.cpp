// The step agreement under real mpiexec (n = 1, 2, 4): with comm::mpi it is non-blocking and one step
// late (started at step i, finished and acted on at step i + 1), and every rank acts at the same step.
#include <catch2/catch.hpp>
#include <strata/strata.hpp>
#include <support/files.hpp>

#include <csignal>

using namespace strata;

namespace {

/// Due only on one rank at one step: a trigger whose ranks disagree, so the checkpointer must agree.
struct one_rank_due {
  static constexpr bool deterministic = false;
  int rank = 0;
  std::uint64_t at = 0;
  bool due(std::uint64_t step, trigger::clock::time_point) const { return rank == 0 && step == at; }
  void record(trigger::feedback const&) noexcept {}
};
static_assert(trigger::policy<one_rank_due>);

template <class Trigger>
using ckpt_t = checkpointer<comm::mpi, snapshot::full, storage::posix_dir, consistency::coordinated, Trigger,
                            retention::keep_last<10>>;

std::uint64_t lowest(comm::mpi const& w, std::uint64_t v) { return w.all_reduce(v, comm::reduce_op::min); }
std::uint64_t highest(comm::mpi const& w, std::uint64_t v) { return w.all_reduce(v, comm::reduce_op::max); }

}  // namespace

TEST_CASE("pre-emption over MPI: a signal on the last rank stops every rank at the next step", "[mpi][preemption]") {
  comm::mpi world{MPI_COMM_WORLD};
  test::scratch_dir dir{world, "preempt-mpi"};
  int const last = world.size() - 1;
  std::uint64_t step = 0;
  std::uint64_t stopped_at = 0;
  {
    ckpt_t<trigger::never> ck{world, {.directory = dir.path(), .log = nullptr, .preemption = {.signals = {SIGUSR1}}}};
    ck.protect("step", step);
    while (step < 20) {
      ++step;
      if (step == 5 && world.rank() == last) std::raise(SIGUSR1);  // caught before step(5) starts its agreement
      bool const taken = ck.step(step);
      if (step == 5) CHECK_FALSE(taken);  // acted on one step late
      if (ck.stop_requested()) {
        stopped_at = step;
        break;
      }
    }
    REQUIRE(ck.preempted());
    CHECK(ck.preempted()->step == 6);
    CHECK(ck.preempted()->rank == last);
    CHECK(ck.preempted()->signal == SIGUSR1);
    CHECK(lowest(world, ck.preempted()->version) == highest(world, ck.preempted()->version));
  }
  CHECK(stopped_at == 6);
  CHECK(lowest(world, stopped_at) == highest(world, stopped_at));  // every rank at the same step

  std::uint64_t restored = 0;
  ckpt_t<trigger::never> again{world, {.directory = dir.path(), .log = nullptr}};
  again.protect("step", restored);
  REQUIRE(again.restore_latest());
  CHECK(restored == 6);
}

TEST_CASE("a trigger the ranks disagree on: agreed one step late, dropped when a checkpoint came between",
          "[mpi][trigger]") {
  comm::mpi world{MPI_COMM_WORLD};
  test::scratch_dir dir{world, "agree-late-mpi"};
  std::uint64_t step = 0;
  ckpt_t<one_rank_due> ck{world, {.directory = dir.path(), .trigger = {.rank = world.rank(), .at = 3}, .log = nullptr}};
  ck.protect("step", step);
  std::vector<std::uint64_t> taken;
  for (step = 1; step <= 6; ++step)
    if (ck.step(step)) taken.push_back(step);
  // Rank 0 alone was due at step 3: every rank checkpoints at step 4, once.
  REQUIRE(taken == std::vector<std::uint64_t>{4});
  CHECK(lowest(world, taken.size()) == highest(world, taken.size()));
  CHECK(ck.versions() == std::vector<std::uint64_t>{1});

  // Due again at step 9 on rank 0, but a checkpoint is taken by hand before step 10 finishes that
  // agreement: it served, step 10 takes none.
  ckpt_t<one_rank_due> second{world, {.directory = dir.path() / "b", .trigger = {.rank = world.rank(), .at = 9},
                                      .log = nullptr}};
  second.protect("step", step);
  taken.clear();
  for (step = 8; step <= 12; ++step) {
    if (second.step(step)) taken.push_back(step);
    if (step == 9) second.checkpoint();
  }
  CHECK(taken.empty());
  CHECK(second.versions() == std::vector<std::uint64_t>{1});
}
