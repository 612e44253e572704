#pragma once
/// \file
/// \brief `trigger::young_daly`: checkpoint at the Young/Daly optimal interval sqrt(2 * C * MTBF).

#include <strata/trigger/concepts.hpp>
#include <strata/validation.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
#include <numeric>
#include <optional>

namespace strata::trigger {

/// \brief Due once `sqrt(2 * C * mtbf_seconds)` seconds have passed since the last checkpoint, where C
/// is the mean cost (application blocked time) of the last `window` checkpoints; bounded by
/// `[min_seconds, max_seconds]`; before any checkpoint was measured, `first_seconds`.
///
/// \code
/// strata::trigger::young_daly t{.mtbf_seconds = 24 * 3600.0};   // one failure a day
/// \endcode
struct young_daly {
  static constexpr bool deterministic = false;  // clocks and costs differ per rank: agreed collectively
  double mtbf_seconds = 24 * 3600.0;
  double first_seconds = 60.0;
  double min_seconds = 1.0;
  double max_seconds = 6 * 3600.0;
  std::size_t window = 5;

  /// \brief The interval now, in seconds.
  [[nodiscard]] double interval_seconds() const {
    if (costs_.empty()) return std::clamp(first_seconds, min_seconds, max_seconds);
    double const c = std::accumulate(costs_.begin(), costs_.end(), 0.0) / static_cast<double>(costs_.size());
    return std::clamp(std::sqrt(2.0 * c * mtbf_seconds), min_seconds, max_seconds);
  }
  /// \brief The measured mean checkpoint cost C (0 before the first checkpoint).
  [[nodiscard]] double cost_seconds() const {
    return costs_.empty() ? 0.0 : std::accumulate(costs_.begin(), costs_.end(), 0.0) / static_cast<double>(costs_.size());
  }
  [[nodiscard]] bool due(std::uint64_t, clock::time_point now) {
    if (!since_) since_ = now;
    return std::chrono::duration<double>(now - *since_).count() >= interval_seconds();
  }
  void record(feedback const& f) {
    since_ = f.when;
    costs_.push_back(f.cost_seconds);
    while (costs_.size() > std::max<std::size_t>(window, 1)) costs_.pop_front();
  }
  /// \brief Refuses non-finite or negative seconds, min above max, and an empty window.
  void validate() const {
    using strata::detail::require_seconds;
    require_seconds("young_daly", "mtbf_seconds", mtbf_seconds);
    require_seconds("young_daly", "first_seconds", first_seconds, true);
    require_seconds("young_daly", "min_seconds", min_seconds, true);
    require_seconds("young_daly", "max_seconds", max_seconds);
    strata::detail::require(min_seconds <= max_seconds, "young_daly", "min_seconds", strata::detail::number(min_seconds),
                            "is above .max_seconds = " + strata::detail::number(max_seconds));
    strata::detail::require_at_least("young_daly", "window", window, 1, "checkpoint costs averaged");
  }
  friend bool operator==(young_daly const& a, young_daly const& b) noexcept {
    return a.mtbf_seconds == b.mtbf_seconds && a.first_seconds == b.first_seconds && a.min_seconds == b.min_seconds &&
           a.max_seconds == b.max_seconds && a.window == b.window;
  }

  // Measurements (public only so that the policy stays an aggregate; not part of the API).
  std::optional<clock::time_point> since_;
  std::deque<double> costs_;
};

static_assert(policy<young_daly>);

}  // namespace strata::trigger
