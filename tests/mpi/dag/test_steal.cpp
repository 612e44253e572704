// Work stealing between ranks (flow_options::steal) under the real mpiexec: every task placed on rank 0,
// the other ranks steal; the values at the homes are bit-identical to a run without stealing, a task
// throwing on a thief ends every rank naming it, resumable segments steal too.
#include <catch2/catch.hpp>

#include "support/files.hpp"
#include <support/versioned_program.hpp>

#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/dag/resume.hpp>
#include <strata/dag/task_flow.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace strata::dag;

namespace {
using strata::comm::reduce_op;

// The most unbalanced placement: every task on rank 0.
struct on_rank_zero {
  [[nodiscard]] std::string_view name() const { return "on_rank_zero"; }
  [[nodiscard]] std::vector<int> assign(flow_plan_input const& in) const { return std::vector<int>(in.tasks.size(), 0); }
  friend bool operator==(on_rank_zero, on_rank_zero) = default;
};
static_assert(flow_placement<on_rank_zero>);

// `rounds` rounds over `nh` handles of 64 doubles (home i % P): in round r task "u r i" updates h[i]
// from itself and h[i + 1] (floating point, so any change of inputs or order shows in the bits), and
// every other round "c r i" overwrites g[i] from h[i] (a write-only access). Each body sleeps `us`.
struct float_program {
  std::vector<std::vector<double>> h, g;
  explicit float_program(int nh) : h(static_cast<std::size_t>(nh)), g(static_cast<std::size_t>(nh)) {
    for (int i = 0; i < nh; ++i) {
      auto& v = h[static_cast<std::size_t>(i)];
      v.resize(64);
      for (std::size_t j = 0; j < v.size(); ++j) v[j] = std::sin(static_cast<double>(i * 64 + static_cast<int>(j)));
      g[static_cast<std::size_t>(i)].assign(64, 0.0);
    }
  }
  template <class Flow>
  std::size_t submit(Flow& flow, int ranks, int rounds, std::chrono::microseconds us) {
    int const nh = static_cast<int>(h.size());
    std::vector<data_handle<double>> hh, gh;
    for (int i = 0; i < nh; ++i) {
      hh.push_back(flow.register_data("h" + std::to_string(i), h[static_cast<std::size_t>(i)], {.home = i % ranks}));
      gh.push_back(flow.register_data("g" + std::to_string(i), g[static_cast<std::size_t>(i)], {.home = (i + 1) % ranks}));
    }
    for (int r = 0; r < rounds; ++r)
      for (int i = 0; i < nh; ++i) {
        flow.submit({.name = "u " + std::to_string(r) + " " + std::to_string(i), .cost = 1e-3},
                    [r, us](std::span<double> x, std::span<double const> y) {
                      std::this_thread::sleep_for(us);
                      for (std::size_t j = 0; j < x.size(); ++j) x[j] = x[j] * 0.999 + 0.5 * std::sin(y[j]) + r * 1e-3;
                    },
                    readwrite(hh[static_cast<std::size_t>(i)]), read(hh[static_cast<std::size_t>((i + 1) % nh)]));
        if (r % 2)
          flow.submit({.name = "c " + std::to_string(r) + " " + std::to_string(i), .cost = 1e-3},
                      [us](std::span<double const> x, std::span<double> y) {
                        std::this_thread::sleep_for(us);
                        for (std::size_t j = 0; j < y.size(); ++j) y[j] = std::exp(-x[j] * x[j]);
                      },
                      read(hh[static_cast<std::size_t>(i)]), write(gh[static_cast<std::size_t>(i)]));
      }
    return flow.size();
  }
  // Handles whose home is `me` whose bytes differ from `other`'s.
  [[nodiscard]] std::uint64_t differ_at_home(float_program const& other, int me, int ranks) const {
    std::uint64_t bad = 0;
    for (std::size_t i = 0; i < h.size(); ++i) {
      if (static_cast<int>(i) % ranks == me) bad += std::memcmp(h[i].data(), other.h[i].data(), h[i].size() * sizeof(double)) != 0;
      if (static_cast<int>(i + 1) % ranks == me) bad += std::memcmp(g[i].data(), other.g[i].data(), g[i].size() * sizeof(double)) != 0;
    }
    return bad;
  }
};

std::uint64_t sum(strata::comm::mpi const& world, std::uint64_t v) { return world.all_reduce(v, reduce_op::sum); }
}  // namespace

TEST_CASE("task_flow steal: idle ranks take tasks placed on rank 0; values bit-identical to no stealing", "[dag][flow][steal][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const P = world.size(), me = world.rank();
  float_program plain(8), stolen(8);
  task_flow<on_rank_zero> no_steal{{.workers = 1}};
  auto const tasks = plain.submit(no_steal, P, 6, std::chrono::microseconds(500));
  auto const base = no_steal.run(world);
  CHECK(base.tasks_stolen == 0);

  task_flow<on_rank_zero> flow{{.workers = 1, .steal = {.enabled = true}}};
  stolen.submit(flow, P, 6, std::chrono::microseconds(500));
  auto const res = flow.run(world);
  CHECK(sum(world, stolen.differ_at_home(plain, me, P)) == 0);
  CHECK(sum(world, res.tasks_run) == tasks);
  std::size_t elsewhere = 0;
  for (auto r : res.rank_of) elsewhere += r != 0;
  CHECK(elsewhere == res.tasks_stolen);
  CHECK(res.tasks_run == static_cast<std::size_t>(std::count(res.rank_of.begin(), res.rank_of.end(), me)));
  if (P == 1) CHECK(res.tasks_stolen == 0);
  if (P > 1) CHECK(res.tasks_stolen > 0);
  auto const requests = sum(world, res.steal_requests);
  if (P > 1) CHECK(requests >= res.tasks_stolen);  // every stolen task was asked for
  if (me == 0)
    std::printf("steal n=%d: %zu of %zu tasks stolen, %llu requests; makespan %.1f ms without stealing, %.1f ms with\n", P,
                res.tasks_stolen, tasks, static_cast<unsigned long long>(requests), base.makespan_s * 1e3, res.makespan_s * 1e3);
}

TEST_CASE("task_flow steal: the version checks of a random program hold with stealing", "[dag][flow][steal][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const P = world.size(), me = world.rank();
  for (int workers : {1, 2}) {
    strata::test::versioned_program prog;
    task_flow<on_rank_zero> flow{{.workers = workers, .steal = {.enabled = true}}};
    prog.submit_all(flow, 8, 240, P, 31u + static_cast<unsigned>(workers));
    auto const res = flow.run(world);
    CHECK(sum(world, static_cast<std::uint64_t>(prog.wrong.load())) == 0);
    CHECK(sum(world, prog.wrong_at_home(me, P)) == 0);
    CHECK(sum(world, res.tasks_run) == 240);
  }
}

TEST_CASE("task_flow steal: a task whose bytes exceed max_bytes is not stolen", "[dag][flow][steal][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const P = world.size(), me = world.rank();
  float_program plain(4), capped(4);
  task_flow<on_rank_zero> no_steal;
  plain.submit(no_steal, P, 4, std::chrono::microseconds(300));
  no_steal.run(world);
  // Every task reads and writes at least two 512-byte handles.
  task_flow<on_rank_zero> flow{{.steal = {.enabled = true, .max_bytes = 1000}}};
  capped.submit(flow, P, 4, std::chrono::microseconds(300));
  auto const res = flow.run(world);
  CHECK(res.tasks_stolen == 0);
  CHECK(sum(world, capped.differ_at_home(plain, me, P)) == 0);
  // The same with the bandwidth rule: 1.5 KiB at 1 MB/s takes longer than the 1 ms cost.
  float_program slow(4);
  task_flow<on_rank_zero> flow2{{.steal = {.enabled = true, .bandwidth_Bps = 1e6}}};
  slow.submit(flow2, P, 4, std::chrono::microseconds(300));
  CHECK(flow2.run(world).tasks_stolen == 0);
  CHECK(sum(world, slow.differ_at_home(plain, me, P)) == 0);
}

TEST_CASE("task_flow steal: a task throwing on the thief makes every rank throw naming it; the flow runs again",
          "[dag][flow][steal][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const P = world.size(), me = world.rank();
  if (P == 1) return;
  task_flow<on_rank_zero> flow{{.workers = 1, .steal = {.enabled = true}}};
  std::vector<std::vector<double>> cells(6, std::vector<double>(8, 1.0));
  std::vector<data_handle<double>> h;
  for (std::size_t i = 0; i < cells.size(); ++i)
    h.push_back(flow.register_data("x" + std::to_string(i), cells[i], {.home = static_cast<int>(i) % P}));
  for (int t = 0; t < 60; ++t)
    flow.submit({.name = "t" + std::to_string(t), .cost = 1e-3},
                [me](std::span<double> x) {
                  std::this_thread::sleep_for(std::chrono::microseconds(500));
                  if (me != 0) throw std::runtime_error("ran on a thief");
                  x[0] += 1.0;
                },
                readwrite(h[static_cast<std::size_t>(t) % h.size()]));
  auto const t0 = std::chrono::steady_clock::now();
  std::string task;
  int rank = -2;
  try {
    flow.run(world);
  } catch (task_error const& e) {
    task = e.task(), rank = e.rank();
    CHECK(e.reason() == "ran on a thief");
    CHECK_THAT(e.what(), Catch::Contains("task '" + task + "' threw on rank " + std::to_string(rank)));
  }
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 20.0);
  REQUIRE(rank > 0);  // a thief's
  CHECK(task.rfind('t', 0) == 0);
  CHECK(world.all_reduce(static_cast<std::uint64_t>(rank), reduce_op::min) ==
        world.all_reduce(static_cast<std::uint64_t>(rank), reduce_op::max));
  // Nothing of the failed run is left in flight: the next run (stealing, correct) matches a plain one.
  float_program plain(6), again(6);
  task_flow<on_rank_zero> no_steal;
  plain.submit(no_steal, P, 3, std::chrono::microseconds(300));
  no_steal.run(world);
  again.submit(flow, P, 3, std::chrono::microseconds(300));
  auto const res = flow.run(world);
  CHECK(sum(world, again.differ_at_home(plain, me, P)) == 0);
  CHECK(res.tasks_stolen > 0);
}

TEST_CASE("task_flow steal: resumable segments steal, the values as without stealing", "[dag][flow][steal][resume][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const P = world.size(), me = world.rank();
  float_program plain(6), resumed(6);
  task_flow<on_rank_zero> no_steal;
  auto const tasks = plain.submit(no_steal, P, 6, std::chrono::microseconds(400));
  no_steal.run(world);
  strata::test::scratch_dir dir{world, "dag-steal-resume"};
  strata::checkpointer<> ckpt{world, {.directory = dir.path(), .trigger = {.n = 2}}};
  task_flow<on_rank_zero> flow{{.workers = 1, .steal = {.enabled = true}}};
  resumed.submit(flow, P, 6, std::chrono::microseconds(400));
  auto const res = flow.run(world, resume_with(ckpt, {.every_tasks = 12}));
  CHECK(res.resumed_from == 0);
  CHECK(res.cuts_saved > 0);
  CHECK(sum(world, res.tasks_run) == tasks);
  CHECK(sum(world, resumed.differ_at_home(plain, me, P)) == 0);
  if (P > 1) CHECK(res.tasks_stolen > 0);
  std::size_t elsewhere = 0;
  for (auto r : res.rank_of) elsewhere += r != 0;
  CHECK(elsewhere == res.tasks_stolen);
}

TEST_CASE("task_flow steal: ranks passing different steal options all get a flow_error", "[dag][flow][steal][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  if (world.size() == 1) return;
  std::vector<double> v(4);
  task_flow<> flow{{.steal = {.enabled = world.rank() == 0}}};
  auto h = flow.register_data("v", v);
  flow.submit({.name = "a"}, [](std::span<double>) {}, write(h));
  REQUIRE_THROWS_WITH(flow.run(world), Catch::Contains("steal options differ"));
}
