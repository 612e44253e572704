#pragma once
/// \file
/// \brief The stealing protocol of one rank of a `dag::task_flow` run (SPEC S9), apart from the
/// executor that runs the tasks: requests answered, offers and results taken, finished stolen tasks
/// sent back, an idle rank's request sent, and the barrier that tells when every rank is done. The
/// executor (`flow_runtime.hpp`) is its `steal_host`: what is ready, what its workers run.

#include <strata/comm/mpi.hpp>
#include <strata/dag/detail/flow_plan.hpp>
#include <strata/dag/detail/flow_steal.hpp>
#include <strata/dag/flow_error.hpp>

#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace strata::dag::detail {

/// What the protocol asks of the rank it steals for (all on the communication thread).
class steal_host {
 public:
  /// A ready task beyond what this rank's idle workers will take, whose task is `movable` and has a host
  /// body, taken out of the ready tasks with the newest values of what it reads in the host buffers;
  /// `steal_message::no_op` when there is none.
  virtual std::uint64_t give_away(std::vector<char> const& movable) = 0;
  /// A task stolen from another rank, for this rank's host workers.
  virtual void run_for_peer(stolen_task job) = 0;
  /// Operation `op`, given away, ran elsewhere and its result is in the buffers: it completes here.
  virtual void complete_given(std::uint64_t op) = 0;
  /// The stolen tasks that ran here since the last call, their results sealed.
  virtual std::vector<stolen_task> take_finished() = 0;
  /// Whether a worker here is idle with no task to take (the run not failed).
  virtual bool starving() = 0;

 protected:
  ~steal_host() = default;
};

/// One rank's side of stealing: requests, offers and results over a `steal_channel` with the tags of
/// `steal_setup`, a `victim_picker` for whom to ask, and the done barrier. Communication thread only.
class steal_protocol {
 public:
  using clock = std::chrono::steady_clock;

  steal_protocol(steal_setup setup, MPI_Comm comm, int me, int ranks, std::vector<flow_task> const& tasks,
                 std::vector<std::string> const& names, std::vector<std::span<std::byte>> const& buffers,
                 std::vector<local_op> const& plan_ops)
      : setup_(std::move(setup)), comm_(comm), channel_(comm), victims_(me, ranks), away_(plan_ops.size(), 0), tasks_(tasks),
        names_(names), buffers_(buffers), ops_(plan_ops) {}

  /// One round: requests answered, a reply and results taken, finished stolen tasks sent back, an idle
  /// rank's request sent. \returns whether anything happened.
  bool step(steal_host& host) {
    bool event = false;
    int from = -1;
    while (channel_.take(request_tag(), from)) answer(host, from), event = true;
    if (auto reply = channel_.take(reply_tag(), from)) take_reply(host, from, *reply), event = true;
    while (auto result = channel_.take(result_tag(), from)) take_result(host, from, *result), event = true;
    auto done = host.take_finished();
    for (auto& job : done) {
      bytes_sent_ += job.result.size();
      channel_.send(job.victim, result_tag(), std::move(job.result));
    }
    held_ -= done.size();
    event |= !done.empty();
    channel_.test();
    return ask_if_idle(host) || event;
  }
  /// Enters the done barrier once this rank's plan is done (`local_done`) and tests it. \returns
  /// whether that changed anything.
  bool step_done_barrier(bool local_done) {
    bool event = false;
    if (local_done && !barrier_posted_) enter_done_barrier(), event = true;
    if (barrier_posted_ && !all_done_) {
      int flag = 0;
      comm::detail::check_mpi(MPI_Test(&barrier_, &flag, MPI_STATUS_IGNORE), "MPI_Test (task_flow steal barrier)");
      all_done_ = flag != 0;
      event |= all_done_;
    }
    return event;
  }
  /// Every rank is done with its plan (and answers no more requests).
  [[nodiscard]] bool all_done() const noexcept { return all_done_; }
  /// A request of this rank is unanswered.
  [[nodiscard]] bool asking() const noexcept { return asking_; }
  /// At the run's end (a failed rank included): enters the done barrier, so that the barriers pair up,
  /// and returns the requests the drain completes with the transfers' (sends, and that barrier).
  std::vector<MPI_Request> finish() {
    if (!barrier_posted_) enter_done_barrier();
    std::vector<MPI_Request> pending(channel_.pending().begin(), channel_.pending().end());
    if (!all_done_) pending.push_back(barrier_);
    return pending;
  }
  /// Requests this rank sent.
  [[nodiscard]] std::size_t requests() const noexcept { return requests_; }
  /// Inputs given away and results sent back, in bytes.
  [[nodiscard]] std::uint64_t bytes_sent() const noexcept { return bytes_sent_; }

 private:
  [[nodiscard]] int request_tag() const noexcept { return setup_.request_tag; }
  [[nodiscard]] int reply_tag() const noexcept { return setup_.request_tag + 1; }
  [[nodiscard]] int result_tag() const noexcept { return setup_.request_tag + 2; }

  // A peer asks for work: the task the host gives away, with the bytes it reads; or a refusal.
  void answer(steal_host& host, int thief) {
    auto const op = host.give_away(setup_.movable);
    if (op != steal_message::no_op) away_[op] = 1;
    auto bytes = steal_message::offer(op, op == steal_message::no_op ? 0 : ops_[op].index, tasks_, buffers_);
    if (op != steal_message::no_op) bytes_sent_ += bytes.size();
    channel_.send(thief, reply_tag(), std::move(bytes));
  }
  // The answer to this rank's request: a task for the workers, or a refusal (ask the next rank; after a
  // round of refusals wait: victim_picker).
  void take_reply(steal_host& host, int victim, std::vector<std::byte> const& bytes) {
    asking_ = false;
    auto job = steal_message::take_offer(victim, bytes, tasks_, names_, buffers_);
    if (!job) {
      victims_.refused();
      return;
    }
    victims_.accepted();
    ++held_;
    host.run_for_peer(std::move(*job));
  }
  // A thief's result: the written bytes into this rank's buffers, then the task completes here.
  void take_result(steal_host& host, int thief, std::vector<std::byte> const& bytes) {
    auto const op = steal_message::result_op(bytes);
    if (op >= away_.size() || !away_[op])
      throw flow_error("dag::task_flow: rank " + std::to_string(thief) + " returned the result of an operation this rank did not give it",
                       "", "");
    steal_message::apply_result(thief, bytes, ops_[op].index, tasks_, names_, buffers_);
    away_[op] = 0;
    host.complete_given(op);
  }
  // Asks the next rank for a task when this rank's workers have nothing: no ready task, none stolen.
  bool ask_if_idle(steal_host& host) {
    if (asking_ || held_ > 0 || !victims_.may_ask(clock::now()) || !host.starving()) return false;
    asking_ = true;
    ++requests_;
    channel_.send(victims_.next(), request_tag(), {});
    return true;
  }
  void enter_done_barrier() {
    comm::detail::check_mpi(MPI_Ibarrier(comm_, &barrier_), "MPI_Ibarrier (task_flow steal)");
    barrier_posted_ = true;
  }

  steal_setup setup_;
  MPI_Comm comm_;
  steal_channel channel_;
  victim_picker victims_;
  std::vector<char> away_;  // per op: given to a thief, its result not yet back
  std::vector<flow_task> const& tasks_;
  std::vector<std::string> const& names_;
  std::vector<std::span<std::byte>> const& buffers_;
  std::vector<local_op> const& ops_;
  bool asking_ = false, barrier_posted_ = false, all_done_ = false;
  std::size_t held_ = 0;  // stolen tasks here whose results are not yet sent
  std::size_t requests_ = 0;
  std::uint64_t bytes_sent_ = 0;
  MPI_Request barrier_ = MPI_REQUEST_NULL;
};

}  // namespace strata::dag::detail
