#pragma once
/// \file
/// \brief Balancing policies for SPMD codes (SPEC S5): the `balance_policy` concept, `greedy` and `refine`.
///
/// A policy is a small value type that, given the units (weight, owner, bytes)
/// and what is known of the ranks (seconds per unit of weight, memory limit),
/// returns a new assignment. It never returns an assignment that exceeds a
/// rank's memory limit: if no such assignment exists it throws `assignment_error`.

#include <strata/balance/work_unit.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strata::balance {

/// \brief A balancing policy: a regular value type with `plan(units, ranks) -> assignment` and a `name()`.
template <class P>
concept balance_policy = std::regular<P> && requires(P const& p, std::span<const work_unit> units, rank_view const& ranks) {
  { p.plan(units, ranks) } -> std::same_as<assignment>;
  { p.name() } -> std::convertible_to<std::string_view>;
};

/// \brief Unlimited migration budget.
inline constexpr std::size_t no_budget = std::numeric_limits<std::size_t>::max();

namespace detail {
inline std::string no_room_message(char const* policy, work_unit const& u, std::vector<std::uint64_t> const& held,
                                   rank_view const& ranks) {
  std::string s = std::string("balance::") + policy + ": unit " + std::to_string(u.id) + " (" + std::to_string(u.bytes) +
                  " bytes) fits on no rank within its memory limit; free bytes per rank:";
  for (int r = 0; r < ranks.size(); ++r) {
    auto const lim = ranks.limit(r), h = held[static_cast<std::size_t>(r)];
    s += " " + std::to_string(r) + ":" + (lim == unlimited ? std::string("unlimited") : std::to_string(lim > h ? lim - h : 0));
  }
  return s;
}
inline bool fits(std::uint64_t held, std::uint64_t add, std::uint64_t limit) noexcept {
  return add <= limit && held <= limit - add;
}
}  // namespace detail

/// \brief Greedy (LPT) rebalancing: units taken heaviest first, each to the rank where it would
/// finish earliest; ties keep the current owner.
///
/// Moves many units but reaches a near-optimal balance in one step. When the
/// current imbalance is already within `tolerance` nothing moves; once
/// `migration_budget` units have moved, the remaining units stay where they are.
///
/// \code
/// strata::balance::greedy g{.tolerance = 0.05};
/// auto owners = g.plan(units, ranks);
/// \endcode
struct greedy {
  double tolerance = 0.05;                  ///< acceptable max/avg - 1 of predicted loads
  std::size_t migration_budget = no_budget;  ///< most units moved in one LB step

  [[nodiscard]] static constexpr std::string_view name() noexcept { return "greedy"; }

  [[nodiscard]] assignment plan(std::span<const work_unit> units, rank_view const& ranks) const {
    assignment current = owners_of(units);
    if (ranks.size() <= 1 || units.empty()) return current;
    bool const over_memory = [&] {
      auto const held = bytes_per_rank(units, current, ranks.size());
      for (int r = 0; r < ranks.size(); ++r)
        if (held[static_cast<std::size_t>(r)] > ranks.limit(r)) return true;
      return false;
    }();
    if (!over_memory && imbalance(predicted_loads(units, current, ranks)) <= tolerance) return current;

    std::vector<std::size_t> order(units.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::ranges::stable_sort(order, [&](std::size_t a, std::size_t b) { return units[a].weight > units[b].weight; });

    auto const P = static_cast<std::size_t>(ranks.size());
    std::vector<double> load(P, 0.0);
    std::vector<std::uint64_t> held(P, 0);
    assignment out(units.size(), -1);
    std::size_t moved = 0;
    for (std::size_t i : order) {
      auto const& u = units[i];
      int const cur = u.owner;
      int best = -1;
      if (moved >= migration_budget) {
        best = cur;  // budget spent: stays
      } else {
        double best_finish = std::numeric_limits<double>::infinity();
        for (int r = 0; r < ranks.size(); ++r) {
          auto const ur = static_cast<std::size_t>(r);
          if (!detail::fits(held[ur], u.bytes, ranks.limit(r))) continue;
          double const finish = load[ur] + u.weight * ranks.seconds_per_weight[ur];
          // Strictly better, or equal and this is the current owner (no needless move).
          if (finish < best_finish || (finish == best_finish && r == cur)) {
            best_finish = finish;
            best = r;
          }
        }
        if (best < 0) throw assignment_error(detail::no_room_message("greedy", u, held, ranks));
      }
      auto const ub = static_cast<std::size_t>(best);
      load[ub] += u.weight * ranks.seconds_per_weight[ub];
      held[ub] += u.bytes;
      out[i] = best;
      if (best != cur) ++moved;
    }
    return out;
  }
  friend constexpr bool operator==(greedy const&, greedy const&) = default;
};

/// \brief Refinement: moves few units, each from the most loaded rank to the rank that lowers the
/// pair's maximum most, until max/avg - 1 is within `tolerance` or `migration_budget` units have moved.
///
/// Keeps most units in place (little data moved); may need a few LB steps
/// from a very uneven start.
///
/// \code
/// strata::balance::refine r{.tolerance = 0.03, .migration_budget = 8};
/// \endcode
struct refine {
  double tolerance = 0.05;                  ///< stop once max/avg - 1 of predicted loads is within this
  std::size_t migration_budget = no_budget;  ///< most units moved in one LB step

  [[nodiscard]] static constexpr std::string_view name() noexcept { return "refine"; }

  [[nodiscard]] assignment plan(std::span<const work_unit> units, rank_view const& ranks) const {
    assignment out = owners_of(units);
    if (ranks.size() <= 1 || units.empty()) return out;
    auto const P = static_cast<std::size_t>(ranks.size());
    auto load = predicted_loads(units, out, ranks);
    auto held = bytes_per_rank(units, out, ranks.size());
    auto const& spw = ranks.seconds_per_weight;

    // First make the assignment legal: move units off ranks over their memory limit (smallest load after move).
    for (int r = 0; r < ranks.size(); ++r) {
      auto const ur = static_cast<std::size_t>(r);
      while (held[ur] > ranks.limit(r)) {
        std::size_t pick = units.size();
        for (std::size_t i = 0; i < units.size(); ++i)
          if (out[i] == r && (pick == units.size() || units[i].bytes > units[pick].bytes)) pick = i;
        auto const& u = units[pick];
        int dst = -1;
        for (int d = 0; d < ranks.size(); ++d) {
          auto const ud = static_cast<std::size_t>(d);
          if (d == r || !detail::fits(held[ud], u.bytes, ranks.limit(d))) continue;
          if (dst < 0 || load[ud] + u.weight * spw[ud] < load[static_cast<std::size_t>(dst)] + u.weight * spw[static_cast<std::size_t>(dst)]) dst = d;
        }
        if (dst < 0) throw assignment_error(detail::no_room_message("refine", u, held, ranks));
        auto const ud = static_cast<std::size_t>(dst);
        load[ur] -= u.weight * spw[ur];
        held[ur] -= u.bytes;
        load[ud] += u.weight * spw[ud];
        held[ud] += u.bytes;
        out[pick] = dst;
      }
    }

    std::size_t moved = 0;
    for (std::size_t i = 0; i < units.size(); ++i) moved += out[i] != units[i].owner;
    while (moved < migration_budget && imbalance(load) > tolerance) {
      auto const src = static_cast<std::size_t>(std::ranges::max_element(load) - load.begin());
      // Best single move off the most loaded rank: the one minimising max(load_src', load_dst').
      double best_peak = load[src];
      std::size_t best_unit = units.size();
      int best_dst = -1;
      for (std::size_t i = 0; i < units.size(); ++i) {
        if (static_cast<std::size_t>(out[i]) != src) continue;
        auto const& u = units[i];
        double const src_after = load[src] - u.weight * spw[src];
        for (std::size_t d = 0; d < P; ++d) {
          if (d == src || !detail::fits(held[d], u.bytes, ranks.limit(static_cast<int>(d)))) continue;
          double const peak = std::max(src_after, load[d] + u.weight * spw[d]);
          bool const better = peak < best_peak ||
                              (peak == best_peak && best_unit < units.size() && u.bytes < units[best_unit].bytes);
          if (better && peak < load[src]) {
            best_peak = peak;
            best_unit = i;
            best_dst = static_cast<int>(d);
          }
        }
      }
      if (best_unit == units.size()) break;  // no single move lowers the peak
      auto const& u = units[best_unit];
      auto const ud = static_cast<std::size_t>(best_dst);
      load[src] -= u.weight * spw[src];
      held[src] -= u.bytes;
      load[ud] += u.weight * spw[ud];
      held[ud] += u.bytes;
      bool const was_home = out[best_unit] == u.owner;
      out[best_unit] = best_dst;
      if (was_home) ++moved;
      else if (best_dst == u.owner) --moved;
    }
    return out;
  }
  friend constexpr bool operator==(refine const&, refine const&) = default;
};

/// \brief The identity policy: never moves anything (a baseline).
struct no_balancing {
  [[nodiscard]] static constexpr std::string_view name() noexcept { return "none"; }
  [[nodiscard]] assignment plan(std::span<const work_unit> units, rank_view const&) const { return owners_of(units); }
  friend constexpr bool operator==(no_balancing const&, no_balancing const&) = default;
};

static_assert(balance_policy<greedy> && balance_policy<refine> && balance_policy<no_balancing>);

}  // namespace strata::balance
