#pragma once
/// \file
/// \brief The checks a checkpointer makes of its options before it touches the directory: one
/// sentence naming the first value that cannot work (not a public header).

#include <strata/checkpoint/log.hpp>
#include <strata/checkpoint/preemption_options.hpp>
#include <strata/comm/concepts.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/consistency/eventual.hpp>
#include <strata/error.hpp>
#include <strata/storage/alone.hpp>
#include <strata/validation.hpp>

#include <cmath>
#include <concepts>
#include <string>

namespace strata::checkpoint::detail {

/// \brief Why `.async = true` cannot work with this communicator's MPI (empty: it can).
template <comm::communicator Comm>
std::string thread_support_problem() {
  if constexpr (std::same_as<Comm, comm::mpi>) {
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    if (level < MPI_THREAD_MULTIPLE)
      return "checkpointer: .async = true needs MPI initialised with MPI_THREAD_MULTIPLE "
             "(strata::comm::mpi_environment requests it; this MPI provided less)";
  }
  return {};
}

/// \brief One sentence naming the first checkpointer option whose value cannot work with `comm`
/// (empty: all can).
template <class Options, comm::communicator Comm>
std::string misused_option(Options const& o, Comm const& comm) {
  try {
    if (o.directory.empty())
      return "checkpointer option .directory is empty; name the directory that holds the checkpoints";
    if (auto const s = o.lock_lease.count(); !std::isfinite(s) || s <= 0)
      return "checkpointer option .lock_lease is " + strata::detail::number(s) +
             " s; it must be a finite number of seconds above 0";
    if (auto const s = o.metrics_period.count(); !std::isfinite(s) || s < 0)
      return "checkpointer option .metrics_period is " + strata::detail::number(s) +
             " s; it must be a finite number of seconds, 0 or more (0: at every commit and restore)";
    if (auto const s = o.progress_after.count(); std::isnan(s) || s <= 0)
      return "checkpointer option .progress_after is " + strata::detail::number(s) +
             " s; it must be a number of seconds above 0 (infinity: no progress lines)";
    if (auto const l = static_cast<int>(o.log_level); l < 0 || l > static_cast<int>(verbosity::info))
      return "checkpointer option .log_level is " + std::to_string(l) +
             ", not a strata::verbosity (quiet, warnings or info)";
    strata::detail::validate_option(".trigger", o.trigger);
    strata::detail::validate_option(".retention", o.retention);
    strata::detail::validate_option(".snapshot", o.snapshot);
    strata::detail::validate_option(".storage", o.storage);
    strata::detail::validate_option(".consistency", o.consistency);
    strata::detail::validate_option(".preemption", o.preemption);
    if (consistency::is_eventual(o.consistency))
      if (auto const why = storage::alone::why_not(o.storage); !why.empty())
        return "checkpointer option .consistency: eventual writes each rank's shard with no collective, but " + why;
  } catch (usage_error const& e) {
    return e.what();
  }
  if constexpr (std::same_as<Comm, comm::mpi>) {
    int world = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (o.preemption.enabled() && o.preemption.on_signal == preemption::action::exit && world != comm.size())
      return "checkpointer option .preemption: on_signal = exit ends the process with MPI_Finalize, which "
             "every rank of MPI_COMM_WORLD must call, but this checkpointer's communicator has " +
             std::to_string(comm.size()) + " of its " + std::to_string(world) +
             " ranks; use on_signal = stop and end the program yourself";
  }
  return {};
}

}  // namespace strata::checkpoint::detail
