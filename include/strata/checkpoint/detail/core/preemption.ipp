#pragma once
/// \file
/// \brief Pre-emption in `checkpointer_core`: listening from the first step, the collective checkpoint
/// when a signal reached any rank, stopping or exiting (options: `checkpoint/preemption_options.hpp`).
/// Definitions of members declared in `checkpoint/detail/checkpointer_core.hpp` (not a public header).

#include <strata/checkpoint/detail/checkpointer_core.hpp>

namespace strata {

STRATA_CORE_TEMPLATE
auto STRATA_CORE::checks_preemption_at(std::uint64_t i) -> bool {
  if (!opt_.preemption.enabled() || preempted_) return false;
  if (!listener_) listener_.emplace(opt_.preemption.signals);
  return i % opt_.preemption.check_every == 0;
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::stop_for_preemption() -> void {
  int const mine = listener_->pending();
  auto const none = std::numeric_limits<std::uint64_t>::max();
  auto const first = comm_.all_reduce(mine ? std::uint64_t(comm_.rank()) << 16 | std::uint64_t(mine) : none,
                                      comm::reduce_op::min);  // the lowest rank that caught one, and which
  preemption::event e{static_cast<int>(first & 0xffffu), static_cast<int>(first >> 16), step_, 0};
  if (!next_version_) discover_next_version();
  if (comm_.rank() == 0)
    log_.notice("pre-emption signal " + preemption::signal_name(e.signal) + " received on rank " +
                std::to_string(e.rank) + "; checkpointing version " + std::to_string(*next_version_) + " at step " +
                std::to_string(e.step) + " and " +
                (opt_.preemption.on_signal == preemption::action::exit
                     ? "exiting with status " + std::to_string(opt_.preemption.exit_status)
                     : std::string("stopping")));
  e.version = checkpoint_impl(checkpoint::urgency::forced);
  wait();  // async: committed before the application is told to stop
  listener_.reset();  // a later signal acts as it would without strata
  preempted_ = e;
  if (opt_.preemption.on_signal == preemption::action::exit) exit_after_preemption();
}

STRATA_CORE_TEMPLATE
auto STRATA_CORE::exit_after_preemption() -> void {
  writer_.reset();
  lock_ = {};
  if constexpr (std::same_as<Comm, comm::mpi>)
    if (!comm::detail::mpi_finalized()) MPI_Finalize();
  std::exit(opt_.preemption.exit_status);
}

}  // namespace strata
