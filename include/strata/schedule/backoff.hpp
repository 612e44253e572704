#pragma once
/// \file
/// \brief Retry delays (SPEC R10c): exponential growth, a cap, and jitter.

#include <strata/error.hpp>
#include <strata/schedule/task.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <random>
#include <string>

namespace strata::schedule {

/// \brief `delay(k) = min(cap, base * factor^k) * (1 - jitter * U[0, 1))` for the k-th retry (k from 0).
///
/// Jitter spreads retries of many tasks that failed together, so they do not
/// hit the same worker at the same instant.
/// \code
/// strata::schedule::exponential_backoff b{.base = seconds{0.05}, .cap = seconds{2}};
/// std::mt19937_64 rng{1};
/// auto d = b.delay(3, rng);   // about 0.4 s, less up to half by jitter
/// \endcode
struct exponential_backoff {
  seconds base{0.1};    ///< delay before the first retry, before jitter
  double factor = 2.0;  ///< growth per retry (>= 1)
  seconds cap{10.0};    ///< no delay exceeds this
  double jitter = 0.5;  ///< share of the delay that is randomised away, in [0, 1]

  /// \brief Throws `usage_error` when a parameter is out of range.
  void validate() const {
    if (base.count() < 0.0 || cap.count() < 0.0) throw usage_error("exponential_backoff: base and cap must be >= 0");
    if (factor < 1.0) throw usage_error("exponential_backoff: factor must be >= 1, got " + std::to_string(factor));
    if (jitter < 0.0 || jitter > 1.0)
      throw usage_error("exponential_backoff: jitter must be in [0, 1], got " + std::to_string(jitter));
  }
  /// \brief The delay before the retry numbered `attempt` (0 = first retry), never above `cap`.
  template <std::uniform_random_bit_generator G>
  [[nodiscard]] seconds delay(unsigned attempt, G& rng) const {
    double const grown = base.count() * std::pow(factor, static_cast<double>(std::min(attempt, 1000u)));
    double const capped = std::min(cap.count(), grown);
    double const u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    return seconds{capped * (1.0 - jitter * u)};
  }
  friend constexpr bool operator==(exponential_backoff const&, exponential_backoff const&) = default;
};

/// \brief A retry-delay policy: given the retry number and a generator, how long to wait.
template <class B>
concept backoff_policy = std::semiregular<B> && requires(B const& b, unsigned k, std::mt19937_64& g) {
  { b.delay(k, g) } -> std::convertible_to<seconds>;
};

static_assert(backoff_policy<exponential_backoff>);

}  // namespace strata::schedule
