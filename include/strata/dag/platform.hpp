#pragma once
/// \file
/// \brief `dag::platform`: the ranks a graph is placed on (kind, memory limit, node) and the cost of moving bytes.

#include <strata/elastic/topology.hpp>
#include <strata/error.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace strata::dag {

/// \brief No memory limit.
inline constexpr std::uint64_t unlimited = std::numeric_limits<std::uint64_t>::max();

/// \brief One rank as placement sees it.
struct rank_desc {
  std::string kind = "cpu";                ///< selects the task costs that apply
  std::uint64_t memory_limit = unlimited;  ///< bytes of task memory the rank may hold
  int node = 0;                            ///< transfers inside a node are cheaper
  friend bool operator==(rank_desc const&, rank_desc const&) = default;
};

/// \brief The ranks and a latency / bandwidth model of the links between them.
///
/// \code
/// auto pf = strata::dag::platform::from_topology(strata::elastic::topology::discover(world), 1ull << 30);
/// \endcode
struct platform {
  std::vector<rank_desc> ranks;
  double latency_s = 2e-6;           ///< per message
  double bandwidth_Bps = 10e9;       ///< between nodes
  double node_bandwidth_Bps = 40e9;  ///< between ranks of one node

  [[nodiscard]] int size() const noexcept { return static_cast<int>(ranks.size()); }
  /// \brief Seconds to move `bytes` from rank `a` to rank `b` (0 on the same rank).
  [[nodiscard]] double transfer_time(int a, int b, std::uint64_t bytes) const {
    if (a == b) return 0.0;
    bool const near = ranks.at(static_cast<std::size_t>(a)).node == ranks.at(static_cast<std::size_t>(b)).node;
    return latency_s + static_cast<double>(bytes) / (near ? node_bandwidth_Bps : bandwidth_Bps);
  }
  /// \brief The distinct rank kinds, in order of first appearance.
  [[nodiscard]] std::vector<std::string> kinds() const {
    std::vector<std::string> k;
    for (auto const& r : ranks)
      if (std::find(k.begin(), k.end(), r.kind) == k.end()) k.push_back(r.kind);
    return k;
  }
  /// \brief `ranks` identical ranks on one node.
  static platform uniform(int ranks, std::uint64_t memory_limit = unlimited, std::string kind = "cpu") {
    if (ranks < 1) throw usage_error("dag::platform: needs at least one rank, got " + std::to_string(ranks));
    platform p;
    p.ranks.assign(static_cast<std::size_t>(ranks), rank_desc{std::move(kind), memory_limit, 0});
    return p;
  }
  /// \brief One rank per rank of `topo`, with its node and kind.
  static platform from_topology(elastic::topology const& topo, std::uint64_t memory_limit = unlimited) {
    platform p;
    for (int r = 0; r < topo.size(); ++r) p.ranks.push_back({topo.kind_of(r), memory_limit, topo.node_of(r)});
    return p;
  }
  friend bool operator==(platform const&, platform const&) = default;
};

}  // namespace strata::dag
