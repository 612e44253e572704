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

/// \brief Decides at each `ckpt.step(i)` whether a checkpoint is due.
///
/// `deterministic` says whether every rank reaches the same decision on its own
/// (every_n); when false the checkpointer agrees with an all-reduce so that the
/// ranks never disagree (every_seconds: clocks differ).
template <class T>
concept policy = std::copyable<T> && requires(T& t, T const& ct, std::uint64_t step, clock::time_point now, feedback f) {
  { T::deterministic } -> std::convertible_to<bool>;
  { t.due(step, now) } -> std::convertible_to<bool>;
  t.record(f);
};

}  // namespace strata::trigger
