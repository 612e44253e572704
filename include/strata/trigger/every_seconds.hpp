#pragma once
/// \file
/// \brief `trigger::every_seconds`: a checkpoint once T seconds have passed since the last one.

#include <strata/trigger/concepts.hpp>
#include <strata/validation.hpp>

#include <optional>

namespace strata::trigger {

/// \brief Due once `seconds` of wall time have passed since the last checkpoint (or the first step).
/// Ranks' clocks differ, so the checkpointer agrees on the decision collectively.
///
/// \code
/// strata::trigger::every_seconds t{600.0};   // every 10 minutes
/// \endcode
struct every_seconds {
  static constexpr bool deterministic = false;
  double seconds = 600.0;

  every_seconds() = default;
  explicit every_seconds(double s) : seconds(s) {}

  [[nodiscard]] bool due(std::uint64_t, clock::time_point now) {
    if (!since_) since_ = now;
    return std::chrono::duration<double>(now - *since_).count() >= seconds;
  }
  void record(feedback const& f) noexcept { since_ = f.when; }
  /// \brief Refuses an interval that is not a finite number of seconds above 0.
  void validate() const { strata::detail::require_seconds("every_seconds", "seconds", seconds); }
  friend bool operator==(every_seconds const& a, every_seconds const& b) noexcept { return a.seconds == b.seconds; }

 private:
  std::optional<clock::time_point> since_;
};

static_assert(policy<every_seconds>);

}  // namespace strata::trigger
