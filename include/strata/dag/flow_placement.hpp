#pragma once
/// \file
/// \brief Where the tasks of a `dag::task_flow` run (SPEC S4, S9): the `flow_placement` concept,
/// `planned<P>` (any graph `placement_policy` — HEFT, eager, round robin — over ranks x workers),
/// `locality` (each task on the rank holding most of its input bytes) and `owner_computes` (each task on
/// the home of the handle it writes).

#include <strata/dag/access.hpp>
#include <strata/dag/graph.hpp>
#include <strata/dag/placement.hpp>
#include <strata/dag/platform.hpp>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <string_view>
#include <vector>

namespace strata::dag {

/// \brief What a flow placement sees: the inferred graph (costs under rank kind "cpu", bytes on the
/// read-after-write edges), every task's accesses, the handles, and the ranks and workers per rank.
struct flow_plan_input {
  graph const& tasks;
  std::vector<std::vector<data_access>> const& accesses;  ///< per task, in declaration order
  std::vector<data_info> const& data;                     ///< per handle
  int ranks = 1;
  int workers_per_rank = 1;
};

/// \brief A flow placement: a regular value type with `std::vector<int> assign(flow_plan_input const&) const`
/// (the rank of every task, the same on every rank for the same input) and `name()`.
template <class P>
concept flow_placement = std::regular<P> && requires(P const& p, flow_plan_input const& in) {
  { p.assign(in) } -> std::same_as<std::vector<int>>;
  { p.name() } -> std::convertible_to<std::string_view>;
};

/// \brief A graph placement policy (`heft`, `eager`, `round_robin`) over `ranks x workers_per_rank`
/// processors, workers of one rank sharing memory; each task goes to the rank of its processor. The
/// order on a rank is not taken from the plan: the runtime runs ready tasks by priority.
///
/// \code
/// strata::dag::task_flow<strata::dag::planned<strata::dag::eager>> flow{{.workers = 2}};
/// \endcode
template <placement_policy P = heft>
struct planned {
  P policy{};
  double latency_s = 5e-6;     ///< per message between ranks
  double bandwidth_Bps = 5e9;  ///< between ranks

  [[nodiscard]] std::string_view name() const { return policy.name(); }
  [[nodiscard]] std::vector<int> assign(flow_plan_input const& in) const {
    int const w = std::max(1, in.workers_per_rank);
    platform pf;
    for (int r = 0; r < in.ranks; ++r)
      for (int k = 0; k < w; ++k) pf.ranks.push_back({"cpu", unlimited, r});  // node = rank: shared memory inside
    pf.latency_s = latency_s;
    pf.bandwidth_Bps = bandwidth_Bps;
    pf.node_bandwidth_Bps = 1e18;
    auto const plan = policy.place(in.tasks, pf);
    std::vector<int> out(plan.tasks.size());
    for (std::size_t t = 0; t < out.size(); ++t) out[t] = plan.tasks[t].rank / w;
    return out;
  }
  friend bool operator==(planned const&, planned const&) = default;
};

/// \brief Locality first: in program order, each task on the rank where the bytes it reads are valid
/// (a read-write handle counts `readwrite_weight` times, since moving it moves its later users too);
/// ties, and tasks that read nothing, go to the rank with the least cost assigned so far.
struct locality {
  double readwrite_weight = 2.0;

  [[nodiscard]] static constexpr std::string_view name() noexcept { return "locality"; }
  [[nodiscard]] std::vector<int> assign(flow_plan_input const& in) const {
    auto const P = static_cast<std::size_t>(in.ranks);
    std::vector<std::vector<char>> valid(in.data.size(), std::vector<char>(P, 0));
    for (std::size_t h = 0; h < in.data.size(); ++h) valid[h][static_cast<std::size_t>(in.data[h].home)] = 1;
    std::vector<double> load(P, 0.0), score(P);
    std::vector<int> out(in.tasks.size());
    for (task_id t = 0; t < in.tasks.size(); ++t) {
      std::ranges::fill(score, 0.0);
      for (auto const& a : in.accesses[t])
        if (reads(a.mode))
          for (std::size_t r = 0; r < P; ++r)
            if (valid[a.handle][r])
              score[r] += static_cast<double>(in.data[a.handle].bytes) * (writes(a.mode) ? readwrite_weight : 1.0);
      std::size_t best = 0;
      for (std::size_t r = 1; r < P; ++r)
        if (score[r] > score[best] || (score[r] == score[best] && load[r] < load[best])) best = r;
      for (auto const& a : in.accesses[t]) {
        if (writes(a.mode)) std::ranges::fill(valid[a.handle], 0);
        valid[a.handle][best] = 1;
      }
      auto const& c = in.tasks.at(t).cost;
      load[best] += c.empty() ? 0.0 : c.begin()->second;
      out[t] = static_cast<int>(best);
    }
    return out;
  }
  friend bool operator==(locality const&, locality const&) = default;
};

/// \brief Owner computes: each task on the home rank of the first handle it writes (the rule of ScaLAPACK,
/// DPLASMA and StarPU-MPI for distributed tiles); a task that writes nothing goes to the home of the first
/// handle it reads, one that touches nothing to rank 0. A handle's value never leaves its home to be
/// updated, so only the inputs read elsewhere move (a quarter of `planned<heft>`'s transfers for the
/// tiled Cholesky: `docs/balancing.md`; HEFT counts a transfer as overlapped with compute, where the
/// receiving rank spends its own core on the copy). The balance is that of the homes: it needs a
/// distribution of the handles over the ranks (2D block-cyclic for tiles), and puts every task on rank 0
/// when every handle is homed there.
struct owner_computes {
  [[nodiscard]] static constexpr std::string_view name() noexcept { return "owner_computes"; }
  [[nodiscard]] std::vector<int> assign(flow_plan_input const& in) const {
    std::vector<int> out(in.tasks.size(), 0);
    for (task_id t = 0; t < in.tasks.size(); ++t) {
      auto const& acc = in.accesses[t];
      auto const w = std::ranges::find_if(acc, [](data_access const& a) { return writes(a.mode); });
      if (w != acc.end())
        out[t] = in.data[w->handle].home;
      else if (!acc.empty())
        out[t] = in.data[acc.front().handle].home;
    }
    return out;
  }
  friend constexpr bool operator==(owner_computes const&, owner_computes const&) = default;
};

static_assert(flow_placement<planned<heft>> && flow_placement<planned<eager>> && flow_placement<planned<round_robin>> &&
              flow_placement<locality> && flow_placement<owner_computes>);

}  // namespace strata::dag
