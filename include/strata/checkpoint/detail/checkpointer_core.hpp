#pragma once
/// \file
/// \brief `strata::checkpointer_core`: the commit path, the restore path and everything they keep,
/// behind the `strata::checkpointer` handle (see checkpoint/checkpointer.hpp). Not a public header.

#include <strata/checkpoint/checkpointer.hpp>
#include <strata/checkpoint/async_writer.hpp>
#include <strata/checkpoint/detail/app_log.hpp>
#include <strata/checkpoint/detail/eventual_exchange.hpp>
#include <strata/checkpoint/fault_points.hpp>
#include <strata/checkpoint/detail/layout_table.hpp>
#include <strata/checkpoint/detail/rank_record.hpp>
#include <strata/checkpoint/detail/replica_check.hpp>
#include <strata/checkpoint/detail/resize_plan.hpp>
#include <strata/checkpoint/detail/shard_reader.hpp>
#include <strata/checkpoint/log.hpp>
#include <strata/checkpoint/manifest.hpp>
#include <strata/checkpoint/metrics.hpp>
#include <strata/checkpoint/preemption.hpp>
#include <strata/checkpoint/retention.hpp>
#include <strata/comm/agree.hpp>
#include <strata/comm/concepts.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/consistency/coordinated.hpp>
#include <strata/consistency/eventual.hpp>
#include <strata/storage/alone.hpp>
#include <strata/consistency/impl/coordinated.ipp>
#include <strata/detail/dir_lock.hpp>
#include <strata/detail/hash.hpp>
#include <strata/error.hpp>
#include <strata/metrics/prometheus.hpp>
#include <strata/metrics/registry.hpp>
#include <strata/snapshot/chained.hpp>
#include <strata/snapshot/full.hpp>
#include <strata/state/registry.hpp>
#include <strata/storage/posix_dir.hpp>
#include <strata/trigger/every_n.hpp>
#include <strata/validation.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <vector>

namespace strata {

namespace checkpoint::detail {
/// A communicator of its own for the background writer's collectives (MPI: a duplicate).
template <comm::communicator Comm>
Comm duplicate_for_writer(Comm const& c) {
  if constexpr (requires { Comm::duplicate(c.native()); }) return Comm::duplicate(c.native());
  else return c;
}
}  // namespace checkpoint::detail

/// \brief The checkpointer's implementation (not part of the API: use `strata::checkpointer`, a
/// handle to one of these). Included by `strata/checkpoint/impl/checkpointer.ipp` only, so that a
/// translation unit that uses a separately compiled checkpointer (STRATA_SEPARATE_COMPILATION) parses
/// none of it.
template <comm::communicator Comm, snapshot::strategy Snapshot, class Storage, consistency::protocol Consistency,
          trigger::policy Trigger, retention::policy Retention>
class checkpointer_core {
  static_assert(storage::driver<Storage, Comm>,
                "strata::checkpointer: the Storage policy does not model strata::storage::driver (see "
                "strata/storage/concepts.hpp for the members it needs)");

 public:
  using comm_type = Comm;
  using snapshot_type = Snapshot;
  using storage_type = Storage;
  using consistency_type = Consistency;
  using trigger_type = Trigger;
  using retention_type = Retention;

  using options = checkpoint::basic_options<Snapshot, Storage, Consistency, Trigger, Retention>;


  /// \brief Collective: prepares the directory on every rank; if any rank cannot use it, every rank throws.
  checkpointer_core(Comm comm, options opt)
      : comm_(std::move(comm)), opt_(std::move(opt)), log_(opt_.log, opt_.log_level, comm_.rank()) {
    std::string why = misused_option();
    if (auto a = comm::agree(comm_, why.empty() ? 0 : 1, why); !a) throw usage_error(a.reason);
    if (!opt_.metrics) own_metrics_ = std::make_unique<strata::metrics::registry>();
    m_ = checkpoint::metric_set::on(metrics());
    if (comm_.rank() == 0 && !opt_.metrics_file.empty())
      prom_ = std::make_unique<strata::metrics::prometheus_file>(metrics(), opt_.metrics_file, opt_.metrics_period);
    if (comm_.rank() == 0 && opt_.lock_directory) {
      try {
        std::error_code ec;
        std::filesystem::create_directories(opt_.directory, ec);  // attach reports a directory it cannot create
        if (std::filesystem::is_directory(opt_.directory, ec)) {
          lock_ = detail::dir_lock::acquire(
              opt_.directory, "rank 0 of " + std::to_string(comm_.size()),
              {.lease = std::chrono::duration_cast<std::chrono::milliseconds>(opt_.lock_lease)});
          if (auto const& t = lock_.took_over()) log_.info("took over " + *t + " in " + opt_.directory.string());
        }
      } catch (std::exception const& e) {
        why = e.what();
      }
    }
    if (auto a = comm::agree(comm_, why.empty() ? 0 : 1, why); !a) throw usage_error(a.reason);
    try {
      opt_.storage.attach(comm_, opt_.directory);
    } catch (std::exception const& e) {
      why = e.what();
    }
    if (why.empty() && opt_.async) why = thread_support_problem();
    if (why.empty() && opt_.replay_log) why = open_app_log();
    if (auto a = comm::agree(comm_, why.empty() ? 0 : 1, why); !a) throw usage_error(a.reason);
    if (eventual()) {  // collective: where records are read, and whether they and manifests travel
      bool const replicas =
          comm_.all_reduce(std::uint64_t{!storage::alone::commit_replicas(opt_.storage).empty()}, comm::reduce_op::max) != 0;
      why = ex_.open(comm_, opt_.directory, replicas);
      if (auto a = comm::agree(comm_, why.empty() ? 0 : 1, why); !a) throw usage_error(a.reason);
    }
    if (alog_) registry_.protect(checkpoint::detail::log_region_name, alog_->mark());
    if (eventual()) discover_next_version();  // now, while collective: a checkpoint must not need the others
    if (opt_.async) {
      wcomm_.emplace(checkpoint::detail::duplicate_for_writer(comm_));
      writer_ = std::make_unique<checkpoint::async_writer<job>>([this](job& j) { run_job(j); });
    }
  }

  /// \brief Drains the background writer; a failure it had not yet reported is logged (never thrown).
  ///
  /// Storage that flushes to a slow level in the background (`storage::multilevel`) is settled here
  /// (collective): the last flush is committed there unless the checkpointer is destroyed while an
  /// exception propagates; call `wait()` first to see a failure as an exception.
  ~checkpointer_core() {
    if (writer_) {
      writer_->drain();
      if (auto f = writer_->failure()) log_.warn("background checkpoint failed and was not reported before destruction: " + *f);
    }
    if (std::uncaught_exceptions() == 0) {
      try {
        if (eventual()) settle_eventual(false);
        settle_flush(comm_, true);
      } catch (std::exception const& e) {
        log_.warn(std::string("the background flush to the slow level could not be settled: ") + e.what());
      }
    }
    write_metrics_file(true);  // the last figures, whatever .metrics_period says
  }

  checkpointer_core(checkpointer_core const&) = delete;
  checkpointer_core& operator=(checkpointer_core const&) = delete;

  /// \brief Protects the region made for an object by `checkpointer::protect` (`device`: where a
  /// Thrust device vector's bytes are, for a device-aware snapshot; empty otherwise).
  void protect_region(std::string name, std::unique_ptr<state::region> r, bool range, state::layout how,
                      snapshot::device_view device) {
    if (hidden_region(name)) throw usage_error("protect: the name '" + name + "' is reserved by strata");
    registry_.add(name, std::move(r), range, how);
    if (how.how != state::layout::kind::per_rank) refresh_layouts();
    if constexpr (snapshot::device_aware<Snapshot>)
      if (device) opt_.snapshot.watch_device(std::move(name), std::move(device));
  }
  /// \brief Stops protecting `name`.
  bool unprotect(std::string const& name) {
    bool const was = registry_.unprotect(name);
    if (was && !layout_text_.empty()) refresh_layouts();
    return was;
  }
  /// \brief Declares the new block of a distributed region (after load balancing moved it).
  void redistribute(std::string const& name, distributed block) {
    registry_.set_layout(name, block);
    refresh_layouts();
  }

  /// \brief Tells the checkpointer that step `i` is complete; checkpoints if the trigger says so, or
  /// if a pre-emption signal reached any rank: then `stop_requested()` is true afterwards (with
  /// `.preemption.on_signal = exit` the process ends here instead). Collective when the trigger needs
  /// agreement or pre-emption is checked at this step. \returns whether a checkpoint was taken.
  bool step(std::uint64_t i) {
    step_ = i;
    if (eventual()) pump();
    bool due = opt_.trigger.due(i, trigger::clock::now());
    bool const agree_due = trigger::needs_agreement(opt_.trigger);
    bool const check = checks_preemption_at(i);
    // No collective when the trigger is deterministic (a constant, or `t.deterministic()` at run time)
    // and pre-emption is not checked now. One sum serves both: ranks due (low half), ranks signalled (high).
    if (agree_due || check) {
      std::uint64_t const mine = std::uint64_t{due} | std::uint64_t{check && listener_->pending() != 0} << 32;
      auto const all = comm_.all_reduce(mine, comm::reduce_op::sum);
      if (agree_due) due = (all & 0xffffffffu) != 0;
      if (all >> 32) {
        stop_for_preemption();
        return true;
      }
    }
    if (due) checkpoint_impl(checkpoint::urgency::periodic);
    return due;
  }

  /// \brief Whether a pre-emption signal was caught and its checkpoint committed: end the loop.
  [[nodiscard]] bool stop_requested() const noexcept { return preempted_.has_value(); }
  /// \brief The pre-emption that stopped the run (signal, rank, step, version), if one did.
  [[nodiscard]] std::optional<preemption::event> const& preempted() const noexcept { return preempted_; }

  /// \brief Collective: checkpoints now, whatever the trigger says. \returns the version: committed
  /// (synchronous), or staged and queued ahead of any periodic one (async; `wait()` to see it committed).
  /// \throws checkpoint_error on every rank if any rank fails; the previous version stays intact.
  std::uint64_t checkpoint() { return checkpoint_impl(checkpoint::urgency::forced); }

  /// \brief Collective: restores the newest version every rank holds complete and valid.
  /// Falls back to older versions with a warning; returns nullopt when the directory holds none.
  /// \throws restore_error when versions exist but none can be used, or the newest was written by
  /// another number of ranks, or a protected name or type does not match (state is untouched then).
  std::optional<std::uint64_t> restore_latest() { return restore_impl(std::nullopt, nullptr); }
  /// \brief Collective: `restore_latest()`, then `replay(entry)` for every application-log entry
  /// appended after that version (`.replay_log`), in index order on each rank.
  std::optional<std::uint64_t> restore_latest(checkpoint::log_replayer replay) { return restore_impl(std::nullopt, &replay); }

  /// \brief Appends one entry to this rank's application log (`.replay_log`); returns its index.
  std::uint64_t append_log(std::span<const std::byte> entry) {
    if (!alog_) throw usage_error("append_log: the application log is off; construct the checkpointer with .replay_log = true");
    return alog_->append(entry);
  }

  /// \brief Collective: compares `digest` (of state the application keeps the same on every rank)
  /// across the ranks; a rank that differs from the majority is named in a warning. \throws
  /// restore_error on every rank when no digest is held by a majority.
  checkpoint::state_agreement compare_state(std::uint64_t digest, std::string const& what) {
    auto a = checkpoint::detail::majority(comm_.all_gather(digest), what);
    if (!a.agreed() && comm_.rank() == 0)
      log_.warn(what + ": " + checkpoint::detail::rank_list(a.differing) + " differ from the majority (rank " +
                std::to_string(a.source) + " holds its value)");
    return a;
  }

  /// \brief Collective: restores exactly `version` (rolling back); later checkpoints start a new branch.
  std::uint64_t restore(std::uint64_t version) { return *restore_impl(version, nullptr); }

  /// \brief Collective: drains pending work. Async: returns once every queued version is committed;
  /// throws `checkpoint_error` on every rank if one failed. A background flush to a slow level
  /// (`storage::multilevel`) is waited for and committed there; one that failed is logged (the
  /// version stays on the fast level).
  void wait() {
    if (writer_) {
      writer_->drain();
      report_writer_failure();
    }
    if (eventual()) settle_eventual(false);
    settle_flush(comm_, true);
    write_metrics();
  }

  /// \brief The checkpointer's metrics (SPEC O3): `.metrics`, or a registry of its own.
  [[nodiscard]] strata::metrics::registry& metrics() noexcept { return opt_.metrics ? *opt_.metrics : *own_metrics_; }
  /// \brief Rank 0: rewrites `.metrics_file` now (nothing without one, or on other ranks); a failure is logged.
  void write_metrics() { write_metrics_file(true); }

  /// \brief Versions committed in the directory, ascending (as this rank sees them).
  [[nodiscard]] std::vector<std::uint64_t> versions() const { return opt_.storage.list().committed; }
  /// \brief The version restored or last committed by this checkpointer.
  [[nodiscard]] std::optional<std::uint64_t> current_version() const {
    std::lock_guard g{mu_};
    return parent_ ? std::optional(parent_->version) : std::nullopt;
  }
  /// \brief Figures of the last checkpoint (async: staging figures at once, write figures once committed).
  [[nodiscard]] checkpoint_stats last_stats() const {
    std::lock_guard g{mu_};
    auto s = stats_;
    if (writer_) s.superseded = writer_->superseded();
    return s;
  }
  /// \brief Whether checkpoints are written in the background.
  [[nodiscard]] bool asynchronous() const noexcept { return writer_ != nullptr; }
  [[nodiscard]] std::uint64_t last_step() const noexcept { return step_; }
  [[nodiscard]] Comm const& communicator() const noexcept { return comm_; }
  [[nodiscard]] options const& settings() const noexcept { return opt_; }
  [[nodiscard]] Storage& storage() noexcept { return opt_.storage; }
  [[nodiscard]] Snapshot& snapshot_policy() noexcept { return opt_.snapshot; }
  [[nodiscard]] Trigger& trigger_policy() noexcept { return opt_.trigger; }

 private:
  using manifest = checkpoint::manifest;
  using reader_type = checkpoint::detail::shard_reader<Storage, Snapshot>;

  /// A staged checkpoint on its way to storage.
  struct job {
    std::uint64_t version = 0;
    std::uint64_t step = 0;
    std::int64_t created_unix_ms = 0;
    snapshot::encoded_shard shard;
    std::vector<std::uint64_t> depends_on;
    double encode_seconds = 0;  ///< figures of the caller's part, for the metrics at commit
    double stall_seconds = 0;
    std::uint64_t log_index = 0;  ///< `.replay_log`: the newest application-log entry the version includes
  };

  /// The regions strata protects for itself (names reserved).
  static bool hidden_region(std::string const& name) {
    return name == checkpoint::detail::layout_region_name || name == checkpoint::detail::log_region_name;
  }

  /// `.replay_log`: opens this rank's log (empty: opened; else why not).
  std::string open_app_log() {
    auto const dir = opt_.log_directory.empty() ? opt_.directory / ".strata.log" : opt_.log_directory;
    auto const file = dir / ("rank-" + std::to_string(comm_.rank()) + ".wal");
    try {
      alog_.emplace(file, opt_.log_fsync, log_, comm_.rank());
    } catch (std::exception const& e) {
      return "rank " + std::to_string(comm_.rank()) + ": cannot open the application log " + file.string() + ": " + e.what();
    }
    return {};
  }

  static std::string thread_support_problem() {
    if constexpr (std::same_as<Comm, comm::mpi>) {
      int level = MPI_THREAD_SINGLE;
      MPI_Query_thread(&level);
      if (level < MPI_THREAD_MULTIPLE)
        return "checkpointer: .async = true needs MPI initialised with MPI_THREAD_MULTIPLE "
               "(strata::comm::mpi_environment requests it; this MPI provided less)";
    }
    return {};
  }

  /// One sentence naming the first option whose value cannot work (empty: all can).
  std::string misused_option() const {
    auto const& o = opt_;
    try {
      if (o.directory.empty())
        return "checkpointer option .directory is empty; name the directory that holds the checkpoints";
      if (auto const s = o.lock_lease.count(); !std::isfinite(s) || s <= 0)
        return "checkpointer option .lock_lease is " + detail::number(s) +
               " s; it must be a finite number of seconds above 0";
      if (auto const s = o.metrics_period.count(); !std::isfinite(s) || s < 0)
        return "checkpointer option .metrics_period is " + detail::number(s) +
               " s; it must be a finite number of seconds, 0 or more (0: at every commit and restore)";
      if (auto const s = o.progress_after.count(); std::isnan(s) || s <= 0)
        return "checkpointer option .progress_after is " + detail::number(s) +
               " s; it must be a number of seconds above 0 (infinity: no progress lines)";
      if (auto const l = static_cast<int>(o.log_level); l < 0 || l > static_cast<int>(verbosity::info))
        return "checkpointer option .log_level is " + std::to_string(l) +
               ", not a strata::verbosity (quiet, warnings or info)";
      detail::validate_option(".trigger", o.trigger);
      detail::validate_option(".retention", o.retention);
      detail::validate_option(".snapshot", o.snapshot);
      detail::validate_option(".storage", o.storage);
      detail::validate_option(".consistency", o.consistency);
      detail::validate_option(".preemption", o.preemption);
      if (consistency::is_eventual(o.consistency))
        if (auto const why = storage::alone::why_not(o.storage); !why.empty())
          return "checkpointer option .consistency: eventual writes each rank's shard with no collective, but " + why;
    } catch (usage_error const& e) {
      return e.what();
    }
    if constexpr (std::same_as<Comm, comm::mpi>) {
      int world = 0;
      MPI_Comm_size(MPI_COMM_WORLD, &world);
      if (o.preemption.enabled() && o.preemption.on_signal == preemption::action::exit && world != comm_.size())
        return "checkpointer option .preemption: on_signal = exit ends the process with MPI_Finalize, which "
               "every rank of MPI_COMM_WORLD must call, but this checkpointer's communicator has " +
               std::to_string(comm_.size()) + " of its " + std::to_string(world) +
               " ranks; use on_signal = stop and end the program yourself";
    }
    return {};
  }

  /// Whether step `i` asks the ranks about pre-emption signals; listening starts at the first step.
  bool checks_preemption_at(std::uint64_t i) {
    if (!opt_.preemption.enabled() || preempted_) return false;
    if (!listener_) listener_.emplace(opt_.preemption.signals);
    return i % opt_.preemption.check_every == 0;
  }

  /// Collective: a signal reached some rank. Checkpoints (committed, also when async), then the
  /// signals go back to what they were before, and the run stops (or the process exits).
  void stop_for_preemption() {
    int const mine = listener_->pending();
    auto const none = std::numeric_limits<std::uint64_t>::max();
    auto const first = comm_.all_reduce(mine ? std::uint64_t(comm_.rank()) << 16 | std::uint64_t(mine) : none,
                                        comm::reduce_op::min);  // the lowest rank that caught one, and which
    preemption::event e{static_cast<int>(first & 0xffffu), static_cast<int>(first >> 16), step_, 0};
    if (!next_version_) discover_next_version();
    if (comm_.rank() == 0)
      log_.notice("pre-emption signal " + preemption::signal_name(e.signal) + " received on rank " +
                  std::to_string(e.rank) + "; checkpointing version " + std::to_string(*next_version_) + " at step " +
                  std::to_string(e.step) + " and " +
                  (opt_.preemption.on_signal == preemption::action::exit
                       ? "exiting with status " + std::to_string(opt_.preemption.exit_status)
                       : std::string("stopping")));
    e.version = checkpoint_impl(checkpoint::urgency::forced);
    wait();  // async: committed before the application is told to stop
    listener_.reset();  // a later signal acts as it would without strata
    preempted_ = e;
    if (opt_.preemption.on_signal == preemption::action::exit) exit_after_preemption();
  }

  /// Ends the process once the pre-emption checkpoint is committed: the threads of the checkpointer
  /// stopped, the directory lock released, MPI finalised.
  [[noreturn]] void exit_after_preemption() {
    writer_.reset();
    lock_ = {};
    if constexpr (std::same_as<Comm, comm::mpi>)
      if (!comm::detail::mpi_finalized()) MPI_Finalize();
    std::exit(opt_.preemption.exit_status);
  }

  // The commit path, in named phases; the synchronous and the asynchronous path share every one:
  //   precheck (collective)  something is protected, the storage has room          precheck()
  //   encode                 the snapshot policy encodes this rank's shard          encode()
  //   stage    (async)       bytes still in application memory are copied out,
  //                          the job is queued for the background writer            stage(), make_room()
  //   write, vote, record    the consistency protocol: shards durable, agreement,
  //                          rank 0's commit record (a version without it does not exist)
  //                                                                                 commit_job()
  //   publish                the record where the storage keeps copies, the parent link  publish()
  //   retire                 retention; leftovers of aborted attempts removed       retire()
  // Sync: all on the caller's thread. Async: precheck, encode and stage on the caller's thread,
  // the rest on the writer's, on its own communicator.
  std::uint64_t checkpoint_impl(checkpoint::urgency u) {
    using sec = std::chrono::duration<double>;
    auto const t0 = trigger::clock::now();
    if (writer_) report_writer_failure();
    if (!next_version_) discover_next_version();
    auto const v = *next_version_;
    try {
      precheck(v);
    } catch (...) {
      m_.failed->add();
      throw;
    }
    next_version_ = v + 1;  // a failed attempt never reuses its number: its leftovers are not history
    if (writer_) make_room();
    std::uint64_t const log_index = alog_ ? alog_->stamp() : 0;
    job j = encode(v);
    j.log_index = log_index;
    if (writer_) stage(j);
    auto const t1 = trigger::clock::now();
    j.encode_seconds = sec(t1 - t0).count();

    if (writer_) {
      std::uint64_t bytes = j.shard.bytes();
      j.stall_seconds = sec(trigger::clock::now() - t0).count();
      {
        auto l = writer_->hold();
        writer_->push(l, std::move(j), u);
      }
      fault::point(checkpoint::fault_points::writer_staged, comm_.rank(), v);
      auto const t2 = trigger::clock::now();
      {
        std::lock_guard g{mu_};
        stats_.version = v;
        stats_.bytes = bytes;
        stats_.encode_seconds = sec(t1 - t0).count();
        stats_.total_seconds = sec(t2 - t0).count();
      }
      opt_.trigger.record({step_, t2, sec(t2 - t0).count(), bytes});
      return v;
    }

    try {
      auto const watch = watch_commit(comm_, j);
      commit_job(comm_, j);
    } catch (...) {
      m_.failed->add();
      if constexpr (snapshot::chained<Snapshot>) opt_.snapshot.abandon(v);
      throw;
    }
    if constexpr (snapshot::chained<Snapshot>) opt_.snapshot.committed(v);
    auto const t2 = trigger::clock::now();
    {
      std::lock_guard g{mu_};
      stats_ = {v, j.shard.bytes(), sec(t1 - t0).count(), sec(t2 - t1).count(), sec(t2 - t0).count(), 0};
    }
    j.stall_seconds = sec(t2 - t0).count();
    note_commit(comm_, j, sec(t2 - t1).count());
    opt_.trigger.record({step_, t2, sec(t2 - t0).count(), j.shard.bytes()});
    return v;
  }

  /// Encodes this rank's shard of version `v` (and tells an adaptive trigger how much changed).
  job encode(std::uint64_t v) {
    // A version that also goes to a slower level (storage::multilevel) starts a new chain: restorable
    // from that level alone, with no dependency kept only on the faster one (issue 9, item 5).
    if constexpr (snapshot::chained<Snapshot> && requires { opt_.storage.flushed(v); })
      if (opt_.storage.flushed(v)) opt_.snapshot.reset();
    // A strategy that would rather write a base than a delta nearly as large as the state
    // (snapshot::incremental's rebase_fraction) is asked on every rank: one manifest records one
    // chain for all ranks, so if one wants a base, all start a new chain (issue 10, item 8).
    if constexpr (snapshot::rebasing<Snapshot>)
      if (!eventual() && snapshot::asks_base(opt_.snapshot)) {  // eventual: no agreement, chains by max_chain alone
        std::uint64_t const want = opt_.snapshot.wants_base(registry_) ? 1 : 0;
        if (comm_.all_reduce(want, comm::reduce_op::max) != 0) opt_.snapshot.reset();
      }
    snapshot::shard_id const id{v, static_cast<std::uint32_t>(comm_.rank()), static_cast<std::uint32_t>(comm_.size())};
    job j{v, step_, manifest::now_unix_ms(), opt_.snapshot.encode(registry_, id), {}};
    if constexpr (snapshot::chained<Snapshot>) j.depends_on = opt_.snapshot.depends_on();
    if constexpr (requires(Trigger& t, Snapshot const& sn) {
                    t.observe_change(0.0);
                    sn.last_dirty_bytes();
                    sn.last_protected_bytes();
                  }) {
      auto const total = opt_.snapshot.last_protected_bytes();
      if (snapshot::measures_change(opt_.snapshot))  // an erased strategy (snapshot::any) says at run time
        opt_.trigger.observe_change(total ? static_cast<double>(opt_.snapshot.last_dirty_bytes()) / static_cast<double>(total) : 0.0);
    }
    return j;
  }

  /// Async: copies the shard's bytes that still point into the application's memory into a
  /// staging buffer, so that the application may change its state as soon as this returns.
  void stage(job& j) {
    auto& sh = j.shard;
    auto inside = [&](std::span<const std::byte> s) {
      return sh.owned.empty() || s.empty() ||
             (s.data() >= sh.owned.data() && s.data() + s.size() <= sh.owned.data() + sh.owned.size());
    };
    if (std::all_of(sh.segments.begin(), sh.segments.end(), inside)) return;
    auto buf = writer_->take_buffer();
    buf.resize(static_cast<std::size_t>(sh.bytes()));
    std::size_t off = 0;
    for (auto s : sh.segments) {
      if (!s.empty()) std::memcpy(buf.data() + off, s.data(), s.size());
      off += s.size();
    }
    sh.owned = std::move(buf);
    sh.segments.assign(1, std::span<const std::byte>(sh.owned));
  }

  /// Async, collective: frees the waiting slot. A waiting periodic version that every rank still
  /// holds unstarted is superseded by this newer one (it is never written; its number is skipped);
  /// otherwise this call blocks until the waiting one has started, i.e. behind one in flight.
  void make_room() {
    auto l = writer_->hold();
    auto const w = writer_->waiting(l);
    // The lock is held through the vote, so no writer can start the waiting job meanwhile.
    // Eventual: no vote, and no superseding (every rank writes every version, so that one completes).
    auto const replace = eventual() ? std::uint64_t{0}
                                    : comm_.all_reduce(std::uint64_t{w && *w == checkpoint::urgency::periodic}, comm::reduce_op::min);
    if (replace) {
      auto old = writer_->take_waiting(l);
      l.unlock();
      if constexpr (snapshot::chained<Snapshot>) opt_.snapshot.abandon(old->version);
      m_.superseded->add();
      if (comm_.rank() == 0)
        log_.info("writer behind: staged version " + std::to_string(old->version) + " superseded before it was written");
      writer_->give_buffer(std::move(old->shard.owned));
      return;
    }
    writer_->wait_for_slot(l);
  }

  /// Async, collective: a failure of the background writer is reported on every rank.
  void report_writer_failure() {
    auto f = writer_->failure();
    if (eventual()) {  // this rank's writer, this rank's error
      if (!f) return;
      writer_->drain();
      writer_->acknowledge();
      m_.failed->add();
      if constexpr (snapshot::chained<Snapshot>) opt_.snapshot.reset();
      throw checkpoint_error("background checkpoint failed on rank " + std::to_string(comm_.rank()) + " (" +
                             std::to_string(writer_->discarded()) + " queued version(s) discarded): " + *f);
    }
    auto a = comm::agree(comm_, f ? 1 : 0, f ? *f : std::string{});
    if (a) return;
    writer_->drain();  // every rank's writer fails the same version: wait until this one has too
    writer_->acknowledge();
    m_.failed->add();
    if constexpr (snapshot::chained<Snapshot>) opt_.snapshot.reset();
    throw checkpoint_error("background checkpoint failed (" + std::to_string(writer_->discarded()) +
                           " queued version(s) discarded): " + a.reason);
  }

  void run_job(job& j) {
    using sec = std::chrono::duration<double>;
    auto const t0 = trigger::clock::now();
    {
      auto const watch = watch_commit(*wcomm_, j);
      commit_job(*wcomm_, j);
    }
    auto const t1 = trigger::clock::now();
    {
      std::lock_guard g{mu_};
      stats_.commit_seconds = sec(t1 - t0).count();
    }
    note_commit(*wcomm_, j, sec(t1 - t0).count());
    writer_->give_buffer(std::move(j.shard.owned));
  }

  /// Collective on `c`: a background flush to a slower level whose copies are durable everywhere is
  /// committed there (with `wait`: waited for first).
  void settle_flush(Comm const& c, bool wait) {
    if constexpr (requires { opt_.storage.settle(c, wait); }) {
      auto const r = opt_.storage.settle(c, wait);
      if (!r.version || c.rank() != 0) return;
      char secs[32];
      std::snprintf(secs, sizeof secs, "%.3f", r.seconds);
      if (r.committed)
        log_.info("version " + std::to_string(*r.version) + " flushed to the slow level in the background (" + secs +
                  " s on rank 0" + (r.waited ? ", waited for" : "") + ")");
      else if (!r.failure.empty())
        log_.warn("the background flush of version " + std::to_string(*r.version) + " to the slow level failed (" +
                  r.failure + "); the version stays on the fast level only");
    }
  }

  /// Writes and commits one staged version through the consistency protocol on `c`, then retires.
  void commit_job(Comm const& c, job& j) {
    if (eventual()) return commit_own(j);
    if constexpr (!std::is_same_v<Consistency, consistency::eventual>) commit_coordinated(c, j);
  }

  void commit_coordinated(Comm const& c, job& j) {
    auto const v = j.version;
    // At most one flush to a slow level in flight: one that is done is committed now; when this
    // version is flushed too, the previous flush is waited for.
    bool flushes_too = false;
    if constexpr (requires { opt_.storage.flushed(v); }) flushes_too = opt_.storage.flushed(v);
    settle_flush(c, flushes_too);
    manifest m;
    if (c.rank() == 0) {
      m.id = manifest::new_id();
      m.version = v;
      m.created_unix_ms = j.created_unix_ms;
      m.ranks = static_cast<std::uint32_t>(c.size());
      m.step = j.step;
      m.snapshot = snapshot::name_of(opt_.snapshot);  // an erased policy: the name of the one it holds
      m.storage = storage::name_of(opt_.storage);
      m.consistency = consistency::name_of(opt_.consistency);
      {
        std::lock_guard g{mu_};
        m.parent = parent_;
      }
      m.version_vector.assign(static_cast<std::size_t>(c.size()), v);
      m.depends_on = j.depends_on;
    }
    std::string record;
    opt_.consistency.commit(c, opt_.storage, v, j.shard, opt_.verify_after_write,
                            [&](std::vector<consistency::shard_vote> const& votes) {
                              for (std::size_t r = 0; r < votes.size(); ++r)
                                m.shards.push_back({static_cast<std::uint32_t>(r),
                                                    relative_location(v, static_cast<int>(r)), votes[r].bytes,
                                                    votes[r].xxh3, votes[r].index_bytes, votes[r].index_xxh3});
                              record = m.to_text();
                              return record;
                            });
    publish(c, j, m.id, std::move(record));
    retire(c);
  }

  /// Collective, after the commit: the record goes where the storage keeps copies of it, and every
  /// rank learns the link the next version's manifest chains to.
  void publish(Comm const& c, job const& j, std::string const& id, std::string record) {
    auto const v = j.version;
    if constexpr (requires { opt_.storage.replicate_commit(v, std::string_view{}); })
    if (storage::replicates_commits(opt_.storage)) {  // an erased driver (storage::any) says at run time
      // Storage that keeps commit records per rank or per node gets a copy everywhere.
      std::uint64_t n = record.size();
      c.broadcast(std::as_writable_bytes(std::span(&n, 1)), 0);
      record.resize(static_cast<std::size_t>(n));
      c.broadcast(std::as_writable_bytes(std::span(record.data(), record.size())), 0);
      if (c.rank() != 0) opt_.storage.replicate_commit(v, record);
    }
    remember_commit(c, v, id, record);
    deps_[v] = j.depends_on;
    if (alog_) alog_->committed(j.log_index, log_);
    if (c.rank() == 0)
      log_.info("committed version " + std::to_string(v) + " at step " + std::to_string(j.step) + " (" +
                std::to_string(j.shard.bytes()) + " bytes on rank 0" +
                (j.depends_on.empty() ? std::string{} : ", delta on version " + std::to_string(j.depends_on.back())) + ")");
  }

  /// Rank 0, while version j's write runs: a progress line once it takes longer than `.progress_after`.
  std::unique_ptr<checkpoint::detail::progress_watch> watch_commit(Comm const& c, job const& j) const {
    if (c.rank() != 0) return nullptr;
    return std::make_unique<checkpoint::detail::progress_watch>(
        log_, opt_.progress_after,
        [v = j.version, bytes = checkpoint::detail::human_bytes(static_cast<double>(j.shard.bytes()))](double s) {
          char secs[32];
          std::snprintf(secs, sizeof secs, "%.1f", s);
          return "checkpoint version " + std::to_string(v) + " still being written after " + secs + " s (" + bytes +
                 " shard on rank 0)";
        });
  }

  /// Collective on `c` after version j committed: this rank's figures, and those reduced over the ranks.
  void note_commit(Comm const& c, job const& j, double commit_seconds) {
    auto const bytes = static_cast<double>(j.shard.bytes());
    m_.stall->observe(j.stall_seconds);
    m_.encode->observe(j.encode_seconds);
    m_.commit->observe(commit_seconds);
    m_.bytes_written->add(bytes);
    m_.last_bytes->set(bytes);
    m_.committed->add();
    m_.last_version->set(static_cast<double>(j.version));
    if (eventual()) {  // this rank's figures only: a reduction would make every rank wait for the slowest
      write_metrics_file(false);
      return;
    }
    m_.job_stall_max->set(c.all_reduce(j.stall_seconds, comm::reduce_op::max));
    m_.job_bytes_written->add(static_cast<double>(c.all_reduce(j.shard.bytes(), comm::reduce_op::sum)));
    write_metrics_file(false);
  }

  /// Rank 0: `.metrics_file` rewritten (`force`: whatever `.metrics_period` says); a failure is a warning.
  void write_metrics_file(bool force) {
    std::lock_guard g{prom_mu_};  // the caller's thread and the background writer's
    if (!prom_) return;
    try {
      if (force) prom_->write();
      else prom_->tick();
    } catch (std::exception const& e) {
      log_.warn(e.what());
    }
  }

  void discover_next_version() {
    auto const l = opt_.storage.list();
    std::uint64_t const highest = l.all.empty() ? 0 : l.all.back();
    // Never below a number already handed out: traces of lost attempts may have been removed since.
    next_version_ = std::max(next_version_.value_or(1), comm_.all_reduce(highest, comm::reduce_op::max) + 1);
  }

  void precheck(std::uint64_t v) {
    if ((eventual() ? std::uint64_t{registry_.size()} : comm_.all_reduce(std::uint64_t{registry_.size()}, comm::reduce_op::sum)) == 0)
      throw usage_error("checkpoint version " + std::to_string(v) + ": nothing is protected on " +
                        (eventual() ? "rank " + std::to_string(comm_.rank()) : std::string("any rank")));
    std::uint64_t need = 0;
    for (auto const& r : registry_) need += r->info().bytes();
    std::string why;
    if (auto free = opt_.check_free_space ? opt_.storage.free_bytes() : std::nullopt;
        free && *free < need + need / 64 + (64u << 10))
      why = "rank " + std::to_string(comm_.rank()) + ": " + opt_.directory.string() + " has " +
            std::to_string(*free >> 20) + " MiB free, version " + std::to_string(v) + " needs about " +
            std::to_string((need >> 20) + 1) + " MiB";
    if (eventual()) {  // no collective on the checkpoint path: this rank's problem is this rank's error
      if (!why.empty())
        throw checkpoint_error("checkpoint version " + std::to_string(v) + " not attempted: " + why +
                               " (the last committed version is intact)");
      return;
    }
    if (auto a = comm::agree(comm_, why.empty() ? 0 : 1, why); !a)
      throw checkpoint_error("checkpoint version " + std::to_string(v) + " not attempted: " + a.reason +
                             " (the last committed version is intact)");
  }

  /// Shard locations in the manifest are relative to the directory, so that it can be moved.
  std::string relative_location(std::uint64_t v, int r) const {
    auto const full = std::filesystem::path(opt_.storage.shard_location(v, r));
    auto rel = full.lexically_relative(opt_.directory);
    return rel.empty() ? full.string() : rel.string();
  }

  void remember_commit(Comm const& c, std::uint64_t v, std::string const& id, std::string const& record_on_rank0) {
    // Rank 0 built the record; the others learn its hash, which the next version's manifest chains to.
    std::uint64_t h = c.rank() == 0 ? detail::xxh3(record_on_rank0) : 0;
    c.broadcast(std::as_writable_bytes(std::span(&h, 1)), 0);
    std::lock_guard g{mu_};
    parent_ = checkpoint::parent_link{v, id, h};
  }

  /// What each committed version depends on (rank 0 reads manifests it has not seen commit).
  retention::dependency_map dependencies(std::vector<std::uint64_t> const& committed) {
    retention::dependency_map out;
    for (auto v : committed) {
      auto it = deps_.find(v);
      if (it == deps_.end()) {
        std::vector<std::uint64_t> d;
        try {
          if (auto t = opt_.storage.read_commit(v)) d = manifest::parse(*t, opt_.storage.commit_location(v)).depends_on;
        } catch (error const&) {
        }
        it = deps_.emplace(v, std::move(d)).first;
      }
      out[v] = it->second;
    }
    return out;
  }

  void retire(Comm const& c) {
    auto const l = opt_.storage.list();
    auto committed = l.committed;
    std::vector<std::uint64_t> doomed;
    if (c.rank() == 0) {
      auto const deps = dependencies(committed);
      if constexpr (retention::dependency_aware<Retention>) doomed = opt_.retention.retire(committed, deps);
      else doomed = opt_.retention.retire(committed);
      doomed = retention::protect_dependencies(committed, std::move(doomed), deps);  // whatever the policy says
    }
    // Every rank must retire the same versions: rank 0's view decides.
    std::uint64_t n = c.rank() == 0 ? doomed.size() : 0;
    c.broadcast(std::as_writable_bytes(std::span(&n, 1)), 0);
    doomed.resize(static_cast<std::size_t>(n));
    c.broadcast(std::as_writable_bytes(std::span(doomed.data(), doomed.size())), 0);
    // Storage that keeps commit records on more than rank 0 (per node, per rank) removes every copy.
    bool const records_everywhere = storage::replicates_commits(opt_.storage);
    for (auto v : doomed) {
      if (c.rank() == 0 || records_everywhere) opt_.storage.remove_commit(v);  // the version stops existing first
      opt_.storage.remove_shard(v, c.rank());
      opt_.storage.remove_version(v);
      deps_.erase(v);
    }
    m_.retired->add(static_cast<double>(doomed.size()));
    // Leftovers of aborted or crashed attempts older than the current version are not history.
    std::uint64_t current = 0;
    {
      std::lock_guard g{mu_};
      current = parent_ ? parent_->version : 0;
    }
    for (auto v : l.all)
      if (v < current && !std::binary_search(committed.begin(), committed.end(), v)) {
        opt_.storage.remove_shard(v, c.rank());
        opt_.storage.remove_version(v);
      }
    if (!doomed.empty() && c.rank() == 0) {
      // A level may keep what retention retires from the others (storage::multilevel's slow level).
      auto const after = opt_.storage.list().committed;
      auto const gone = std::ranges::count_if(doomed, [&](auto v) { return !std::ranges::binary_search(after, v); });
      if (gone > 0) log_.info("retired " + std::to_string(gone) + " old version(s)");
    }
  }

  /// The hidden region that carries every region's layout, so that another rank count can read it.
  void refresh_layouts() {
    checkpoint::detail::layout_table t;
    for (auto const& r : registry_) {
      auto const info = r->info();
      if (info.name == checkpoint::detail::layout_region_name) continue;
      auto const l = state::resolved(registry_.layout_of(info.name), info.count);
      if (l.how == state::layout::kind::distributed) {
        if (l.block.local_offset + l.block.local_count > info.count || l.block.global_offset + l.block.local_count > l.block.global_size)
          throw usage_error("region '" + info.name + "': distributed window [" + std::to_string(l.block.local_offset) +
                            ", +" + std::to_string(l.block.local_count) + ") does not fit its " +
                            std::to_string(info.count) + " elements or the global size " +
                            std::to_string(l.block.global_size));
      }
      t[info.name] = l;
    }
    layout_text_ = checkpoint::detail::encode_layouts(t);
    if (!registry_.find(checkpoint::detail::layout_region_name))
      registry_.protect(checkpoint::detail::layout_region_name, layout_text_);
  }

  /// Whether every protected region can move to another rank count; if not, `why` names one that cannot.
  bool resizable_state(std::string& why) const {
    for (auto const& r : registry_) {
      auto const name = r->info().name;
      if (name == checkpoint::detail::layout_region_name) continue;
      if (name == checkpoint::detail::log_region_name) {
        why = "the application log (option .replay_log) is kept per rank";
        return false;
      }
      if (registry_.layout_of(name).how == state::layout::kind::per_rank) {
        why = "region '" + name + "' is per-rank state; declare it strata::distributed or strata::replicated "
              "to restore on another rank count";
        return false;
      }
    }
    if (layout_text_.empty()) {
      why = "nothing is protected";
      return false;
    }
    return true;
  }

  /// The decoded region called `name`, or nullptr.
  static snapshot::decoded_region const* find_region(std::vector<snapshot::decoded_region> const& regions,
                                                     std::string const& name) {
    auto it = std::find_if(regions.begin(), regions.end(), [&](auto const& d) { return d.info.name == name; });
    return it == regions.end() ? nullptr : &*it;
  }

  /// Whether this rank's distributed blocks are where this rank's shard says they were saved.
  bool same_blocks(std::vector<snapshot::decoded_region> const& regions) const {
    auto const* it = find_region(regions, checkpoint::detail::layout_region_name);
    if (!it) return true;  // nothing was declared when it was saved
    try {
      return same_blocks(checkpoint::detail::decode_layouts(it->payload, "saved layout"));
    } catch (error const&) {
      return false;  // let the redistribution path report it
    }
  }
  /// Whether this rank's distributed blocks are where the table `saved` says they were saved.
  bool same_blocks(checkpoint::detail::layout_table const& saved) const {
    auto const now = checkpoint::detail::decode_layouts(std::as_bytes(std::span(layout_text_)), "this run");
    for (auto const& [name, l] : now)
      if (l.how == state::layout::kind::distributed && (!saved.count(name) || !(saved.at(name) == l))) return false;
    return true;
  }
  /// Whether this rank's blocks moved since it saved version `m`, told by its shard's index alone
  /// (nullopt: the index cannot tell; the shard read whole will).
  std::optional<bool> blocks_moved(manifest const& m) {
    if constexpr (snapshot::indexed<Snapshot>) {
      if (auto x = reader_->index(m, comm_.rank())) {
        checkpoint::detail::layout_table saved;
        for (auto const& g : x->regions) saved[g.info.name] = g.layout;
        return !same_blocks(saved);
      }
    }
    return std::nullopt;
  }

  /// What this rank protects now, as an N→M plan needs it (the hidden layout region aside).
  [[nodiscard]] std::vector<checkpoint::detail::wanted_region> wanted_regions() const {
    std::vector<checkpoint::detail::wanted_region> out;
    for (auto const& r : registry_) {
      auto const info = r->info();
      if (info.name != checkpoint::detail::layout_region_name)
        out.push_back({info, state::resolved(registry_.layout_of(info.name), info.count)});
    }
    return out;
  }

  /// Bytes the reader holds for `regions` decoded whole: the shards, and payloads decoded elsewhere.
  std::uint64_t held_whole(std::vector<snapshot::decoded_region> const& regions) const {
    auto n = reader_->bytes_held();
    for (auto const& d : regions)
      if (!reader_->holds(d.payload)) n += d.payload.size();
    return n;
  }

  /// What old rank `r` saved in version `m`: from its shard's index (kept in `index` for reading in
  /// part), or, for a checkpoint written before shards had one, from the shard decoded whole.
  checkpoint::detail::saved_shard open_old_rank(manifest const& m, int r, std::optional<snapshot::shard_index>& index,
                                                checkpoint::detail::memory_budget& budget) {
    checkpoint::detail::saved_shard out;
    if constexpr (snapshot::indexed<Snapshot>) {
      if ((index = reader_->index(m, r))) {
        budget.take(index->bytes, "the indexes of the old shards");
        for (auto const& g : index->regions)
          if (g.info.name != checkpoint::detail::layout_region_name) out.push_back({g.info, g.layout, g.bytes});
        return out;
      }
    }
    auto const where = opt_.storage.shard_location(m.version, r);
    auto const regions = reader_->decode_whole(m, r);
    auto const held = held_whole(regions);
    budget.take(held, "an old shard read whole");
    auto const* it = find_region(regions, checkpoint::detail::layout_region_name);
    if (!it) throw error(where + ": records no layouts (written before layouts were declared)");
    auto const t = checkpoint::detail::decode_layouts(it->payload, where);
    for (auto const& d : regions)
      if (d.info.name != checkpoint::detail::layout_region_name)
        out.push_back({d.info, t.count(d.info.name) ? t.at(d.info.name) : state::layout{}, d.payload.size()});
    reader_->release();
    budget.give(held);
    return out;
  }

  /// Reads the ranges of `plan`, each old rank's in part where its shards allow, else from the
  /// shards read whole; every byte checked (block hashes, or the whole shard's checksum).
  std::vector<checkpoint::detail::staged_range> fetch(manifest const& m, checkpoint::detail::resize_plan const& plan,
                                                      std::vector<std::optional<snapshot::shard_index>>& indexes,
                                                      checkpoint::detail::memory_budget& budget) {
    std::vector<checkpoint::detail::staged_range> out(plan.fetches.size());
    for (int r : plan.sources()) {
      std::optional<std::vector<snapshot::shard_index>> chain;
      if constexpr (snapshot::indexed<Snapshot>)
        if (auto& x = indexes[static_cast<std::size_t>(r)]) chain = reader_->chain_in_part(m, r, *x, budget);
      std::vector<snapshot::decoded_region> whole;
      std::uint64_t held = 0;
      if (!chain) {
        whole = reader_->decode_whole(m, r);
        budget.take(held = held_whole(whole), "an old shard read whole");
      }
      for (std::size_t i = 0; i < plan.fetches.size(); ++i) {
        auto const& f = plan.fetches[i];
        if (f.from != r) continue;
        if constexpr (snapshot::indexed<Snapshot>)
          if (chain) {
            out[i] = reader_->read_blocks(*chain, r, f.region, f.offset, f.bytes, budget);
            continue;
          }
        budget.take(f.bytes, "the old ranges this rank restores");
        out[i] = reader_type::copy_range(whole, f.region, f.offset, f.bytes, opt_.storage.shard_location(m.version, r));
      }
      if (chain)
        for (std::size_t k = 0; k + 1 < chain->size(); ++k) budget.give((*chain)[k].bytes);
      reader_->release();
      budget.give(held);
    }
    return out;
  }

  /// N→M check of version v: every region replicated or distributed; each old rank's layout known
  /// from its shard's index (older checkpoints: its shard read whole); a plan of the old ranges that
  /// cover this rank's block, types equal; those ranges read and checked, within the memory limit.
  consistency::verdict check_resized(std::uint64_t v, manifest const& m, std::string& why) {
    std::string const me = "rank " + std::to_string(comm_.rank());
    release_resized();
    reader_->release();
    checkpoint::detail::memory_budget budget{opt_.memory_limit_bytes};
    auto fail = [&](std::string const& what, consistency::verdict verdict) {
      why = me + ": " + what;
      release_resized();
      reader_->release();
      return verdict;
    };
    auto over_limit = [&](usage_error const& e) {
      return fail("version " + std::to_string(v) + " restored on " + std::to_string(comm_.size()) + " ranks: " + e.what() +
                      "; use more ranks",
                  consistency::verdict::refused);
    };
    std::vector<checkpoint::detail::saved_shard> old(m.ranks);
    std::vector<std::optional<snapshot::shard_index>> indexes(m.ranks);
    try {
      check_chain(m);
      for (std::uint32_t r = 0; r < m.ranks; ++r) old[r] = open_old_rank(m, static_cast<int>(r), indexes[r], budget);
    } catch (usage_error const& e) {
      return over_limit(e);
    } catch (error const& e) {
      return fail(e.what(), consistency::verdict::invalid);
    }
    checkpoint::detail::resize_plan plan;
    try {
      plan = checkpoint::detail::plan_resize(old, wanted_regions(), v);
      for (auto const& f : plan.fetches)
        if (f.whole) note_resize(registry_.find(f.region)->info(), f.saved, v);
      budget.check(plan.bytes(), "the old ranges this rank restores");
    } catch (std::exception const& e) {
      return fail(e.what(), consistency::verdict::refused);
    }
    try {
      resize_staged_ = fetch(m, plan, indexes, budget);
    } catch (usage_error const& e) {
      return over_limit(e);
    } catch (error const& e) {
      return fail(e.what(), consistency::verdict::invalid);
    }
    resize_plan_ = std::move(plan);
    resize_peak_ = budget.peak;
    resized_ = true;
    return consistency::verdict::valid;
  }

  void apply_resized() {
    for (std::size_t i = 0; i < resize_plan_.fetches.size(); ++i) {
      auto const& f = resize_plan_.fetches[i];
      auto* region = registry_.find(f.region);  // planned only for regions protected now
      auto const bytes = resize_staged_[i].view();
      if (f.whole) region->load(f.saved, bytes);
      else region->load_window(f.dst, bytes);
    }
  }
  void release_resized() {
    resized_ = false;
    resize_plan_ = {};
    resize_staged_.clear();
    resize_peak_ = 0;
  }

  /// Local check of version v: manifest, rank count, chain, shard checksum, region shapes.
  consistency::verdict check_local(std::uint64_t v, std::string& why, std::vector<snapshot::decoded_region>& regions,
                                   manifest& m) {
    int const rank = comm_.rank();
    std::string const me = "rank " + std::to_string(rank);
    auto const where = opt_.storage.commit_location(v);
    regions.clear();
    resize_notes_.clear();
    reader_->release();
    try {
      auto const* record = reader_->record(v);
      if (!record) throw error(where + ": commit record missing");
      m = *record;
      if (m.version != v) throw error(where + ": records version " + std::to_string(m.version));
      if (m.ranks != static_cast<std::uint32_t>(comm_.size())) {
        std::string cannot;
        if (resizable_state(cannot)) return check_resized(v, m, why);
        why = "checkpoint version " + std::to_string(v) + " in " + opt_.directory.string() + " was written by " +
              std::to_string(m.ranks) + " ranks but this run has " + std::to_string(comm_.size()) + "; " + cannot +
              " — rerun with " + std::to_string(m.ranks) + " ranks (or use another directory to start afresh)";
        return consistency::verdict::refused;
      }
      if (m.snapshot != snapshot::name_of(opt_.snapshot)) throw error(where + ": written with snapshot '" + m.snapshot + "', this checkpointer uses '" + std::string(snapshot::name_of(opt_.snapshot)) + "'");
      check_chain(m);
      // Same rank count, blocks declared elsewhere than saved (a rebalance): redistribute.
      if (!layout_text_.empty() && blocks_moved(m).value_or(false)) return check_resized(v, m, why);
      regions = reader_->decode_whole(m, rank);
    } catch (error const& e) {
      why = me + ": " + e.what();
      return consistency::verdict::invalid;
    }
    // The same, told by the shard read whole (written before shards had an index).
    if (!layout_text_.empty() && !same_blocks(regions)) {
      regions.clear();
      return check_resized(v, m, why);
    }
    // Shapes: a mismatch is the program's doing, not the file's: refuse rather than fall back.
    try {
      for (auto const& r : registry_) {
        auto const name = r->info().name;
        auto const* it = find_region(regions, name);
        if (!it && hidden_region(name)) continue;  // older checkpoint, or taken before the log was on
        if (!it)
          throw usage_error("protected region '" + name + "' is not in version " + std::to_string(v) + " (" +
                            opt_.storage.shard_location(v, rank) + ")");
        r->check_compatible(it->info);
        note_resize(r->info(), it->info, v);
      }
    } catch (usage_error const& e) {
      why = me + ": " + e.what();
      return consistency::verdict::refused;
    }
    return consistency::verdict::valid;
  }

  /// A region that version v's restore would resize: refused without `.allow_resize`, else noted
  /// for the log (a warning when the container held elements: likely not what the program expects).
  void note_resize(state::region_info const& now, state::region_info const& saved, std::uint64_t v) {
    if (!now.resizable || now.kind == state::region_kind::user || saved.count == now.count || hidden_region(now.name))
      return;
    auto const sizes = "from " + std::to_string(now.count) + " to " + std::to_string(saved.count) +
                       " elements (its size in version " + std::to_string(v) + ")";
    if (!opt_.allow_resize)
      throw usage_error("cannot restore region '" + now.name + "': the restore would resize it " + sizes +
                        " and option .allow_resize is false");
    resize_notes_.emplace_back(now.count != 0, "restore resizes region '" + now.name + "' " + sizes +
                                                   (now.count ? "; .allow_resize = false refuses this" : ""));
  }

  /// The parent's manifest, where still kept, must hash to what this manifest recorded.
  void check_chain(manifest const& m) {
    if (!m.parent) return;
    std::optional<std::string> parent_text;
    try {
      parent_text = opt_.storage.read_commit(m.parent->version);
    } catch (error const&) {
    }
    if (parent_text && detail::xxh3(*parent_text) != m.parent->manifest_xxh3)
      chain_warnings_.push_back("version " + std::to_string(m.version) + " records parent version " +
                                std::to_string(m.parent->version) + " with a different manifest hash than " +
                                opt_.storage.commit_location(m.parent->version) + " has now (history altered)");
  }

  /// Reads version v's commit record into what storage needs to repair its shards (nullopt: no record).
  auto expectation_reader() {
    return [this](std::uint64_t v) -> std::optional<storage::version_expectation> {
      auto text = opt_.storage.read_commit(v);
      if (!text) return std::nullopt;
      auto const m = manifest::parse(*text, opt_.storage.commit_location(v));
      storage::version_expectation e{m.ranks, {}, {}, m.depends_on};
      for (auto const& sh : m.shards) {
        e.bytes.push_back(sh.bytes);
        e.xxh3.push_back(sh.xxh3);
      }
      return e;
    };
  }

  std::optional<std::uint64_t> restore_impl(std::optional<std::uint64_t> exact, checkpoint::log_replayer const* replay) {
    auto const t0 = trigger::clock::now();
    std::unique_ptr<checkpoint::detail::progress_watch> watch;
    if (comm_.rank() == 0)
      watch = std::make_unique<checkpoint::detail::progress_watch>(
          log_, opt_.progress_after, [dir = opt_.directory.string()](double s) {
            char secs[32];
            std::snprintf(secs, sizeof secs, "%.1f", s);
            return "restore from " + dir + " still running after " + secs + " s";
          });
    if (writer_) {
      writer_->drain();
      if (auto f = writer_->failure()) log_.warn("background checkpoint failed before this restore: " + *f);
      writer_->acknowledge();
    }
    settle_flush(comm_, true);
    if (eventual()) settle_eventual(true);
    else warn_unfinished_eventual();
    if constexpr (requires { opt_.storage.recover(comm_, expectation_reader(), std::function<void(std::string const&, bool)>{}); }) {
      // Storage that repairs missing shards (node-local levels) reads what each record expects.
      opt_.storage.recover(comm_, expectation_reader(), [this](std::string const& m, bool warning) {
        if (warning) log_.warn(m);
        else log_.info(m);
      });
    } else if constexpr (requires { opt_.storage.recover(comm_); }) {
      opt_.storage.recover(comm_);  // e.g. partner copies in memory
    }
    auto const l = opt_.storage.list();
    if (comm_.rank() == 0)
      for (auto const& f : l.foreign) log_.warn("ignoring foreign entry in the checkpoint directory: " + f);
    std::vector<std::uint64_t> candidates = l.committed;
    if (exact) {
      candidates.clear();
      if (std::binary_search(l.committed.begin(), l.committed.end(), *exact)) candidates.push_back(*exact);
    }
    reader_.emplace(opt_.storage, opt_.snapshot);
    struct drop_reader {  // the shards it holds are let go once the restore is over, however it ends
      std::optional<reader_type>& r;
      ~drop_reader() { r.reset(); }
    } const drop{reader_};
    std::vector<snapshot::decoded_region> regions;
    manifest m;
    release_resized();
    std::uint64_t checked = 0;
    chain_warnings_.clear();
    std::uint64_t newest_here = 0;  // the newest version this rank found complete and valid
    auto chosen = opt_.consistency.choose(
        comm_, candidates,
        [&](std::uint64_t v, std::string& why) {
          ++checked;
          auto const verdict = check_local(v, why, regions, m);
          if (verdict == consistency::verdict::valid && newest_here == 0) newest_here = v;
          return verdict;
        },
        [&](std::string const& w) {
          if (comm_.rank() == 0) log_.warn(w);
        });
    for (auto const& w : chain_warnings_) log_.warn(w);
    if (chosen && !exact) note_version_vector(newest_here, *chosen);
    auto const total = comm_.all_reduce(std::uint64_t{l.committed.size()}, comm::reduce_op::max);
    if (!chosen) {
      if (exact)
        throw restore_error("version " + std::to_string(*exact) + " is not a committed version in " +
                            opt_.directory.string() + " on every rank");
      if (total > 0)
        throw restore_error("none of the committed versions in " + opt_.directory.string() +
                            " is complete and valid on every rank (see the warnings above); move the directory "
                            "aside to start afresh");
      discover_next_version();
      if (alog_) {
        alog_->forget_mark();
        check_app_log("the start (no version restored)", replay);
        replay_app_log(std::nullopt, false, replay);
      }
      return std::nullopt;
    }
    bool const rollback = exact.has_value();  // restore(version): the log's later entries are set aside
    if (alog_ && !resized_) {
      // Where the replay starts, checked before any state changes.
      alog_->forget_mark();
      if (auto const* it = find_region(regions, checkpoint::detail::log_region_name); it && it->payload.size() == 16)
        std::memcpy(alog_->mark().data(), it->payload.data(), 16);
      if (!rollback) check_app_log("version " + std::to_string(*chosen), replay);
    }
    if (resized_) {
      apply_resized();
      if constexpr (snapshot::chained<Snapshot>) opt_.snapshot.reset();  // block hashes belong to the old ranks
    } else {
      for (auto const& r : registry_) {
        auto const name = r->info().name;
        auto const* it = find_region(regions, name);
        if (!it || name == checkpoint::detail::layout_region_name) continue;  // ours, not saved state
        r->load(it->info, it->payload);
      }
      // SPEC R10d: the ranks' copies of replicated regions compared; a minority's repaired.
      checkpoint::detail::check_replicas(comm_, registry_, *chosen, log_, [&](std::string const& name) {
        auto const* it = find_region(regions, name);
        return it ? it->payload : std::span<const std::byte>{};
      });
    }
    for (auto const& [warning, line] : resize_notes_) warning ? log_.warn(line) : log_.info(line);
    if (alog_) replay_app_log(*chosen, rollback, replay);
    for (auto const& d : regions)
      if (!registry_.find(d.info.name))
        log_.warn("version " + std::to_string(*chosen) + " holds region '" + d.info.name +
                  "' which is not protected now; it was not restored");
    step_ = m.step;
    if constexpr (snapshot::chained<Snapshot>)
      if (!resized_) opt_.snapshot.adopt_restored();
    {
      std::lock_guard g{mu_};
      parent_ = checkpoint::parent_link{*chosen, m.id, 0};
      if (auto text = opt_.storage.read_commit(*chosen)) parent_->manifest_xxh3 = detail::xxh3(*text);
      finalized_ = parent_;
      stats_ = {*chosen, resized_ ? 0 : m.shards[static_cast<std::size_t>(comm_.rank())].bytes, 0, 0, 0, 0,
                reader_->bytes_read(), resized_ ? resize_peak_ : reader_->bytes_held()};
    }
    watch.reset();
    note_restore(*chosen, std::chrono::duration<double>(trigger::clock::now() - t0).count());
    discover_next_version();
    if (resized_ && comm_.rank() == 0)
      log_.info("version " + std::to_string(*chosen) + " was written by " + std::to_string(m.ranks) +
                " ranks and is restored on " + std::to_string(comm_.size()));
    release_resized();
    if (comm_.rank() == 0)
      log_.info("restored version " + std::to_string(*chosen) + " (step " + std::to_string(m.step) + ")" +
                (*next_version_ > *chosen + 1 ? "; new checkpoints start a branch at version " +
                                                    std::to_string(*next_version_)
                                              : std::string{}));
    return chosen;
  }

  bool eventual() const noexcept { return consistency::is_eventual(opt_.consistency); }

  /// How the storage and the record exchange report what they did: to the checkpointer's log.
  storage::alone::sayer sayer() {
    return [this](std::string const& text, bool warning) { warning ? log_.warn(text) : log_.info(text); };
  }
  /// Eventual: takes in what other ranks sent (records, manifests, partner copies), never waiting;
  /// rank 0 makes usable the versions whose last record just came.
  void pump() {
    if (ex_.pump(opt_.storage, sayer()) && comm_.rank() == 0) finalize_ready();
  }

  /// Eventual: this rank's shard of version j written, checked and recorded; no other rank waited for.
  void commit_own(job& j) {
    auto const v = j.version;
    int const r = comm_.rank();
    pump();
    try {
      auto const vote = consistency::write_and_check(opt_.storage, v, j.shard, opt_.verify_after_write, r, true);
      fault::point(consistency::fault_points::after_shard, r, v);
      ex_.record({v, static_cast<std::uint32_t>(r), static_cast<std::uint32_t>(comm_.size()), j.step, j.created_unix_ms,
                  vote.bytes, vote.xxh3, vote.index_bytes, vote.index_xxh3, j.depends_on});
    } catch (std::exception const& e) {
      opt_.storage.remove_shard(v, r);
      throw checkpoint_error("checkpoint version " + std::to_string(v) + " not recorded on rank " + std::to_string(r) +
                             " (consistency::eventual: the other ranks went on; this version will never be usable): " +
                             e.what());
    }
    fault::point(consistency::fault_points::after_commit, r, v);
    {
      std::lock_guard g{mu_};
      deps_[v] = j.depends_on;
      if (alog_) pending_log_[v] = j.log_index;
      if (r != 0) parent_ = checkpoint::parent_link{v, {}, 0};
    }
    if (r == 0) finalize_ready();
    retire_own();
    if (r == 0)
      log_.info("rank 0 recorded version " + std::to_string(v) + " at step " + std::to_string(j.step) +
                " (eventual: usable once every rank has recorded it)");
  }

  /// Eventual, rank 0: writes the manifest of every version that every rank has recorded and that has
  /// none yet, oldest first. Its version vector: the newest version each rank had recorded.
  void finalize_ready() {
    std::lock_guard fg{finalize_mu_};  // the writer's commit and the caller's step may both get here
    auto const n = static_cast<std::uint32_t>(comm_.size());
    std::uint64_t above = 0;  // every rank recorded it, so every rank recorded (or gave up) every older one
    {
      std::lock_guard g{mu_};
      if (finalized_) above = finalized_->version;
    }
    std::vector<std::string> bad;
    auto const recs = ex_.read(above, &bad);
    for (auto const& b : bad) log_.warn("ignoring a damaged per-rank record: " + b);
    if (recs.empty()) return;
    auto const committed = opt_.storage.list().committed;
    std::vector<std::uint64_t> newest(n, above);
    for (auto const& [v, by_rank] : recs)
      for (auto const& [r, rec] : by_rank)
        if (r < n) newest[r] = std::max(newest[r], v);
    for (auto const& [v, by_rank] : recs) {
      if (std::binary_search(committed.begin(), committed.end(), v) || by_rank.size() != n) continue;
      auto const& first = by_rank.begin()->second;
      bool same = true;
      for (auto const& [r, rec] : by_rank) same = same && rec.ranks == n && rec.depends_on == first.depends_on && r < n;
      if (!same) {
        log_.warn("version " + std::to_string(v) + ": the ranks' records disagree (rank count or chain); not made usable");
        continue;
      }
      manifest m;
      m.id = manifest::new_id();
      m.version = v;
      m.created_unix_ms = first.created_unix_ms;
      m.ranks = n;
      m.step = first.step;
      m.snapshot = snapshot::name_of(opt_.snapshot);
      m.storage = storage::name_of(opt_.storage);
      m.consistency = consistency::name_of(opt_.consistency);
      {
        std::lock_guard g{mu_};
        m.parent = finalized_;
      }
      m.version_vector = newest;
      m.depends_on = first.depends_on;
      for (auto const& [r, rec] : by_rank)
        m.shards.push_back({r, relative_location(v, static_cast<int>(r)), rec.bytes, rec.xxh3, rec.index_bytes, rec.index_xxh3});
      auto const text = m.to_text();
      try {
        opt_.storage.write_commit(v, text);
      } catch (std::exception const& e) {
        log_.warn("version " + std::to_string(v) + ": every rank holds it but its manifest could not be written: " + e.what());
        return;
      }
      ex_.publish(opt_.storage, v, text);
      {
        std::lock_guard g{mu_};
        finalized_ = checkpoint::parent_link{v, m.id, detail::xxh3(text)};
        parent_ = finalized_;
      }
      std::string vec;
      for (auto x : newest) vec += (vec.empty() ? "" : ", ") + std::to_string(x);
      log_.info("version " + std::to_string(v) + " is usable: every rank holds it (newest recorded per rank: [" + vec + "])");
    }
  }

  /// Eventual, every rank on its own: retention over the versions usable so far (as this rank sees
  /// them: the set only grows), this rank's shards and records of the retired ones and of versions
  /// that can no longer become usable removed; the application log truncated through the newest usable.
  void retire_own() {
    auto const l = opt_.storage.list();
    auto const& committed = l.committed;
    auto const r = comm_.rank();
    auto const deps = dependencies(committed);
    std::vector<std::uint64_t> doomed;
    if constexpr (retention::dependency_aware<Retention>) doomed = opt_.retention.retire(committed, deps);
    else doomed = opt_.retention.retire(committed);
    doomed = retention::protect_dependencies(committed, std::move(doomed), deps);
    auto drop = [&](std::uint64_t v) {
      opt_.storage.remove_shard(v, r);
      ex_.forget(v, static_cast<std::uint32_t>(comm_.size()));
      opt_.storage.remove_version(v);
    };
    for (auto v : doomed) {
      if (r == 0 || storage::replicates_commits(opt_.storage)) opt_.storage.remove_commit(v);  // each node's copy
      drop(v);
      std::lock_guard g{mu_};
      deps_.erase(v);
    }
    m_.retired->add(static_cast<double>(doomed.size()));
    std::uint64_t const newest = committed.empty() ? 0 : committed.back();
    // Older than a usable version and not usable: some rank never recorded it, and none will now.
    for (auto v : l.all)
      if (v < newest && !std::binary_search(committed.begin(), committed.end(), v)) drop(v);
    if (alog_ && newest) {
      std::uint64_t through = 0;
      bool any = false;
      {
        std::lock_guard g{mu_};
        for (auto it = pending_log_.begin(); it != pending_log_.end() && it->first <= newest;) {
          through = std::max(through, it->second);
          any = true;
          it = pending_log_.erase(it);
        }
      }
      if (any) alog_->committed(through, log_);
    }
  }

  /// Eventual, collective (at wait, destruction and restore): every rank's records are written (the
  /// writers drained), rank 0 makes usable what every rank holds, every rank retires on its own. At
  /// a restore, the records and shards of versions above the newest usable one are removed: the
  /// ranks that wrote them have stopped, so those versions can never be completed.
  void settle_eventual(bool at_restore) {
    comm_.barrier();
    ex_.drain(opt_.storage, sayer(), at_restore);  // every record at rank 0, every partner copy written
    if (comm_.rank() == 0) finalize_ready();
    // A manifest sent during the run may have been lost with the job: at a restore, rank 0 sends
    // again every one it holds (a node that has it already keeps its copy).
    if (at_restore && comm_.rank() == 0)
      for (auto v : opt_.storage.list().committed)
        if (auto text = opt_.storage.read_commit(v)) ex_.publish(opt_.storage, v, *text);
    comm_.barrier();
    ex_.drain(opt_.storage, sayer(), false);  // the manifests where copies are kept
    retire_own();
    if (at_restore) {
      auto const l = opt_.storage.list();
      discover_next_version();  // above the versions about to be removed: their numbers are not reused
      // The newest usable version as any rank sees it: a node's own view may still lack its manifest,
      // and what it holds of that version (its shard, the partner copies it keeps) must stay.
      std::uint64_t const newest =
          comm_.all_reduce(l.committed.empty() ? std::uint64_t{0} : l.committed.back(), comm::reduce_op::max);
      for (auto v : l.all)
        if (v > newest) {
          opt_.storage.remove_shard(v, comm_.rank());
          ex_.forget(v, static_cast<std::uint32_t>(comm_.size()));
          opt_.storage.remove_version(v);
        }
      std::lock_guard g{mu_};
      pending_log_.clear();
    }
    comm_.barrier();
  }

  /// Coordinated restore of a directory an eventual run wrote: its usable versions are ordinary
  /// versions; the ones not yet made usable are named (restore with consistency::eventual to finish them).
  void warn_unfinished_eventual() {
    if (comm_.rank() != 0) return;
    std::error_code ec;
    if (!std::filesystem::is_directory(checkpoint::detail::rank_records_dir(opt_.directory), ec)) return;
    auto const recs = checkpoint::detail::read_rank_records(opt_.directory);
    auto const committed = opt_.storage.list().committed;
    std::string pending;
    for (auto const& [v, by_rank] : recs)
      if (!std::binary_search(committed.begin(), committed.end(), v)) pending += (pending.empty() ? "" : ", ") + std::to_string(v);
    if (!pending.empty())
      log_.warn(opt_.directory.string() + " holds per-rank records of version(s) " + pending +
                " written with consistency::eventual and not yet usable; this coordinated restore ignores them "
                "(restore with consistency::eventual to make usable those every rank holds)");
  }

  /// Collective, before a restore changes any state: this rank's application-log entries after the
  /// restored mark can be replayed (none dropped, and a replay function given when there are any).
  void check_app_log(std::string const& restored, checkpoint::log_replayer const* replay) {
    std::string why = alog_->gap(restored);
    if (why.empty() && !replay)
      if (auto const n = alog_->pending())
        why = "rank " + std::to_string(comm_.rank()) + ": the application log " + alog_->path().string() + " holds " +
              std::to_string(n) + " entries appended after " + restored +
              "; restore with restore_latest(replay) to apply them, or move the log aside to drop them";
    if (auto a = comm::agree(comm_, why.empty() ? 0 : 1, why); !a) throw restore_error(a.reason);
  }

  /// Collective, once the state of `v` (or the start) is loaded: the log's later entries replayed
  /// (`rollback`: set aside instead, for they belong to the history left behind).
  void replay_app_log(std::optional<std::uint64_t> v, bool rollback, checkpoint::log_replayer const* replay) {
    std::string why, aside;
    std::uint64_t applied = 0;
    try {
      if (rollback) aside = alog_->branch(*v);
      else if (replay) applied = alog_->replay(*replay);
      alog_->settle(log_);
    } catch (std::exception const& e) {
      why = "rank " + std::to_string(comm_.rank()) + ": replaying the application log " + alog_->path().string() +
            ": " + e.what();
    }
    if (auto a = comm::agree(comm_, why.empty() ? 0 : 1, why); !a) throw restore_error(a.reason);
    if (!aside.empty())
      log_.info("restored version " + std::to_string(*v) + " (a rollback): the application log's later entries are kept in " + aside);
    auto const total = comm_.all_reduce(applied, comm::reduce_op::sum);
    if (comm_.rank() == 0 && total)
      log_.info("replayed " + std::to_string(total) + " application-log entries (all ranks) after " +
                (v ? "version " + std::to_string(*v) : std::string("the start")));
  }

  /// Collective, once a restore chose version `v` (SPEC R5, R8): the ranks' version vector as measured
  /// now — each the newest version it found complete and valid — and, when some rank lags, which and
  /// why every rank goes back to `v` (the storage had no copy to bring that rank up: node-local levels
  /// with partner or erasure copies repair such a rank before this point).
  void note_version_vector(std::uint64_t newest_here, std::uint64_t v) {
    auto const vec = comm_.all_gather(newest_here);
    std::uint64_t top = 0;
    for (auto x : vec) top = std::max(top, x);
    if (comm_.rank() != 0 || top <= v) return;
    std::string text, lagging;
    for (std::size_t r = 0; r < vec.size(); ++r) {
      text += (r ? ", " : "") + std::to_string(vec[r]);
      if (vec[r] < top) lagging += (lagging.empty() ? "" : ", ") + std::to_string(r);
    }
    log_.warn("version vector at restore [" + text + "]: rank(s) " + lagging + " hold no complete, valid copy of version " +
              std::to_string(top) + ", and " + std::string(storage::name_of(opt_.storage)) +
              " keeps no other copy to bring them up; every rank restores version " + std::to_string(v) +
              " (storage::node_local with partner or erasure copies rebuilds a lagging rank instead)");
  }

  /// Collective after version v was restored in `seconds`: this rank's figures, those reduced over the
  /// ranks, and the storage level that served this rank's shard where the storage says (node-local levels).
  void note_restore(std::uint64_t v, double seconds) {
    auto const read = reader_->bytes_read();
    m_.restore->observe(seconds);
    m_.restores->add();
    m_.read_bytes->add(static_cast<double>(read));
    m_.restored_version->set(static_cast<double>(v));
    m_.job_restore_max->set(comm_.all_reduce(seconds, comm::reduce_op::max));
    m_.job_read_bytes->add(static_cast<double>(comm_.all_reduce(read, comm::reduce_op::sum)));
    if constexpr (requires { opt_.storage.served_by(); }) {
      auto const& served = opt_.storage.served_by();
      if (auto const r = static_cast<std::size_t>(comm_.rank()); r < served.size() && !served[r].empty())
        m_.served_by(served[r]);
    }
    write_metrics_file(false);
  }

  Comm comm_;
  options opt_;
  logger log_;
  state::registry registry_;
  std::uint64_t step_ = 0;
  std::optional<std::uint64_t> next_version_;
  std::optional<checkpoint::parent_link> parent_;
  std::vector<std::string> chain_warnings_;
  checkpoint_stats stats_;
  std::string layout_text_;                 ///< the hidden region "strata.layout" (empty: no layouts declared)
  std::optional<reader_type> reader_;       ///< during a restore: reads (and holds) the shards
  // N→M restore in progress: what to read from where, what was read (checked), the most held at once
  bool resized_ = false;
  checkpoint::detail::resize_plan resize_plan_;
  std::vector<checkpoint::detail::staged_range> resize_staged_;  // parallel to resize_plan_.fetches
  std::uint64_t resize_peak_ = 0;
  retention::dependency_map deps_;          ///< known depends_on per version (commit path only)
  std::optional<preemption::listener> listener_;  ///< pre-emption signals, caught from the first step()
  std::optional<preemption::event> preempted_;    ///< the pre-emption that stopped the run
  std::vector<std::pair<bool, std::string>> resize_notes_;  ///< restore: regions resized (warning?, line)
  mutable std::mutex mu_;                   ///< parent_ and stats_, shared with the background writer
  std::unique_ptr<strata::metrics::registry> own_metrics_;  ///< without `.metrics`
  checkpoint::metric_set m_{};              ///< in metrics(); updated by the caller's thread and the writer's
  std::unique_ptr<strata::metrics::prometheus_file> prom_;  ///< rank 0, with `.metrics_file`
  std::optional<checkpoint::detail::app_log> alog_;         ///< `.replay_log`: this rank's application log
  std::optional<checkpoint::parent_link> finalized_;  ///< eventual, rank 0: the newest version it made usable
  std::map<std::uint64_t, std::uint64_t> pending_log_;  ///< eventual: version → its log index, until usable
  checkpoint::detail::eventual_exchange<Comm> ex_;  ///< eventual: records to rank 0, manifests to the nodes
  std::mutex finalize_mu_;                          ///< eventual, rank 0: one finalize_ready at a time
  std::mutex prom_mu_;
  std::optional<Comm> wcomm_;               ///< the background writer's own communicator
  detail::dir_lock lock_;  // rank 0: released after the writer has drained
  std::unique_ptr<checkpoint::async_writer<job>> writer_;  // last: joined before the rest is destroyed
};

}  // namespace strata
