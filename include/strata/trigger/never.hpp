#pragma once
/// \file
/// \brief `trigger::never`: no periodic checkpoint; checkpoints only on demand.

#include <strata/trigger/concepts.hpp>

namespace strata::trigger {

/// \brief Never due: the application checkpoints with `ckpt.checkpoint()`, or a pre-emption
/// signal does (`.preemption`); `step()` adds no collective for it.
///
/// \code
/// strata::checkpointer<strata::comm::mpi, strata::snapshot::full, strata::storage::posix_dir,
///                      strata::consistency::coordinated, strata::trigger::never> ckpt{MPI_COMM_WORLD};
/// \endcode
struct never {
  static constexpr bool deterministic = true;

  [[nodiscard]] constexpr bool due(std::uint64_t, clock::time_point) const noexcept { return false; }
  constexpr void record(feedback const&) const noexcept {}
  friend constexpr bool operator==(never const&, never const&) = default;
};

static_assert(policy<never>);

}  // namespace strata::trigger
