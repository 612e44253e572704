#pragma once
/// \file
/// \brief `dag::graph`: operations with per-rank-kind compute costs, memory, and bytes on each edge (SPEC S4).

#include <strata/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace strata::dag {

/// \brief A graph is malformed (cycle, missing cost, bad task id) or cannot be placed (memory).
class graph_error : public error {
 public:
  using error::error;
};

/// \brief Index of a task in its graph.
using task_id = std::size_t;

/// \brief One operation: its name, seconds per rank kind, and the memory its output keeps on its rank.
struct task {
  std::string name;
  std::map<std::string, double, std::less<>> cost;  ///< seconds on a rank of each kind ("cpu", "gpu", ...)
  std::uint64_t memory = 0;                          ///< bytes held on the rank that runs it
};

/// \brief A data dependency: `to` needs `bytes` produced by `from`.
struct edge {
  task_id from = 0;
  task_id to = 0;
  std::uint64_t bytes = 0;
};

/// \brief A directed graph of operations. Acyclicity and costs are checked by `topological_order`
/// and `check_costs`, which name the offending task.
///
/// \code
/// strata::dag::graph g;
/// auto a = g.add_task("load", {{"cpu", 2.0}});
/// auto b = g.add_task("solve", {{"cpu", 5.0}, {"gpu", 0.5}}, 1 << 20);
/// g.add_edge(a, b, 8 << 20);
/// \endcode
class graph {
 public:
  /// \brief Adds a task; returns its id.
  task_id add_task(std::string name, std::map<std::string, double, std::less<>> cost, std::uint64_t memory = 0) {
    for (auto const& [kind, c] : cost)
      if (!(c >= 0.0))
        throw graph_error("dag: task '" + name + "' has an invalid cost " + std::to_string(c) + " for rank kind '" +
                          kind + "' (costs are seconds, >= 0)");
    tasks_.push_back({std::move(name), std::move(cost), memory});
    in_.emplace_back();
    out_.emplace_back();
    return tasks_.size() - 1;
  }
  /// \brief Adds the dependency `from -> to` carrying `bytes`.
  void add_edge(task_id from, task_id to, std::uint64_t bytes = 0) {
    check_id(from);
    check_id(to);
    if (from == to) throw graph_error("dag: task '" + tasks_[from].name + "' cannot depend on itself");
    edges_.push_back({from, to, bytes});
    out_[from].push_back(edges_.size() - 1);
    in_[to].push_back(edges_.size() - 1);
  }

  [[nodiscard]] std::size_t size() const noexcept { return tasks_.size(); }
  [[nodiscard]] task const& at(task_id t) const {
    check_id(t);
    return tasks_[t];
  }
  [[nodiscard]] std::vector<edge> const& edges() const noexcept { return edges_; }
  /// \brief Indices (into `edges()`) of the edges entering `t`.
  [[nodiscard]] std::vector<std::size_t> const& in_edges(task_id t) const { return in_.at(t); }
  /// \brief Indices (into `edges()`) of the edges leaving `t`.
  [[nodiscard]] std::vector<std::size_t> const& out_edges(task_id t) const { return out_.at(t); }

  /// \brief Tasks in dependency order (Kahn, lowest id first among ready tasks); throws `graph_error`
  /// naming the tasks of a cycle.
  [[nodiscard]] std::vector<task_id> topological_order() const {
    std::vector<std::size_t> indeg(size());
    for (auto const& e : edges_) ++indeg[e.to];
    std::vector<task_id> ready, order;
    for (task_id t = 0; t < size(); ++t)
      if (indeg[t] == 0) ready.push_back(t);
    std::ranges::make_heap(ready, std::greater<>{});
    while (!ready.empty()) {
      std::ranges::pop_heap(ready, std::greater<>{});
      auto const t = ready.back();
      ready.pop_back();
      order.push_back(t);
      for (auto ei : out_[t])
        if (--indeg[edges_[ei].to] == 0) {
          ready.push_back(edges_[ei].to);
          std::ranges::push_heap(ready, std::greater<>{});
        }
    }
    if (order.size() != size()) throw graph_error("dag: the graph has a cycle: " + describe_cycle(indeg));
    return order;
  }

  /// \brief Throws `graph_error` naming the first task without a cost for one of `kinds`.
  template <class Kinds>
  void check_costs(Kinds const& kinds) const {
    for (auto const& t : tasks_)
      for (auto const& k : kinds)
        if (!t.cost.contains(k))
          throw graph_error("dag: task '" + t.name + "' has no cost for rank kind '" + std::string(k) + "'");
  }

 private:
  void check_id(task_id t) const {
    if (t >= size())
      throw graph_error("dag: task id " + std::to_string(t) + " does not exist (the graph has " + std::to_string(size()) +
                        " tasks)");
  }
  // Tasks left with indegree > 0 after Kahn contain a cycle; walk back along such edges until a task repeats.
  std::string describe_cycle(std::vector<std::size_t> const& indeg) const {
    task_id t = 0;
    while (indeg[t] == 0) ++t;
    std::vector<task_id> path;
    std::vector<int> seen(size(), -1);
    while (seen[t] < 0) {
      seen[t] = static_cast<int>(path.size());
      path.push_back(t);
      for (auto ei : in_[t])
        if (indeg[edges_[ei].from] > 0) {
          t = edges_[ei].from;
          break;
        }
    }
    std::string s;
    for (auto i = path.size(); i-- > static_cast<std::size_t>(seen[t]);) s += "'" + tasks_[path[i]].name + "' -> ";
    return s + "'" + tasks_[t].name + "'";
  }

  std::vector<task> tasks_;
  std::vector<edge> edges_;
  std::vector<std::vector<std::size_t>> in_, out_;
};

}  // namespace strata::dag
