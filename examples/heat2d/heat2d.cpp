// heat2d: explicit 2-D heat equation, rows split over MPI ranks, field in a
// thrust::device_vector, checkpointed by strata. Kill it (--crash-at-step) and
// run the same command again: it resumes from the last committed version and
// prints the same final checksum as an uninterrupted run. SIGTERM or SIGUSR1 (to
// mpiexec or to any rank) checkpoints at the next step and stops with status 0.
//
// One checkpointer type (strata::configured_checkpointer): the snapshot, storage and trigger are
// chosen at run time. Settings, later ones winning: heat2d's defaults, the file named by
// STRATA_CONFIG, the file given with --config, STRATA_* environment variables, then the flags given
// on the command line (docs/configuration.md).
#include "params.hpp"

#include <strata/checkpoint/configured.hpp>
#include <strata/strata.hpp>
#include <strata/elastic/policy.hpp>
#include <strata/elastic/relaunch.hpp>
#include <strata/config.hpp>

#include <CLI/CLI.hpp>
#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace {


/// One explicit step on the interior of a (rows + 2) x n block with halo rows 0 and rows + 1.
struct stencil {
  double const* u;
  std::size_t n;
  double alpha;
  long long first_global_row;
  long long global_rows;
  STRATA_HOST_DEVICE double operator()(std::size_t idx) const {
    std::size_t const i = idx / n + 1, j = idx % n;  // i: local row incl. halo offset
    long long const gi = first_global_row + static_cast<long long>(i) - 1;
    if (gi == 0 || gi == global_rows - 1 || j == 0 || j == n - 1) return u[i * n + j];  // fixed boundary
    double const c = u[i * n + j];
    return c + alpha * (u[(i - 1) * n + j] + u[(i + 1) * n + j] + u[i * n + j - 1] + u[i * n + j + 1] - 4.0 * c);
  }
};

struct initial_value {
  std::size_t n;
  long long first_global_row;
  STRATA_HOST_DEVICE double operator()(std::size_t idx) const {
    long long const gi = first_global_row + static_cast<long long>(idx / n);
    std::size_t const j = idx % n;
    if (gi == 0) return 1.0;                                        // hot top edge
    double const x = static_cast<double>(j) / static_cast<double>(n);
    return 0.25 * static_cast<double>((gi * 7 + static_cast<long long>(j) * 13) % 17) / 17.0 * x;  // uneven start
  }
};

}  // namespace

int simulate(strata::comm::mpi const& world, params const& p, strata::checkpoint::configuration const& cfg);

/// The checkpointer's settings: heat2d's defaults, then the files (STRATA_CONFIG's, then --config's)
/// and the STRATA_* variables, then the flags given on the command line.

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const rank = world.rank(), size = world.size();

  CLI::App app{"heat2d: 2-D heat equation over MPI ranks, checkpointed with strata"};
  params p;
  std::string config_file;
  app.footer("Settings, later ones winning: heat2d's defaults, the file named by STRATA_CONFIG, the file of "
             "--config, STRATA_* environment variables (docs/configuration.md), then the flags given here: a "
             "flag left out does not override the file or the environment.");
  app.add_option("--config", config_file, "TOML configuration file of the checkpointer (keys: docs/configuration.md)")
      ->check(CLI::ExistingFile);
  app.add_option("--n", p.n, "grid is n x n")->check(CLI::Range(std::size_t{4}, std::size_t{1} << 20));
  app.add_option("--steps", p.steps, "time steps in all");
  app.add_option("--every", p.every, "checkpoint every E steps (0: no periodic checkpoint); --trigger every");
  app.add_option("--dir", p.dir, "checkpoint directory");
  app.add_option("--crash-at-step", p.crash_at_step,
                 "kill --crash-rank with SIGKILL after computing this step (only in a run that did not resume)");
  app.add_option("--crash-rank", p.crash_rank, "rank to kill");
  app.add_flag("--quiet", p.quiet, "no progress lines");
  app.add_option("--snapshot", p.snapshot, "full | incremental | compressed (zstd over incremental)")
      ->check(CLI::IsMember({"full", "incremental", "compressed"}));
  app.add_option("--consistency", p.consistency,
                 "coordinated (every rank commits each version or none does) | eventual (each rank commits "
                 "alone: no rank waits for another; posix storage)")
      ->check(CLI::IsMember({"coordinated", "eventual"}));
  app.add_option("--storage", p.storage,
                 "posix | partner (partner memory + posix every version) | multilevel (DIR/fast every version, "
                 "DIR every 2nd) | mpiio (one shared file per version, collective MPI-IO)")
      ->check(CLI::IsMember({"posix", "partner", "mpiio", "multilevel"}));
  app.add_option("--trigger", p.trigger, "every (--every steps) | seconds (--seconds) | young-daly (--mtbf) | adaptive")
      ->check(CLI::IsMember({"every", "seconds", "young-daly", "adaptive"}));
  app.add_option("--seconds", p.seconds, "--trigger seconds: interval");
  app.add_option("--mtbf", p.mtbf, "--trigger young-daly: mean time between failures, seconds");
  app.add_option("--step-delay-ms", p.step_delay_ms, "sleep this long after each step (stands for more compute)");
  app.add_option("--slow-rank", p.slow_rank, "this rank sleeps 3 times --step-delay-ms per step (a slow node)");
  app.add_option("--lock-lease", p.lock_lease,
                 "seconds a directory lock held on another host may go unrenewed before a restart takes it over")
      ->check(CLI::PositiveNumber);
  app.add_option("--elastic-p99-ms", p.elastic_p99_ms,
                 "elastic demo: report this p99 latency to strata::elastic's S8 rules every step; on a scale "
                 "decision checkpoint, write DIR.relaunch.json and exit with status 75");
  app.add_option("--elastic-utilisation", p.elastic_utilisation, "elastic demo: utilisation reported (0..1)");
  app.add_option("--elastic-seconds-per-step", p.elastic_seconds_per_step, "elastic demo: job time one step stands for");
  app.add_option("--elastic-max-ranks", p.elastic_max_ranks, "elastic demo: never scale above this");
  app.add_option("--async", p.async, "on: write checkpoints in the background")->check(CLI::IsMember({"on", "off"}));
  app.add_option("--preemption", p.preemption,
                 "on SIGTERM or SIGUSR1: checkpoint at the next step, then stop (heat2d returns 0) | exit (strata "
                 "exits with status 0) | off (the signals act as without strata)")
      ->check(CLI::IsMember({"stop", "exit", "off"}));
  app.add_option("--local", p.local,
                 "node-local checkpoint directory (L1, same path on every node; overrides --storage); with --shared "
                 "every 2nd version also goes to the shared level");
  app.add_option("--shared", p.shared, "shared checkpoint directory (L4, needs --local)");
  app.add_option("--redundancy", p.redundancy,
                 "with --local: none | partner (a copy of each shard on another node, L2) | xor (XOR parity across "
                 "a group of ranks on distinct nodes, L3: one lost node per group) | rs (Reed-Solomon parity, L3: "
                 "--parity lost nodes per group; xor and rs need strata built with ISA-L)")
      ->check(CLI::IsMember({"none", "partner", "xor", "rs"}));
  app.add_option("--group-size", p.group_size,
                 "--redundancy xor|rs: ranks per group, on distinct nodes (0: the number of nodes, at most 8)");
  app.add_option("--parity", p.parity, "--redundancy rs: parity chunks per stripe = nodes a group may lose")
      ->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (CLI::ParseError const& e) {
    return rank == 0 ? app.exit(e) : 1;
  }
  if (static_cast<std::size_t>(size) > p.n) {
    if (rank == 0) std::fprintf(stderr, "heat2d: %d ranks for %zu rows: use --n >= ranks\n", size, p.n);
    return 2;
  }
  if (!p.shared.empty() && p.local.empty()) {
    if (rank == 0) std::fprintf(stderr, "heat2d: --shared needs --local (the node-local level it backs)\n");
    return 2;
  }
  try {
    auto const cfg = configure(app, p, config_file);
    return simulate(world, p, cfg);
  } catch (strata::error const& e) {
    // strata's errors are collective (every rank throws the same): one line, a clean exit.
    if (rank == 0) std::fprintf(stderr, "heat2d: error: %s\n", e.what());
    return 1;
  } catch (std::exception const& e) {
    std::fprintf(stderr, "heat2d: rank %d: error: %s\n", rank, e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);  // one rank's failure: the others may wait in a collective
  }
  return 1;
}

int simulate(strata::comm::mpi const& world, params const& p, strata::checkpoint::configuration const& cfg) {
  int const rank = world.rank(), size = world.size();
  std::size_t const n = p.n;
  std::uint64_t const steps = p.steps;
  // Rows split as evenly as possible.
  std::size_t const base = n / static_cast<std::size_t>(size), extra = n % static_cast<std::size_t>(size);
  std::size_t const rows = base + (static_cast<std::size_t>(rank) < extra ? 1 : 0);
  long long const first_row =
      static_cast<long long>(static_cast<std::size_t>(rank) * base + std::min<std::size_t>(rank, extra));

  thrust::device_vector<double> u((rows + 2) * n, 0.0), next((rows + 2) * n, 0.0);
  thrust::transform(thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(rows * n),
                    u.begin() + static_cast<std::ptrdiff_t>(n), initial_value{n, first_row});
  std::uint64_t step = 0;

  using namespace strata;
  configured_checkpointer<> ckpt{world, checkpoint::to_options(cfg)};
  // The interior rows are this rank's block of the global n x n field (the halo rows are
  // recomputed every step), and the step counter is the same everywhere: with these layouts a
  // run killed on N ranks can resume on M ranks.
  ckpt.protect("u", u,
               distributed{.global_offset = static_cast<std::uint64_t>(first_row) * n, .global_size = std::uint64_t{n} * n,
                           .local_offset = n, .local_count = rows * n});
  ckpt.protect("step", step, replicated{});
  auto const resumed = ckpt.restore_latest();
  if (resumed && rank == 0)
    std::printf("resumed from version %llu at step %llu\n", static_cast<unsigned long long>(*resumed),
                static_cast<unsigned long long>(step));

  int const up = rank > 0 ? rank - 1 : MPI_PROC_NULL, down = rank < size - 1 ? rank + 1 : MPI_PROC_NULL;
  thrust::host_vector<double> send_up(n), send_down(n), recv_up(n, 0.0), recv_down(n, 0.0);
  auto const t0 = std::chrono::steady_clock::now();
  auto last_report = t0;
  std::uint64_t const start_step = step;
  strata::elastic::monitor<> elastic{strata::elastic::threshold_rules{.max_ranks = p.elastic_max_ranks}};
  while (step < steps) {
    // Halo exchange through host buffers (works with or without CUDA-aware MPI).
    auto row = [&](std::size_t i) { return u.begin() + static_cast<std::ptrdiff_t>(i * n); };
    thrust::copy(row(1), row(2), send_up.begin());
    thrust::copy(row(rows), row(rows + 1), send_down.begin());
    MPI_Sendrecv(send_up.data(), static_cast<int>(n), MPI_DOUBLE, up, 0, recv_down.data(), static_cast<int>(n),
                 MPI_DOUBLE, down, 0, world.native(), MPI_STATUS_IGNORE);
    MPI_Sendrecv(send_down.data(), static_cast<int>(n), MPI_DOUBLE, down, 1, recv_up.data(), static_cast<int>(n),
                 MPI_DOUBLE, up, 1, world.native(), MPI_STATUS_IGNORE);
    if (up != MPI_PROC_NULL) thrust::copy(recv_up.begin(), recv_up.end(), row(0));
    if (down != MPI_PROC_NULL) thrust::copy(recv_down.begin(), recv_down.end(), row(rows + 1));

    thrust::copy(u.begin(), u.end(), next.begin());
    thrust::transform(thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(rows * n),
                      next.begin() + static_cast<std::ptrdiff_t>(n),
                      stencil{thrust::raw_pointer_cast(u.data()), n, 0.2, first_row, static_cast<long long>(n)});
    u.swap(next);
    ++step;
    if (p.step_delay_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(p.step_delay_ms * (rank == p.slow_rank ? 3 : 1)));

    if (!resumed && static_cast<long long>(step) == p.crash_at_step && rank == p.crash_rank) {
      std::fprintf(stderr, "heat2d: rank %d killing itself with SIGKILL at step %llu\n", rank,
                   static_cast<unsigned long long>(step));
      std::fflush(stderr);
      std::raise(SIGKILL);
    }
    ckpt.step(step);
    if (ckpt.stop_requested()) {  // a pre-emption signal: the state of this step is committed
      auto const& e = *ckpt.preempted();
      if (rank == 0)
        std::printf("heat2d: stopped for pre-emption (%s on rank %d) at step %llu, checkpoint version %llu; run the "
                    "same command to resume\n",
                    preemption::signal_name(e.signal).c_str(), e.rank, static_cast<unsigned long long>(e.step),
                    static_cast<unsigned long long>(e.version));
      return 0;
    }

    if (p.elastic_p99_ms >= 0) {  // every rank sees the same samples, so every rank decides alike
      auto const d = elastic.observe({static_cast<double>(step - start_step) * p.elastic_seconds_per_step,
                                      p.elastic_p99_ms, p.elastic_utilisation}, size);
      if (d.action != strata::elastic::scale_action::none) {
        auto const v = ckpt.checkpoint();
        ckpt.wait();
        if (rank == 0) {
          strata::elastic::write_relaunch_request(p.dir + ".relaunch.json", d, size);  // beside the checkpoints
          std::printf("elastic: %s from %d to %d ranks at step %llu (%s); checkpoint version %llu; exit status %d\n",
                      strata::elastic::to_string(d.action), size, d.target_ranks, static_cast<unsigned long long>(step),
                      d.reason.c_str(), static_cast<unsigned long long>(v), strata::elastic::relaunch_exit_status);
        }
        return strata::elastic::relaunch_exit_status;
      }
    }

    auto const now = std::chrono::steady_clock::now();
    if (!p.quiet && rank == 0 && (now - last_report > std::chrono::seconds(2) || step == steps)) {
      double const rate = static_cast<double>(step - start_step) / std::chrono::duration<double>(now - t0).count();
      std::printf("progress: step %llu/%llu (%.0f%%), %.1f steps/s, ETA %.0f s\n",
                  static_cast<unsigned long long>(step), static_cast<unsigned long long>(steps),
                  100.0 * static_cast<double>(step) / static_cast<double>(steps), rate,
                  static_cast<double>(steps - step) / rate);
      std::fflush(stdout);
      last_report = now;
    }
  }

  ckpt.wait();  // async: every queued version committed before the result is reported

  // Gather the interior rows to rank 0 and hash the global field.
  thrust::host_vector<double> mine(u.begin() + static_cast<std::ptrdiff_t>(n),
                                   u.begin() + static_cast<std::ptrdiff_t>((rows + 1) * n));
  std::vector<int> counts(static_cast<std::size_t>(size)), displs(static_cast<std::size_t>(size));
  int const my_count = static_cast<int>(rows * n);
  MPI_Gather(&my_count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, world.native());
  std::vector<double> global(rank == 0 ? n * n : 0);
  for (int r = 1; r < size; ++r) displs[r] = displs[r - 1] + counts[r - 1];
  MPI_Gatherv(mine.data(), my_count, MPI_DOUBLE, global.data(), counts.data(), displs.data(), MPI_DOUBLE, 0,
              world.native());
  if (rank == 0)
    std::printf("checksum %s\n", strata::detail::to_hex(strata::detail::xxh3(std::as_bytes(std::span(global)))).c_str());
  return 0;
}
