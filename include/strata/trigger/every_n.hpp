#pragma once
/// \file
/// \brief `trigger::every_n`: a checkpoint every N steps.

#include <strata/trigger/concepts.hpp>
#include <strata/validation.hpp>

namespace strata::trigger {

/// \brief Due at every step that is a positive multiple of `n` (at least 1: for no periodic
/// checkpoint at all, use `trigger::never`).
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
  /// \brief `n = 0` would never checkpoint: refused, so that a forgotten interval is not silent.
  void validate() const {
    strata::detail::require(n != 0, "every_n", "n", "0",
                    "would never checkpoint; use strata::trigger::never for checkpoints on demand only "
                    "(checkpoint(), pre-emption)");
  }
  friend constexpr bool operator==(every_n const&, every_n const&) = default;
};

static_assert(policy<every_n>);

}  // namespace strata::trigger
