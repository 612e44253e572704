// bench_overhead: the heat2d kernel (explicit 2-D heat equation, rows over MPI ranks, field in a
// thrust::device_vector) with a checkpoint every --interval seconds of compute, against the same
// run without checkpoints (goal: <= 2 % at a 10 s interval), for full-sync, full-async and
// incremental-async, measured side by side in one run. JSON on stdout (rank 0).
//
//   mpiexec -n 2 bench_overhead --n 4096 --interval 10 --intervals 3
//
// The step time is measured first (20 steps, slowest rank); every configuration then runs
// the same number of steps, intervals * N - 1 with N = interval / step time, and checkpoints at
// steps N, 2N, ... (trigger::every_n; the one per-step collective is pre-emption's signal check,
// on by default), so each checkpointing run takes
// intervals - 1 checkpoints, none at the very end. The overhead is the wall time over that of the
// run without checkpoints; `blocked_percent` is the share of the run the application thread spent
// inside ckpt.step() (measured in the same run, so immune to the machine's load swings, but blind to
// a background writer competing for cores). Configurations are run in rounds (none, full-sync, full-async,
// incremental-async, repeated --rounds times) and the median per configuration is reported.
#include <strata/strata.hpp>
#include <strata/snapshot/incremental.hpp>

#include <CLI/CLI.hpp>
#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {
using clk = std::chrono::steady_clock;
double secs(clk::time_point a, clk::time_point b) { return std::chrono::duration<double>(b - a).count(); }

/// heat2d's stencil (examples/heat2d/heat2d.cpp): one explicit step on a (rows + 2) x n block.
struct stencil {
  double const* u;
  std::size_t n;
  long long first_row, global_rows;
  STRATA_HOST_DEVICE double operator()(std::size_t idx) const {
    std::size_t const i = idx / n + 1, j = idx % n;
    long long const gi = first_row + static_cast<long long>(i) - 1;
    if (gi == 0 || gi == global_rows - 1 || j == 0 || j == n - 1) return u[i * n + j];
    double const c = u[i * n + j];
    return c + 0.2 * (u[(i - 1) * n + j] + u[(i + 1) * n + j] + u[i * n + j - 1] + u[i * n + j + 1] - 4.0 * c);
  }
};

struct grid {
  strata::comm::mpi const& world;
  std::size_t n, rows;
  long long first_row;
  thrust::device_vector<double> u, next;
  thrust::host_vector<double> send_up, send_down, recv_up, recv_down;
  grid(strata::comm::mpi const& w, std::size_t n_) : world(w), n(n_) {
    auto const size = static_cast<std::size_t>(w.size()), rank = static_cast<std::size_t>(w.rank());
    rows = n / size + (rank < n % size ? 1 : 0);
    first_row = static_cast<long long>(rank * (n / size) + std::min(rank, n % size));
    u.assign((rows + 2) * n, 0.0);
    next.assign((rows + 2) * n, 0.0);
    if (first_row == 0) thrust::fill(u.begin() + static_cast<std::ptrdiff_t>(n), u.begin() + static_cast<std::ptrdiff_t>(2 * n), 1.0);
    send_up.resize(n); send_down.resize(n); recv_up.assign(n, 0.0); recv_down.assign(n, 0.0);
  }
  void step() {
    int const rank = world.rank(), size = world.size();
    int const up = rank > 0 ? rank - 1 : MPI_PROC_NULL, down = rank < size - 1 ? rank + 1 : MPI_PROC_NULL;
    auto row = [&](std::size_t i) { return u.begin() + static_cast<std::ptrdiff_t>(i * n); };
    thrust::copy(row(1), row(2), send_up.begin());
    thrust::copy(row(rows), row(rows + 1), send_down.begin());
    MPI_Sendrecv(send_up.data(), static_cast<int>(n), MPI_DOUBLE, up, 0, recv_down.data(), static_cast<int>(n), MPI_DOUBLE,
                 down, 0, world.native(), MPI_STATUS_IGNORE);
    MPI_Sendrecv(send_down.data(), static_cast<int>(n), MPI_DOUBLE, down, 1, recv_up.data(), static_cast<int>(n), MPI_DOUBLE,
                 up, 1, world.native(), MPI_STATUS_IGNORE);
    if (up != MPI_PROC_NULL) thrust::copy(recv_up.begin(), recv_up.end(), row(0));
    if (down != MPI_PROC_NULL) thrust::copy(recv_down.begin(), recv_down.end(), row(rows + 1));
    thrust::transform(thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(rows * n),
                      next.begin() + static_cast<std::ptrdiff_t>(n),
                      stencil{thrust::raw_pointer_cast(u.data()), n, first_row, static_cast<long long>(n)});
    thrust::copy(u.begin(), u.begin() + static_cast<std::ptrdiff_t>(n), next.begin());  // halo rows carried over
    thrust::copy(u.end() - static_cast<std::ptrdiff_t>(n), u.end(), next.end() - static_cast<std::ptrdiff_t>(n));
    u.swap(next);
  }
};

template <class Snapshot>
double run(strata::comm::mpi const& world, std::size_t n, std::uint64_t steps, std::uint64_t every, bool async,
           std::string const& dir, std::uint64_t& checkpoints, double& blocked) {
  grid g{world, n};
  std::uint64_t step = 0;
  using ck_t = strata::checkpointer<strata::comm::mpi, Snapshot>;
  if (world.rank() == 0) std::filesystem::remove_all(dir);
  world.barrier();
  typename ck_t::options o;
  o.directory = dir;
  o.async = async;
  o.trigger = {.n = every ? every : 1};  // every = 0: the baseline, which never calls step()
  o.retention = {.count = 2};
  ck_t ck{world, o};
  ck.protect("u", g.u);
  ck.protect("step", step);
  world.barrier();
  auto const t0 = clk::now();
  checkpoints = 0;
  double in_ckpt = 0;  // time the application thread spends inside ck.step(): what checkpointing blocks
  while (step < steps) {
    g.step();
    ++step;
    if (every) {
      auto const c0 = clk::now();
      checkpoints += ck.step(step) ? 1 : 0;
      in_ckpt += secs(c0, clk::now());
    }
  }
  world.barrier();
  double const t = secs(t0, clk::now());
  ck.wait();  // after the clock: the last background write is not part of the compute phase
  if (world.rank() == 0) std::filesystem::remove_all(dir);
  blocked = world.all_reduce(in_ckpt, strata::comm::reduce_op::max);
  return world.all_reduce(t, strata::comm::reduce_op::max);
}
}  // namespace

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  strata::comm::mpi world{MPI_COMM_WORLD};
  CLI::App app{"heat2d with a checkpoint every ~interval seconds vs none"};
  std::size_t n = 4096;
  double interval = 10.0;
  std::uint64_t intervals = 3;
  int rounds = 1;
  std::string dir = "overhead_ckpt";
  app.add_option("--n", n, "grid is n x n doubles");
  app.add_option("--interval", interval, "seconds of compute between checkpoints");
  app.add_option("--intervals", intervals, "intervals per run (checkpoints: intervals - 1)");
  app.add_option("--rounds", rounds, "rounds over the configurations (median reported)");
  app.add_option("--dir", dir, "checkpoint directory");
  CLI11_PARSE(app, argc, argv);
  intervals = std::max<std::uint64_t>(intervals, 2);

  // Step time: 20 consecutive steps after 2 warm-up steps, slowest rank.
  double step_s = 0;
  {
    grid g{world, n};
    g.step();
    g.step();
    world.barrier();
    auto t0 = clk::now();
    for (int i = 0; i < 20; ++i) g.step();
    step_s = world.all_reduce(secs(t0, clk::now()), strata::comm::reduce_op::max) / 20.0;
  }
  auto const every = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(interval / step_s));
  auto const steps = intervals * every - 1;
  using inc = strata::snapshot::incremental<64 * 1024>;
  char const* names[4] = {"none", "full_sync", "full_async", "incremental_async"};
  std::vector<double> times[4], blocked_share[4];
  double blocked = 0;
  std::uint64_t taken[4] = {0, 0, 0, 0};
  for (int r = 0; r < std::max(rounds, 1); ++r) {
    auto record = [&](int c, double t) {
      times[c].push_back(t);
      blocked_share[c].push_back(blocked / t);
    };
    record(0, run<strata::snapshot::full>(world, n, steps, 0, false, dir + "/none", taken[0], blocked));
    record(1, run<strata::snapshot::full>(world, n, steps, every, false, dir + "/full_sync", taken[1], blocked));
    record(2, run<strata::snapshot::full>(world, n, steps, every, true, dir + "/full_async", taken[2], blocked));
    record(3, run<inc>(world, n, steps, every, true, dir + "/inc_async", taken[3], blocked));
  }
  auto med = [](std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; };
  if (world.rank() == 0) {
    std::size_t const rows = n / static_cast<std::size_t>(world.size());
    std::printf("{\n  \"benchmark\": \"overhead\", \"ranks\": %d, \"device_system\": \"%s\", \"n\": %zu,\n"
                "  \"protected_mib_per_rank\": %.1f, \"step_s\": %.5f, \"interval_s\": %.2f, \"steps_per_interval\": %llu,\n"
                "  \"steps\": %llu, \"rounds\": %d,\n  \"results\": [\n",
                world.size(), STRATA_DEVICE_SYSTEM_NAME, n, static_cast<double>((rows + 2) * n * 8) / (1 << 20), step_s,
                interval, static_cast<unsigned long long>(every), static_cast<unsigned long long>(steps), rounds);
    double const base = med(times[0]);
    for (int c = 0; c < 4; ++c)
      std::printf("    {\"config\": \"%s\", \"seconds\": %.3f, \"checkpoints\": %llu, \"overhead_percent\": %.2f, "
                  "\"blocked_percent\": %.3f}%s\n",
                  names[c], med(times[c]), static_cast<unsigned long long>(taken[c]), 100.0 * (med(times[c]) / base - 1.0),
                  100.0 * med(blocked_share[c]), c < 3 ? "," : "");
    std::printf("  ]\n}\n");
  }
  return 0;
}
