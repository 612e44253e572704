#pragma once
/// \file
/// \brief `consistency::eventual` in `checkpointer_core`: each rank writes and records its own shard,
/// rank 0 makes usable what every rank recorded (the messages: `eventual_exchange.hpp`), each rank
/// retires on its own; settling at wait, destruction and restore.
/// Definitions of members declared in `checkpoint/detail/checkpointer_core.hpp` (not a public header).

#include <strata/checkpoint/detail/checkpointer_core.hpp>

namespace strata {

STRATA_CORE_TEMPLATE
auto STRATA_CORE::sayer() -> storage::alone::sayer {
  return [this](std::string const& text, bool warning) { warning ? log_.warn(text) : log_.info(text); };
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::pump() -> void {
  if (ex_.idle(opt_.storage)) return;  // nothing can arrive (no messages, no copies to take in)
  if (ex_.pump(opt_.storage, sayer()) && comm_.rank() == 0) finalize_ready();
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::commit_own(job& j) -> void {
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
  std::optional<storage::listing> seen;
  if (r == 0) seen = finalize_ready();
  retire_own(std::move(seen));
  if (r == 0)
    log_.info("rank 0 recorded version " + std::to_string(v) + " at step " + std::to_string(j.step) +
              " (eventual: usable once every rank has recorded it)");
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::finalize_ready() -> std::optional<storage::listing> {
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
  if (recs.empty()) return std::nullopt;
  auto l = opt_.storage.list();
  auto const committed = l.committed;
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
      return l;
    }
    l.committed.insert(std::ranges::upper_bound(l.committed, v), v);
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
  return l;
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::retire_own(std::optional<storage::listing> seen) -> void {
  auto const l = seen ? std::move(*seen) : opt_.storage.list();
  auto const& committed = l.committed;
  auto const r = comm_.rank();
  auto const doomed = to_retire(committed);
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::settle_eventual(bool at_restore) -> void {
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
  retire_own(std::nullopt);
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::warn_unfinished_eventual() -> void {
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

}  // namespace strata
