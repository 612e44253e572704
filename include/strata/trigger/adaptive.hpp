#pragma once
/// \file
/// \brief `trigger::adaptive`: checkpoint sooner when much of the state changes, later when it barely does.

#include <strata/trigger/concepts.hpp>
#include <strata/validation.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace strata::trigger {

/// \brief Due every `interval()` steps. After each checkpoint the interval halves when the fraction
/// of changed state exceeds `high` and doubles when it stays under `low`, within
/// `[min_steps, max_steps]`. The checkpointer reports the fraction through `observe_change`: the
/// dirty blocks of an incremental snapshot, the sampled estimate of a full or compressed one;
/// without it the fraction is the checkpoint's bytes over the largest checkpoint seen.
///
/// It also reads what checkpoints cost (SPEC R7: sampling slows down under load): the overhead is
/// the time the application was blocked by the last checkpoint over the time it computed since
/// the one before. The interval never falls below the steps that keep it at `max_overhead` (a
/// floor on the rule above, measured afresh at every checkpoint): a slow file system or a larger
/// state means fewer checkpoints, whatever the change rate.
///
/// \code
/// strata::trigger::adaptive t{.min_steps = 10, .max_steps = 1000, .first_steps = 100, .max_overhead = 0.05};
/// \endcode
struct adaptive {
  static constexpr bool deterministic = false;  // each rank sees its own changes: agreed collectively
  std::uint64_t min_steps = 10;
  std::uint64_t max_steps = 1000;
  std::uint64_t first_steps = 100;
  double low = 0.02;   ///< below: state barely changes, checkpoint later
  double high = 0.20;  ///< above: state changes fast, checkpoint sooner
  /// \brief The most the checkpoints may cost, as blocked seconds per second of computation
  /// (0.05: 5 %); 0 ignores the cost.
  double max_overhead = 0.05;

  [[nodiscard]] std::uint64_t interval() const noexcept {
    return std::clamp(interval_ ? interval_ : first_steps, std::max<std::uint64_t>(min_steps, 1), std::max(max_steps, min_steps));
  }
  [[nodiscard]] bool due(std::uint64_t step, clock::time_point) const noexcept { return step >= last_step_ + interval(); }
  /// \brief The fraction (0..1) of the protected state that changed in the checkpoint just taken.
  void observe_change(double fraction) noexcept { observed_ = fraction; }
  /// \brief The overhead measured at the last checkpoint (blocked over computing seconds; 0 before two).
  [[nodiscard]] double overhead() const noexcept { return overhead_; }
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
    interval_ = std::max(interval_, steps_for_overhead(f));
    interval_ = std::clamp(interval_, std::max<std::uint64_t>(min_steps, 1), std::max(max_steps, min_steps));
    last_step_ = f.step;
    last_when_ = f.when;
    recorded_ = true;
  }
  /// \brief Refuses bounds out of order (0 < min ≤ first ≤ max), fractions outside 0 ≤ low ≤ high ≤ 1
  /// and a `max_overhead` that is negative or not finite.
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
    require(max_overhead - max_overhead == 0 && max_overhead >= 0, "adaptive", "max_overhead", number(max_overhead),
            "must be a finite fraction, 0 or more (0: the checkpoint cost is not considered)");
  }
  friend bool operator==(adaptive const& a, adaptive const& b) noexcept {
    return a.min_steps == b.min_steps && a.max_steps == b.max_steps && a.first_steps == b.first_steps &&
           a.low == b.low && a.high == b.high && a.max_overhead == b.max_overhead;
  }

  // Measurements (public only so that the policy stays an aggregate; not part of the API).
  /// Steps between checkpoints that keep the overhead at `max_overhead`, from the checkpoint just
  /// taken (its blocked seconds) and the seconds per step since the one before; 0 when unknown.
  [[nodiscard]] std::uint64_t steps_for_overhead(feedback const& f) {
    if (!recorded_ || f.step <= last_step_) return 0;
    double const computing = std::chrono::duration<double>(f.when - last_when_).count() - f.cost_seconds;
    if (computing <= 0 || f.cost_seconds <= 0) return 0;
    overhead_ = f.cost_seconds / computing;
    if (max_overhead <= 0) return 0;
    double const per_step = computing / static_cast<double>(f.step - last_step_);
    double const steps = std::ceil(f.cost_seconds / (max_overhead * per_step) - 1e-6);  // (clock rounding: 20.0000001 is 20)
    return steps >= static_cast<double>(max_steps) ? max_steps : static_cast<std::uint64_t>(steps);
  }
  std::uint64_t interval_ = 0, last_step_ = 0, largest_ = 0;
  double observed_ = -1;
  double overhead_ = 0;
  clock::time_point last_when_{};
  bool recorded_ = false;
};

static_assert(policy<adaptive>);

}  // namespace strata::trigger
