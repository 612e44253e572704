// Resumable task flows under the real mpiexec: cuts saved through the checkpointer, a run that fails in
// a task resumed from the last saved cut (the tasks before it not run again, the same values), and the
// errors when the saved cut belongs to another flow.
#include <catch2/catch.hpp>

#include "support/files.hpp"

#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/dag/resume.hpp>
#include <strata/dag/task_flow.hpp>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

using namespace strata::dag;

namespace {
// `tasks` tasks over `nh` handles (home i % P): task t updates h[t % nh] from itself, h[(t + 3) % nh] and
// t; `expect` is the sequential result. `ran[t]` counts the runs of task t on this rank; task `boom`
// throws (the run "dies" there).
struct program {
  std::vector<std::vector<std::uint64_t>> cells;
  std::vector<std::uint64_t> expect;
  std::vector<std::atomic<int>> ran;
  program(int nh, int tasks) : cells(static_cast<std::size_t>(nh), std::vector<std::uint64_t>(2, 0)), ran(static_cast<std::size_t>(tasks)) {}

  static std::uint64_t f(std::uint64_t self, std::uint64_t other, std::uint64_t t) { return self * 31 + other * 7 + t + 1; }

  template <class Flow>
  void submit(Flow& flow, int ranks, int boom = -1, std::string const& prefix = "h") {
    int const nh = static_cast<int>(cells.size()), tasks = static_cast<int>(ran.size());
    std::vector<data_handle<std::uint64_t>> h;
    for (int i = 0; i < nh; ++i) h.push_back(flow.register_data(prefix + std::to_string(i), cells[static_cast<std::size_t>(i)], {.home = i % ranks}));
    expect.assign(static_cast<std::size_t>(nh), 0);
    for (int t = 0; t < tasks; ++t) {
      auto const out = static_cast<std::size_t>(t % nh), in = static_cast<std::size_t>((t + 3) % nh);
      expect[out] = f(expect[out], expect[in], static_cast<std::uint64_t>(t));
      flow.submit({.name = "t" + std::to_string(t), .cost = 1e-5},
                  [this, t, boom](std::span<std::uint64_t const> a, std::span<std::uint64_t> c) {
                    if (t == boom) throw std::runtime_error("killed here");
                    ++ran[static_cast<std::size_t>(t)];
                    c[0] = f(c[0], a[0], static_cast<std::uint64_t>(t));
                  },
                  read(h[in]), readwrite(h[out]));
    }
  }
  // Handles whose home is `me` that do not hold the sequential result.
  [[nodiscard]] std::uint64_t wrong_at_home(int me, int ranks) const {
    std::uint64_t bad = 0;
    for (std::size_t i = 0; i < cells.size(); ++i) bad += static_cast<int>(i) % ranks == me && cells[i][0] != expect[i];
    return bad;
  }
  // Runs of tasks [first, last) and of the others, all ranks.
  [[nodiscard]] std::pair<std::uint64_t, std::uint64_t> runs(strata::comm::mpi const& world, std::size_t first, std::size_t last) const {
    std::uint64_t inside = 0, outside = 0;
    for (std::size_t t = 0; t < ran.size(); ++t) (t >= first && t < last ? inside : outside) += static_cast<std::uint64_t>(ran[t]);
    return {world.all_reduce(inside, strata::comm::reduce_op::sum), world.all_reduce(outside, strata::comm::reduce_op::sum)};
  }
};

using checkpointer_t = strata::checkpointer<>;
}  // namespace

TEST_CASE("resumable flow: uninterrupted, every cut saved, the sequential result", "[dag][resume][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const P = world.size(), me = world.rank();
  strata::test::scratch_dir dir{world, "dag-resume-a"};
  checkpointer_t ckpt{world, {.directory = dir.path(), .trigger = {.n = 10}}};
  program prog(6, 95);
  task_flow<> flow{{.workers = 2}};
  prog.submit(flow, P);
  std::vector<std::size_t> cuts;
  auto const res = flow.run(world, resume_with(ckpt, {.every_tasks = 10, .on_cut = [&](cut_event const& e) {
                                                        CHECK(e.tasks == 95);
                                                        if (e.saved) cuts.push_back(e.tasks_done);
                                                      }}));
  CHECK(cuts == std::vector<std::size_t>{10, 20, 30, 40, 50, 60, 70, 80, 90});  // 95: not a multiple of the trigger's n
  CHECK(res.resumed_from == 0);
  CHECK(res.cuts_saved == 9);
  CHECK(world.all_reduce(static_cast<std::uint64_t>(res.tasks_run), strata::comm::reduce_op::sum) == 95);
  CHECK(prog.runs(world, 0, 95) == std::pair<std::uint64_t, std::uint64_t>{95, 0});
  CHECK(world.all_reduce(prog.wrong_at_home(me, P), strata::comm::reduce_op::sum) == 0);
  CHECK(flow.size() == 0);
}

TEST_CASE("resumable flow: a run that dies in task 47 resumes from cut 40 and runs tasks 40..94 only", "[dag][resume][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const P = world.size(), me = world.rank();
  strata::test::scratch_dir dir{world, "dag-resume-b"};
  {
    checkpointer_t ckpt{world, {.directory = dir.path(), .trigger = {.n = 8}}};
    program prog(6, 95);
    task_flow<> flow{{.workers = 2}};
    prog.submit(flow, P, 47);
    REQUIRE_THROWS_AS(flow.run(world, resume_with(ckpt, {.every_tasks = 8})), task_error);
  }
  checkpointer_t ckpt{world, {.directory = dir.path(), .trigger = {.n = 8}}};
  program prog(6, 95);  // fresh buffers: the values before the cut come from the checkpoint
  task_flow<> flow{{.workers = 2}};
  prog.submit(flow, P);
  auto const res = flow.run(world, resume_with(ckpt, {.every_tasks = 8}));
  CHECK(res.resumed_from == 40);
  CHECK(prog.runs(world, 40, 95) == std::pair<std::uint64_t, std::uint64_t>{55, 0});  // each once, none before the cut
  CHECK(world.all_reduce(static_cast<std::uint64_t>(res.tasks_run), strata::comm::reduce_op::sum) == 55);
  for (std::size_t t = 0; t < 40; ++t) CHECK(res.rank_of[t] == -1);
  CHECK(world.all_reduce(prog.wrong_at_home(me, P), strata::comm::reduce_op::sum) == 0);

  // Run again on the finished directory: cut 88 is the newest saved (95 is not a multiple of 8).
  program again(6, 95);
  task_flow<> flow2;
  again.submit(flow2, P);
  auto const res2 = flow2.run(world, resume_with(ckpt, {.every_tasks = 8}));
  CHECK(res2.resumed_from == 88);
  CHECK(again.runs(world, 88, 95) == std::pair<std::uint64_t, std::uint64_t>{7, 0});
  CHECK(world.all_reduce(again.wrong_at_home(me, P), strata::comm::reduce_op::sum) == 0);
}

TEST_CASE("resumable flow: a saved cut of another flow is refused, naming the directory, version and difference",
          "[dag][resume][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const P = world.size();
  strata::test::scratch_dir dir{world, "dag-resume-c"};
  checkpointer_t ckpt{world, {.directory = dir.path(), .trigger = {.n = 5}}};
  {
    program prog(4, 20);
    task_flow<> flow;
    prog.submit(flow, P);
    flow.run(world, resume_with(ckpt, {.every_tasks = 5}));
  }
  auto refused = [&](program& prog, task_flow<>& flow) -> std::string {
    std::vector<std::uint64_t> before;
    for (auto const& c : prog.cells) before.push_back(c[0]);
    try {
      flow.run(world, resume_with(ckpt, {.every_tasks = 5}));
    } catch (resume_error const& e) {
      CHECK(e.directory() == dir.path());
      CHECK(e.version().has_value());
      std::uint64_t touched = 0;
      for (std::size_t i = 0; i < prog.cells.size(); ++i) touched += prog.cells[i][0] != before[i];
      CHECK(touched == 0);  // no buffer written
      CHECK(flow.size() == 0);
      CHECK(std::string(e.what()).find(dir.path().string()) != std::string::npos);
      return e.difference();
    }
    return "not refused";
  };
  {
    program prog(4, 21);
    task_flow<> flow;
    prog.submit(flow, P);
    CHECK(refused(prog, flow) == "the checkpoint holds a flow of 20 tasks, this flow has 21");
  }
  {
    program prog(5, 20);
    task_flow<> flow;
    prog.submit(flow, P);
    CHECK(refused(prog, flow) == "the checkpoint holds 4 handles, this flow registered 5");
  }
  {
    program prog(4, 20);
    task_flow<> flow;
    prog.submit(flow, P, -1, "g");
    CHECK(refused(prog, flow) == "handle #0 was 'h0 16 0' (name bytes home), this flow's is 'g0 16 0'");
  }
}

TEST_CASE("resumable flow: a cut saved on other ranks is refused", "[dag][resume][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  if (world.size() == 1) return;
  strata::test::scratch_dir dir{world, "dag-resume-d"};
  MPI_Comm one_native = MPI_COMM_NULL;
  MPI_Comm_split(world.native(), world.rank() == 0 ? 0 : MPI_UNDEFINED, 0, &one_native);
  if (world.rank() == 0) {
    auto const one = strata::comm::mpi::duplicate(one_native);
    {
      checkpointer_t ckpt{one, {.directory = dir.path(), .trigger = {.n = 5}}};
      program prog(4, 20);
      task_flow<> flow;
      prog.submit(flow, 1);
      flow.run(one, resume_with(ckpt, {.every_tasks = 5}));
    }
    MPI_Comm_free(&one_native);
  }
  world.barrier();
  checkpointer_t ckpt{world, {.directory = dir.path(), .trigger = {.n = 5}}};
  program prog(4, 20);
  task_flow<> flow;
  prog.submit(flow, world.size());
  try {
    flow.run(world, resume_with(ckpt, {.every_tasks = 5}));
    FAIL("not refused");
  } catch (resume_error const& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find("cannot resume from '" + dir.path().string() + "'") != std::string::npos);
    CHECK(std::string(e.what()).find("rank") != std::string::npos);
  }
}
