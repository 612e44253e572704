#pragma once
/// \file
/// \brief The plan of a `dag::task_flow` run on one rank (SPEC S9): the local operations (tasks it runs,
/// sends, receives) with their local dependencies and priorities, built the same way on every rank
/// from the program order and the placement. `flow_runtime.hpp` runs it.

#include <strata/dag/access.hpp>
#include <strata/dag/detail/flow_bodies.hpp>
#include <strata/dag/graph.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <vector>

namespace strata::dag::detail {

/// What the runtime needs of one submitted task: its host body and / or its device body (`device.hpp`:
/// the same signature over raw device bytes); at least one is set.
struct flow_task {
  std::vector<data_access> accesses;
  flow_body body;
  flow_body device_body;
};

/// One local operation of a rank: a task it runs, or a transfer of one handle's bytes to / from a peer.
struct local_op {
  enum class kind : std::uint8_t { task, send, recv };
  kind what = kind::task;
  std::size_t index = 0;  // task id (task) or handle id (send, recv)
  int peer = -1;
  int tag = 0;
  double priority = 0.0;
  std::uint32_t waiting = 0;        // local predecessors not yet done
  std::vector<std::uint32_t> next;  // local successors
};

/// The operations of one rank and counts over all ranks.
struct local_plan {
  std::vector<local_op> ops;
  std::size_t transfers = 0;       // all ranks
  std::size_t local_tasks = 0;     // this rank
  std::uint64_t bytes_sent = 0;    // this rank
};

/// Tag of the abort message; transfer k uses tag k + 1.
inline constexpr int abort_tag = 0;

/// HEFT's upward rank with free transfers: cost + costliest path to an exit. Task ids are in program
/// order, which is a topological order of an inferred graph.
inline std::vector<double> upward_ranks(graph const& g) {
  std::vector<double> up(g.size(), 0.0);
  for (auto t = g.size(); t-- > 0;) {
    double tail = 0.0;
    for (auto ei : g.out_edges(t)) tail = std::max(tail, up[g.edges()[ei].to]);
    auto const& c = g.at(t).cost;
    up[t] = (c.empty() ? 0.0 : c.begin()->second) + tail;
  }
  return up;
}

/// Builds rank `me`'s operations. Every rank walks the same program order with the same placement, so
/// all agree on which transfers exist and on their tags. Each transfer is a reader of the handle on the
/// sender and a writer on the receiver; local dependencies (RAW, WAR, WAW) are inferred over each rank's
/// own accesses, so a rank waits for a peer only through the data it receives.
inline local_plan build_local_plan(int me, int ranks, std::vector<int> const& rank_of, std::vector<flow_task> const& tasks,
                                   std::vector<data_info> const& data, std::vector<double> const& priority) {
  constexpr auto none = std::numeric_limits<std::uint32_t>::max();
  auto const P = static_cast<std::size_t>(ranks);
  local_plan plan;
  std::vector<std::vector<char>> valid(data.size(), std::vector<char>(P, 0));  // ranks holding the latest value
  std::vector<int> producer(data.size());
  for (std::size_t h = 0; h < data.size(); ++h) valid[h][static_cast<std::size_t>(data[h].home)] = 1, producer[h] = data[h].home;
  std::vector<std::uint32_t> last_writer(data.size(), none);
  std::vector<std::vector<std::uint32_t>> readers(data.size());

  auto depend = [&](std::uint32_t pred, std::uint32_t op) {
    if (pred == none) return;
    auto& nx = plan.ops[pred].next;
    if (!nx.empty() && nx.back() == op) return;  // every edge into `op` is added while `op` is the newest
    nx.push_back(op);
    ++plan.ops[op].waiting;
  };
  auto local_access = [&](std::uint32_t op, handle_id h, access_mode m) {
    depend(last_writer[h], op);
    if (!writes(m)) {
      readers[h].push_back(op);
      return;
    }
    for (auto r : readers[h]) depend(r, op);
    readers[h].clear();
    last_writer[h] = op;
  };
  auto add = [&](local_op op) {
    plan.ops.push_back(std::move(op));
    return static_cast<std::uint32_t>(plan.ops.size() - 1);
  };
  auto transfer = [&](handle_id h, int to, double prio) {
    int const from = producer[h];
    int const tag = static_cast<int>(++plan.transfers);
    if (from == me) {
      local_access(add({local_op::kind::send, h, to, tag, prio, 0, {}}), h, access_mode::read);
      plan.bytes_sent += data[h].bytes;
    }
    if (to == me) local_access(add({local_op::kind::recv, h, from, tag, prio, 0, {}}), h, access_mode::write);
    valid[h][static_cast<std::size_t>(to)] = 1;
  };

  for (task_id t = 0; t < tasks.size(); ++t) {
    int const e = rank_of[t];
    for (auto const& a : tasks[t].accesses)
      if (reads(a.mode) && !valid[a.handle][static_cast<std::size_t>(e)]) transfer(a.handle, e, priority[t]);
    if (e == me) {
      auto const op = add({local_op::kind::task, t, -1, 0, priority[t], 0, {}});
      for (auto const& a : tasks[t].accesses) local_access(op, a.handle, a.mode);
      ++plan.local_tasks;
    }
    for (auto const& a : tasks[t].accesses)
      if (writes(a.mode)) {
        std::ranges::fill(valid[a.handle], 0);
        valid[a.handle][static_cast<std::size_t>(e)] = 1;
        producer[a.handle] = e;
      }
  }
  // Every handle's final value goes back to its home.
  for (handle_id h = 0; h < data.size(); ++h)
    if (!valid[h][static_cast<std::size_t>(data[h].home)]) transfer(h, data[h].home, 0.0);
  return plan;
}

}  // namespace strata::dag::detail
