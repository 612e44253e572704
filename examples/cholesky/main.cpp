// cholesky: tiled Cholesky factorisation of an n x n SPD matrix, each tile kernel a task submitted to a
// strata::dag::task_flow (dependencies inferred from the tiles each task reads and updates), then either
//  - run by the task flow's dynamic runtime (--runtime dynamic): --workers threads per rank take ready tasks by
//    priority, tiles move between ranks by non-blocking MPI; --placement picks the rank of each task
//    (heft, eager, round_robin: planned over ranks x workers; locality: where most input bytes are), or
//  - placed ahead by --placement and run by strata::dag::execute (--runtime static, the default) (SPEC S4, S9).
//
//   mpiexec -n 4 cholesky --tiles 8 --tile-size 48 --placement heft
//   mpiexec -n 2 cholesky --tiles 8 --tile-size 48 --runtime dynamic --workers 2 --placement locality
//
// Prints the planned makespan against the lower bound max(critical path, work / P), the measured
// makespan, and checks the factor: max |A - L L^T| / max |A| must be below 1e-10.
#include "tiled_cholesky.hpp"

#include <strata/comm/mpi.hpp>
#include <strata/dag/executor.hpp>
#include <strata/dag/placement.hpp>
#include <strata/dag/task_flow.hpp>
#include <strata/elastic/topology.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace {
std::vector<std::byte> to_bytes(std::vector<double> const& v) {
  std::vector<std::byte> b(v.size() * sizeof(double));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}
using tiled::to_doubles;

template <class Placement>
strata::dag::flow_result factor(strata::comm::mpi const& world, tiled::tile_store& store, tiled::kernel_costs const& costs,
                                int workers, std::size_t& tasks) {
  strata::dag::task_flow<Placement> flow{{.workers = workers}};
  tasks = tiled::submit(flow, store, costs, world.size()).size();
  return flow.run(world);
}

// The same factorisation through the task flow's dynamic runtime; the factor is left at the tiles' homes.
int run_dynamic(strata::comm::mpi const& world, int tiles, int b, tiled::kernel_costs const& costs, std::string const& placement,
                int workers) {
  namespace dag = strata::dag;
  tiled::tile_store store(tiles, b);
  std::size_t tasks = 0;
  auto const res = placement == "heft"          ? factor<dag::planned<dag::heft>>(world, store, costs, workers, tasks)
                   : placement == "eager"       ? factor<dag::planned<dag::eager>>(world, store, costs, workers, tasks)
                   : placement == "round_robin" ? factor<dag::planned<dag::round_robin>>(world, store, costs, workers, tasks)
                                                : factor<dag::locality>(world, store, costs, workers, tasks);
  // The bound for ranks x workers processors, from the graph the flow inferred.
  auto const prob = tiled::build(tiles, b, costs);
  auto const bound = dag::lower_bound(prob.graph, dag::platform::uniform(world.size() * workers));
  double const resid = tiled::gathered_residual(world, store);
  auto const sent = world.all_reduce(res.bytes_sent, strata::comm::reduce_op::sum);
  int ok = 1;
  if (world.rank() == 0) {
    ok = resid < 1e-10;
    std::printf("cholesky: n = %d (%d x %d tiles of %d), %zu tasks on %d ranks, placement %s, runtime dynamic (%d workers per rank)\n",
                tiles * b, tiles, tiles, b, tasks, world.size(), placement.c_str(), workers);
    std::printf("transfers %zu (%.1f KiB), lower bound %.6f s (critical path %.6f, work/P %.6f)\n", res.transfers,
                static_cast<double>(sent) / 1024.0, bound.value(), bound.critical_path, bound.work_per_rank);
    std::printf("measured makespan %.6f s, ratio to bound %.3f\n", res.makespan_s, res.makespan_s / bound.value());
    std::printf("residual max|A - L L^T| / max|A| = %.3e\n", resid);
    std::printf(ok ? "factor ok\n" : "factor WRONG\n");
  }
  world.broadcast(std::as_writable_bytes(std::span(&ok, 1)), 0);
  return ok ? 0 : 1;
}
}  // namespace

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  int tiles = 8, b = 48;
  int workers = 1;
  std::string placement = "heft", runtime = "static";
  CLI::App app{"cholesky: tiled Cholesky through strata's DAG placement and MPI executor"};
  app.add_option("--tiles", tiles, "tiles per dimension")->check(CLI::Range(1, 64));
  app.add_option("--tile-size", b, "tile size b (n = tiles x b)")->check(CLI::Range(1, 2048));
  app.add_option("--placement", placement, "heft | round_robin | eager | locality (locality: dynamic runtime only)")
      ->check(CLI::IsMember({"heft", "round_robin", "eager", "locality"}));
  app.add_option("--runtime", runtime, "static (placed ahead, dag::execute) | dynamic (dag::task_flow)")
      ->check(CLI::IsMember({"static", "dynamic"}));
  app.add_option("--workers", workers, "dynamic runtime: worker threads per rank")->check(CLI::Range(1, 256));
  try {
    app.parse(argc, argv);
    if (runtime == "static" && placement == "locality") throw CLI::ValidationError("--placement locality needs --runtime dynamic");
  } catch (CLI::ParseError const& e) {
    return app.exit(e);
  }
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const me = world.rank();

  // Same costs on every rank, so that every rank computes the same plan.
  tiled::kernel_costs costs{};
  if (me == 0) costs = tiled::calibrate(b);
  world.broadcast(std::as_writable_bytes(std::span(&costs, 1)), 0);
  if (runtime == "dynamic") return run_dynamic(world, tiles, b, costs, placement, workers);
  auto const prob = tiled::build(tiles, b, costs);
  auto const pf = strata::dag::platform::from_topology(strata::elastic::topology::discover(world));
  auto const plan = placement == "heft"          ? strata::dag::heft{}.place(prob.graph, pf)
                    : placement == "round_robin" ? strata::dag::round_robin{}.place(prob.graph, pf)
                                                 : strata::dag::eager{}.place(prob.graph, pf);
  auto const bound = strata::dag::lower_bound(prob.graph, pf);

  auto res = strata::dag::execute(world, prob.graph, plan, [&](strata::dag::task_id t, strata::dag::task_inputs const& in) {
    return to_bytes(tiled::run_op(prob, t, [&](strata::dag::task_id p) { return to_doubles(in.from(p)); }));
  });

  // Rank 0 gathers L from the final tiles' owners and checks it.
  int const n = prob.n();
  double const resid = tiled::gathered_residual(world, prob, plan, res);
  int ok = 1;
  if (me == 0) {
    ok = resid < 1e-10;
    std::printf("cholesky: n = %d (%d x %d tiles of %d), %zu tasks on %d ranks, placement %s\n", n, tiles, tiles, b,
                prob.graph.size(), world.size(), placement.c_str());
    std::printf("planned makespan %.6f s, lower bound %.6f s (critical path %.6f, work/P %.6f), ratio %.3f\n",
                plan.makespan, bound.value(), bound.critical_path, bound.work_per_rank, plan.makespan / bound.value());
    std::printf("measured makespan %.6f s, ratio to bound %.3f\n", res.makespan_s, res.makespan_s / bound.value());
    std::printf("residual max|A - L L^T| / max|A| = %.3e\n", resid);
    std::printf(ok ? "factor ok\n" : "factor WRONG\n");
  }
  world.broadcast(std::as_writable_bytes(std::span(&ok, 1)), 0);
  return ok ? 0 : 1;
}
