#pragma once
/// \file
/// \brief The restore path of `checkpointer_core`: choosing the newest version every rank can rebuild,
/// the N→M executor over `resize_plan.hpp`, the chain check, the application-log replay, figures.
/// Definitions of members declared in `checkpoint/detail/checkpointer_core.hpp` (not a public header).

#include <strata/checkpoint/detail/checkpointer_core.hpp>

namespace strata {

STRATA_CORE_TEMPLATE
auto STRATA_CORE::refresh_layouts() -> void {
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::resizable_state(std::string& why) const -> bool {
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::same_blocks(std::vector<snapshot::decoded_region> const& regions) const -> bool {
  auto const* it = find_region(regions, checkpoint::detail::layout_region_name);
  if (!it) return true;  // nothing was declared when it was saved
  try {
    return same_blocks(checkpoint::detail::decode_layouts(it->payload, "saved layout"));
  } catch (error const&) {
    return false;  // let the redistribution path report it
  }
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::same_blocks(checkpoint::detail::layout_table const& saved) const -> bool {
  auto const now = checkpoint::detail::decode_layouts(std::as_bytes(std::span(layout_text_)), "this run");
  for (auto const& [name, l] : now)
    if (l.how == state::layout::kind::distributed && (!saved.count(name) || !(saved.at(name) == l))) return false;
  return true;
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::blocks_moved(manifest const& m) -> std::optional<bool> {
  if constexpr (snapshot::indexed<Snapshot>) {
    if (auto x = reader_->index(m, comm_.rank())) {
      checkpoint::detail::layout_table saved;
      for (auto const& g : x->regions) saved[g.info.name] = g.layout;
      return !same_blocks(saved);
    }
  }
  return std::nullopt;
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::wanted_regions() const -> std::vector<checkpoint::detail::wanted_region> {
  std::vector<checkpoint::detail::wanted_region> out;
  for (auto const& r : registry_) {
    auto const info = r->info();
    if (info.name != checkpoint::detail::layout_region_name)
      out.push_back({info, state::resolved(registry_.layout_of(info.name), info.count)});
  }
  return out;
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::held_whole(std::vector<snapshot::decoded_region> const& regions) const -> std::uint64_t {
  auto n = reader_->bytes_held();
  for (auto const& d : regions)
    if (!reader_->holds(d.payload)) n += d.payload.size();
  return n;
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::check_resized(std::uint64_t v, manifest const& m, std::string& why) -> consistency::verdict {
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::apply_resized() -> void {
  for (std::size_t i = 0; i < resize_plan_.fetches.size(); ++i) {
    auto const& f = resize_plan_.fetches[i];
    auto* region = registry_.find(f.region);  // planned only for regions protected now
    auto const bytes = resize_staged_[i].view();
    if (f.whole) region->load(f.saved, bytes);
    else region->load_window(f.dst, bytes);
  }
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::release_resized() -> void {
  resized_ = false;
  resize_plan_ = {};
  resize_staged_.clear();
  resize_peak_ = 0;
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::note_resize(state::region_info const& now, state::region_info const& saved, std::uint64_t v) -> void {
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::check_chain(manifest const& m) -> void {
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::expectation_reader() {
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::restore_impl(std::optional<std::uint64_t> exact, checkpoint::log_replayer const* replay) -> std::optional<std::uint64_t> {
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::check_app_log(std::string const& restored, checkpoint::log_replayer const* replay) -> void {
  std::string why = alog_->gap(restored);
  if (why.empty() && !replay)
    if (auto const n = alog_->pending())
      why = "rank " + std::to_string(comm_.rank()) + ": the application log " + alog_->path().string() + " holds " +
            std::to_string(n) + " entries appended after " + restored +
            "; restore with restore_latest(replay) to apply them, or move the log aside to drop them";
  if (auto a = comm::agree(comm_, why.empty() ? 0 : 1, why); !a) throw restore_error(a.reason);
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::replay_app_log(std::optional<std::uint64_t> v, bool rollback, checkpoint::log_replayer const* replay) -> void {
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::note_version_vector(std::uint64_t newest_here, std::uint64_t v) -> void {
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

STRATA_CORE_TEMPLATE
auto STRATA_CORE::note_restore(std::uint64_t v, double seconds) -> void {
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

}  // namespace strata
