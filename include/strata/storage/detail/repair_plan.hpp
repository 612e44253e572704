#pragma once
/// \file
/// \brief Which source serves each rank of `node_local` at restart: plans decided from gathered facts
/// (what every node holds, which parity survives), the same on every rank, then executed by
/// `node_local::recover`. Pure functions: no MPI call, no file read.
///
/// Order of the sources of a rank that lost its shard: its own shard on another node (L1 there), then
/// a partner copy (L2), then, when neither is left, a rebuild from its group's parity (L3).

#include <strata/storage/detail/exchange.hpp>
#include <strata/storage/detail/inventory.hpp>
#include <strata/storage/detail/parity_file.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace strata::storage::detail {

/// \brief Where rank q's shard of v can come from (holder, kind), cheapest first: its own shard on
/// another node, then partner copies.
inline std::vector<std::pair<int, file_kind>> repair_sources(inventory const& inv, std::uint64_t v, int q,
                                                             std::vector<std::uint64_t> const& node_of) {
  std::vector<std::pair<int, file_kind>> out;
  for (auto k : {file_kind::own, file_kind::partner}) {
    auto it = inv.items.find({v, k, q});
    if (it == inv.items.end()) continue;
    for (int h : it->second)
      if (node_of[static_cast<std::size_t>(h)] != node_of[static_cast<std::size_t>(q)] || k == file_kind::partner)
        out.emplace_back(h, k);
  }
  return out;
}

/// \brief One round of L1/L2 repair: the transfers, and the kind of copy each one reads.
struct repair_round {
  std::vector<transfer> plan;
  std::vector<file_kind> what;  ///< per transfer
};

/// \brief Round `round`: every rank without a valid shard (`here[q] == 0`) gets it from its
/// `round`-th source, if it has that many.
inline repair_round plan_repair_round(inventory const& inv, std::uint64_t v, std::vector<std::uint64_t> const& here,
                                      std::vector<std::uint64_t> const& node_of, std::size_t round) {
  repair_round out;
  for (int q = 0; q < static_cast<int>(here.size()); ++q) {
    if (here[static_cast<std::size_t>(q)]) continue;
    auto const src = repair_sources(inv, v, q, node_of);
    if (round >= src.size()) continue;
    out.plan.push_back({src[round].first, q, 0});
    out.what.push_back(src[round].second);
  }
  return out;
}

/// \brief Adds what rank `holder` found in rank `rank`'s parity file to `facts`, the words gathered from
/// every rank before an L3 rebuild: rank, holder, status (0 usable); if usable, code, group, g, m,
/// member, chunk, the g ranks and the m chunk flags.
inline void append_parity_fact(std::vector<std::uint64_t>& facts, int rank, int holder, parity_check const& c) {
  auto const& h = c.header;
  facts.insert(facts.end(), {std::uint64_t(rank), std::uint64_t(holder), h ? 0u : 1u});
  if (h) {
    facts.insert(facts.end(), {h->code, h->group, h->g, h->m, h->member, h->chunk});
    facts.insert(facts.end(), h->ranks.begin(), h->ranks.end());
    facts.insert(facts.end(), c.chunk_ok.begin(), c.chunk_ok.end());
  }
}

/// \brief An erasure group as the surviving parity files describe it.
struct parity_group {
  std::uint64_t code = 0, id = 0, m = 0, chunk = 0;
  std::vector<int> ranks;
  std::vector<std::vector<int>> source;  ///< [member][j]: the rank that holds a valid parity chunk j, or -1
};

/// \brief The groups that every rank's gathered `append_parity_fact` words describe.
inline std::vector<parity_group> parity_groups(std::vector<std::uint64_t> const& facts) {
  std::vector<parity_group> groups;
  for (std::size_t at = 0; at < facts.size();) {
    auto const status = facts[at + 2];
    if (status != 0) {
      at += 3;
      continue;
    }
    int const holder = static_cast<int>(facts[at + 1]);
    auto const code = facts[at + 3], id = facts[at + 4], g = facts[at + 5], m = facts[at + 6], member = facts[at + 7],
               chunk = facts[at + 8];
    std::vector<int> ranks;
    for (std::size_t q = 0; q < g; ++q) ranks.push_back(static_cast<int>(facts[at + 9 + q]));
    auto it = std::ranges::find_if(groups, [&](parity_group const& x) { return x.ranks == ranks; });
    if (it == groups.end()) {
      groups.push_back({code, id, m, chunk, ranks, std::vector<std::vector<int>>(g, std::vector<int>(m, -1))});
      it = groups.end() - 1;
    }
    if (it->code == code && it->m == m && it->chunk == chunk)  // same write (the record's sizes matched too)
      for (std::size_t j = 0; j < m; ++j)
        if (facts[at + 9 + g + j] && it->source[member][j] < 0) it->source[member][j] = holder;
    at += 9 + g + m;
  }
  return groups;
}

/// \brief The index of the group that has rank q among its members (`groups.size()`: none).
inline std::size_t group_of(std::vector<parity_group> const& groups, int q) {
  return static_cast<std::size_t>(
      std::ranges::find_if(groups, [&](parity_group const& x) { return std::ranges::find(x.ranks, q) != x.ranks.end(); }) -
      groups.begin());
}

/// \brief One chunk that travels to a rank being rebuilt.
struct parity_block {
  int to;
  std::size_t group, stripe, index;  ///< index: 0..k-1 data chunk, k.. parity chunk
  int of;                            ///< rank whose shard (data) or parity file (parity) it comes from
};

/// \brief An L3 rebuild: the transfers, the chunk each one carries, and per rank the level that
/// serves it ("L3 xor group G", "L3 rs group G"; empty: not rebuilt).
struct parity_rebuild {
  std::vector<transfer> plan;
  std::vector<parity_block> what;  ///< per transfer
  std::vector<std::string> label;  ///< per rank
  std::string refused;             ///< why some rank cannot be rebuilt (empty: every lost rank can)
};

/// \brief For each lost rank (`here[q] == 0`) of each group, each stripe holding one of its chunks, the
/// first k surviving blocks (data chunks of members with valid shards first, then parity).
inline parity_rebuild plan_parity_rebuild(std::vector<parity_group> const& groups, std::vector<std::uint64_t> const& here) {
  parity_rebuild out;
  auto const refuse = [&](std::string why) {
    out.refused = std::move(why);
    return out;
  };
  out.label.resize(here.size());
  for (int q = 0; q < static_cast<int>(here.size()); ++q) {
    if (here[static_cast<std::size_t>(q)]) continue;
    auto const gi = group_of(groups, q);
    if (gi == groups.size())
      return refuse("rank " + std::to_string(q) + " cannot be rebuilt from parity (L3): no usable parity file of its group survives");
    auto const& grp = groups[gi];
    std::size_t const g = grp.ranks.size(), m = grp.m, k = g - m;
    std::string const name = std::string(grp.code == 1 ? "xor" : "rs") + " group " + std::to_string(grp.id);
    std::vector<int> lost;
    for (int r : grp.ranks)
      if (!here[static_cast<std::size_t>(r)]) lost.push_back(r);
    if (lost.size() > m) {
      std::string list;
      for (int r : lost) list += (list.empty() ? "" : ", ") + std::to_string(r);
      return refuse(name + " lost " + std::to_string(lost.size()) + " of its " + std::to_string(g) + " members (ranks " +
                    list + "), more than the " + std::to_string(m) + " its parity can rebuild");
    }
    auto const i = static_cast<std::size_t>(std::ranges::find(grp.ranks, q) - grp.ranks.begin());
    for (std::size_t st = 0; st < g; ++st) {
      if ((i + g - st) % g < m) continue;  // q holds parity in this stripe, no data of its own
      std::vector<parity_block> have;
      for (std::size_t d = 0; d < k; ++d)
        if (int const r = grp.ranks[(st + m + d) % g]; here[static_cast<std::size_t>(r)]) have.push_back({q, gi, st, d, r});
      for (std::size_t p = 0; p < m; ++p)
        if (int const h = grp.source[(st + p) % g][p]; h >= 0) have.push_back({q, gi, st, k + p, grp.ranks[(st + p) % g]});
      if (have.size() < k)
        return refuse(name + " cannot rebuild rank " + std::to_string(q) + ": stripe " + std::to_string(st) + " has " +
                      std::to_string(have.size()) + " of the " + std::to_string(k) +
                      " chunks it needs (members lost, or parity damaged)");
      for (std::size_t b = 0; b < k; ++b) {
        auto const& x = have[b];
        int const from = x.index < k ? x.of : grp.source[(st + x.index - k) % g][x.index - k];
        out.plan.push_back({from, q, 0});
        out.what.push_back(x);
      }
    }
    out.label[static_cast<std::size_t>(q)] = "L3 " + name;
  }
  return out;
}

}  // namespace strata::storage::detail
