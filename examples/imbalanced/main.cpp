// imbalanced: a particle code whose work units (cells of particles) have uneven cost, some of
// whose ranks are slowed down, balanced by strata::balance::greedy or refine (SPEC S5).
//
//   mpiexec -n 4 imbalanced --slow-ranks 1,2 --slowdown 3 --balancer refine
//
// Each unit is a cell holding 1x..8x the base particle count, kept in a thrust::device_vector.
// Every step advances each particle (an anharmonic oscillator in a field g shared by all
// cells); g is recomputed every step from the cells' mean positions, summed in unit-id order,
// so the result cannot depend on which rank holds which cell: the checksum printed at the end
// is the same whatever the balancer.
//
// Step time is this rank's CPU time (so that ranks sharing cores are measured fairly); a slowed
// rank burns (slowdown - 1) x its compute time after each step, like a slower processor.
#include <strata/balance/balancer.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/elastic/policy.hpp>
#include <strata/elastic/relaunch.hpp>
#include <strata/state/serializer.hpp>

#include <CLI/CLI.hpp>
#include <thrust/device_vector.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform_reduce.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#if defined(__CUDACC__)
#define IMB_HD __host__ __device__
#else
#define IMB_HD
#endif

namespace {

namespace bal = strata::balance;

struct options {
  int units = 64;
  int base_particles = 1500;
  int steps = 40;
  int lb_every = 5;
  int substeps = 20;
  std::string slow_ranks = "";
  double slowdown = 1.0;
  std::string balancer = "none";
  double tolerance = 0.05;
  std::size_t budget = bal::no_budget;
  std::string clock = "cpu";
  // Elastic demo: feed S8 rules with synthetic metrics, checkpoint and exit 75 on a decision.
  std::string elastic_dir;
  double elastic_p99_ms = 250.0;
  double elastic_utilisation = 0.9;
  double elastic_seconds_per_step = 30.0;
};

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::uint64_t mix(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

// Particles of one cell: positions then velocities.
struct advance {
  double* xv;
  std::size_t n;
  double g;
  int substeps;
  IMB_HD void operator()(std::size_t i) const {
    double x = xv[i], v = xv[n + i];
    constexpr double dt = 1e-3;
    for (int s = 0; s < substeps; ++s) {
      double const a = -x - 0.1 * x * x * x + g;
      v += dt * a;
      x += dt * v;
    }
    xv[i] = x;
    xv[n + i] = v;
  }
};
// Fixed point, so that sums are exact and order-independent.
struct to_fixed {
  IMB_HD long long operator()(double x) const { return static_cast<long long>(x * 4294967296.0); }
};

std::vector<int> parse_ranks(std::string const& s) {
  std::vector<int> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(std::stoi(item));
  return out;
}

template <class Policy>
int run(strata::comm::mpi const& world, options const& opt, Policy policy) {
  int const me = world.rank(), P = world.size();
  auto const slow = parse_ranks(opt.slow_ranks);
  double const my_slowdown = std::ranges::find(slow, me) != slow.end() ? opt.slowdown : 1.0;

  // Units: uneven particle counts, block distribution.
  std::vector<bal::work_unit> units;
  bal::unit_store<double> store;
  for (int i = 0; i < opt.units; ++i) {
    auto const n = static_cast<std::uint64_t>(opt.base_particles) * (1 + mix(static_cast<std::uint64_t>(i) + 7) % 8);
    bal::work_unit u{static_cast<std::uint64_t>(i), static_cast<double>(n), static_cast<int>(static_cast<long long>(i) * P / opt.units),
                     2 * n * sizeof(double)};
    units.push_back(u);
    if (u.owner == me) {
      std::vector<double> init(2 * n);
      for (std::uint64_t k = 0; k < n; ++k) {
        init[k] = 1.0 + 0.5 * std::sin(0.001 * static_cast<double>(k) + i);  // positions
        init[n + k] = 0.0;                                                 // velocities
      }
      store.insert(u.id, thrust::device_vector<double>(init.begin(), init.end()));
    }
  }

  bal::balancer<Policy> lb{world, policy};
  strata::elastic::monitor<> elastic;
  bool const balancing = !std::is_same_v<Policy, bal::no_balancing>;
  double g = 0.0;
  std::vector<double> last_ratios;
  if (me == 0)
    std::printf("imbalanced: %d ranks, %d units, balancer %s, slow ranks [%s] x%.2f, clock %s\n", P, opt.units,
                std::string(policy.name()).c_str(), opt.slow_ranks.c_str(), opt.slowdown, opt.clock.c_str());

  for (int step = 0; step < opt.steps; ++step) {
    double const c0 = opt.clock == "cpu" ? cpu_seconds() : wall_seconds();
    std::vector<double> centre(static_cast<std::size_t>(opt.units), 0.0);
    for (auto const& u : units) {
      if (u.owner != me) continue;
      auto& v = store.at(u.id);
      std::size_t const n = v.size() / 2;
      thrust::for_each(thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(n),
                       advance{thrust::raw_pointer_cast(v.data()), n, g, opt.substeps});
      long long const sum = thrust::transform_reduce(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n), to_fixed{}, 0LL,
                                                     thrust::plus<long long>());
      centre[u.id] = static_cast<double>(sum) / 4294967296.0 / static_cast<double>(n);
    }
    double const c1 = opt.clock == "cpu" ? cpu_seconds() : wall_seconds();
    if (my_slowdown > 1.0) {  // a slower processor: burn (slowdown - 1) x the compute time
      double const until = c1 + (my_slowdown - 1.0) * (c1 - c0);
      volatile double sink = 0;
      while ((opt.clock == "cpu" ? cpu_seconds() : wall_seconds()) < until) sink = sink + 1.0;
    }
    double const my_time = (opt.clock == "cpu" ? cpu_seconds() : wall_seconds()) - c0;

    // Shared field: every cell's mean position, summed in unit-id order (each entry comes from one rank).
    MPI_Allreduce(MPI_IN_PLACE, centre.data(), opt.units, MPI_DOUBLE, MPI_SUM, world.native());
    double s = 0.0;
    for (double c : centre) s += c;
    g = 0.05 * s / opt.units;

    lb.record_step(units, my_time);
    double const mx = world.all_reduce(my_time, strata::comm::reduce_op::max);
    double const avg = world.all_reduce(my_time, strata::comm::reduce_op::sum) / P;
    double const ratio = avg > 0 ? mx / avg : 1.0;
    if (step >= opt.steps - opt.lb_every) last_ratios.push_back(ratio);
    if (me == 0) std::printf("step %3d  max/avg = %.3f  max = %.4f s\n", step, ratio, mx);

    if (balancing && (step + 1) % opt.lb_every == 0 && step + 1 < opt.steps) {
      auto const rep = lb.rebalance(units, store);
      if (me == 0)
        std::printf("lb %zu (%s): max/avg-1 before %.3f, predicted after %.3f, moved %zu units / %llu bytes in %.4f s\n",
                    rep.lb_step, std::string(rep.policy).c_str(), rep.imbalance_before, rep.predicted_imbalance_after,
                    rep.units_moved, static_cast<unsigned long long>(rep.bytes_moved), rep.seconds);
    }

    if (!opt.elastic_dir.empty()) {
      strata::elastic::metrics_sample const sample{(step + 1) * opt.elastic_seconds_per_step, opt.elastic_p99_ms,
                                                   opt.elastic_utilisation};
      auto const d = elastic.observe(sample, P);
      if (d.action != strata::elastic::scale_action::none) {
        // Checkpoint: each rank writes its units (id, data) with strata's serializer; rank 0 the request.
        std::filesystem::create_directories(opt.elastic_dir);
        std::vector<std::byte> buf;
        strata::byte_writer w{buf};
        w.value(static_cast<std::uint64_t>(step + 1));
        w.value(g);
        for (auto const& u : units)
          if (u.owner == me) {
            std::vector<double> h(store.at(u.id).size());
            thrust::copy(store.at(u.id).begin(), store.at(u.id).end(), h.begin());
            w.value(u.id);
            w.range(h);
          }
        auto const file = std::filesystem::path(opt.elastic_dir) / ("rank" + std::to_string(me) + ".bin");
        std::ofstream(file, std::ios::binary).write(reinterpret_cast<char const*>(buf.data()), static_cast<std::streamsize>(buf.size()));
        world.barrier();
        if (me == 0) {
          strata::elastic::write_relaunch_request(std::filesystem::path(opt.elastic_dir) / "relaunch.json", d, P);
          std::printf("elastic: %s to %d ranks at step %d (%s); checkpoint in %s; exiting with status %d\n",
                      strata::elastic::to_string(d.action), d.target_ranks, step + 1, d.reason.c_str(),
                      opt.elastic_dir.c_str(), strata::elastic::relaunch_exit_status);
        }
        return strata::elastic::relaunch_exit_status;
      }
    }
  }

  // Checksum: per-cell fixed-point sums of positions and velocities, hashed with the cell id,
  // added modulo 2^64 (order-independent, exact).
  std::uint64_t local = 0;
  for (auto const& u : units) {
    if (u.owner != me) continue;
    auto const& v = store.at(u.id);
    auto const n = static_cast<std::ptrdiff_t>(v.size() / 2);
    auto const sx = static_cast<std::uint64_t>(thrust::transform_reduce(v.begin(), v.begin() + n, to_fixed{}, 0LL, thrust::plus<long long>()));
    auto const sv = static_cast<std::uint64_t>(thrust::transform_reduce(v.begin() + n, v.end(), to_fixed{}, 0LL, thrust::plus<long long>()));
    local += mix(mix(u.id + 1) ^ sx) ^ mix(sv + 0x9e37);
  }
  auto const checksum = world.all_reduce(local, strata::comm::reduce_op::sum);
  double const final_ratio = last_ratios.empty() ? 1.0 : std::accumulate(last_ratios.begin(), last_ratios.end(), 0.0) / last_ratios.size();
  if (me == 0) {
    std::printf("final max/avg (mean of last %zu steps) = %.3f\n", last_ratios.size(), final_ratio);
    std::printf("checksum = %016llx\n", static_cast<unsigned long long>(checksum));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  options opt;
  CLI::App app{"imbalanced: SPMD particle cells with uneven cost, balanced by strata::balance"};
  app.add_option("--units", opt.units, "number of work units (cells)")->check(CLI::PositiveNumber);
  app.add_option("--particles", opt.base_particles, "particles of the lightest cell (others 1x..8x)")->check(CLI::PositiveNumber);
  app.add_option("--steps", opt.steps, "time steps")->check(CLI::PositiveNumber);
  app.add_option("--lb-every", opt.lb_every, "steps between LB steps")->check(CLI::PositiveNumber);
  app.add_option("--substeps", opt.substeps, "inner iterations per particle and step")->check(CLI::PositiveNumber);
  app.add_option("--slow-ranks", opt.slow_ranks, "comma-separated ranks to slow down, e.g. 1,2");
  app.add_option("--slowdown", opt.slowdown, "slow ranks take this factor longer")->check(CLI::Range(1.0, 100.0));
  app.add_option("--balancer", opt.balancer, "none | greedy | refine")->check(CLI::IsMember({"none", "greedy", "refine"}));
  app.add_option("--tolerance", opt.tolerance, "target max/avg - 1");
  app.add_option("--budget", opt.budget, "most units moved per LB step");
  app.add_option("--clock", opt.clock, "cpu (process CPU time) | wall")->check(CLI::IsMember({"cpu", "wall"}));
  app.add_option("--elastic-dir", opt.elastic_dir, "elastic demo: checkpoint + relaunch request here on a scale decision");
  app.add_option("--elastic-p99-ms", opt.elastic_p99_ms, "elastic demo: p99 latency reported every step");
  app.add_option("--elastic-utilisation", opt.elastic_utilisation, "elastic demo: utilisation reported every step");
  app.add_option("--elastic-seconds-per-step", opt.elastic_seconds_per_step, "elastic demo: simulated seconds per step");
  try {
    app.parse(argc, argv);
  } catch (CLI::ParseError const& e) {
    return app.exit(e);
  }
  strata::comm::mpi world{MPI_COMM_WORLD};
  for (int r : parse_ranks(opt.slow_ranks))
    if (r < 0 || r >= world.size()) {
      if (world.rank() == 0) std::fprintf(stderr, "imbalanced: --slow-ranks names rank %d, but there are %d ranks\n", r, world.size());
      return 2;
    }
  if (opt.balancer == "greedy") return run(world, opt, bal::greedy{opt.tolerance, opt.budget});
  if (opt.balancer == "refine") return run(world, opt, bal::refine{opt.tolerance, opt.budget});
  return run(world, opt, bal::no_balancing{});
}
