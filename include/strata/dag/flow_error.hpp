#pragma once
/// \file
/// \brief Errors of `dag::task_flow` (SPEC S9): a malformed flow (`flow_error`) and a task that threw (`task_error`),
/// both carrying the task, handle and rank they concern as members.

#include <strata/dag/graph.hpp>
#include <strata/error.hpp>

#include <string>
#include <utility>

namespace strata::dag {

/// \brief A task flow is malformed: a task reads data no one wrote, uses an unregistered handle, names a
/// handle twice, or the ranks submitted different flows. A `graph_error`, so existing handlers catch it.
class flow_error : public graph_error {
 public:
  flow_error(std::string what, std::string task, std::string handle, int rank = -1)
      : graph_error(std::move(what)), task_(std::move(task)), handle_(std::move(handle)), rank_(rank) {}
  /// \brief The task concerned ("" when none).
  [[nodiscard]] std::string const& task() const noexcept { return task_; }
  /// \brief The data handle concerned ("" when none).
  [[nodiscard]] std::string const& handle() const noexcept { return handle_; }
  /// \brief The rank that detected it (-1 when every rank did).
  [[nodiscard]] int rank() const noexcept { return rank_; }

 private:
  std::string task_, handle_;
  int rank_;
};

/// \brief A task threw while a flow ran; thrown on every rank (the same task, rank and reason everywhere).
class task_error : public error {
 public:
  task_error(std::string task, int rank, std::string reason)
      : error("dag::task_flow: task '" + task + "' threw on rank " + std::to_string(rank) + ": " + reason),
        task_(std::move(task)),
        reason_(std::move(reason)),
        rank_(rank) {}
  /// \brief The task that threw.
  [[nodiscard]] std::string const& task() const noexcept { return task_; }
  /// \brief The `what()` of what it threw.
  [[nodiscard]] std::string const& reason() const noexcept { return reason_; }
  /// \brief The rank it ran on.
  [[nodiscard]] int rank() const noexcept { return rank_; }

 private:
  std::string task_, reason_;
  int rank_;
};

}  // namespace strata::dag
