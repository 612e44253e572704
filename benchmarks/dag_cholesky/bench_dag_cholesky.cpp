// bench_dag_cholesky: makespan / lower bound of tiled Cholesky for tile counts 4..16.
//  - planned: HEFT, eager and round_robin placements on a model of --model-ranks identical ranks,
//    with kernel costs measured on this machine (calibration on rank 0);
//  - measured: the HEFT plan for the launched ranks run by strata::dag::execute over MPI
//    (factor checked), its wall makespan against the same lower bound.
// Writes PREFIX.json and PREFIX.csv.
//
//   mpiexec -n 2 bench_dag_cholesky --tiles 4,6,8,12,16 --tile-size 64 --model-ranks 4 --out dag_cholesky
#include "../../examples/cholesky/tiled_cholesky.hpp"

#include <strata/comm/mpi.hpp>
#include <strata/dag/executor.hpp>
#include <strata/dag/placement.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  std::string tiles_list = "4,6,8,12,16", out = "dag_cholesky";
  int b = 64, model_ranks = 4;
  CLI::App app{"bench_dag_cholesky: HEFT makespan / lower bound for tiled Cholesky"};
  app.add_option("--tiles", tiles_list, "comma-separated tile counts");
  app.add_option("--tile-size", b, "tile size");
  app.add_option("--model-ranks", model_ranks, "ranks of the planned (model) platform");
  app.add_option("--out", out, "output prefix");
  CLI11_PARSE(app, argc, argv);
  std::vector<int> tiles;
  std::stringstream ss(tiles_list);
  for (std::string s; std::getline(ss, s, ',');) tiles.push_back(std::stoi(s));

  strata::comm::mpi world{MPI_COMM_WORLD};
  int const me = world.rank();
  tiled::kernel_costs costs{};
  if (me == 0) costs = tiled::calibrate(b, 9);
  world.broadcast(std::as_writable_bytes(std::span(&costs, 1)), 0);

  nlohmann::json j;
  j["benchmark"] = "dag_cholesky";
  j["tile_size"] = b;
  j["model_ranks"] = model_ranks;
  j["mpi_ranks"] = world.size();
  j["kernel_seconds"] = {{"potrf", costs.potrf}, {"trsm", costs.trsm}, {"syrk", costs.syrk}, {"gemm", costs.gemm}};
  std::ofstream csv;
  if (me == 0) {
    csv.open(out + ".csv");
    csv << "tiles,tasks,heft_planned,eager_planned,round_robin_planned,heft_measured_mpi,heft_measured_vs_measured_work\n";
    std::printf("%5s %6s %12s %12s %12s %14s %14s  (makespan / lower bound)\n", "tiles", "tasks", "heft", "eager",
                "round_robin", "heft measured", "vs busy time");
  }
  bool all_ok = true;
  for (int t : tiles) {
    auto const prob = tiled::build(t, b, costs);
    auto const model = strata::dag::platform::uniform(model_ranks);
    double const lb_model = strata::dag::lower_bound(prob.graph, model).value();
    double const heft_r = strata::dag::heft{}.place(prob.graph, model).makespan / lb_model;
    double const eager_r = strata::dag::eager{}.place(prob.graph, model).makespan / lb_model;
    double const rr_r = strata::dag::round_robin{}.place(prob.graph, model).makespan / lb_model;

    auto const pf = strata::dag::platform::uniform(world.size());
    auto const plan = strata::dag::heft{}.place(prob.graph, pf);
    double const lb_mpi = strata::dag::lower_bound(prob.graph, pf).value();
    auto res = strata::dag::execute(world, prob.graph, plan, [&](strata::dag::task_id id, strata::dag::task_inputs const& in) {
      auto out_tile = tiled::run_op(prob, id, [&](strata::dag::task_id p) {
        auto const bytes = in.from(p);
        std::vector<double> v(bytes.size() / sizeof(double));
        std::memcpy(v.data(), bytes.data(), bytes.size());
        return v;
      });
      std::vector<std::byte> o(out_tile.size() * sizeof(double));
      std::memcpy(o.data(), out_tile.data(), o.size());
      return o;
    });
    // Check the last diagonal tile's factor against a direct check: L(t-1,t-1) has a positive diagonal.
    auto const last = prob.final_writer[static_cast<std::size_t>((t - 1) * t + t - 1)];
    std::uint64_t bad = 0;
    if (plan.tasks[last].rank == me) {
      std::vector<double> d(static_cast<std::size_t>(b * b));
      std::memcpy(d.data(), res.outputs.at(last).data(), d.size() * sizeof(double));
      for (int i = 0; i < b; ++i) bad += !(d[static_cast<std::size_t>(i * b + i)] > 0.0);
    }
    all_ok &= world.all_reduce(bad, strata::comm::reduce_op::sum) == 0;
    double const measured_r = res.makespan_s / lb_mpi;
    // The same bound with the task times this run actually saw (other processes share the cores):
    // calibrated costs scaled so that their total equals the measured busy time of all ranks.
    auto const bound = strata::dag::lower_bound(prob.graph, pf);
    double const busy = world.all_reduce(res.busy_s, strata::comm::reduce_op::sum);
    double const scale = busy / (bound.work_per_rank * world.size());
    double const measured_work_r = res.makespan_s / (bound.value() * scale);
    if (me == 0) {
      std::printf("%5d %6zu %12.3f %12.3f %12.3f %14.3f %14.3f\n", t, prob.graph.size(), heft_r, eager_r, rr_r, measured_r,
                  measured_work_r);
      csv << t << ',' << prob.graph.size() << ',' << heft_r << ',' << eager_r << ',' << rr_r << ',' << measured_r << ','
          << measured_work_r << '\n';
      j["runs"].push_back({{"tiles", t},
                           {"tasks", prob.graph.size()},
                           {"lower_bound_model_s", lb_model},
                           {"planned_ratio", {{"heft", heft_r}, {"eager", eager_r}, {"round_robin", rr_r}}},
                           {"lower_bound_mpi_s", lb_mpi},
                           {"heft_measured_makespan_s", res.makespan_s},
                           {"heft_measured_ratio", measured_r},
                           {"busy_s_all_ranks", busy},
                           {"heft_measured_ratio_vs_measured_work", measured_work_r}});
    }
  }
  if (me == 0) std::ofstream(out + ".json") << j.dump(2) << '\n';
  return all_ok ? 0 : 1;
}
