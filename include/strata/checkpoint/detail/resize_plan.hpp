#pragma once
/// \file
/// \brief The plan of an N→M restore: which byte ranges of which old ranks' regions this rank
/// reads, and where each goes. Computed from layouts alone (no I/O, no MPI), so it can be tested
/// as a value; `shard_reader` executes it, the checkpointer applies what it read.

#include <strata/checkpoint/detail/layout_table.hpp>
#include <strata/error.hpp>
#include <strata/state/layout.hpp>
#include <strata/state/region.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace strata::checkpoint::detail {

/// \brief One region as an old rank saved it (from its shard's index, or its shard decoded whole).
struct saved_region {
  state::region_info info;
  state::layout layout;
  std::uint64_t bytes = 0;  ///< payload bytes
};
/// \brief What one old rank's shard holds.
using saved_shard = std::vector<saved_region>;

/// \brief A region this rank protects now, with its layout (distributed windows resolved).
struct wanted_region {
  state::region_info info;
  state::layout layout;
};

/// \brief One range to read: bytes `[offset, offset + bytes)` of old rank `from`'s region `region`,
/// loaded whole (a replicated region, with the info it was saved with) or into this rank's window
/// at element `dst` (a distributed one).
struct fetch {
  int from = 0;
  std::string region;
  std::uint64_t offset = 0, bytes = 0;
  bool whole = false;
  state::region_info saved;
  std::uint64_t dst = 0;
  friend bool operator==(fetch const&, fetch const&) = default;
};

/// \brief Every range this rank reads for an N→M restore, in the order they are applied.
struct resize_plan {
  std::vector<fetch> fetches;
  /// \brief The old ranks it reads from, ascending.
  [[nodiscard]] std::vector<int> sources() const {
    std::vector<int> out;
    for (auto const& f : fetches) out.push_back(f.from);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }
  /// \brief Bytes it restores (what it must hold at least until every rank agrees).
  [[nodiscard]] std::uint64_t bytes() const {
    std::uint64_t n = 0;
    for (auto const& f : fetches) n += f.bytes;
    return n;
  }
};

inline saved_region const* find_saved(saved_shard const& s, std::string const& name) {
  auto it = std::find_if(s.begin(), s.end(), [&](auto const& r) { return r.info.name == name; });
  return it == s.end() ? nullptr : &*it;
}

/// \brief Plans version `v`'s restore of `now` from the old ranks' shards `old` (index: old rank).
/// Distributed regions come from the old blocks that overlap this rank's block; replicated ones
/// (the same on every old rank) from the lowest old rank it reads anyway, else old rank 0. Throws
/// `usage_error` naming the region when that cannot work: not saved, saved with another element
/// type, layout kind or global size; `error` when the old blocks do not cover this rank's exactly once.
inline resize_plan plan_resize(std::vector<saved_shard> const& old, std::vector<wanted_region> const& now, std::uint64_t v) {
  if (old.empty()) throw error("version " + std::to_string(v) + " has no shards");
  // The region `w` as old rank `o` saved it, if it can be restored from there.
  auto saved_by = [&](wanted_region const& w, std::size_t o) -> saved_region const& {
    auto const& name = w.info.name;
    auto const* s = find_saved(old[o], name);
    if (!s)
      throw usage_error("protected region '" + name + "' is not in version " + std::to_string(v) + " of old rank " +
                        std::to_string(o));
    if (s->info.type != w.info.type || s->info.elem_size != w.info.elem_size)
      throw usage_error("cannot restore region '" + name + "': saved with element type '" + s->info.type +
                        "', protected now with '" + w.info.type + "'");
    if (s->layout.how != w.layout.how)
      throw usage_error("region '" + name + "' was saved as " + state::to_string(s->layout.how) +
                        (o ? " by old rank " + std::to_string(o) : std::string{}) + " and is protected now as " +
                        state::to_string(w.layout.how));
    return *s;
  };
  resize_plan plan;
  for (auto const& w : now) {
    if (w.layout.how == state::layout::kind::per_rank)
      throw usage_error("region '" + w.info.name + "' is per-rank state; declare it strata::distributed or "
                        "strata::replicated to restore it with blocks moved or on another rank count");
    if (w.layout.how != state::layout::kind::distributed) continue;
    auto const& mine = w.layout.block;
    std::vector<distributed> blocks;
    for (std::size_t o = 0; o < old.size(); ++o) {
      auto const& s = saved_by(w, o);
      if (s.layout.block.global_size != mine.global_size)
        throw usage_error("region '" + w.info.name + "': saved with global size " +
                          std::to_string(s.layout.block.global_size) + ", declared now with " +
                          std::to_string(mine.global_size));
      blocks.push_back(s.layout.block);
    }
    auto const elem = w.info.elem_size;
    for (auto const& p : plan_window(w.info.name, mine, blocks)) {
      auto const& s = saved_by(w, static_cast<std::size_t>(p.from));
      plan.fetches.push_back({p.from, w.info.name, p.src * elem, p.count * elem, false, s.info, p.dst});
    }
  }
  auto const sources = plan.sources();
  int const from = sources.empty() ? 0 : sources.front();
  for (auto const& w : now) {
    if (w.layout.how != state::layout::kind::replicated) continue;
    saved_by(w, 0);  // saved as it is protected now, on old rank 0 as on the one it is read from
    auto const& s = saved_by(w, static_cast<std::size_t>(from));
    plan.fetches.push_back({from, w.info.name, 0, s.bytes, true, s.info, 0});
  }
  return plan;
}

}  // namespace strata::checkpoint::detail
