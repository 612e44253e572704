// bench_rebalance: max/avg - 1 of per-rank step time before and after 1, 2, 3 LB steps with
// greedy and refine (and no balancing), measured side by side in one run; bytes and units moved
// and the time of each LB step. Writes JSON and CSV.
//
//   mpiexec -n 4 bench_rebalance --slow-ranks 1,2 --slowdown 2 --out rebalance
//
// Step time is process CPU time of the real per-unit work (Thrust over the unit's data); a slowed
// rank burns (slowdown - 1) x its compute time, like a slower processor.
#include <strata/balance/balancer.hpp>
#include <strata/comm/mpi.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <thrust/device_vector.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#if defined(__CUDACC__)
#define BENCH_HD __host__ __device__
#else
#define BENCH_HD
#endif

namespace {
namespace bal = strata::balance;

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
struct work {
  double* x;
  int iters;
  BENCH_HD void operator()(std::size_t i) const {
    double v = x[i];
    for (int k = 0; k < iters; ++k) v = v * 0.999 + 1e-3 / (1.0 + v * v);
    x[i] = v;
  }
};

struct config {
  int units = 64, elements_per_weight = 2048, iters = 24, measure_steps = 3, lb_steps = 3;
  double slowdown = 2.0;
  std::vector<int> slow{1, 2};
};

struct run_result {
  std::string policy;
  std::vector<double> imbalance;  // before, after 1, 2, 3 LB steps
  std::vector<std::size_t> units_moved;
  std::vector<std::uint64_t> bytes_moved;
  std::vector<double> lb_seconds;
};

template <class Policy>
run_result run(strata::comm::mpi const& world, config const& cfg, Policy policy) {
  int const me = world.rank(), P = world.size();
  double const slow = std::ranges::find(cfg.slow, me) != cfg.slow.end() ? cfg.slowdown : 1.0;
  std::vector<bal::work_unit> units;
  bal::unit_store<double> store;
  for (int i = 0; i < cfg.units; ++i) {
    int const w = 1 + (i * 5) % 8;  // weights 1..8
    auto const n = static_cast<std::uint64_t>(w) * static_cast<std::uint64_t>(cfg.elements_per_weight);
    units.push_back({static_cast<std::uint64_t>(i), static_cast<double>(w), i * P / cfg.units, n * sizeof(double)});
    if (units.back().owner == me) store.insert(units.back().id, thrust::device_vector<double>(n, 1.0));
  }
  bal::balancer<Policy> lb{world, policy};
  auto measure = [&] {
    double mine = 0.0;
    for (int s = 0; s < cfg.measure_steps; ++s) {
      double const c0 = cpu_seconds();
      for (auto const& u : units)
        if (u.owner == me) {
          auto& v = store.at(u.id);
          thrust::for_each(thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(v.size()),
                           work{thrust::raw_pointer_cast(v.data()), cfg.iters});
        }
      double const c1 = cpu_seconds();
      if (slow > 1.0) {
        volatile double sink = 0;
        while (cpu_seconds() < c1 + (slow - 1.0) * (c1 - c0)) sink = sink + 1.0;
      }
      double const t = cpu_seconds() - c0;
      lb.record_step(units, t);
      mine += t;
    }
    mine /= cfg.measure_steps;
    double const mx = world.all_reduce(mine, strata::comm::reduce_op::max);
    double const avg = world.all_reduce(mine, strata::comm::reduce_op::sum) / P;
    return mx / avg - 1.0;
  };
  run_result r{std::string(policy.name()), {}, {}, {}, {}};
  r.imbalance.push_back(measure());
  for (int k = 0; k < cfg.lb_steps; ++k) {
    auto const rep = lb.rebalance(units, store);
    r.units_moved.push_back(rep.units_moved);
    r.bytes_moved.push_back(rep.bytes_moved);
    r.lb_seconds.push_back(rep.seconds);
    r.imbalance.push_back(measure());
  }
  return r;
}
}  // namespace

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  config cfg;
  std::string out = "rebalance", slow = "1,2";
  CLI::App app{"bench_rebalance: imbalance before/after LB steps, greedy vs refine"};
  app.add_option("--units", cfg.units, "work units");
  app.add_option("--elements", cfg.elements_per_weight, "doubles per unit of weight");
  app.add_option("--iters", cfg.iters, "work per element");
  app.add_option("--measure-steps", cfg.measure_steps, "steps averaged per measurement");
  app.add_option("--slow-ranks", slow, "comma-separated slowed ranks");
  app.add_option("--slowdown", cfg.slowdown, "slowdown factor of the slowed ranks");
  app.add_option("--out", out, "output prefix (writes PREFIX.json and PREFIX.csv)");
  CLI11_PARSE(app, argc, argv);
  cfg.slow.clear();
  std::stringstream ss(slow);
  for (std::string s; std::getline(ss, s, ',');)
    if (!s.empty()) cfg.slow.push_back(std::stoi(s));

  strata::comm::mpi world{MPI_COMM_WORLD};
  std::vector<run_result> results;
  results.push_back(run(world, cfg, bal::no_balancing{}));
  results.push_back(run(world, cfg, bal::greedy{}));
  results.push_back(run(world, cfg, bal::refine{}));
  if (world.rank() != 0) return 0;

  nlohmann::json j;
  j["benchmark"] = "rebalance";
  j["ranks"] = world.size();
  j["slow_ranks"] = cfg.slow;
  j["slowdown"] = cfg.slowdown;
  j["units"] = cfg.units;
  j["measure_steps"] = cfg.measure_steps;
  j["goal_imbalance"] = 0.05;
  std::ofstream csv(out + ".csv");
  csv << "policy,lb_steps,imbalance,units_moved,bytes_moved,lb_seconds\n";
  std::printf("%-8s %10s %10s %10s %10s   %s\n", "policy", "before", "after 1", "after 2", "after 3", "units/bytes moved, LB step seconds");
  for (auto const& r : results) {
    j["policies"][r.policy] = {{"imbalance", r.imbalance}, {"units_moved", r.units_moved},
                               {"bytes_moved", r.bytes_moved}, {"lb_seconds", r.lb_seconds}};
    std::printf("%-8s", r.policy.c_str());
    for (double v : r.imbalance) std::printf(" %10.3f", v);
    std::printf("  ");
    for (std::size_t k = 0; k < r.units_moved.size(); ++k)
      std::printf(" %zu/%llu/%.4fs", r.units_moved[k], static_cast<unsigned long long>(r.bytes_moved[k]), r.lb_seconds[k]);
    std::printf("\n");
    for (std::size_t k = 0; k < r.imbalance.size(); ++k)
      csv << r.policy << ',' << k << ',' << r.imbalance[k] << ',' << (k ? r.units_moved[k - 1] : 0) << ','
          << (k ? r.bytes_moved[k - 1] : 0) << ',' << (k ? r.lb_seconds[k - 1] : 0.0) << '\n';
  }
  std::ofstream(out + ".json") << j.dump(2) << '\n';
  return 0;
}
