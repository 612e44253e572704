// dag::task_flow under the real mpiexec: values across ranks, every placement, a throwing task ending
// every rank, different flows on different ranks.
#include <catch2/catch.hpp>

#include <strata/comm/mpi.hpp>
#include <strata/dag/task_flow.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace strata::dag;

namespace {
constexpr std::uint64_t none = ~0ull;

void busy_for(std::chrono::microseconds d) {
  auto const end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) std::this_thread::yield();
}

// As in tests/unit/dag/test_task_flow.cpp: each handle holds {last writer, check}; every task checks that
// what it reads was written by the writer preceding it in program order, wherever the two ran.
// `boom_at` >= 0: that task throws instead.
struct versioned_program {
  std::vector<std::vector<std::uint64_t>> cells;
  std::vector<std::uint64_t> expect_final;
  std::atomic<int> wrong{0};

  template <class Flow>
  void submit_all(Flow& flow, int nh, int tasks, int ranks, std::uint64_t seed, int boom_at = -1) {
    cells.assign(static_cast<std::size_t>(nh), {none, none * 7 + 1});
    std::vector<data_handle<std::uint64_t>> h;
    for (int i = 0; i < nh; ++i)
      h.push_back(flow.register_data("h" + std::to_string(i), cells[static_cast<std::size_t>(i)], {.home = i % ranks}));
    std::vector<std::uint64_t> last(static_cast<std::size_t>(nh), none);
    auto next = [&] { return seed = seed * 6364136223846793005ull + 1442695040888963407ull, seed >> 33; };
    for (int t = 0; t < tasks; ++t) {
      auto const out = static_cast<std::size_t>(next() % static_cast<std::uint64_t>(nh));
      auto in1 = static_cast<std::size_t>(next() % static_cast<std::uint64_t>(nh));
      if (in1 == out) in1 = (in1 + 1) % static_cast<std::size_t>(nh);
      auto const us = std::chrono::microseconds(next() % 100);
      auto const id = static_cast<std::uint64_t>(t);
      auto const e_out = last[out], e_in = last[in1];
      bool const boom = t == boom_at;
      flow.submit({.name = boom ? "boom" : "t" + std::to_string(t), .cost = 1e-5 * static_cast<double>(us.count() + 1)},
                  [=, this](std::span<std::uint64_t const> a, std::span<std::uint64_t> c) {
                    if (boom) throw std::runtime_error("injected failure");
                    if (a[0] != e_in || a[1] != e_in * 7 + 1) ++wrong;
                    if (c[0] != e_out || c[1] != e_out * 7 + 1) ++wrong;
                    busy_for(us);
                    c[0] = id, c[1] = id * 7 + 1;
                  },
                  read(h[in1]), readwrite(h[out]));
      last[out] = id;
    }
    expect_final = last;
  }
  // Handles whose home is `me` hold their last writer's value after the run.
  [[nodiscard]] std::uint64_t wrong_at_home(int me, int ranks) const {
    std::uint64_t bad = 0;
    for (std::size_t i = 0; i < cells.size(); ++i)
      if (static_cast<int>(i) % ranks == me) bad += cells[i][0] != expect_final[i] || cells[i][1] != expect_final[i] * 7 + 1;
    return bad;
  }
};
}  // namespace

using placements = std::tuple<planned<heft>, planned<eager>, locality>;

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
