#pragma once
/// \file
/// \brief Priority policies (SPEC S6): `fcfs`, `static_priority`, `weighted_ageing`, and their concept.
///
/// A priority policy scores a task; the dispatcher runs the highest score
/// first, ties going to the task submitted first. A policy whose score does not
/// change while a task waits says so with `time_invariant = true`, which lets
/// the ready queue keep an ordered index instead of rescoring on every pop. A
/// policy whose score is a constant plus a capped linear ageing term says so with
/// `base_score`, `ageing_per_second` and `ageing_limit_s` (as `weighted_ageing`
/// does), and gets an exact O(log n) index too; any other policy is rescored.

#include <strata/schedule/task.hpp>

#include <algorithm>
#include <concepts>
#include <string>

namespace strata::schedule {

/// \brief First come, first served: every task scores the same, so submission order decides.
struct fcfs {
  static constexpr bool time_invariant = true;
  template <class T>
  [[nodiscard]] constexpr double score(T const&, clock::time_point) const noexcept {
    return 0.0;
  }
  friend constexpr bool operator==(fcfs, fcfs) noexcept { return true; }
};

/// \brief Static priority: the business level alone; equal levels run first come, first served.
struct static_priority {
  static constexpr bool time_invariant = true;
  template <class T>
  [[nodiscard]] constexpr double score(T const& t, clock::time_point) const noexcept {
    return t.business_level();
  }
  friend constexpr bool operator==(static_priority, static_priority) noexcept { return true; }
};

/// \brief SPEC S6 dynamic priority:
/// `level_weight * business_level + ageing_weight * min(wait_s / ageing_period_s, ageing_cap)
///  + light_weight * (1 - resource_demand)`.
///
/// \code
/// strata::schedule::weighted_ageing p;                      // 0.6 / 0.3 / 0.1, ageing 10 s capped at 5
/// strata::schedule::weighted_ageing q{.ageing_weight = 0.5}; // configurable
/// \endcode
struct weighted_ageing {
  double level_weight = 0.6;     ///< weight of the business level
  double ageing_weight = 0.3;    ///< weight of the ageing term
  double light_weight = 0.1;     ///< weight of the light-task bonus `1 - resource_demand`
  double ageing_period_s = 10.0; ///< seconds of waiting worth one ageing unit
  double ageing_cap = 5.0;       ///< the ageing term never exceeds this many units

  static constexpr bool time_invariant = false;

  template <class T>
  [[nodiscard]] constexpr double score(T const& t, clock::time_point now) const noexcept {
    double const wait = std::max(0.0, seconds(now - t.created()).count());
    return level_weight * t.business_level() + ageing_weight * std::min(wait / ageing_period_s, ageing_cap) +
           light_weight * (1.0 - t.resource_demand());
  }
  /// \brief The part of the score that does not change while the task waits (level and light-task terms).
  template <class T>
  [[nodiscard]] constexpr double base_score(T const& t) const noexcept {
    return level_weight * t.business_level() + light_weight * (1.0 - t.resource_demand());
  }
  /// \brief Score gained per second of waiting, until the cap.
  [[nodiscard]] constexpr double ageing_per_second() const noexcept { return ageing_weight / ageing_period_s; }
  /// \brief Seconds of waiting after which the ageing term stops growing (`ageing_period_s * ageing_cap`).
  [[nodiscard]] constexpr double ageing_limit_s() const noexcept { return ageing_period_s * ageing_cap; }
  friend constexpr bool operator==(weighted_ageing const&, weighted_ageing const&) = default;
};

/// \brief A priority policy: a small regular value that scores a task at a given time (higher runs first).
template <class P>
concept priority_policy = std::semiregular<P> && std::equality_comparable<P> &&
    requires(P const& p, task const& t, clock::time_point now) {
      { p.score(t, now) } -> std::convertible_to<double>;
      { P::time_invariant } -> std::convertible_to<bool>;
    };

static_assert(priority_policy<fcfs> && priority_policy<static_priority> && priority_policy<weighted_ageing>);

namespace detail {
/// Evaluated inside a constraint so that misuse prints the sentence, not a page of substitution failures.
template <class P>
consteval bool diagnose_priority_policy() {
  static_assert(priority_policy<P>,
                "strata::schedule: the Priority policy must be a regular value type with "
                "`double score(task const&, clock::time_point) const` and `static constexpr bool time_invariant` "
                "(see fcfs, static_priority, weighted_ageing)");
  return priority_policy<P>;
}
}  // namespace detail

/// \brief `priority_policy`, with a readable static_assert when it is not met (used by the dispatcher).
template <class P>
concept checked_priority_policy = detail::diagnose_priority_policy<P>();

}  // namespace strata::schedule
