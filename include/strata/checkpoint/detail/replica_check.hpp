#pragma once
/// \file
/// \brief The cross-rank state check after a restore (SPEC R10d): the ranks compare hashes of the
/// regions protected `strata::replicated`; a rank whose copy differs from the majority's is named
/// and repaired from a rank of the majority; without a majority the restore fails on every rank.
/// Also the comparison of a user-supplied digest (`checkpointer::compare_state`). Not a public header.

#include <strata/checkpoint/log.hpp>
#include <strata/checkpoint/state_agreement.hpp>
#include <strata/comm/concepts.hpp>
#include <strata/detail/hash.hpp>
#include <strata/detail/process_probe.hpp>
#include <strata/error.hpp>
#include <strata/snapshot/shard.hpp>
#include <strata/state/registry.hpp>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace strata::checkpoint {

namespace detail {

inline std::string rank_list(std::vector<int> const& ranks) {
  std::string s = ranks.size() == 1 ? "rank " : "ranks ";
  for (std::size_t i = 0; i < ranks.size(); ++i) s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

inline std::string hex64(std::uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

/// The ranks' values of one digest (`all` from an all-gather): which ranks differ from the value held
/// by more than half of them. Without such a value, throws `restore_error` naming every group
/// (the same on every rank: each sees the same gathered values).
inline state_agreement majority(std::vector<std::uint64_t> const& all, std::string const& what) {
  state_agreement out;
  std::optional<std::uint64_t> winner;
  for (std::size_t i = 0; i < all.size() && !winner; ++i) {
    std::size_t n = 0;
    for (auto h : all) n += h == all[i];
    if (2 * n > all.size()) winner = all[i];
  }
  if (!winner) {
    std::string groups;
    std::vector<bool> seen(all.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (seen[i]) continue;
      std::vector<int> ranks;
      for (std::size_t j = i; j < all.size(); ++j)
        if (all[j] == all[i]) {
          seen[j] = true;
          ranks.push_back(static_cast<int>(j));
        }
      groups += (groups.empty() ? "" : "; ") + rank_list(ranks) + " hold " + hex64(all[i]);
    }
    throw restore_error(what + " differs across the " + std::to_string(all.size()) +
                        " ranks and no copy is held by a majority (" + groups +
                        "): strata does not pick one; find which ranks are right before going on");
  }
  bool found = false;
  for (std::size_t r = 0; r < all.size(); ++r) {
    if (all[r] != *winner) out.differing.push_back(static_cast<int>(r));
    else if (!found) {
      out.source = static_cast<int>(r);
      found = true;
    }
  }
  return out;
}

/// Elements in `bytes` bytes of a region shaped like `info`.
inline std::uint64_t payload_count(state::region_info const& info, std::uint64_t bytes) {
  return info.elem_size ? bytes / info.elem_size : bytes;
}

/// Collective after version `v` was loaded on the same rank count: every replicated region's loaded
/// bytes (`payload_of(name)`) hashed and compared; a differing copy is reloaded from the majority's
/// source rank, with a warning on that rank (naming its host) and on rank 0. \returns the regions repaired.
template <comm::communicator Comm, class PayloadOf>
std::uint64_t check_replicas(Comm const& c, state::registry& reg, std::uint64_t v, logger const& log,
                             PayloadOf&& payload_of) {
  if (c.size() == 1) return 0;
  std::vector<state::region*> replicas;
  std::string names;
  for (auto const& r : reg)
    if (reg.layout_of(r->info().name).how == state::layout::kind::replicated) {
      replicas.push_back(r.get());
      names += r->info().name + '\n';
    }
  auto const name_sets = c.all_gather(strata::detail::xxh3(names));
  for (auto h : name_sets)
    if (h != name_sets[0])
      throw restore_error("after restoring version " + std::to_string(v) +
                          ", the ranks protect different sets of strata::replicated regions (rank 0's hash " +
                          hex64(name_sets[0]) + "); every rank must protect the same replicated regions in the same order");
  std::uint64_t repaired = 0;
  for (auto* r : replicas) {
    auto const info = r->info();
    std::span<const std::byte> const mine = payload_of(info.name);
    auto const what = "replicated region '" + info.name + "' of version " + std::to_string(v);
    auto const agreement = majority(c.all_gather(strata::detail::xxh3(mine)), what);
    if (agreement.agreed()) continue;
    ++repaired;
    // The source's saved element count, then its bytes, to every rank (only the differing ones load them).
    std::uint64_t shape[2] = {info.count, mine.size()};
    if (c.rank() == agreement.source) shape[0] = payload_count(info, mine.size());
    c.broadcast(std::as_writable_bytes(std::span(shape)), agreement.source);
    std::vector<std::byte> bytes(c.rank() == agreement.source ? 0 : static_cast<std::size_t>(shape[1]));
    if (c.rank() == agreement.source) bytes.assign(mine.begin(), mine.end());
    c.broadcast(std::span(bytes), agreement.source);
    bool me = false;
    for (int d : agreement.differing) me = me || d == c.rank();
    if (me) {
      auto saved = info;
      saved.count = shape[0];
      r->load(saved, bytes);
      log.warn(what + " differed here (host " + strata::detail::host_name() + ") from the copy of the majority; "
               "repaired from rank " + std::to_string(agreement.source));
    }
    if (c.rank() == 0)
      log.warn(what + ": " + rank_list(agreement.differing) + " held a copy that differs from the majority's; repaired from rank " +
               std::to_string(agreement.source));
  }
  return repaired;
}

}  // namespace detail
}  // namespace strata::checkpoint
