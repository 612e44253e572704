#pragma once
/// \file
/// \brief The commit path of `checkpointer_core`: precheck, encode, stage, the background writer's
/// jobs, the coordinated write-vote-record, publication of the record, metrics and retention.
/// Definitions of members declared in `checkpoint/detail/checkpointer_core.hpp` (not a public header).

#include <strata/checkpoint/detail/checkpointer_core.hpp>

namespace strata {

STRATA_CORE_TEMPLATE
auto STRATA_CORE::checkpoint_impl(checkpoint::urgency u) -> std::uint64_t {
  using sec = std::chrono::duration<double>;
  auto const t0 = trigger::clock::now();
  ++checkpoints_started_;
  if (!next_version_) discover_next_version();
  auto const v = *next_version_;
  std::optional<typename writer_type::lock_type> slot;  // async: the writer's queue, held through the vote
  std::optional<checkpoint::detail::frozen_state> early;  // async: the copy, made while the vote was in flight
  // The log's mark (a protected region) says which entries this version includes: stamped before any
  // copy is made. A refused version leaves it ahead of the last commit, which only a restore reads.
  std::uint64_t const log_index = alog_ ? alog_->stamp() : 0;
  bool const supersede = vote_before(v, slot, early);  // throws on every rank when any cannot go on
  next_version_ = v + 1;  // a failed attempt never reuses its number: its leftovers are not history
  if (writer_) make_room(*slot, supersede);
  slot.reset();  // take_buffer and push lock the queue themselves
  job j{.version = v, .step = step_, .created_unix_ms = manifest::now_unix_ms()};
  // Async: the application thread only copies its state; the writer encodes the copy (run_job).
  if (writer_) j.frozen = early ? std::move(early) : checkpoint::detail::freeze(registry_, writer_->take_buffer());
  else take_encoding(j, encode(comm_, registry_, v));
  j.log_index = log_index;
  auto const t1 = trigger::clock::now();
  j.encode_seconds = sec(t1 - t0).count();

  if (writer_) {
    std::uint64_t bytes = j.frozen->bytes();
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::encode(Comm const& c, state::registry& reg, std::uint64_t v) -> encoding {
  // A version that also goes to a slower level (storage::multilevel) starts a new chain: restorable
  // from that level alone, with no dependency kept only on the faster one (issue 9, item 5).
  if constexpr (snapshot::chained<Snapshot> && requires { opt_.storage.flushed(v); })
    if (opt_.storage.flushed(v)) opt_.snapshot.reset();
  // A strategy that would rather write a base than a delta nearly as large as the state
  // (snapshot::incremental's rebase_fraction) is asked on every rank: one manifest records one
  // chain for all ranks, so if one wants a base, all start a new chain (issue 10, item 8).
  if constexpr (snapshot::rebasing<Snapshot>)
    if (!eventual() && snapshot::asks_base(opt_.snapshot)) {  // eventual: no agreement, chains by max_chain alone
      std::uint64_t const want = opt_.snapshot.wants_base(reg) ? 1 : 0;
      if (c.all_reduce(want, comm::reduce_op::max) != 0) opt_.snapshot.reset();
    }
  snapshot::shard_id const id{v, static_cast<std::uint32_t>(c.rank()), static_cast<std::uint32_t>(c.size())};
  encoding e{opt_.snapshot.encode(reg, id), {}, std::nullopt};
  if constexpr (snapshot::chained<Snapshot>) e.depends_on = opt_.snapshot.depends_on();
  if constexpr (requires(Snapshot const& sn) {
                  sn.last_dirty_bytes();
                  sn.last_protected_bytes();
                }) {
    auto const total = opt_.snapshot.last_protected_bytes();
    if (snapshot::measures_change(opt_.snapshot))  // an erased strategy (snapshot::any) says at run time
      e.change = total ? static_cast<double>(opt_.snapshot.last_dirty_bytes()) / static_cast<double>(total) : 0.0;
  }
  return e;
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::take_encoding(job& j, encoding e) -> void {
  j.shard = std::move(e.shard);
  j.depends_on = std::move(e.depends_on);
  if (!e.change) return;
  if (writer_) {  // the writer's thread: the caller's tells the trigger at its next step
    std::lock_guard g{mu_};
    change_seen_ = e.change;
  } else {
    observe_change(*e.change);
  }
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::observe_change([[maybe_unused]] double fraction) -> void {
  if constexpr (requires(Trigger& t) { t.observe_change(0.0); }) opt_.trigger.observe_change(fraction);
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::observe_background_change() -> void {
  if constexpr (requires(Trigger& t) { t.observe_change(0.0); }) {
    std::optional<double> c;
    {
      std::lock_guard g{mu_};
      c = std::exchange(change_seen_, std::nullopt);
    }
    if (c) observe_change(*c);
  }
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::vote_before(std::uint64_t v, std::optional<typename writer_type::lock_type>& slot,
                              std::optional<checkpoint::detail::frozen_state>& early) -> bool {
  auto periodic_waiting = [&] {
    auto const w = writer_->waiting(*slot);
    return w && *w == checkpoint::urgency::periodic;
  };
  // Eventual: no collective; this rank's problems are its own, and no superseding (every rank writes
  // every version, so that one completes).
  if (eventual()) {
    if (writer_) report_writer_failure();
    precheck(v);
    if (writer_) slot.emplace(writer_->hold());
    return false;
  }
  // One all-reduce of three counts of ranks, 21 bits each: ranks with a problem (a background failure,
  // too little room), ranks with something protected, ranks holding a periodic version unstarted.
  constexpr unsigned bits = 21;
  constexpr std::uint64_t mask = (std::uint64_t{1} << bits) - 1;
  if (static_cast<std::uint64_t>(comm_.size()) <= mask) {
    bool const failed = writer_ && writer_->failure().has_value();
    std::string const why = room_problem(v);
    if (writer_) slot.emplace(writer_->hold());  // no writer starts the waiting version during the vote
    std::uint64_t const mine = std::uint64_t{failed || !why.empty()} | std::uint64_t{!registry_.empty()} << bits |
                               std::uint64_t{writer_ && periodic_waiting()} << 2 * bits;
    std::uint64_t all = 0;
    if constexpr (comm::nonblocking_reduce_communicator<Comm>) {
      auto vote = comm_.start_all_reduce(mine, comm::reduce_op::sum);
      // Async with no job waiting here: no superseding (that takes a waiting version on every rank)
      // and no wait for the slot, so the copy is made while the vote is in flight. The ranks' skew
      // (the last one to reach the vote) is spent copying rather than waiting, which matters where
      // ranks share cores. The queue is unlocked for the copy: only this thread pushes.
      if (writer_ && !writer_->waiting(*slot)) {
        slot.reset();
        early = checkpoint::detail::freeze(registry_, writer_->take_buffer());
        all = vote.wait();
        slot.emplace(writer_->hold());
      } else {
        all = vote.wait();
      }
    } else {
      all = comm_.all_reduce(mine, comm::reduce_op::sum);
    }
    if ((all & mask) == 0 && ((all >> bits) & mask) != 0)
      return ((all >> 2 * bits) & mask) == static_cast<std::uint64_t>(comm_.size());
    slot.reset();  // something is wrong somewhere: the votes below say what, on every rank, and throw
    if (early) writer_->give_buffer(std::move(early->buffer)), early.reset();
  }
  if (writer_) report_writer_failure();
  precheck(v);
  if (!writer_) return false;
  slot.emplace(writer_->hold());
  return comm_.all_reduce(std::uint64_t{periodic_waiting()}, comm::reduce_op::min) != 0;
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::make_room(typename writer_type::lock_type& l, bool replace) -> void {
  if (replace) {
    auto old = writer_->take_waiting(l);
    l.unlock();  // never encoded (the writer encodes a job when it starts it): nothing to abandon
    m_.superseded->add();
    if (comm_.rank() == 0)
      log_.info("writer behind: staged version " + std::to_string(old->version) + " superseded before it was written");
    writer_->give_buffer(std::move(old->frozen->buffer));
    return;
  }
  writer_->wait_for_slot(l);
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::report_writer_failure() -> void {
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::run_job(job& j) -> void {
  using sec = std::chrono::duration<double>;
  auto const t0 = trigger::clock::now();
  // The copy the caller froze, encoded here: hashing, deltas and compression off its thread.
  take_encoding(j, encode(*wcomm_, j.frozen->regions, j.version));
  {
    std::lock_guard g{mu_};
    if (stats_.version == j.version) stats_.bytes = j.shard.bytes();  // unless the caller staged a newer one
  }
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
  writer_->give_buffer(std::move(j.frozen->buffer));
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::settle_flush(Comm const& c, bool wait) -> void {
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::commit_job(Comm const& c, job& j) -> void {
  if (eventual()) return commit_own(j);
  if constexpr (!std::is_same_v<Consistency, consistency::eventual>) commit_coordinated(c, j);
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::commit_coordinated(Comm const& c, job& j) -> void {
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::publish(Comm const& c, job const& j, std::string const& id, std::string record) -> void {
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::watch_commit(Comm const& c, job const& j) const -> std::unique_ptr<checkpoint::detail::progress_watch> {
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::note_commit(Comm const& c, job const& j, double commit_seconds) -> void {
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::write_metrics_file(bool force) -> void {
  std::lock_guard g{prom_mu_};  // the caller's thread and the background writer's
  if (!prom_) return;
  try {
    if (force) prom_->write();
    else prom_->tick();
  } catch (std::exception const& e) {
    log_.warn(e.what());
  }
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::discover_next_version() -> void {
  auto const l = opt_.storage.list();
  std::uint64_t const highest = l.all.empty() ? 0 : l.all.back();
  // Never below a number already handed out: traces of lost attempts may have been removed since.
  next_version_ = std::max(next_version_.value_or(1), comm_.all_reduce(highest, comm::reduce_op::max) + 1);
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::room_problem(std::uint64_t v) const -> std::string {
  std::uint64_t need = 0;
  for (auto const& r : registry_) need += r->info().bytes();
  if (auto free = opt_.check_free_space ? opt_.storage.free_bytes() : std::nullopt;
      free && *free < need + need / 64 + (64u << 10))
    return "rank " + std::to_string(comm_.rank()) + ": " + opt_.directory.string() + " has " +
           std::to_string(*free >> 20) + " MiB free, version " + std::to_string(v) + " needs about " +
           std::to_string((need >> 20) + 1) + " MiB";
  return {};
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::precheck(std::uint64_t v) -> void {
  try {
    precheck_or_throw(v);
  } catch (...) {
    m_.failed->add();
    throw;
  }
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::precheck_or_throw(std::uint64_t v) -> void {
  if ((eventual() ? std::uint64_t{registry_.size()} : comm_.all_reduce(std::uint64_t{registry_.size()}, comm::reduce_op::sum)) == 0)
    throw usage_error("checkpoint version " + std::to_string(v) + ": nothing is protected on " +
                      (eventual() ? "rank " + std::to_string(comm_.rank()) : std::string("any rank")));
  std::string const why = room_problem(v);
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::relative_location(std::uint64_t v, int r) const -> std::string {
  auto const full = std::filesystem::path(opt_.storage.shard_location(v, r));
  auto rel = full.lexically_relative(opt_.directory);
  return rel.empty() ? full.string() : rel.string();
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::remember_commit(Comm const& c, std::uint64_t v, std::string const& id, std::string const& record_on_rank0) -> void {
  // Rank 0 built the record; the others learn its hash, which the next version's manifest chains to.
  std::uint64_t h = c.rank() == 0 ? detail::xxh3(record_on_rank0) : 0;
  c.broadcast(std::as_writable_bytes(std::span(&h, 1)), 0);
  std::lock_guard g{mu_};
  parent_ = checkpoint::parent_link{v, id, h};
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::dependencies(std::vector<std::uint64_t> const& committed) -> retention::dependency_map {
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::to_retire(std::vector<std::uint64_t> const& committed) -> std::vector<std::uint64_t> {
  auto const deps = dependencies(committed);
  std::vector<std::uint64_t> doomed;
  if constexpr (retention::dependency_aware<Retention>) doomed = opt_.retention.retire(committed, deps);
  else doomed = opt_.retention.retire(committed);
  return retention::protect_dependencies(committed, std::move(doomed), deps);  // whatever the policy says
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::retire(Comm const& c) -> void {
  auto const l = opt_.storage.list();
  auto committed = l.committed;
  std::vector<std::uint64_t> doomed;
  if (c.rank() == 0) doomed = to_retire(committed);
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

}  // namespace strata
