#pragma once
/// \file
/// \brief `elastic::topology`: which rank runs on which node and on which kind of device (SPEC S8).
///
/// Used for placement (DAG placement prices transfers inside a node lower than
/// between nodes) and for partner choice (a partner on another node survives
/// the loss of this one).

#include <strata/comm/mpi.hpp>
#include <strata/error.hpp>

#include <mpi.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace strata::elastic {

/// \brief Ranks grouped by node (`MPI_Comm_split_type` shared memory), with a device kind per rank.
///
/// \code
/// auto topo = strata::elastic::topology::discover(world, "gpu");
/// int partner = topo.partner_of(world.rank());   // on another node when there is one
/// \endcode
class topology {
 public:
  /// \brief `node_of_rank[r]` is the node of rank r (any integers; renumbered 0.. by first appearance);
  /// `kind_of_rank` defaults to "cpu" everywhere.
  explicit topology(std::vector<int> node_of_rank, std::vector<std::string> kind_of_rank = {})
      : kind_(std::move(kind_of_rank)) {
    std::map<int, int> renumber;
    node_.reserve(node_of_rank.size());
    for (int n : node_of_rank) node_.push_back(renumber.try_emplace(n, static_cast<int>(renumber.size())).first->second);
    nodes_ = static_cast<int>(renumber.size());
    if (kind_.empty()) kind_.assign(node_.size(), "cpu");
    if (kind_.size() != node_.size())
      throw usage_error("elastic::topology: " + std::to_string(kind_.size()) + " device kinds for " +
                        std::to_string(node_.size()) + " ranks");
  }

  /// \brief Discovers the nodes of `world`'s ranks with `MPI_Comm_split_type` (collective);
  /// `kind` is this rank's device kind (e.g. "cpu", "gpu").
  static topology discover(comm::mpi const& world, std::string_view kind = "cpu") {
    auto const node = world.split_shared();
    // A node is named by the lowest world rank on it.
    auto const leader = node.all_reduce(static_cast<std::uint64_t>(world.rank()), comm::reduce_op::min);
    auto const leaders = world.all_gather(leader);
    constexpr std::size_t width = 64;
    if (kind.size() >= width) throw usage_error("elastic::topology: device kind '" + std::string(kind) + "' is too long");
    std::vector<char> mine(width, '\0'), all(width * static_cast<std::size_t>(world.size()));
    std::ranges::copy(kind, mine.begin());
    comm::detail::check_mpi(MPI_Allgather(mine.data(), static_cast<int>(width), MPI_CHAR, all.data(),
                                          static_cast<int>(width), MPI_CHAR, world.native()),
                            "MPI_Allgather (topology kinds)");
    std::vector<int> nodes(leaders.begin(), leaders.end());
    std::vector<std::string> kinds;
    for (int r = 0; r < world.size(); ++r) kinds.emplace_back(all.data() + static_cast<std::size_t>(r) * width);
    return topology(std::move(nodes), std::move(kinds));
  }

  [[nodiscard]] int size() const noexcept { return static_cast<int>(node_.size()); }
  [[nodiscard]] int node_count() const noexcept { return nodes_; }
  /// \brief The node (0 .. node_count()-1) of rank `r`.
  [[nodiscard]] int node_of(int r) const { return node_.at(static_cast<std::size_t>(r)); }
  /// \brief The device kind of rank `r`.
  [[nodiscard]] std::string const& kind_of(int r) const { return kind_.at(static_cast<std::size_t>(r)); }
  [[nodiscard]] bool same_node(int a, int b) const { return node_of(a) == node_of(b); }
  /// \brief The ranks on node `n`, in increasing order.
  [[nodiscard]] std::vector<int> ranks_on_node(int n) const {
    std::vector<int> out;
    for (int r = 0; r < size(); ++r)
      if (node_[static_cast<std::size_t>(r)] == n) out.push_back(r);
    return out;
  }
  /// \brief A partner for rank `r`: the rank with the same local index on the next node (wrapping), so
  /// that a node's loss never takes a rank and its partner together; on a single node, the next rank.
  [[nodiscard]] int partner_of(int r) const {
    if (size() <= 1) return r;
    int const n = node_of(r);
    if (nodes_ == 1) return (r + 1) % size();
    auto const here = ranks_on_node(n);
    auto const local = static_cast<std::size_t>(std::ranges::find(here, r) - here.begin());
    auto const there = ranks_on_node((n + 1) % nodes_);
    return there[local % there.size()];
  }

  friend bool operator==(topology const&, topology const&) = default;

 private:
  std::vector<int> node_;
  std::vector<std::string> kind_;
  int nodes_ = 0;
};

}  // namespace strata::elastic
