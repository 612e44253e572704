// bench_dag_resume: what the cuts of a resumable task flow cost (SPEC S9). The tiled Cholesky of
// examples/cholesky run by dag::task_flow's dynamic runtime, interleaved in each repetition:
//  - plain: flow.run(world), one graph, full overlap;
//  - cuts K: flow.run(world, resume_with(ckpt, {.every_tasks = K})) with a trigger that never fires
//    (the segments lose their overlap at each cut; each cut also packs the home values);
//  - saved K: the same, every cut checkpointed (posix directory under --dir, coordinated commit).
// Prints the median makespan of each (--reps runs) and its ratio to plain's median, in one run.
//
//   mpiexec -n 2 --bind-to none bench_dag_resume --tiles 12 --tile-size 64 --every 16,64 --reps 7
#include "../stats.hpp"
#include "../../examples/cholesky/tiled_cholesky.hpp"

#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/dag/task_flow.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

namespace {
using strata_bench::median;
}  // namespace

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  int tiles = 12, b = 64, reps = 7, workers = 1;
  std::vector<std::size_t> every{16, 64};
  std::string dir = "bench_dag_resume_ckpt";
  CLI::App app{"bench_dag_resume: makespan of a task flow with and without resumable cuts"};
  app.add_option("--tiles", tiles)->check(CLI::Range(2, 64));
  app.add_option("--tile-size", b)->check(CLI::Range(4, 1024));
  app.add_option("--every", every, "cut spacings (tasks)")->delimiter(',');
  app.add_option("--reps", reps)->check(CLI::Range(1, 1000));
  app.add_option("--workers", workers)->check(CLI::Range(1, 64));
  app.add_option("--dir", dir, "checkpoint directory (removed and recreated)");
  CLI11_PARSE(app, argc, argv);
  strata::comm::mpi world{MPI_COMM_WORLD};
  tiled::kernel_costs costs{};
  if (world.rank() == 0) costs = tiled::calibrate(b);
  world.broadcast(std::as_writable_bytes(std::span(&costs, 1)), 0);

  // variant 0: plain; then for each K: cuts only, cuts saved.
  std::vector<std::string> names{"plain"};
  for (auto k : every) names.push_back("cuts " + std::to_string(k)), names.push_back("saved " + std::to_string(k));
  std::vector<std::vector<double>> ms(names.size());
  std::size_t tasks = 0;
  for (int rep = 0; rep < reps; ++rep)
    for (std::size_t v = 0; v < names.size(); ++v) {
      tiled::tile_store store(tiles, b);
      strata::dag::task_flow<> flow{{.workers = workers}};
      tasks = tiled::submit(flow, store, costs, world.size()).size();
      if (v == 0) {
        ms[v].push_back(flow.run(world).makespan_s);
        continue;
      }
      auto const k = every[(v - 1) / 2];
      bool const save = (v - 1) % 2 == 1;
      if (world.rank() == 0) std::filesystem::remove_all(dir);
      world.barrier();
      std::uint64_t const n = save ? k : std::numeric_limits<std::uint64_t>::max();
      strata::checkpointer<> ckpt{world, {.directory = dir, .trigger = {.n = n}}};
      ms[v].push_back(flow.run(world, strata::dag::resume_with(ckpt, {.every_tasks = k})).makespan_s);
    }
  if (world.rank() == 0) {
    std::printf("tiled Cholesky %d x %d tiles of %d, %zu tasks, %d ranks x %d workers, median of %d\n", tiles, tiles, b, tasks,
                world.size(), workers, reps);
    double const base = median(ms[0]);
    for (std::size_t v = 0; v < names.size(); ++v)
      std::printf("%-10s makespan %.6f s  ratio %.3f\n", names[v].c_str(), median(ms[v]), median(ms[v]) / base);
  }
  if (world.rank() == 0) std::filesystem::remove_all(dir);
  return 0;
}
