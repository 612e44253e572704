#pragma once
/// \file
/// \brief `trigger::every_n`: a checkpoint every N steps.

#include <strata/error.hpp>
#include <strata/trigger/concepts.hpp>

namespace strata::trigger {

/// \brief Due at every step that is a positive multiple of `n` (0 disables it).
///
/// \code
/// strata::trigger::every_n t{100};   // steps 100, 200, ...
/// \endcode
struct every_n {
  static constexpr bool deterministic = true;
  std::uint64_t n = 100;

  [[nodiscard]] constexpr bool due(std::uint64_t step, clock::time_point) const noexcept {
    return n != 0 && step != 0 && step % n == 0;
  }
  constexpr void record(feedback const&) const noexcept {}
  friend constexpr bool operator==(every_n const&, every_n const&) = default;
};

static_assert(policy<every_n>);

}  // namespace strata::trigger
