// Blocked time per checkpoint with one slow rank, coordinated vs eventual, side by side in one run
// (interleaved rounds). Every rank "computes" (sleeps) --compute-ms per step, the last rank 3 times
// as long, then checkpoints --mib MiB of its own state. Under the coordinated protocol the fast ranks
// wait in the commit's vote for the slow rank; under the eventual one no rank waits for another.
// Reported: the fast ranks' mean blocked seconds per checkpoint for each protocol, their ratio, and
// each against a raw write+fsync of the same bytes measured in the same run.
#include "../raw_io.hpp"

#include <strata/strata.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

namespace {
using clk = std::chrono::steady_clock;
double secs(clk::time_point a, clk::time_point b) { return std::chrono::duration<double>(b - a).count(); }

struct settings {
  double mib = 16;
  std::size_t checkpoints = 8, rounds = 2;
  int compute_ms = 20;
  double slow_factor = 3;
  std::string dir = "/tmp/strata-bench-eventual", json;
};

/// Mean seconds this rank was blocked per checkpoint under protocol `P`.
template <class P>
double blocked_per_checkpoint(strata::comm::mpi const& world, settings const& s, std::vector<std::byte>& state) {
  using ckpt_t = strata::checkpointer<strata::comm::mpi, strata::snapshot::full, strata::storage::posix_dir, P,
                                      strata::trigger::never, strata::retention::keep_last<2>>;
  auto const d = std::filesystem::path(s.dir) / std::string(P::name);
  if (world.rank() == 0) std::filesystem::remove_all(d);
  world.barrier();
  double blocked = 0;
  {
    ckpt_t ckpt{world, {.directory = d, .log_level = strata::verbosity::quiet, .preemption = {.signals = {}}}};
    ckpt.protect("state", state);
    bool const slow = world.rank() == world.size() - 1 && world.size() > 1;
    auto const compute = std::chrono::duration<double, std::milli>(s.compute_ms * (slow ? s.slow_factor : 1.0));
    for (std::size_t k = 0; k < s.checkpoints; ++k) {
      std::this_thread::sleep_for(compute);
      std::memset(state.data(), static_cast<int>(k), 4096);
      auto const t0 = clk::now();
      ckpt.checkpoint();
      blocked += secs(t0, clk::now());
    }
    ckpt.wait();
  }
  return blocked / static_cast<double>(s.checkpoints);
}
}  // namespace

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  strata::comm::mpi world{MPI_COMM_WORLD};
  CLI::App app{"bench_eventual"};
  settings s;
  app.add_option("--mib", s.mib, "state per rank (MiB)");
  app.add_option("--checkpoints", s.checkpoints);
  app.add_option("--rounds", s.rounds, "interleaved rounds (means over all)");
  app.add_option("--compute-ms", s.compute_ms, "compute per step on a fast rank");
  app.add_option("--slow-factor", s.slow_factor, "the last rank computes this many times longer");
  app.add_option("--dir", s.dir);
  app.add_option("--json", s.json, "append the result to this file (one JSON object per line)");
  CLI11_PARSE(app, argc, argv);
  int const rank = world.rank();
  std::vector<std::byte> state(static_cast<std::size_t>(s.mib * (1 << 20)));
  for (std::size_t i = 0; i < state.size(); ++i) state[i] = static_cast<std::byte>(i * 13 + static_cast<std::size_t>(rank));
  std::filesystem::create_directories(s.dir);

  double coord = 0, even = 0, raw = 0;
  for (std::size_t round = 0; round < s.rounds; ++round) {
    coord += blocked_per_checkpoint<strata::consistency::coordinated>(world, s, state);
    even += blocked_per_checkpoint<strata::consistency::eventual>(world, s, state);
    auto const p = std::filesystem::path(s.dir) / ("raw." + std::to_string(rank));
    auto const t0 = clk::now();
    strata_bench::raw_write(p, state.data(), state.size());
    raw += secs(t0, clk::now());
    std::filesystem::remove(p);
  }
  coord /= static_cast<double>(s.rounds), even /= static_cast<double>(s.rounds), raw /= static_cast<double>(s.rounds);
  // The fast ranks (all but the last): the worst of them; the slow rank on its own.
  bool const slow = rank == world.size() - 1 && world.size() > 1;
  auto const worst_fast = [&](double x) { return world.all_reduce(slow ? 0.0 : x, strata::comm::reduce_op::max); };
  auto const of_slow = [&](double x) { return world.all_reduce(slow ? x : 0.0, strata::comm::reduce_op::max); };
  double const fc = worst_fast(coord), fe = worst_fast(even), fr = worst_fast(raw), sc = of_slow(coord), se = of_slow(even);
  if (rank == 0) {
    char line[1024];
    std::snprintf(line, sizeof line,
                  "{\"ranks\": %d, \"mib_per_rank\": %.1f, \"checkpoints\": %zu, \"rounds\": %zu, \"compute_ms\": %d, "
                  "\"slow_factor\": %.1f, \"seconds_per_checkpoint\": {\"fast_coordinated\": %.5f, \"fast_eventual\": %.5f, "
                  "\"fast_raw_write_fsync\": %.5f, \"slow_coordinated\": %.5f, \"slow_eventual\": %.5f}, "
                  "\"ratios\": {\"coordinated_over_eventual\": %.2f, \"fast_eventual_over_raw_write\": %.2f, "
                  "\"fast_coordinated_over_raw_write\": %.2f}}",
                  world.size(), s.mib, s.checkpoints, s.rounds, s.compute_ms, s.slow_factor, fc, fe, fr, sc, se,
                  fe > 0 ? fc / fe : 0.0, fr > 0 ? fe / fr : 0.0, fr > 0 ? fc / fr : 0.0);
    std::printf("%s\n", line);
    if (!s.json.empty()) std::ofstream{s.json, std::ios::app} << line << '\n';
  }
  world.barrier();
  if (rank == 0) std::filesystem::remove_all(s.dir);
  return 0;
}
