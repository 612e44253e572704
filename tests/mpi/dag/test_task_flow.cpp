// dag::task_flow under the real mpiexec: values across ranks, every placement, a throwing task ending
// every rank, different flows on different ranks.
#include <catch2/catch.hpp>

#include <strata/comm/mpi.hpp>
#include <strata/dag/task_flow.hpp>
#include <support/versioned_program.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace strata::dag;

using strata::test::versioned_program;

using placements = std::tuple<planned<heft>, planned<eager>, locality, owner_computes>;

TEMPLATE_LIST_TEST_CASE("task_flow: readers see the latest writer across ranks; values end at home", "[dag][flow][mpi]",
                        placements) {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const P = world.size(), me = world.rank();
  for (std::uint64_t seed : {11u, 12u}) {
    versioned_program prog;
    task_flow<TestType> flow{{.workers = 2}};
    prog.submit_all(flow, 8, 240, P, seed);
    auto const res = flow.run(world);
    CHECK(world.all_reduce(static_cast<std::uint64_t>(prog.wrong.load()), strata::comm::reduce_op::sum) == 0);
    CHECK(world.all_reduce(prog.wrong_at_home(me, P), strata::comm::reduce_op::sum) == 0);
    CHECK(world.all_reduce(static_cast<std::uint64_t>(res.tasks_run), strata::comm::reduce_op::sum) == 240);
    CHECK(res.makespan_s > 0.0);
    if (P == 1) CHECK(res.transfers == 0);
    std::uint64_t elsewhere = 0;
    for (auto r : res.rank_of) elsewhere += r != 0;
    if (P > 1) CHECK(world.all_reduce(elsewhere, strata::comm::reduce_op::min) > 0);  // not all on rank 0
  }
}

TEST_CASE("task_flow: a task that throws on one rank makes every rank throw, then the flow runs again",
          "[dag][flow][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const P = world.size(), me = world.rank();
  task_flow<> flow{{.workers = 2}};
  auto const t0 = std::chrono::steady_clock::now();
  {
    versioned_program prog;
    prog.submit_all(flow, 8, 240, P, 21, 120);
    std::string task;
    int rank = -2;
    try {
      flow.run(world);
    } catch (task_error const& e) {
      task = e.task();
      rank = e.rank();
      CHECK(e.reason() == "injected failure");
    }
    CHECK(task == "boom");
    REQUIRE(rank >= 0);
    CHECK(world.all_reduce(static_cast<std::uint64_t>(rank), strata::comm::reduce_op::min) ==
          world.all_reduce(static_cast<std::uint64_t>(rank), strata::comm::reduce_op::max));
  }
  double const took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(took < 20.0);
  // Nothing of the failed run is left in flight: a new run on the same flow is correct.
  versioned_program prog;
  prog.submit_all(flow, 8, 120, P, 22);
  flow.run(world);
  CHECK(world.all_reduce(static_cast<std::uint64_t>(prog.wrong.load()), strata::comm::reduce_op::sum) == 0);
  CHECK(world.all_reduce(prog.wrong_at_home(me, P), strata::comm::reduce_op::sum) == 0);
}

TEST_CASE("task_flow: ranks that submitted different flows all get a flow_error", "[dag][flow][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  if (world.size() == 1) return;
  std::vector<double> v(4);
  task_flow<> flow;
  auto h = flow.register_data("v", v);
  flow.submit({.name = "a"}, [](std::span<double>) {}, write(h));
  if (world.rank() == 0) flow.submit({.name = "extra"}, [](std::span<double>) {}, write(h));
  REQUIRE_THROWS_WITH(flow.run(world), Catch::Contains("the ranks submitted different task flows"));
}

TEST_CASE("task_flow: the calling thread runs tasks between its MPI calls, or only communicates with progress_thread",
          "[dag][flow][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const P = world.size(), me = world.rank();
  struct mode {
    int workers;
    bool progress_thread;
  };
  for (auto const m : {mode{1, false}, mode{2, false}, mode{1, true}, mode{2, true}}) {
    INFO("workers " << m.workers << ", progress_thread " << m.progress_thread);
    versioned_program prog;
    task_flow<> flow{{.workers = m.workers, .progress_thread = m.progress_thread}};
    prog.submit_all(flow, 8, 240, P, 41u + static_cast<unsigned>(m.workers));
    auto const res = flow.run(world);
    CHECK(world.all_reduce(static_cast<std::uint64_t>(prog.wrong.load()), strata::comm::reduce_op::sum) == 0);
    CHECK(world.all_reduce(prog.wrong_at_home(me, P), strata::comm::reduce_op::sum) == 0);
    CHECK(world.all_reduce(static_cast<std::uint64_t>(res.tasks_run), strata::comm::reduce_op::sum) == 240);
    CHECK(prog.thread_rule_broken(m.workers, m.progress_thread) == "");  // with one worker: the caller alone
  }
}
