// heat2d: explicit 2-D heat equation, rows split over MPI ranks, field in a
// thrust::device_vector, checkpointed by strata. Kill it (--crash-at-step) and
// run the same command again: it resumes from the last committed version and
// prints the same final checksum as an uninterrupted run. SIGTERM or SIGUSR1 (to
// mpiexec or to any rank) checkpoints at the next step and stops with status 0.
#include <strata/strata.hpp>
#include <strata/elastic/policy.hpp>
#include <strata/elastic/relaunch.hpp>
#include <strata/config.hpp>
#include <strata/snapshot/compressed.hpp>
#include <strata/snapshot/incremental.hpp>
#include <strata/storage/mpiio_file.hpp>
#include <strata/storage/multilevel.hpp>
#include <strata/storage/node_local.hpp>
#include <strata/storage/partner_memory.hpp>
#include <strata/trigger/adaptive.hpp>
#include <strata/trigger/never.hpp>
#include <strata/trigger/young_daly.hpp>

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
#include <variant>
#include <vector>

namespace {

/// The trigger chosen on the command line (one checkpointer type for all of them). Decisions are
/// agreed by a collective only when the chosen trigger needs it: `every` adds none per step.
struct any_trigger {
  std::variant<strata::trigger::every_n, strata::trigger::every_seconds, strata::trigger::young_daly,
               strata::trigger::adaptive, strata::trigger::never>
      t;
  [[nodiscard]] bool deterministic() const {
    return std::visit([](auto const& x) { return !strata::trigger::needs_agreement(x); }, t);
  }
  bool due(std::uint64_t step, strata::trigger::clock::time_point now) {
    return std::visit([&](auto& x) { return static_cast<bool>(x.due(step, now)); }, t);
  }
  void record(strata::trigger::feedback const& f) {
    std::visit([&](auto& x) { x.record(f); }, t);
  }
  void observe_change(double fraction) {
    if (auto* a = std::get_if<strata::trigger::adaptive>(&t)) a->observe_change(fraction);
  }
  void validate() const {
    std::visit([](auto const& x) { if constexpr (strata::validating<std::decay_t<decltype(x)>>) x.validate(); }, t);
  }
};

struct params {
  std::size_t n = 256;
  std::uint64_t steps = 1000, every = 100;
  std::string dir = "heat2d_ckpt";
  long long crash_at_step = -1;
  int crash_rank = 0;
  bool quiet = false;
  std::string snapshot = "full", storage = "posix", trigger = "every", async = "off", preemption = "stop";
  std::string local, shared, redundancy = "none";  // node-local level, shared level, copies beyond L1
  std::uint32_t group_size = 0, parity = 2;          // erasure groups (L3): members per group, RS parity
  double seconds = 10.0, mtbf = 60.0;
  double lock_lease = 30.0;
  int step_delay_ms = 0;
  // elastic demo (SPEC S8): synthetic metrics fed to the scale rules each step
  double elastic_p99_ms = -1, elastic_utilisation = 0, elastic_seconds_per_step = 30;
  int elastic_max_ranks = 1 << 20;
};

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

template <class Snapshot, class Storage>
int simulate(strata::comm::mpi const& world, params const& p);

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const rank = world.rank(), size = world.size();

  CLI::App app{"heat2d: 2-D heat equation over MPI ranks, checkpointed with strata"};
  params p;
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
  app.add_option("--storage", p.storage,
                 "posix | partner (partner memory + posix every version) | multilevel (DIR/fast every version, "
                 "DIR every 2nd) | mpiio (one shared file per version, collective MPI-IO)")
      ->check(CLI::IsMember({"posix", "partner", "mpiio", "multilevel"}));
  app.add_option("--trigger", p.trigger, "every (--every steps) | seconds (--seconds) | young-daly (--mtbf) | adaptive")
      ->check(CLI::IsMember({"every", "seconds", "young-daly", "adaptive"}));
  app.add_option("--seconds", p.seconds, "--trigger seconds: interval");
  app.add_option("--mtbf", p.mtbf, "--trigger young-daly: mean time between failures, seconds");
  app.add_option("--step-delay-ms", p.step_delay_ms, "sleep this long after each step (stands for more compute)");
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
  using namespace strata;
  using inc = snapshot::incremental<16 * 1024>;
  using comp = snapshot::compressed<inc>;
  using partner = storage::multilevel<storage::partner_memory, storage::posix_dir, 1>;
  using levels = storage::multilevel<storage::posix_dir, storage::posix_dir, 2>;
  using cluster_l1 = storage::node_local;
  using cluster_l4 = storage::multilevel<storage::node_local, storage::posix_dir, 2>;
  if (!p.shared.empty() && p.local.empty()) {
    if (rank == 0) std::fprintf(stderr, "heat2d: --shared needs --local (the node-local level it backs)\n");
    return 2;
  }
  auto with_storage = [&]<class Snap>() {
    if (!p.local.empty() && !p.shared.empty()) return simulate<Snap, cluster_l4>(world, p);
    if (!p.local.empty()) return simulate<Snap, cluster_l1>(world, p);
    if (p.storage == "partner") return simulate<Snap, partner>(world, p);
    if (p.storage == "multilevel") return simulate<Snap, levels>(world, p);
    if (p.storage == "mpiio") return simulate<Snap, storage::mpiio_file>(world, p);
    return simulate<Snap, storage::posix_dir>(world, p);
  };
  try {
    if (p.snapshot == "incremental") return with_storage.template operator()<inc>();
    if (p.snapshot == "compressed") return with_storage.template operator()<comp>();
    return with_storage.template operator()<snapshot::full>();
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

/// The storage options heat2d's command line sets: the node-local levels take --local, --shared and
/// --redundancy (the checkpointer's directory is the shared one, or the local one without it).
template <class Storage>
std::string configure_storage(Storage&, params const& p) { return p.dir; }
std::string configure_storage(strata::storage::node_local& s, params const& p) {
  s.path = p.local;
  using strata::storage::redundancy;
  s.copies = p.redundancy == "partner" ? redundancy::partner
             : p.redundancy == "xor"   ? redundancy::xor_group
             : p.redundancy == "rs"    ? redundancy::reed_solomon
                                       : redundancy::none;
  s.group_size = p.group_size;
  s.parity = p.parity;
  return p.local;
}
template <std::uint64_t K>
std::string configure_storage(strata::storage::multilevel<strata::storage::node_local, strata::storage::posix_dir, K>& s,
                              params const& p) {
  configure_storage(s.fast, p);
  return p.shared;
}

template <class Snapshot, class Storage>
int simulate(strata::comm::mpi const& world, params const& p) {
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
  any_trigger trig;
  if (p.trigger == "seconds") trig.t = trigger::every_seconds{p.seconds};
  else if (p.trigger == "young-daly") trig.t = trigger::young_daly{.mtbf_seconds = p.mtbf, .first_seconds = 0.2, .min_seconds = 0.05};
  else if (p.trigger == "adaptive") trig.t = trigger::adaptive{.min_steps = 5, .max_steps = 40, .first_steps = 10};
  else if (p.every == 0) trig.t = trigger::never{};
  else trig.t = trigger::every_n{p.every};
  using ckpt_t = checkpointer<comm::mpi, Snapshot, Storage, consistency::coordinated, any_trigger>;
  typename ckpt_t::options o;
  o.directory = configure_storage(o.storage, p);
  o.trigger = trig;
  o.async = p.async == "on";
  o.lock_lease = std::chrono::duration<double>(p.lock_lease);
  o.log_level = p.quiet ? verbosity::warnings : verbosity::info;
  if (p.preemption == "off") o.preemption.signals.clear();
  if (p.preemption == "exit") o.preemption.on_signal = preemption::action::exit;
  ckpt_t ckpt{world, o};
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
    if (p.step_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(p.step_delay_ms));

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
