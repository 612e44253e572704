#pragma once
/// \file
/// \brief Where `node_local`'s ranks run, and the choices made from it: each rank's partner on
/// another node (L2) and the erasure groups of ranks on distinct nodes (L3). Plain values and pure
/// functions: the plans are decided here and tested without MPI.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace strata::storage::detail {

/// \brief The nodes of a job: for every rank the node it runs on (named by the node's first rank)
/// and its host, as this rank sees them.
struct node_topology {
  int rank = 0;                        ///< this rank
  std::string host;                    ///< this rank's host
  std::vector<std::uint64_t> node_of;  ///< per rank: the first rank of its node
  std::vector<std::string> hosts;      ///< per rank: its host (for messages)

  [[nodiscard]] int size() const noexcept { return static_cast<int>(node_of.size()); }
  /// \brief Node (its first rank) -> the node's ranks, ascending; nodes in the order of their first rank.
  [[nodiscard]] std::map<std::uint64_t, std::vector<int>> ranks_by_node() const {
    std::map<std::uint64_t, std::vector<int>> members;
    for (int r = 0; r < size(); ++r) members[node_of[static_cast<std::size_t>(r)]].push_back(r);
    return members;
  }
  /// \brief "rank R on HOST": how messages name this rank.
  [[nodiscard]] std::string who() const { return "rank " + std::to_string(rank) + " on " + host; }
  /// \brief "rank 0 on a, rank 2 on b, ..." (at most 8 named).
  [[nodiscard]] std::string hosts_of(std::vector<int> const& ranks) const {
    std::string out;
    for (std::size_t i = 0; i < ranks.size(); ++i) {
      if (i == 8) return out + ", ...";
      out += (i ? ", " : "") + std::string("rank ") + std::to_string(ranks[i]) + " on " +
             hosts[static_cast<std::size_t>(ranks[i])];
    }
    return out;
  }
};

/// \brief Partner copies (L2): who keeps whose shard.
struct partner_plan {
  std::vector<int> partner;  ///< per rank: the rank that keeps its copy
  std::vector<int> wards;    ///< the ranks whose copies this rank keeps
  std::string refused;       ///< why there is no plan (empty: there is one)
};

/// \brief Partner of r: the rank with r's index on the next node (cyclic), never r's own node.
inline partner_plan plan_partners(node_topology const& t) {
  partner_plan out;
  std::vector<std::uint64_t> nodes(t.node_of.begin(), t.node_of.end());
  std::ranges::sort(nodes);
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  if (nodes.size() < 2) {
    out.refused = t.who() + ": partner copies need ranks on at least two nodes; all " + std::to_string(t.size()) +
                  " ranks run on " + t.host;
    return out;
  }
  auto members = t.ranks_by_node();
  out.partner.assign(static_cast<std::size_t>(t.size()), -1);
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    auto const& mine = members[nodes[n]];
    auto const& next = members[nodes[(n + 1) % nodes.size()]];
    for (std::size_t i = 0; i < mine.size(); ++i) out.partner[static_cast<std::size_t>(mine[i])] = next[i % next.size()];
  }
  for (int r = 0; r < t.size(); ++r)
    if (out.partner[static_cast<std::size_t>(r)] == t.rank) out.wards.push_back(r);
  return out;
}

/// \brief This rank's erasure group (L3).
struct group_plan {
  std::vector<int> ranks;         ///< the group's ranks, in member order
  std::size_t id = 0;             ///< which group
  std::size_t member = 0;         ///< this rank's index in `ranks`
  std::size_t parity_chunks = 0;  ///< m: parity chunks per stripe
  std::string refused;            ///< why the ranks cannot be grouped (empty: they can)
};

/// \brief Erasure groups: ranks ordered by (index within node, node), cut into ceil(n / group_size)
/// consecutive groups of near-equal size; every group on distinct nodes, with room for the parity.
/// `code` names the redundancy in messages; `m` is the parity chunks per stripe; `group_size` 0 is
/// the number of nodes, at most 8.
inline group_plan plan_groups(node_topology const& t, std::string_view code, std::size_t m, std::size_t group_size) {
  group_plan out;
  auto const refuse = [&](std::string why) {
    out.refused = std::move(why);
    return out;
  };
  std::string const what = t.who() + ": node_local " + std::string(code) + " redundancy";
  if (m < 1) return refuse(what + ": parity must be at least 1 (it is the number of members a group may lose)");
  auto const members = t.ranks_by_node();  // node (its first rank) -> its ranks, ascending
  std::vector<int> firsts;
  std::size_t widest = 0;
  for (auto const& [node, ranks] : members) {
    firsts.push_back(ranks.front());
    widest = std::max(widest, ranks.size());
  }
  std::size_t const nodes = members.size();
  std::string const spread = nodes == 1 ? "all " + std::to_string(t.size()) + " ranks run on " + t.hosts[0]
                                        : "the " + std::to_string(t.size()) + " ranks run on " + std::to_string(nodes) +
                                              " nodes (first ranks: " + t.hosts_of(firsts) + ")";
  if (nodes < m + 1)
    return refuse(what + " needs ranks on at least " + std::to_string(m + 1) + " nodes (a group's members are on distinct "
                  "nodes, and " + std::to_string(m) + " parity chunk(s) per stripe need at least " + std::to_string(m + 1) +
                  " members); " + spread);
  std::size_t const g = group_size ? group_size : std::min<std::size_t>(nodes, 8);
  if (g < m + 1)
    return refuse(what + ": group_size " + std::to_string(g) + " leaves no data chunk beside " + std::to_string(m) +
                  " parity chunk(s) per stripe; it must be at least " + std::to_string(m + 1));
  if (g > 256) return refuse(what + ": group_size " + std::to_string(g) + " is above 256 (the code works over GF(2^8))");
  if (g > nodes)
    return refuse(what + ": group_size " + std::to_string(g) + " needs ranks on at least " + std::to_string(g) +
                  " nodes (a group's members are on distinct nodes); " + spread);
  std::vector<int> order;
  for (std::size_t i = 0; i < widest; ++i)
    for (auto const& [node, ranks] : members)
      if (i < ranks.size()) order.push_back(ranks[i]);
  std::size_t const n = order.size(), groups = (n + g - 1) / g, base = n / groups, extra = n % groups;
  for (std::size_t gi = 0, at = 0; gi < groups; ++gi) {
    std::size_t const len = base + (gi < extra ? 1 : 0);
    std::vector<int> grp(order.begin() + static_cast<std::ptrdiff_t>(at), order.begin() + static_cast<std::ptrdiff_t>(at + len));
    at += len;
    if (len < m + 1)
      return refuse(what + ": group " + std::to_string(gi) + " would have " + std::to_string(len) + " member(s) (" +
                    t.hosts_of(grp) + "), fewer than the " + std::to_string(m + 1) + " that " + std::to_string(m) +
                    " parity chunk(s) per stripe need; use a smaller group_size or more ranks");
    for (std::size_t a = 0; a < grp.size(); ++a)
      for (std::size_t b = a + 1; b < grp.size(); ++b)
        if (t.node_of[static_cast<std::size_t>(grp[a])] == t.node_of[static_cast<std::size_t>(grp[b])])
          return refuse(what + ": ranks " + std::to_string(grp[a]) + " and " + std::to_string(grp[b]) + " (both on " +
                        t.hosts[static_cast<std::size_t>(grp[a])] + ") would be in group " + std::to_string(gi) + " of " +
                        std::to_string(len) + ", whose members must be on distinct nodes: the ranks are spread "
                        "unevenly over the nodes (" + spread + "); use a smaller group_size or as many ranks on every node");
    if (auto it = std::ranges::find(grp, t.rank); it != grp.end()) {
      out.ranks = grp;
      out.id = gi;
      out.member = static_cast<std::size_t>(it - grp.begin());
      out.parity_chunks = m;
    }
  }
  return out;
}

}  // namespace strata::storage::detail
