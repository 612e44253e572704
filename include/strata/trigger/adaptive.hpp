#pragma once
/// \file
/// \brief `trigger::adaptive`: checkpoint sooner when much of the state changes, later when it barely does.

#include <strata/trigger/concepts.hpp>
#include <strata/validation.hpp>

#include <algorithm>

namespace strata::trigger {

/// \brief Due every `interval()` steps. After each checkpoint the interval halves when the fraction
/// of changed state exceeds `high` and doubles when it stays under `low`, within
/// `[min_steps, max_steps]`. The checkpointer reports the fraction of dirty blocks through
/// `observe_change` (incremental snapshots); without it the fraction is the checkpoint's bytes over
/// the largest checkpoint seen.
///
/// \code
/// strata::trigger::adaptive t{.min_steps = 10, .max_steps = 1000, .first_steps = 100};
/// \endcode
struct adaptive {
  static constexpr bool deterministic = false;  // each rank sees its own changes: agreed collectively
  std::uint64_t min_steps = 10;
  std::uint64_t max_steps = 1000;
  std::uint64_t first_steps = 100;
  double low = 0.02;   ///< below: state barely changes, checkpoint later
  double high = 0.20;  ///< above: state changes fast, checkpoint sooner

  [[nodiscard]] std::uint64_t interval() const noexcept {
    return std::clamp(interval_ ? interval_ : first_steps, std::max<std::uint64_t>(min_steps, 1), std::max(max_steps, min_steps));
  }
  [[nodiscard]] bool due(std::uint64_t step, clock::time_point) const noexcept { return step >= last_step_ + interval(); }
  /// \brief The fraction (0..1) of the protected state that changed in the checkpoint just taken.
  void observe_change(double fraction) noexcept { observed_ = fraction; }
  void record(feedback const& f) {
    double fraction = observed_;
    if (fraction < 0) {
      largest_ = std::max(largest_, f.bytes);
      fraction = largest_ ? static_cast<double>(f.bytes) / static_cast<double>(largest_) : 1.0;
    }
    observed_ = -1;
    auto const now = interval();
    if (fraction > high) interval_ = std::max<std::uint64_t>(now / 2, 1);
    else if (fraction < low) interval_ = now * 2;
    else interval_ = now;
    interval_ = std::clamp(interval_, std::max<std::uint64_t>(min_steps, 1), std::max(max_steps, min_steps));
    last_step_ = f.step;
  }
  /// \brief Refuses bounds out of order (0 < min ≤ first ≤ max) and fractions outside 0 ≤ low ≤ high ≤ 1.
  void validate() const {
    using strata::detail::number;
    using strata::detail::require;
    strata::detail::require_at_least("adaptive", "min_steps", min_steps, 1);
    require(max_steps >= min_steps, "adaptive", "max_steps", std::to_string(max_steps),
            "is below .min_steps = " + std::to_string(min_steps));
    require(first_steps >= min_steps && first_steps <= max_steps, "adaptive", "first_steps", std::to_string(first_steps),
            "must lie in [.min_steps, .max_steps] = [" + std::to_string(min_steps) + ", " + std::to_string(max_steps) + "]");
    require(low >= 0 && low <= 1, "adaptive", "low", number(low), "must be a fraction in [0, 1]");
    require(high >= low && high <= 1, "adaptive", "high", number(high),
            "must be a fraction in [.low, 1] = [" + number(low) + ", 1]");
  }
  friend bool operator==(adaptive const& a, adaptive const& b) noexcept {
    return a.min_steps == b.min_steps && a.max_steps == b.max_steps && a.first_steps == b.first_steps &&
           a.low == b.low && a.high == b.high;
  }

  // Measurements (public only so that the policy stays an aggregate; not part of the API).
  std::uint64_t interval_ = 0, last_step_ = 0, largest_ = 0;
  double observed_ = -1;
};

static_assert(policy<adaptive>);

}  // namespace strata::trigger
