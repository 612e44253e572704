#pragma once
/// \file
/// \brief `strata::checkpointer_core`: the commit path, the restore path and everything they keep,
/// behind the `strata::checkpointer` handle (see checkpoint/checkpointer.hpp). Not a public header.

#include <strata/checkpoint/checkpointer.hpp>
#include <strata/checkpoint/async_writer.hpp>
#include <strata/checkpoint/detail/app_log.hpp>
#include <strata/checkpoint/detail/eventual_exchange.hpp>
#include <strata/checkpoint/detail/frozen_state.hpp>
#include <strata/checkpoint/detail/step_agreement.hpp>
#include <strata/checkpoint/fault_points.hpp>
#include <strata/checkpoint/detail/layout_table.hpp>
#include <strata/checkpoint/detail/option_checks.hpp>
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
    std::string why = checkpoint::detail::misused_option(opt_, comm_);
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
    if (why.empty() && opt_.async) why = checkpoint::detail::thread_support_problem<Comm>();
    if (why.empty() && opt_.replay_log) why = open_app_log();
    if (auto a = comm::agree(comm_, why.empty() ? 0 : 1, why); !a) throw usage_error(a.reason);
    if (eventual()) {  // collective: where records are read, and whether they and manifests travel
      storage::alone::open(opt_.storage);  // what the storage needs to write alone (node_local: partner mailbox)
      bool const replicas =
          comm_.all_reduce(std::uint64_t{!storage::alone::commit_replicas(opt_.storage).empty()}, comm::reduce_op::max) != 0;
      why = ex_.open(comm_, opt_.directory, replicas);
      if (auto a = comm::agree(comm_, why.empty() ? 0 : 1, why); !a) throw usage_error(a.reason);
    }
    if (alog_) registry_.protect(checkpoint::detail::log_region_name, alog_->mark());
    if (eventual()) discover_next_version();  // now, while collective: a checkpoint must not need the others
    if (opt_.async) {
      wcomm_.emplace(checkpoint::detail::duplicate_for_writer(comm_));
      writer_ = std::make_unique<writer_type>([this](job& j) { run_job(j); });
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

  /// \brief Protects the region made for an object by `checkpointer::protect` (Thrust data with
  /// its block work attached when the strategy hashes blocks on the data's system).
  void protect_region(std::string name, std::unique_ptr<state::region> r, bool range, state::layout how) {
    if (hidden_region(name)) throw usage_error("protect: the name '" + name + "' is reserved by strata");
    registry_.add(name, std::move(r), range, how);
    if (how.how != state::layout::kind::per_rank) refresh_layouts();
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
    if (writer_ && !staging_prepared_) prepare_staging();
    if (eventual()) pump();
    if (writer_) observe_background_change();
    bool const agree_due = trigger::needs_agreement(opt_.trigger);
    bool const check = checks_preemption_at(i);
    // No collective when the trigger is deterministic (a constant, or `t.deterministic()` at run time)
    // and pre-emption is not checked now.
    if (!agree_due && !check) return periodic_if(opt_.trigger.due(i, trigger::clock::now()));
    // One sum serves both: ranks due, ranks signalled (detail/step_agreement.hpp: with comm::mpi one
    // step late, so the verdict acted on first is the previous collective step's).
    bool taken = false;
    if (agreement_.lagged && act_on(agreement_.take(checkpoints_started_), agree_due, taken)) return true;
    bool const due = opt_.trigger.due(i, trigger::clock::now());  // after a checkpoint taken above: its record
    agreement_.start(comm_, agree_due && due, check && listener_->pending() != 0, checkpoints_started_);
    if (!agreement_.lagged && act_on(agreement_.take(checkpoints_started_), agree_due, taken)) return true;
    if (!agree_due) taken = periodic_if(due) || taken;
    return taken;
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
    std::optional<checkpoint::detail::frozen_state> frozen;  ///< async: the state as the caller froze it
  };
  using writer_type = checkpoint::async_writer<job, strata::detail::staging_buffer>;
  /// What the strategy made of the state: the shard, its chain, the fraction that changed.
  struct encoding {
    snapshot::encoded_shard shard;
    std::vector<std::uint64_t> depends_on;
    std::optional<double> change;  ///< dirty / protected bytes, from a strategy that measures it
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

  /// Whether step `i` asks the ranks about pre-emption signals; listening starts at the first step.
  /// Takes a periodic checkpoint when `due`. \returns `due`.
  bool periodic_if(bool due) {
    if (due) checkpoint_impl(checkpoint::urgency::periodic);
    return due;
  }
  /// Acts on a step agreement's verdict: the pre-emption checkpoint and stop (\returns true), or the
  /// periodic checkpoint an agreed trigger asks for (`taken` set).
  bool act_on(std::optional<typename checkpoint::detail::step_agreement<Comm>::verdict> v, bool agree_due, bool& taken) {
    if (!v) return false;
    if (v->signalled) {
      stop_for_preemption();
      return true;
    }
    if (agree_due && v->due) taken = periodic_if(true) || taken;
    return false;
  }
  /// Async, at the first step with something protected: the writer's thread allocates and faults in
  /// a staging buffer of about the protected size while the application computes, so that the
  /// first checkpoint blocks for the copy only, as the later ones (which reuse their buffers).
  void prepare_staging() {
    std::size_t const bytes = checkpoint::detail::frozen_size_hint(registry_);
    if (!bytes) return;
    staging_prepared_ = true;
    writer_->prepare([bytes] {
      strata::detail::staging_buffer b;
      b.prefault(bytes);
      return b;
    });
  }
  bool checks_preemption_at(std::uint64_t i);

  /// Collective: a signal reached some rank. Checkpoints (committed, also when async), then the
  /// signals go back to what they were before, and the run stops (or the process exits).
  void stop_for_preemption();

  /// Ends the process once the pre-emption checkpoint is committed: the threads of the checkpointer
  /// stopped, the directory lock released, MPI finalised.
  [[noreturn]] void exit_after_preemption();

  // The commit path, in named phases; the synchronous and the asynchronous path share every one:
  //   vote (collective)      no background failure, something is protected, the storage has
  //                          room, the writer's slot: one all-reduce                vote_before()
  //   freeze   (async)       the protected bytes copied out (one memcpy, device data
  //                          straight from the device), the job queued; with no job
  //                          waiting, made while the vote is in flight             freeze(), make_room()
  //   encode                 the snapshot policy encodes this rank's shard          encode()
  //   write, vote, record    the consistency protocol: shards durable, agreement,
  //                          rank 0's commit record (a version without it does not exist)
  //                                                                                 commit_job()
  //   publish                the record where the storage keeps copies, the parent link  publish()
  //   retire                 retention; leftovers of aborted attempts removed       retire()
  // Sync: all on the caller's thread. Async: the vote and freeze on the caller's thread, which is
  // all it is blocked for; encode (hashing, deltas, compression) and the rest on the writer's,
  // on its own communicator.
  std::uint64_t checkpoint_impl(checkpoint::urgency u);

  /// Encodes this rank's shard of version `v` from `reg` (the live state, or an async job's frozen
  /// copy on the writer's thread); collective on `c` when the ranks agree on a new chain.
  encoding encode(Comm const& c, state::registry& reg, std::uint64_t v);
  /// The encoding into the job; the change fraction to the trigger (from the writer: at the next step).
  void take_encoding(job& j, encoding e);
  void observe_change(double fraction);
  /// Async: the change fraction the writer measured last, to the trigger (the caller's thread).
  void observe_background_change();

  /// Collective (coordinated; eventual: this rank alone), before version `v`: a background failure
  /// on any rank, a rank that cannot write it (nothing protected anywhere, too little room), and
  /// (async) whether every rank holds a periodic version waiting unstarted, in one all-reduce; the
  /// reasons travel (more collectives) only when something is wrong, and every rank throws. Async:
  /// `slot` is the writer's queue lock, held from before the vote, so that no writer starts the
  /// waiting version meanwhile. \returns whether the waiting version is superseded.
  /// `early`: async, with no job waiting on this rank, the protected state frozen while the vote
  /// was in flight (comm::mpi); empty otherwise, and after a vote that throws.
  bool vote_before(std::uint64_t v, std::optional<typename writer_type::lock_type>& slot,
                   std::optional<checkpoint::detail::frozen_state>& early);
  /// This rank's reason it cannot write version `v` (too little room; empty: it can).
  [[nodiscard]] std::string room_problem(std::uint64_t v) const;
  /// Async, after the vote (`l` still held): frees the waiting slot. A waiting periodic version that
  /// every rank still holds unstarted is superseded by this newer one (`replace`: it is never written;
  /// its number is skipped); otherwise this blocks until the waiting one has started, i.e. behind one
  /// in flight.
  void make_room(typename writer_type::lock_type& l, bool replace);

  /// Async, collective: a failure of the background writer is reported on every rank.
  void report_writer_failure();

  void run_job(job& j);

  /// Collective on `c`: a background flush to a slower level whose copies are durable everywhere is
  /// committed there (with `wait`: waited for first).
  void settle_flush(Comm const& c, bool wait);

  /// Writes and commits one staged version through the consistency protocol on `c`, then retires.
  void commit_job(Comm const& c, job& j);

  void commit_coordinated(Comm const& c, job& j);

  /// Collective, after the commit: the record goes where the storage keeps copies of it, and every
  /// rank learns the link the next version's manifest chains to.
  void publish(Comm const& c, job const& j, std::string const& id, std::string record);

  /// Rank 0, while version j's write runs: a progress line once it takes longer than `.progress_after`.
  std::unique_ptr<checkpoint::detail::progress_watch> watch_commit(Comm const& c, job const& j) const;

  /// Collective on `c` after version j committed: this rank's figures, and those reduced over the ranks.
  void note_commit(Comm const& c, job const& j, double commit_seconds);

  /// Rank 0: `.metrics_file` rewritten (`force`: whatever `.metrics_period` says); a failure is a warning.
  void write_metrics_file(bool force);

  void discover_next_version();

  void precheck(std::uint64_t v);
  void precheck_or_throw(std::uint64_t v);

  /// Shard locations in the manifest are relative to the directory, so that it can be moved.
  std::string relative_location(std::uint64_t v, int r) const;

  void remember_commit(Comm const& c, std::uint64_t v, std::string const& id, std::string const& record_on_rank0);

  /// What each committed version depends on (rank 0 reads manifests it has not seen commit).
  retention::dependency_map dependencies(std::vector<std::uint64_t> const& committed);

  /// The versions retention retires among `committed`, never one a kept version depends on (the
  /// same decision for rank 0 of a coordinated commit and for each rank under eventual).
  std::vector<std::uint64_t> to_retire(std::vector<std::uint64_t> const& committed);

  void retire(Comm const& c);

  /// The hidden region that carries every region's layout, so that another rank count can read it.
  void refresh_layouts();

  /// Whether every protected region can move to another rank count; if not, `why` names one that cannot.
  bool resizable_state(std::string& why) const;

  /// The decoded region called `name`, or nullptr.
  static snapshot::decoded_region const* find_region(std::vector<snapshot::decoded_region> const& regions,
                                                     std::string const& name) {
    auto it = std::find_if(regions.begin(), regions.end(), [&](auto const& d) { return d.info.name == name; });
    return it == regions.end() ? nullptr : &*it;
  }

  /// Whether this rank's distributed blocks are where this rank's shard says they were saved.
  bool same_blocks(std::vector<snapshot::decoded_region> const& regions) const;
  /// Whether this rank's distributed blocks are where the table `saved` says they were saved.
  bool same_blocks(checkpoint::detail::layout_table const& saved) const;
  /// Whether this rank's blocks moved since it saved version `m`, told by its shard's index alone
  /// (nullopt: the index cannot tell; the shard read whole will).
  std::optional<bool> blocks_moved(manifest const& m);

  /// What this rank protects now, as an N→M plan needs it (the hidden layout region aside).
  [[nodiscard]] std::vector<checkpoint::detail::wanted_region> wanted_regions() const;

  /// Bytes the reader holds for `regions` decoded whole: the shards, and payloads decoded elsewhere.
  std::uint64_t held_whole(std::vector<snapshot::decoded_region> const& regions) const;

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
  consistency::verdict check_resized(std::uint64_t v, manifest const& m, std::string& why);

  void apply_resized();
  void release_resized();

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
  void note_resize(state::region_info const& now, state::region_info const& saved, std::uint64_t v);

  /// The parent's manifest, where still kept, must hash to what this manifest recorded.
  void check_chain(manifest const& m);

  /// Reads version v's commit record into what storage needs to repair its shards (nullopt: no record).
  auto expectation_reader();

  std::optional<std::uint64_t> restore_impl(std::optional<std::uint64_t> exact, checkpoint::log_replayer const* replay);

  bool eventual() const noexcept { return consistency::is_eventual(opt_.consistency); }

  /// How the storage and the record exchange report what they did: to the checkpointer's log.
  storage::alone::sayer sayer();
  /// Eventual: takes in what other ranks sent (records, manifests, partner copies), never waiting;
  /// rank 0 makes usable the versions whose last record just came.
  void pump();

  /// Eventual: this rank's shard of version j written, checked and recorded; no other rank waited for.
  void commit_own(job& j);

  /// Eventual, rank 0: writes the manifest of every version that every rank has recorded and that has
  /// none yet, oldest first. Its version vector: the newest version each rank had recorded.
  /// \returns the storage listing it read, with the versions it made usable (nullopt: nothing new).
  std::optional<storage::listing> finalize_ready();

  /// Eventual, every rank on its own: retention over the versions usable so far (as this rank sees
  /// them: the set only grows), this rank's shards and records of the retired ones and of versions
  /// that can no longer become usable removed; the application log truncated through the newest usable.
  /// (`seen`: the listing `finalize_ready` just read, to save reading it again.)
  void retire_own(std::optional<storage::listing> seen);

  /// Eventual, collective (at wait, destruction and restore): every rank's records are written (the
  /// writers drained), rank 0 makes usable what every rank holds, every rank retires on its own. At
  /// a restore, the records and shards of versions above the newest usable one are removed: the
  /// ranks that wrote them have stopped, so those versions can never be completed.
  void settle_eventual(bool at_restore);

  /// Coordinated restore of a directory an eventual run wrote: its usable versions are ordinary
  /// versions; the ones not yet made usable are named (restore with consistency::eventual to finish them).
  void warn_unfinished_eventual();

  /// Collective, before a restore changes any state: this rank's application-log entries after the
  /// restored mark can be replayed (none dropped, and a replay function given when there are any).
  void check_app_log(std::string const& restored, checkpoint::log_replayer const* replay);

  /// Collective, once the state of `v` (or the start) is loaded: the log's later entries replayed
  /// (`rollback`: set aside instead, for they belong to the history left behind).
  void replay_app_log(std::optional<std::uint64_t> v, bool rollback, checkpoint::log_replayer const* replay);

  /// Collective, once a restore chose version `v` (SPEC R5, R8): the ranks' version vector as measured
  /// now — each the newest version it found complete and valid — and, when some rank lags, which and
  /// why every rank goes back to `v` (the storage had no copy to bring that rank up: node-local levels
  /// with partner or erasure copies repair such a rank before this point).
  void note_version_vector(std::uint64_t newest_here, std::uint64_t v);

  /// Collective after version v was restored in `seconds`: this rank's figures, those reduced over the
  /// ranks, and the storage level that served this rank's shard where the storage says (node-local levels).
  void note_restore(std::uint64_t v, double seconds);

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
  checkpoint::detail::step_agreement<Comm> agreement_;  ///< the ranks' agreement at step() (one step late with MPI)
  bool staging_prepared_ = false;  ///< async: prepare_staging() asked the writer for a warm buffer
  std::uint64_t checkpoints_started_ = 0;  ///< every checkpoint_impl call, failed ones included
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
  std::optional<double> change_seen_;               ///< async: measured by the writer, not yet told the trigger (mu_)
  std::mutex prom_mu_;
  std::optional<Comm> wcomm_;               ///< the background writer's own communicator
  detail::dir_lock lock_;  // rank 0: released after the writer has drained
  std::unique_ptr<writer_type> writer_;  // last: joined before the rest is destroyed
};

}  // namespace strata

/// Out-of-class definitions of `checkpointer_core`'s members (checkpoint/detail/core/*.ipp).
#define STRATA_CORE_TEMPLATE                                                                                 \
  template <strata::comm::communicator Comm, strata::snapshot::strategy Snapshot, class Storage,             \
            strata::consistency::protocol Consistency, strata::trigger::policy Trigger,                      \
            strata::retention::policy Retention>
#define STRATA_CORE strata::checkpointer_core<Comm, Snapshot, Storage, Consistency, Trigger, Retention>

// Each part of the class by its job: the commit path, the eventual protocol, restore, pre-emption.
#include <strata/checkpoint/detail/core/commit.ipp>
#include <strata/checkpoint/detail/core/eventual.ipp>
#include <strata/checkpoint/detail/core/preemption.ipp>
#include <strata/checkpoint/detail/core/restore.ipp>
