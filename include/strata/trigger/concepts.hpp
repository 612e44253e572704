#pragma once
/// \file
/// \brief The trigger concept (logical layer: when to checkpoint).

#include <chrono>
#include <concepts>
#include <cstdint>

namespace strata::trigger {

using clock = std::chrono::steady_clock;

/// \brief What the checkpointer tells a trigger after each checkpoint.
struct feedback {
  std::uint64_t step = 0;
  clock::time_point when{};
  double cost_seconds = 0;   ///< time the application was blocked
  std::uint64_t bytes = 0;   ///< bytes written
};

/// \brief A trigger that says at compile time whether its decisions agree across ranks.
template <class T>
concept static_determinism = requires {
  { T::deterministic } -> std::convertible_to<bool>;
};

/// \brief A trigger that says at run time whether its decisions agree across ranks
/// (`t.deterministic()`; e.g. one type wrapping several triggers chosen on the command line).
/// The answer must be the same on every rank and must not change while a checkpointer uses it.
template <class T>
concept runtime_determinism = requires(T const& t) {
  { t.deterministic() } -> std::convertible_to<bool>;
};

/// \brief Decides at each `ckpt.step(i)` whether a checkpoint is due.
///
/// `deterministic` (a static constant, or a `deterministic()` member asked at run time) says
/// whether every rank reaches the same decision on its own (every_n); when false the
/// checkpointer agrees with an all-reduce so that the ranks never disagree (every_seconds:
/// clocks differ).
template <class T>
concept policy = std::copyable<T> && (static_determinism<T> || runtime_determinism<T>) &&
    requires(T& t, std::uint64_t step, clock::time_point now, feedback f) {
      { t.due(step, now) } -> std::convertible_to<bool>;
      t.record(f);
    };

/// \brief Whether the ranks must agree on `t.due(...)` with a collective: `!t.deterministic()` when
/// the trigger answers at run time (that answer wins), else `!T::deterministic` (a constant).
template <policy T>
[[nodiscard]] constexpr bool needs_agreement([[maybe_unused]] T const& t) {
  if constexpr (runtime_determinism<T>) return !static_cast<bool>(t.deterministic());
  else return !static_cast<bool>(T::deterministic);
}

}  // namespace strata::trigger
