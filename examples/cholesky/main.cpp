// cholesky: tiled Cholesky factorisation of an n x n SPD matrix, each tile kernel a task of a
// strata::dag graph placed by HEFT over the MPI ranks and run by strata::dag::execute (SPEC S4).
//
//   mpiexec -n 4 cholesky --tiles 8 --tile-size 48 --placement heft
//
// Prints the planned makespan against the lower bound max(critical path, work / P), the measured
// makespan, and checks the factor: max |A - L L^T| / max |A| must be below 1e-10.
#include "tiled_cholesky.hpp"

#include <strata/comm/mpi.hpp>
#include <strata/dag/executor.hpp>
#include <strata/dag/placement.hpp>
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
}  // namespace

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  int tiles = 8, b = 48;
  std::string placement = "heft";
  CLI::App app{"cholesky: tiled Cholesky through strata's DAG placement and MPI executor"};
  app.add_option("--tiles", tiles, "tiles per dimension")->check(CLI::Range(1, 64));
  app.add_option("--tile-size", b, "tile size b (n = tiles x b)")->check(CLI::Range(1, 2048));
  app.add_option("--placement", placement, "heft | round_robin | eager")->check(CLI::IsMember({"heft", "round_robin", "eager"}));
  try {
    app.parse(argc, argv);
  } catch (CLI::ParseError const& e) {
    return app.exit(e);
  }
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const me = world.rank();

  // Same costs on every rank, so that every rank computes the same plan.
  tiled::kernel_costs costs{};
  if (me == 0) costs = tiled::calibrate(b);
  world.broadcast(std::as_writable_bytes(std::span(&costs, 1)), 0);
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
