#pragma once
/// \file
/// \brief What a `dag::task_flow` is told (registered data, submitted tasks, how it runs: workers,
/// work stealing) and what its `run` returns.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace strata::dag {

/// \brief Where a registered buffer's value lives, and whether it has one.
struct data_options {
  int home = 0;             ///< the rank whose buffer holds the value before and after a run
  bool initialized = true;  ///< false: no value yet; a task reading it before a write is an error
};

/// \brief A submitted task's name (in errors) and cost in seconds (placement and priority).
struct task_options {
  std::string name;
  double cost = 0.0;
};

/// \brief Work stealing between ranks: a rank whose workers have no ready task takes a ready task of a
/// busier rank. The task's read bytes go to the thief, which runs it on scratch copies and sends the
/// written bytes back; the owner completes it as if it had run there, so every value ends as without
/// stealing. Off by default: it adds request messages while a rank is idle, and which rank ran a task
/// (`flow_result::rank_of`) then depends on timing. Every rank must pass the same options.
///
/// \code
/// strata::dag::task_flow<> flow{{.workers = 2, .steal = {.enabled = true, .max_bytes = 256 << 10}}};
/// \endcode
struct steal_options {
  bool enabled = false;              ///< idle ranks take ready tasks of busier ones
  std::uint64_t max_bytes = 1 << 20;  ///< a task moves only if its read plus written bytes are at most this
  double bandwidth_Bps = 0.0;        ///< > 0: and only if moving those bytes at this rate takes less than its cost

  friend bool operator==(steal_options const&, steal_options const&) = default;
};

/// \brief How the flow runs.
struct flow_options {
  int workers = 1;      ///< threads running tasks per rank, the calling thread included
  steal_options steal;  ///< work stealing between ranks (off by default)
  /// false (default): the calling thread is one of the `workers` and makes the MPI calls between the tasks
  /// it runs (`workers` threads per rank in all: MPI everywhere, one rank per core, is not oversubscribed);
  /// true: the calling thread only communicates, beside `workers` threads of the pool (lower latency for
  /// transfers when every worker computes, if the rank has a core to spare for it).
  bool progress_thread = false;
  /// Device workers per rank (`dag/device.hpp`): one thread each, for tasks with a device body; the
  /// `d`-th runs on device `d` of the Thrust device system. 0: host workers only.
  int devices = 0;

  friend bool operator==(flow_options const&, flow_options const&) = default;
};

/// \brief What `task_flow::run` returns on every rank.
struct flow_result {
  double makespan_s = 0.0;   ///< slowest rank, start barrier to its end (placement included)
  double busy_s = 0.0;       ///< this rank, inside task bodies (all workers)
  std::size_t tasks_run = 0; ///< by this rank
  std::size_t transfers = 0; ///< between ranks, all ranks (final copies to the homes included)
  std::uint64_t bytes_sent = 0;  ///< by this rank (stolen tasks' inputs and results included)
  std::vector<int> rank_of;  ///< where each task ran, by task id (-1: restored, not run)
  std::size_t tasks_stolen = 0;  ///< all ranks: tasks that ran on another rank than their placement's (steal_options)
  std::size_t resumed_from = 0;  ///< resumable runs: tasks of program order restored from a checkpoint, not run
  std::size_t cuts_saved = 0;    ///< resumable runs: cuts the checkpointer's trigger saved
  std::size_t device_tasks = 0;  ///< by this rank's device workers
  std::size_t steal_requests = 0;  ///< this rank: requests for a task it sent to peers (steal_options)
  std::uint64_t device_bytes_in = 0, device_bytes_out = 0;  ///< this rank: copied to its devices, and back to host
};

}  // namespace strata::dag
