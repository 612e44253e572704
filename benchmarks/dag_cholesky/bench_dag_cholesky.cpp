// bench_dag_cholesky: makespan and makespan / lower bound of the tiled Cholesky of examples/cholesky
// for tile counts 4..16, the schedulers side by side in one run:
//  - strata dynamic: the tasks submitted to a strata::dag::task_flow (dependencies inferred from the tiles
//    each task reads and updates, tiles updated in place, homes 2D block-cyclic), run by its dynamic
//    runtime over the P ranks with --workers threads each (ready tasks by upward rank, placement
//    owner_computes: each task at the home of the tile it updates, as StarPU-MPI's; tiles between ranks
//    by non-blocking MPI); makespan from the first submission to the end of run() on the slowest rank,
//    as StarPU's;
//  - strata dynamic, HEFT: the same with placement planned<heft> over P x workers;
//  - strata dynamic + steal: the same with flow_options::steal on (a rank whose workers have no ready task
//    takes one of a busier rank's; the tasks stolen are reported);
//  - strata dynamic, progress thread: the same with flow_options::progress_thread (the calling thread
//    only communicates, beside --workers worker threads; by default it is one of the workers);
//  - strata HEFT, strata eager, strata round robin: the placement computed ahead with the
//    calibrated kernel costs, run by strata::dag::execute over the P MPI ranks (one thread each);
//  - StarPU dmda, StarPU eager (when built with StarPU): the same tasks and kernels, one StarPU
//    process on rank 0 with P x workers CPU workers (STARPU_SCHED=dmda | eager, STARPU_NCPU=P x workers) while the
//    other ranks sleep; dmda's performance model is the same calibrated costs.
// Lower bound = max(critical path, total work / (P x workers)) from the kernel costs calibrated on rank 0
// (best of --calib-reps), the same for all five. Each point is the median (and the best) of --reps
// runs, the schedulers interleaved (order rotated every repetition). The factor of every scheduler is checked
// (max |A - L L^T| / max |A| < 1e-10) on the first repetition. Writes PREFIX.json and PREFIX.csv. The last
// line printed is "strata/starpu_eager median makespan at T tiles: R" (T the largest tile count, R the ratio of
// the medians of strata dynamic and StarPU eager); the lines before it give the same for strata dynamic + steal
// and strata dynamic, HEFT. Each strata dynamic scheduler also reports its busiest rank's time in task bodies
// and the idle fraction of that rank (waiting for inputs, the runtime between tasks, fixed costs).
//
//   mpiexec -n 2 --bind-to none bench_dag_cholesky --tiles 4,6,8,10,12,14,16 --tile-size 64 --reps 15 --out dag_cholesky
#include "../../examples/cholesky/tiled_cholesky.hpp"
#if STRATA_BENCH_HAVE_STARPU
#include "starpu_cholesky.hpp"
#endif

#include <strata/comm/mpi.hpp>
#include <strata/dag/executor.hpp>
#include <strata/dag/placement.hpp>
#include <strata/dag/task_flow.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr double residual_limit = 1e-10;

using tiled::to_doubles;

/// Task body for strata: the kernels of tiled_cholesky.hpp like run_op, but reading the input tiles
/// in place in the executor's buffers; the one copy left (previous version of the output tile into
/// the new output buffer) is the copy the calibration times too, and StarPU's tasks update in place.
/// The buffers hold doubles written by this function on some rank (std::vector storage: aligned).
std::vector<std::byte> run_task(tiled::problem const& prob, strata::dag::task_id id, strata::dag::task_inputs const& in) {
  auto const& o = prob.ops[id];
  auto const bytes = static_cast<std::size_t>(prob.b * prob.b) * sizeof(double);
  std::vector<std::byte> out(bytes);
  auto* c = reinterpret_cast<double*>(out.data());
  if (o.prev == tiled::none) {
    auto const a = tiled::initial_tile(o.i, o.j, prob.b, prob.n());
    std::memcpy(c, a.data(), bytes);
  } else {
    std::memcpy(c, in.from(o.prev).data(), bytes);
  }
  auto tile = [&](strata::dag::task_id p) { return reinterpret_cast<double const*>(in.from(p).data()); };
  switch (o.k) {
    case tiled::kernel::potrf: tiled::potrf(c, prob.b); break;
    case tiled::kernel::trsm: tiled::trsm(tile(o.a), c, prob.b); break;
    case tiled::kernel::syrk: tiled::gemm_nt(tile(o.a), tile(o.a), c, prob.b); break;
    case tiled::kernel::gemm: tiled::gemm_nt(tile(o.a), tile(o.b), c, prob.b); break;
  }
  return out;
}

/// A barrier that sleeps while it waits (MPI_Barrier spins and would steal a core from StarPU's workers).
[[maybe_unused]] void sleeping_barrier(strata::comm::mpi const& world) {
  MPI_Request req;
  MPI_Ibarrier(world.native(), &req);
  for (int done = 0;;) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) return;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}


double median(std::vector<double> v) {
  std::ranges::sort(v);
  auto const m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

struct sched_runs {
  std::vector<double> makespan, busy, init;  // init: starpu_init only (not in the makespan)
  std::vector<double> busiest;                // strata dynamic: the busiest rank's time in task bodies
  std::vector<double> transfers;              // strata dynamic: tiles sent between ranks
  std::vector<double> stolen;                 // strata dynamic: tasks run on another rank than planned
  std::vector<double> submit;                 // strata dynamic: tiled::submit on rank 0 (in the makespan)
  double residual = -1.0;
  /// Strata dynamic: the busiest rank's idle fraction of its workers' time (waiting for inputs, the
  /// runtime between tasks, fixed costs), from the medians.
  [[nodiscard]] double busiest_idle(int workers) const { return 1.0 - median(busiest) / (median(makespan) * workers); }
};

}  // namespace

/// What the machine gives the ranks, measured side by side in this run (docs/benchmarks.md reads it):
/// the time of one gemm on each rank alone (the others waiting in a barrier) and with every rank computing
/// at once (medians of `n` kernels), and the time a tile-sized message costs the receiving rank inside
/// MPI_Test once it has arrived (rank 1 from rank 0, median of `n`; 0 with one rank).
struct machine_probe {
  std::vector<double> gemm_alone_s, gemm_together_s;  // per rank
  double tile_receive_s = 0.0;
};
machine_probe probe_machine(strata::comm::mpi const& world, int b, int n = 60) {
  int const me = world.rank(), P = world.size();
  auto const m = 4 * b;
  auto const x = tiled::initial_tile(1, 0, b, m), y = tiled::initial_tile(1, 1, b, m);
  auto c = y;
  auto gemms = [&] {
    std::vector<double> t;
    for (int k = 0; k < n; ++k) {
      auto const t0 = std::chrono::steady_clock::now();
      tiled::gemm_nt(x.data(), y.data(), c.data(), b);
      t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return median(t);
  };
  auto gather = [&](double v) {
    std::vector<double> all(static_cast<std::size_t>(P));
    MPI_Allgather(&v, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, world.native());
    return all;
  };
  machine_probe out;
  double alone = 0.0;
  for (int r = 0; r < P; ++r) {
    world.barrier();
    if (r == me) alone = gemms();
  }
  out.gemm_alone_s = gather(alone);
  world.barrier();
  out.gemm_together_s = gather(gemms());
  if (P >= 2) {
    std::vector<double> tile(static_cast<std::size_t>(b * b), 1.0), spent;
    for (int k = 0; k < n; ++k) {
      world.barrier();
      if (me == 0) MPI_Send(tile.data(), b * b, MPI_DOUBLE, 1, k, world.native());
      if (me == 1) {
        MPI_Request q;
        MPI_Irecv(tile.data(), b * b, MPI_DOUBLE, 0, k, world.native(), &q);
        std::this_thread::sleep_for(std::chrono::microseconds(300));  // the sender's part is done by now
        auto const t0 = std::chrono::steady_clock::now();
        for (int done = 0; !done;) MPI_Test(&q, &done, MPI_STATUS_IGNORE);
        spent.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
    }
    double v = me == 1 ? median(spent) : 0.0;
    MPI_Bcast(&v, 1, MPI_DOUBLE, 1, world.native());
    out.tile_receive_s = v;
  }
  return out;
}

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  std::string tiles_list = "4,6,8,10,12,14,16", out = "dag_cholesky";
  int b = 64, reps = 15, calib_reps = 9, workers = 1;
  bool no_starpu = false;
  CLI::App app{"bench_dag_cholesky: tiled Cholesky, strata dynamic / HEFT / eager / round robin vs StarPU dmda / eager"};
  app.add_option("--tiles", tiles_list, "comma-separated tile counts");
  app.add_option("--tile-size", b, "tile size b")->check(CLI::Range(1, 2048));
  app.add_option("--reps", reps, "runs per scheduler and tile count (median reported)")->check(CLI::Range(1, 1000));
  app.add_option("--calib-reps", calib_reps, "kernel calibration: best of this many")->check(CLI::Range(1, 1000));
  app.add_option("--workers", workers, "strata dynamic: worker threads per rank (StarPU gets ranks x workers CPU workers)")
      ->check(CLI::Range(1, 256));
  app.add_flag("--no-starpu", no_starpu, "skip the StarPU schedulers even when built with StarPU");
  app.add_option("--out", out, "output prefix (PREFIX.json, PREFIX.csv)");
  // The last of a repeated option wins (run.sh passes defaults, then the caller's overrides).
  for (auto* o : app.get_options()) o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  CLI11_PARSE(app, argc, argv);
  std::vector<int> tiles;
  std::stringstream ss(tiles_list);
  for (std::string s; std::getline(ss, s, ',');) tiles.push_back(std::stoi(s));

  strata::comm::mpi world{MPI_COMM_WORLD};
  int const me = world.rank(), P = world.size(), cores = P * workers;

  std::vector<std::string> scheds = {"strata_dynamic", "strata_dynamic_heft", "strata_dynamic_steal", "strata_dynamic_progress_thread", "strata_heft", "strata_eager",
                                     "strata_round_robin"};
  std::size_t const strata_scheds = scheds.size();
  std::string starpu_status;
#if STRATA_BENCH_HAVE_STARPU
  if (no_starpu) {
    starpu_status = "StarPU disabled (--no-starpu): comparison skipped";
  } else {
    scheds.push_back("starpu_dmda");
    scheds.push_back("starpu_eager");
    starpu_status = starpu_chol::version() + ": dmda and eager with " + std::to_string(cores) + " CPU workers in one process";
#if STRATA_BENCH_HAVE_STARPU_MPI
    scheds.push_back("starpu_mpi_eager");
    starpu_status += "; StarPU-MPI eager with " + std::to_string(P) + " ranks x " + std::to_string(workers) + " CPU workers";
#endif
    setenv("STARPU_SILENT", "1", 0);
    setenv("STARPU_WORKERS_NOBIND", "1", 0);  // strata's ranks are not pinned either (run.sh: --bind-to none)
  }
#else
  starpu_status = "StarPU not found: comparison skipped";
#endif
  if (me == 0) std::printf("%s\n", starpu_status.c_str());

  tiled::kernel_costs costs{};
  if (me == 0) costs = tiled::calibrate(b, calib_reps);
  world.broadcast(std::as_writable_bytes(std::span(&costs, 1)), 0);

  auto const machine = probe_machine(world, b);

  cpu_set_t mask;
  CPU_ZERO(&mask);
  int const allowed = sched_getaffinity(0, sizeof mask, &mask) == 0 ? CPU_COUNT(&mask) : -1;
  double load[3] = {-1, -1, -1};
  getloadavg(load, 3);

  nlohmann::json j;
  j["benchmark"] = "dag_cholesky";
  j["tile_size"] = b;
  j["mpi_ranks"] = P;
  j["strata_dynamic_workers_per_rank"] = workers;
  j["reps"] = reps;
  j["online_cpus"] = sysconf(_SC_NPROCESSORS_ONLN);
  j["rank0_allowed_cpus"] = allowed;
  j["load_average_at_start"] = {load[0], load[1], load[2]};
  j["starpu"] = starpu_status;
  std::string compared = "strata_dynamic: dag::task_flow, " + std::to_string(P) + " ranks x " + std::to_string(workers) +
                         " workers (the calling thread of each rank one of them), placement owner_computes (each task at the home of the tile it updates), ready tasks by upward rank, "
                         "tiles in place, makespan from the first submission to the end of run(), slowest rank; "
                         "strata_heft / eager / round_robin: the placement computed ahead with the calibrated costs, run by strata::dag::execute on " +
                         std::to_string(P) + " MPI ranks (one process and one thread each, tiles sent as MPI messages), " +
                         "makespan barrier to barrier";
  compared += "; strata_dynamic_heft: strata_dynamic with placement planned<heft> over ranks x workers";
  compared += "; strata_dynamic_steal: strata_dynamic with flow_options::steal on (idle ranks take ready tasks of busy ones, "
              "default max_bytes)";
  compared += "; strata_dynamic_progress_thread: strata_dynamic with flow_options::progress_thread (the calling thread of each rank "
              "only communicates, beside the workers: workers + 1 threads per rank; by default the caller is one of the workers)";
  if (scheds.size() > strata_scheds)
    compared += "; starpu_*: one process (rank 0) with " + std::to_string(cores) +
                " StarPU CPU workers, tiles in shared memory, the other ranks asleep, makespan from the first submission "
                "to starpu_task_wait_for_all(); same tasks, same kernels";
  if (std::ranges::find(scheds, "starpu_mpi_eager") != scheds.end())
    compared += "; starpu_mpi_eager: StarPU-MPI over the " + std::to_string(P) + " ranks, " + std::to_string(workers) +
                " CPU workers each plus StarPU-MPI's communication thread, tiles owned by the same homes as strata's (2D block-cyclic), "
                "owner computes, makespan first insertion to starpu_task_wait_for_all(), slowest rank";
  j["compared"] = compared;
  j["kernel_seconds"] = {{"potrf", costs.potrf}, {"trsm", costs.trsm}, {"syrk", costs.syrk}, {"gemm", costs.gemm}};
  j["machine"] = {{"gemm_alone_s_per_rank", machine.gemm_alone_s},
                  {"gemm_all_ranks_at_once_s_per_rank", machine.gemm_together_s},
                  {"tile_message_receiver_s", machine.tile_receive_s}};
  if (me == 0) {
    std::printf("kernel costs (b = %d, best of %d): potrf %.1f us, trsm %.1f us, syrk %.1f us, gemm %.1f us\n", b, calib_reps,
                costs.potrf * 1e6, costs.trsm * 1e6, costs.syrk * 1e6, costs.gemm * 1e6);
    std::printf("rank 0 may run on %d of %ld cpus; load average %.2f\n", allowed, sysconf(_SC_NPROCESSORS_ONLN), load[0]);
    auto us = [](std::vector<double> const& v) {
      std::string t;
      for (auto x : v) t += (t.empty() ? "" : " / ") + std::to_string(static_cast<int>(x * 1e6 + 0.5));
      return t;
    };
    std::printf("machine: one gemm per rank alone %s us, every rank at once %s us; a %d KiB tile costs its receiver %.1f us in MPI_Test\n",
                us(machine.gemm_alone_s).c_str(), us(machine.gemm_together_s).c_str(), b * b * 8 / 1024, machine.tile_receive_s * 1e6);
    std::printf("%5s %5s %10s", "tiles", "tasks", "bound ms");
    for (auto const& s : scheds) std::printf(" %18s", s.c_str());
    std::printf("   (median makespan / lower bound, %d ranks x %d workers)\n", P, workers);
  }

  std::ofstream csv;
  int cannot_write = 0;  // checked before the runs: no figures lost to a missing directory
  if (me == 0) {
    csv.open(out + ".csv");
    if (!csv) {
      std::fprintf(stderr, "bench_dag_cholesky: cannot write %s.csv: %s (does its directory exist?)\n", out.c_str(), std::strerror(errno));
      cannot_write = 1;
    }
  }
  world.broadcast(std::as_writable_bytes(std::span(&cannot_write, 1)), 0);
  if (cannot_write) return 2;
  if (me == 0) {
    csv << "tiles,tasks,lower_bound_ms,heft_planned_ratio";
    for (auto const& s : scheds) csv << ',' << s << "_ms";
    for (auto const& s : scheds) csv << ',' << s << "_ratio";
    for (auto const& s : scheds) csv << ',' << s << "_ratio_min";
    csv << '\n';
  }

  auto const pf = strata::dag::platform::uniform(P);
  auto const pf_cores = strata::dag::platform::uniform(cores);
  double last_ratio = -1.0, last_steal_ratio = -1.0, last_mpi_ratio = -1.0, last_heft_ratio = -1.0;
  std::string stolen_line = "strata_dynamic_steal: tasks stolen (median):";
  int last_tiles = 0;
  std::string fixed_line, idle_line;
  bool strata_ok = true, starpu_ok = true;
  for (int t : tiles) {
    auto const prob = tiled::build(t, b, costs);
    auto const bound = strata::dag::lower_bound(prob.graph, pf_cores);
    double const lb = bound.value(), total_work = bound.work_per_rank * cores;
    tiled::tile_store store(t, b);
    std::map<std::string, strata::dag::schedule> plans;
    // The placement strata dynamic computes inside run() (planned<heft> over P x workers), timed alone.
    std::vector<double> place_s;
    for (int k = 0; k < 5; ++k) {
      auto const p0 = std::chrono::steady_clock::now();
      static_cast<void>(strata::dag::heft{}.place(prob.graph, pf_cores));
      place_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - p0).count());
    }
    plans["strata_heft"] = strata::dag::heft{}.place(prob.graph, pf);
    plans["strata_eager"] = strata::dag::eager{}.place(prob.graph, pf);
    plans["strata_round_robin"] = strata::dag::round_robin{}.place(prob.graph, pf);
    std::map<std::string, sched_runs> runs;

    for (int rep = 0; rep < reps; ++rep)
      for (std::size_t k = 0; k < scheds.size(); ++k) {
        auto const& s = scheds[(k + static_cast<std::size_t>(rep)) % scheds.size()];
        bool const check = rep == 0;
        auto& rr = runs[s];
        if (s.starts_with("strata_dynamic")) {
          world.barrier();
          auto const t0 = std::chrono::steady_clock::now();
          strata::dag::flow_options const fo{
              .workers = workers, .steal = {.enabled = s == "strata_dynamic_steal"}, .progress_thread = s == "strata_dynamic_progress_thread"};
          auto submit_and_run = [&](auto&& flow) {
            tiled::submit(flow, store, costs, P);
            rr.submit.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            return flow.run(world);
          };
          auto const res = s == "strata_dynamic_heft" ? submit_and_run(strata::dag::task_flow<>{fo})
                                                      : submit_and_run(strata::dag::task_flow<strata::dag::owner_computes>{fo});
          double const took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          rr.makespan.push_back(world.all_reduce(took, strata::comm::reduce_op::max));
          rr.busy.push_back(world.all_reduce(res.busy_s, strata::comm::reduce_op::sum));
          rr.stolen.push_back(static_cast<double>(res.tasks_stolen));
          rr.busiest.push_back(world.all_reduce(res.busy_s, strata::comm::reduce_op::max));
          rr.transfers.push_back(static_cast<double>(res.transfers));
          if (check) {
            rr.residual = tiled::gathered_residual(world, store);
            int bad = me == 0 && !(rr.residual < residual_limit);
            world.broadcast(std::as_writable_bytes(std::span(&bad, 1)), 0);
            strata_ok &= bad == 0;
          }
        } else if (s.starts_with("strata_")) {
          auto const& plan = plans.at(s);
          auto res = strata::dag::execute(world, prob.graph, plan, [&](strata::dag::task_id id, strata::dag::task_inputs const& in) {
            return run_task(prob, id, in);
          });
          rr.makespan.push_back(res.makespan_s);
          rr.busy.push_back(world.all_reduce(res.busy_s, strata::comm::reduce_op::sum));
          if (check) {
            rr.residual = tiled::gathered_residual(world, prob, plan, res);
            int bad = me == 0 && !(rr.residual < residual_limit);
            world.broadcast(std::as_writable_bytes(std::span(&bad, 1)), 0);
            strata_ok &= bad == 0;
          }
        }
#if STRATA_BENCH_HAVE_STARPU_MPI
        else if (s == "starpu_mpi_eager") {
          tiled::tile_store mstore(t, b);
          auto const r = starpu_chol::run_mpi(mstore, costs, "eager", workers, world.native());
          rr.makespan.push_back(world.all_reduce(r.makespan_s, strata::comm::reduce_op::max));
          rr.busy.push_back(world.all_reduce(r.busy_s, strata::comm::reduce_op::sum));
          rr.init.push_back(r.init_s);
          if (r.workers != workers) std::fprintf(stderr, "warning: StarPU-MPI started %d CPU workers, asked for %d\n", r.workers, workers);
          if (check) {
            rr.residual = tiled::gathered_residual(world, mstore);
            int bad = me == 0 && !(rr.residual < residual_limit);
            world.broadcast(std::as_writable_bytes(std::span(&bad, 1)), 0);
            starpu_ok &= bad == 0;
          }
        }
#endif
#if STRATA_BENCH_HAVE_STARPU
        else {
          if (me == 0) {
            auto const r = starpu_chol::run(t, b, costs, s.substr(std::string("starpu_").size()), cores, check);
            rr.makespan.push_back(r.makespan_s);
            rr.busy.push_back(r.busy_s);
            rr.init.push_back(r.init_s);
            if (r.workers != cores) std::fprintf(stderr, "warning: StarPU started %d CPU workers, asked for %d\n", r.workers, cores);
            if (check) {
              rr.residual = r.residual;
              starpu_ok &= r.residual >= 0.0 && r.residual < residual_limit;
            }
          }
          sleeping_barrier(world);
        }
#endif
      }

    if (me != 0) continue;
    nlohmann::json run = {{"tiles", t},
                          {"tasks", prob.graph.size()},
                          {"n", prob.n()},
                          {"lower_bound_s", lb},
                          {"critical_path_s", bound.critical_path},
                          {"work_per_rank_s", bound.work_per_rank},
                          {"planned_ratio",
                           {{"heft", plans["strata_heft"].makespan / lb},
                            {"eager", plans["strata_eager"].makespan / lb},
                            {"round_robin", plans["strata_round_robin"].makespan / lb}}}};
    std::printf("%5d %5zu %10.3f", t, prob.graph.size(), lb * 1e3);
    csv << t << ',' << prob.graph.size() << ',' << lb * 1e3 << ',' << plans["strata_heft"].makespan / lb;
    for (auto const& s : scheds) {
      auto const& rr = runs[s];
      double const m = median(rr.makespan), busy = median(rr.busy);
      // The same bound with the kernel times this run actually saw (cores shared with other jobs):
      // calibrated costs scaled so that their total equals the measured in-kernel time.
      double const scale = busy / total_work;
      run["schedulers"][s] = {{"makespan_s", rr.makespan},
                              {"makespan_median_s", m},
                              {"makespan_min_s", *std::ranges::min_element(rr.makespan)},
                              {"ratio_median", m / lb},
                              {"ratio_min", *std::ranges::min_element(rr.makespan) / lb},
                              {"busy_s_median", busy},
                              {"ratio_vs_measured_busy", m / (lb * scale)},
                              {"residual", rr.residual}};
      if (!rr.init.empty()) run["schedulers"][s]["starpu_init_s_median"] = median(rr.init);
      if (!rr.stolen.empty()) run["schedulers"][s]["tasks_stolen_median"] = median(rr.stolen);
      if (!rr.busiest.empty()) {
        run["schedulers"][s]["busiest_rank_busy_s_median"] = median(rr.busiest);
        run["schedulers"][s]["busiest_rank_idle_fraction"] = rr.busiest_idle(workers);
        run["schedulers"][s]["transfers"] = median(rr.transfers);
      }
      std::printf(" %18.3f", m / lb);
    }
    for (auto const& s : scheds) csv << ',' << median(runs[s].makespan) * 1e3;
    for (auto const& s : scheds) csv << ',' << median(runs[s].makespan) / lb;
    for (auto const& s : scheds) csv << ',' << *std::ranges::min_element(runs[s].makespan) / lb;
    csv << '\n';
    std::printf("\n");
    std::fflush(stdout);
    if (runs.contains("starpu_mpi_eager"))
      last_mpi_ratio = median(runs["strata_dynamic"].makespan) / median(runs["starpu_mpi_eager"].makespan);
    if (runs.contains("starpu_eager")) last_ratio = median(runs["strata_dynamic"].makespan) / median(runs["starpu_eager"].makespan);
    if (runs.contains("starpu_eager"))
      last_steal_ratio = median(runs["strata_dynamic_steal"].makespan) / median(runs["starpu_eager"].makespan),
      last_heft_ratio = median(runs["strata_dynamic_heft"].makespan) / median(runs["starpu_eager"].makespan);
    auto placed = [&](std::string const& s) {
      return std::to_string(static_cast<long>(median(runs[s].transfers))) + " transfers, busiest rank idle " +
             std::to_string(100.0 * runs[s].busiest_idle(workers)) + " %";
    };
    idle_line = "strata dynamic at " + std::to_string(t) + " tiles (median): owner_computes " + placed("strata_dynamic") +
                "; planned<heft> " + placed("strata_dynamic_heft");
    stolen_line += " " + std::to_string(t) + " tiles " + std::to_string(static_cast<long>(median(runs["strata_dynamic_steal"].stolen))) +
                   " of " + std::to_string(prob.graph.size()) + ";";
    last_tiles = t;
    fixed_line = "strata dynamic fixed costs at " + std::to_string(t) + " tiles (rank 0, median): submission " +
                 std::to_string(median(runs["strata_dynamic"].submit) * 1e3) + " ms, HEFT placement (strata dynamic, HEFT) over " + std::to_string(cores) +
                 " processors " + std::to_string(median(place_s) * 1e3) + " ms";
    run["strata_dynamic_submit_s_median"] = median(runs["strata_dynamic"].submit);
    run["heft_place_s_median"] = median(place_s);
    j["runs"].push_back(run);
  }
  if (me == 0) {
    std::ofstream js(out + ".json");
    js << j.dump(2) << '\n';
    csv.flush();
    if (!js || !csv) {
      std::fprintf(stderr, "bench_dag_cholesky: writing %s.json / %s.csv failed: %s\n", out.c_str(), out.c_str(), std::strerror(errno));
      return 2;
    }
    std::printf(strata_ok ? "strata factor ok (every placement, residual < 1e-10)\n" : "strata factor WRONG\n");
#if STRATA_BENCH_HAVE_STARPU
    if (!no_starpu) std::printf(starpu_ok ? "StarPU factor ok (every StarPU scheduler, residual < 1e-10)\n" : "StarPU factor WRONG\n");
#endif
    std::printf("%s\n", stolen_line.c_str());
    std::printf("%s\n", fixed_line.c_str());
    std::printf("%s\n", idle_line.c_str());
    std::printf("wrote %s.json %s.csv\n", out.c_str(), out.c_str());
    if (last_heft_ratio > 0)
      std::printf("strata heft/starpu_eager median makespan at %d tiles: %.3f\n", last_tiles, last_heft_ratio);
    if (last_steal_ratio > 0)
      std::printf("strata steal/starpu_eager median makespan at %d tiles: %.3f\n", last_tiles, last_steal_ratio);
    if (last_mpi_ratio > 0)
      std::printf("strata/starpu_mpi_eager median makespan at %d tiles: %.3f (distributed, %d ranks x %d workers each)\n", last_tiles,
                  last_mpi_ratio, P, workers);
    if (last_ratio > 0) std::printf("strata/starpu_eager median makespan at %d tiles: %.3f\n", last_tiles, last_ratio);
  }
  return strata_ok && starpu_ok ? 0 : 1;
}
