#pragma once
/// \file
/// \brief Exponentially weighted moving average (SPEC S5): `L(t) = a * R(t) + (1 - a) * L(t-1)`.

#include <strata/error.hpp>

#include <string>

namespace strata::schedule {

/// \brief An EWMA of a measured quantity (response time, step time).
///
/// \code
/// strata::schedule::ewma load{0.8};
/// load.add(0.12); load.add(0.10);
/// double l = load.value();
/// \endcode
class ewma {
 public:
  /// \brief `alpha` is the weight of the newest sample, in (0, 1].
  constexpr explicit ewma(double alpha = 0.8) : alpha_(alpha) {
    if (!(alpha > 0.0 && alpha <= 1.0)) throw usage_error("ewma: alpha must be in (0, 1], got " + std::to_string(alpha));
  }
  /// \brief Folds in a sample; the first sample becomes the value.
  constexpr void add(double sample) noexcept {
    value_ = has_value_ ? alpha_ * sample + (1.0 - alpha_) * value_ : sample;
    has_value_ = true;
  }
  [[nodiscard]] constexpr double value() const noexcept { return value_; }
  [[nodiscard]] constexpr bool has_value() const noexcept { return has_value_; }
  [[nodiscard]] constexpr double alpha() const noexcept { return alpha_; }
  friend constexpr bool operator==(ewma const&, ewma const&) = default;

 private:
  double alpha_;
  double value_ = 0.0;
  bool has_value_ = false;
};

}  // namespace strata::schedule
