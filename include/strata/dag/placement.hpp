#pragma once
/// \file
/// \brief Placement of a `dag::graph` on a `dag::platform` (SPEC S4): the `placement_policy` concept,
/// `heft` (HEFT: upward rank, earliest finish time with insertion), baselines `round_robin` and `eager`,
/// and the makespan lower bound.

#include <strata/dag/graph.hpp>
#include <strata/dag/platform.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <iterator>
#include <limits>
#include <numeric>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

namespace strata::dag {

/// \brief Where and when a task runs in a planned schedule.
struct placed_task {
  int rank = -1;
  double start = 0.0;
  double finish = 0.0;
};

/// \brief A placement: one `placed_task` per task, and the planned makespan.
struct schedule {
  std::vector<placed_task> tasks;
  double makespan = 0.0;

  /// \brief The tasks of `rank` in planned start order (ties in topological order).
  [[nodiscard]] std::vector<task_id> order_on(int rank, std::vector<task_id> const& topological) const {
    std::vector<std::size_t> pos(tasks.size());
    for (std::size_t i = 0; i < topological.size(); ++i) pos[topological[i]] = i;
    std::vector<task_id> out;
    for (task_id t = 0; t < tasks.size(); ++t)
      if (tasks[t].rank == rank) out.push_back(t);
    std::ranges::sort(out, [&](task_id a, task_id b) {
      return tasks[a].start != tasks[b].start ? tasks[a].start < tasks[b].start : pos[a] < pos[b];
    });
    return out;
  }
};

/// \brief A placement policy: a regular value type with `schedule place(graph const&, platform const&) const`.
template <class P>
concept placement_policy = std::regular<P> && requires(P const& p, graph const& g, platform const& pf) {
  { p.place(g, pf) } -> std::same_as<schedule>;
  { p.name() } -> std::convertible_to<std::string_view>;
};

/// \brief The two classic bounds of a makespan; `value()` is the larger.
struct makespan_bound {
  double critical_path = 0.0;  ///< longest dependency chain, each task at its cheapest kind, free transfers
  double work_per_rank = 0.0;  ///< sum of cheapest task costs / rank count
  [[nodiscard]] double value() const noexcept { return std::max(critical_path, work_per_rank); }
};

/// \brief Lower bound of any schedule's makespan: max(critical path, total work / P).
[[nodiscard]] inline makespan_bound lower_bound(graph const& g, platform const& pf) {
  auto const kinds = pf.kinds();
  g.check_costs(kinds);
  std::vector<double> best(g.size(), std::numeric_limits<double>::infinity());
  for (task_id t = 0; t < g.size(); ++t)
    for (auto const& k : kinds) best[t] = std::min(best[t], g.at(t).cost.find(k)->second);
  std::vector<double> done(g.size(), 0.0);
  makespan_bound b;
  for (auto t : g.topological_order()) {
    double ready = 0.0;
    for (auto ei : g.in_edges(t)) ready = std::max(ready, done[g.edges()[ei].from]);
    done[t] = ready + best[t];
    b.critical_path = std::max(b.critical_path, done[t]);
    b.work_per_rank += best[t];
  }
  b.work_per_rank /= static_cast<double>(pf.size());
  return b;
}

namespace detail {
// Shared bookkeeping of list schedulers: costs per (task, rank), per-rank busy intervals and memory.
class list_scheduler {
 public:
  list_scheduler(graph const& g, platform const& pf, char const* policy) : g_(g), pf_(pf), policy_(policy) {
    if (pf.size() < 1) throw usage_error(std::string("dag::") + policy + ": the platform has no ranks");
    g.check_costs(pf.kinds());
    cost_.resize(g.size() * static_cast<std::size_t>(pf.size()));
    for (task_id t = 0; t < g.size(); ++t)
      for (int r = 0; r < pf.size(); ++r) cost_[index(t, r)] = g.at(t).cost.find(pf.ranks[static_cast<std::size_t>(r)].kind)->second;
    busy_.resize(static_cast<std::size_t>(pf.size()));
    held_.assign(static_cast<std::size_t>(pf.size()), 0);
    out_.tasks.assign(g.size(), {});
  }
  [[nodiscard]] double cost(task_id t, int r) const { return cost_[index(t, r)]; }
  [[nodiscard]] bool fits(task_id t, int r) const {
    auto const lim = pf_.ranks[static_cast<std::size_t>(r)].memory_limit, m = g_.at(t).memory;
    return m <= lim && held_[static_cast<std::size_t>(r)] <= lim - m;
  }
  // When t's inputs can all be on rank r.
  [[nodiscard]] double data_ready(task_id t, int r) const {
    double ready = 0.0;
    for (auto ei : g_.in_edges(t)) {
      auto const& e = g_.edges()[ei];
      auto const& p = out_.tasks[e.from];
      ready = std::max(ready, p.finish + pf_.transfer_time(p.rank, r, e.bytes));
    }
    return ready;
  }
  // Earliest start on r at or after `ready`: in the first idle gap long enough (insertion) or after the last task.
  [[nodiscard]] double earliest_start(task_id t, int r, double ready, bool insertion) const {
    auto const& b = busy_[static_cast<std::size_t>(r)];
    double const d = cost(t, r);
    if (!insertion) return std::max(ready, b.empty() ? 0.0 : b.back().second);
    // The intervals of one rank do not overlap, so sorted by start they are sorted by finish too: no gap
    // before the first interval ending after `ready` can hold the task (skipped in O(log n)).
    auto const first = std::ranges::partition_point(b, [&](auto const& iv) { return iv.second <= ready; });
    double prev_end = first == b.begin() ? 0.0 : std::prev(first)->second;
    for (auto it = first; it != b.end(); ++it) {
      double const start = std::max(ready, prev_end);
      if (start + d <= it->first) return start;
      prev_end = std::max(prev_end, it->second);
    }
    return std::max(ready, prev_end);
  }
  void commit(task_id t, int r, double start) {
    double const finish = start + cost(t, r);
    out_.tasks[t] = {r, start, finish};
    auto& b = busy_[static_cast<std::size_t>(r)];
    b.insert(std::ranges::upper_bound(b, std::pair{start, finish}), {start, finish});
    held_[static_cast<std::size_t>(r)] += g_.at(t).memory;
    out_.makespan = std::max(out_.makespan, finish);
  }
  [[noreturn]] void no_room(task_id t) const {
    std::string s = std::string("dag::") + policy_ + ": task '" + g_.at(t).name + "' needs " +
                    std::to_string(g_.at(t).memory) + " bytes but fits on no rank; free bytes per rank:";
    for (int r = 0; r < pf_.size(); ++r) {
      auto const lim = pf_.ranks[static_cast<std::size_t>(r)].memory_limit, h = held_[static_cast<std::size_t>(r)];
      s += " " + std::to_string(r) + ":" + (lim == unlimited ? std::string("unlimited") : std::to_string(lim - h));
    }
    throw graph_error(s);
  }
  [[nodiscard]] schedule result() && { return std::move(out_); }

 private:
  [[nodiscard]] std::size_t index(task_id t, int r) const { return t * static_cast<std::size_t>(pf_.size()) + static_cast<std::size_t>(r); }
  graph const& g_;
  platform const& pf_;
  char const* policy_;
  std::vector<double> cost_;
  std::vector<std::vector<std::pair<double, double>>> busy_;
  std::vector<std::uint64_t> held_;
  schedule out_;
};
}  // namespace detail

/// \brief HEFT: tasks by decreasing upward rank (mean cost + costliest path to an exit, with mean
/// transfer times), each on the rank giving the earliest finish, idle gaps filled (insertion);
/// ranks without room for the task's memory are skipped.
///
/// \code
/// auto plan = strata::dag::heft{}.place(g, strata::dag::platform::uniform(4));
/// double quality = plan.makespan / strata::dag::lower_bound(g, pf).value();
/// \endcode
struct heft {
  bool insertion = true;  ///< fill idle gaps (HEFT proper); false appends after each rank's last task

  [[nodiscard]] static constexpr std::string_view name() noexcept { return "heft"; }

  [[nodiscard]] schedule place(graph const& g, platform const& pf) const {
    detail::list_scheduler s(g, pf, "heft");
    auto const topo = g.topological_order();
    int const P = pf.size();
    // Mean transfer time of one byte (and the latency) between two distinct ranks.
    double mean_latency = 0.0, mean_inv_bw = 0.0;
    if (P > 1) {
      for (int a = 0; a < P; ++a)
        for (int b = 0; b < P; ++b)
          if (a != b) {
            mean_latency += pf.transfer_time(a, b, 0);
            mean_inv_bw += pf.transfer_time(a, b, 1) - pf.transfer_time(a, b, 0);
          }
      mean_latency /= P * (P - 1.0);
      mean_inv_bw /= P * (P - 1.0);
    }
    std::vector<double> up(g.size(), 0.0);
    for (auto it = topo.rbegin(); it != topo.rend(); ++it) {
      task_id const t = *it;
      double mean_cost = 0.0;
      for (int r = 0; r < P; ++r) mean_cost += s.cost(t, r);
      mean_cost /= P;
      double tail = 0.0;
      for (auto ei : g.out_edges(t)) {
        auto const& e = g.edges()[ei];
        tail = std::max(tail, mean_latency + mean_inv_bw * static_cast<double>(e.bytes) + up[e.to]);
      }
      up[t] = mean_cost + tail;
    }
    // Ready-list scheduling by decreasing upward rank (ties: lowest id), the ready tasks in a binary
    // heap: always a valid dependency order.
    std::vector<std::size_t> waiting(g.size());
    for (auto const& e : g.edges()) ++waiting[e.to];
    auto const lower = [&](task_id a, task_id b) { return up[a] != up[b] ? up[a] < up[b] : a > b; };
    std::priority_queue<task_id, std::vector<task_id>, decltype(lower)> ready(lower);
    for (task_id t = 0; t < g.size(); ++t)
      if (waiting[t] == 0) ready.push(t);
    while (!ready.empty()) {
      task_id const t = ready.top();
      ready.pop();
      int best = -1;
      double best_start = 0.0, best_finish = std::numeric_limits<double>::infinity();
      for (int r = 0; r < P; ++r) {
        if (!s.fits(t, r)) continue;
        double const start = s.earliest_start(t, r, s.data_ready(t, r), insertion);
        if (start + s.cost(t, r) < best_finish) best = r, best_start = start, best_finish = start + s.cost(t, r);
      }
      if (best < 0) s.no_room(t);
      s.commit(t, best, best_start);
      for (auto ei : g.out_edges(t))
        if (--waiting[g.edges()[ei].to] == 0) ready.push(g.edges()[ei].to);
    }
    return std::move(s).result();
  }
  friend constexpr bool operator==(heft const&, heft const&) = default;
};

/// \brief Baseline: tasks in topological order dealt to ranks in turn (skipping ranks without room),
/// each started as soon as its inputs and its rank allow.
struct round_robin {
  [[nodiscard]] static constexpr std::string_view name() noexcept { return "round_robin"; }
  [[nodiscard]] schedule place(graph const& g, platform const& pf) const {
    detail::list_scheduler s(g, pf, "round_robin");
    int next = 0;
    for (auto t : g.topological_order()) {
      int r = -1;
      for (int k = 0; k < pf.size() && r < 0; ++k)
        if (s.fits(t, (next + k) % pf.size())) r = (next + k) % pf.size();
      if (r < 0) s.no_room(t);
      s.commit(t, r, s.earliest_start(t, r, s.data_ready(t, r), false));
      next = (r + 1) % pf.size();
    }
    return std::move(s).result();
  }
  friend constexpr bool operator==(round_robin const&, round_robin const&) = default;
};

/// \brief Baseline: tasks in topological order, each on the rank where it can start first
/// (ignores how long it will take there and how far its consumers are).
struct eager {
  [[nodiscard]] static constexpr std::string_view name() noexcept { return "eager"; }
  [[nodiscard]] schedule place(graph const& g, platform const& pf) const {
    detail::list_scheduler s(g, pf, "eager");
    for (auto t : g.topological_order()) {
      int best = -1;
      double best_start = std::numeric_limits<double>::infinity();
      for (int r = 0; r < pf.size(); ++r) {
        if (!s.fits(t, r)) continue;
        double const start = s.earliest_start(t, r, s.data_ready(t, r), false);
        if (start < best_start) best = r, best_start = start;
      }
      if (best < 0) s.no_room(t);
      s.commit(t, best, best_start);
    }
    return std::move(s).result();
  }
  friend constexpr bool operator==(eager const&, eager const&) = default;
};

static_assert(placement_policy<heft> && placement_policy<round_robin> && placement_policy<eager>);

}  // namespace strata::dag
