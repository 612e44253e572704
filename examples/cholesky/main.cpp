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

#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/dag/executor.hpp>
#include <strata/dag/placement.hpp>
#include <strata/dag/task_flow.hpp>
#include <strata/elastic/topology.hpp>

#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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

// Resumable runs (--dir): cuts every --checkpoint-every tasks, each saved by the checkpointer; a run that
// did not resume kills --crash-rank with SIGKILL in the first task it runs at or past --crash-at-task (or at
// the first cut past it).
struct resume_args {
  std::string dir;
  std::size_t every = 16;
  long long crash_at = -1;
  int crash_rank = 0;
};

[[noreturn]] void kill_self(int me, std::string const& where) {
  std::printf("cholesky: rank %d killing itself with SIGKILL %s\n", me, where.c_str());
  std::fflush(stdout);
  std::raise(SIGKILL);
  std::abort();
}

template <class Placement>
strata::dag::flow_result factor(strata::comm::mpi const& world, tiled::tile_store& store, tiled::kernel_costs const& costs,
                                int workers, std::size_t& tasks, resume_args const& ra, std::uint64_t& ran) {
  strata::dag::task_flow<Placement> flow{{.workers = workers}};
  std::atomic<std::uint64_t> count{0};
  if (ra.dir.empty()) {
    tasks = tiled::submit(flow, store, costs, world.size(), [&](std::size_t) { ++count; }).size();
    auto res = flow.run(world);
    ran = count;
    return res;
  }
  strata::checkpointer<> ckpt{world, {.directory = ra.dir, .trigger = {.n = ra.every}}};
  int const me = world.rank();
  bool const crash = ra.crash_at >= 0 && me == ra.crash_rank && ckpt.versions().empty();  // only a run that did not resume
  tasks = tiled::submit(flow, store, costs, world.size(), [&](std::size_t t) {
            ++count;
            if (crash && static_cast<long long>(t) >= ra.crash_at) kill_self(me, "in task " + std::to_string(t));
          }).size();
  auto on_cut = [&](strata::dag::cut_event const& e) {
    if (me == 0 && e.saved) std::printf("checkpointed at task cut %zu\n", e.tasks_done), std::fflush(stdout);
    // It ran no task from --crash-at-task to this cut (placed elsewhere): dies here, after the cut.
    if (crash && static_cast<long long>(e.tasks_done) > ra.crash_at) kill_self(me, "after cut " + std::to_string(e.tasks_done));
  };
  auto res = flow.run(world, strata::dag::resume_with(ckpt, {.every_tasks = ra.every, .on_cut = on_cut}));
  if (me == 0 && res.resumed_from > 0) std::printf("resumed from task cut %zu\n", res.resumed_from);
  ran = count;
  return res;
}

// FNV-1a of the factor's bits (rank 0, after gathered_residual gathered every tile there).
std::uint64_t factor_checksum(tiled::tile_store& store) {
  std::uint64_t h = 14695981039346656037ull;
  for (int i = 0; i < store.tiles; ++i)
    for (int j = 0; j <= i; ++j)
      for (auto const byte : std::as_bytes(std::span(store.at(i, j)))) h = (h ^ static_cast<unsigned char>(byte)) * 1099511628211ull;
  return h;
}

// The same factorisation through the task flow's dynamic runtime; the factor is left at the tiles' homes.
int run_dynamic(strata::comm::mpi const& world, int tiles, int b, tiled::kernel_costs const& costs, std::string const& placement,
                int workers, resume_args const& ra) {
  namespace dag = strata::dag;
  tiled::tile_store store(tiles, b);
  std::size_t tasks = 0;
  std::uint64_t ran = 0;
  auto const res = placement == "heft"          ? factor<dag::planned<dag::heft>>(world, store, costs, workers, tasks, ra, ran)
                   : placement == "eager"       ? factor<dag::planned<dag::eager>>(world, store, costs, workers, tasks, ra, ran)
                   : placement == "round_robin" ? factor<dag::planned<dag::round_robin>>(world, store, costs, workers, tasks, ra, ran)
                   : placement == "owner_computes" ? factor<dag::owner_computes>(world, store, costs, workers, tasks, ra, ran)
                                                   : factor<dag::locality>(world, store, costs, workers, tasks, ra, ran);
  ran = world.all_reduce(ran, strata::comm::reduce_op::sum);
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
    std::printf("tasks run %llu of %zu (%zu restored)\n", static_cast<unsigned long long>(ran), tasks, res.resumed_from);
    std::printf("residual max|A - L L^T| / max|A| = %.3e\n", resid);
    std::printf("factor checksum %016llx\n", static_cast<unsigned long long>(factor_checksum(store)));
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
  app.add_option("--placement", placement,
                 "heft | round_robin | eager | locality | owner_computes (the last two: dynamic runtime only; owner_computes: each "
                 "task at the home of the tile it updates)")
      ->check(CLI::IsMember({"heft", "round_robin", "eager", "locality", "owner_computes"}));
  app.add_option("--runtime", runtime, "static (placed ahead, dag::execute) | dynamic (dag::task_flow)")
      ->check(CLI::IsMember({"static", "dynamic"}));
  app.add_option("--workers", workers, "dynamic runtime: worker threads per rank")->check(CLI::Range(1, 256));
  resume_args ra;
  app.add_option("--dir", ra.dir, "resumable run (dynamic runtime): checkpoint directory of the task cuts");
  app.add_option("--checkpoint-every", ra.every, "resumable run: a cut, saved, every this many tasks of program order")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--crash-at-task", ra.crash_at,
                 "kill --crash-rank with SIGKILL in the first task it runs at or past this one (only in a run that did not resume)");
  app.add_option("--crash-rank", ra.crash_rank, "rank to kill");
  try {
    app.parse(argc, argv);
    if (runtime == "static" && (placement == "locality" || placement == "owner_computes"))
      throw CLI::ValidationError("--placement " + placement + " needs --runtime dynamic");
    if (runtime == "static" && !ra.dir.empty()) throw CLI::ValidationError("--dir needs --runtime dynamic");
    if (ra.crash_at >= 0 && ra.dir.empty()) throw CLI::ValidationError("--crash-at-task needs --dir");
  } catch (CLI::ParseError const& e) {
    return app.exit(e);
  }
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const me = world.rank();

  // Same costs on every rank, so that every rank computes the same plan.
  tiled::kernel_costs costs{};
  if (me == 0) costs = tiled::calibrate(b);
  world.broadcast(std::as_writable_bytes(std::span(&costs, 1)), 0);
  if (runtime == "dynamic") return run_dynamic(world, tiles, b, costs, placement, workers, ra);
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
