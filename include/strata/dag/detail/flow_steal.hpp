#pragma once
/// \file
/// \brief Work stealing between the ranks of a `dag::task_flow` run (SPEC S9): which tasks may move,
/// the messages (an offer: the task and the bytes it reads; a result: the bytes it wrote), the choice
/// of the rank to ask, and the synchronous sends that carry them. `flow_steal_protocol.hpp` runs the
/// exchange; `flow_runtime.hpp`'s executor says what is ready to give and runs what is stolen.

#include <strata/comm/mpi.hpp>
#include <strata/dag/detail/flow_plan.hpp>
#include <strata/dag/flow_error.hpp>
#include <strata/schedule/backoff.hpp>

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace strata::dag::detail {

/// What stealing needs of a run: on or off, which tasks may move, and its three tags (request, reply
/// = request + 1, result = request + 2), numbered after the transfers' so that no message is mistaken.
struct steal_setup {
  bool on = false;
  std::vector<char> movable;  // per task
  int request_tag = 0;
};

/// The tasks worth moving to another rank: their read plus written bytes are at most `max_bytes` and,
/// when `bandwidth_Bps` > 0, moving them at that rate takes less time than the task's cost.
inline std::vector<char> movable_tasks(std::vector<flow_task> const& tasks, std::vector<data_info> const& data, graph const& g,
                                       std::uint64_t max_bytes, double bandwidth_Bps) {
  std::vector<char> ok(tasks.size(), 0);
  for (std::size_t t = 0; t < tasks.size(); ++t) {
    std::uint64_t bytes = 0;
    for (auto const& a : tasks[t].accesses)
      bytes += (reads(a.mode) ? data[a.handle].bytes : 0) + (writes(a.mode) ? data[a.handle].bytes : 0);
    auto const& c = g.at(t).cost;
    double const cost = c.empty() ? 0.0 : c.begin()->second;
    ok[t] = bytes <= max_bytes && (bandwidth_Bps <= 0.0 || static_cast<double>(bytes) / bandwidth_Bps < cost) ? 1 : 0;
  }
  return ok;
}

/// After a run with stealing (collective): rank_of[t] becomes the rank that ran t; returns how many
/// tasks ran on another rank than their placement's.
inline std::size_t gather_stolen(MPI_Comm comm, std::vector<std::uint64_t> const& mine, std::vector<int>& rank_of) {
  int ranks = 0;
  MPI_Comm_size(comm, &ranks);
  int const n = static_cast<int>(mine.size());
  std::vector<int> counts(static_cast<std::size_t>(ranks)), displs(static_cast<std::size_t>(ranks));
  comm::detail::check_mpi(MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, comm), "MPI_Allgather (task_flow stolen tasks)");
  int total = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) displs[r] = total, total += counts[r];
  std::vector<std::uint64_t> all(static_cast<std::size_t>(std::max(total, 1)));
  comm::detail::check_mpi(MPI_Allgatherv(mine.data(), n, MPI_UINT64_T, all.data(), counts.data(), displs.data(), MPI_UINT64_T, comm),
                          "MPI_Allgatherv (task_flow stolen tasks)");
  for (std::size_t r = 0; r < counts.size(); ++r)
    for (int k = 0; k < counts[r]; ++k) rank_of.at(all[static_cast<std::size_t>(displs[r] + k)]) = static_cast<int>(r);
  return static_cast<std::size_t>(total);
}

/// A task run here for another rank: scratch bytes per access (the reads as received), then the result.
struct stolen_task {
  int victim = -1;
  std::uint64_t op = 0;  // the victim's operation, echoed in the result
  std::size_t task = 0;
  std::vector<std::vector<std::byte>> bytes;
  std::vector<std::span<std::byte>> spans;
  std::vector<std::byte> result;  // op, then the written accesses' bytes in declaration order
};

/// The messages of a steal, as bytes: an offer is (op, task) then the bytes the task reads, in
/// declaration order; a refusal is (no_op, 0); a result is op then the bytes the task wrote.
struct steal_message {
  static constexpr auto no_op = std::numeric_limits<std::uint64_t>::max();

  /// An offer of local operation `op` (task `task`, read from `buffers`), or a refusal (`op == no_op`).
  static std::vector<std::byte> offer(std::uint64_t op, std::size_t task, std::vector<flow_task> const& tasks,
                                      std::vector<std::span<std::byte>> const& buffers) {
    std::uint64_t const head[2] = {op, op == no_op ? 0 : task};
    std::vector<std::byte> bytes(sizeof head);
    std::memcpy(bytes.data(), head, sizeof head);
    if (op != no_op)
      for (auto const& a : tasks[task].accesses)
        if (reads(a.mode)) bytes.insert(bytes.end(), buffers[a.handle].begin(), buffers[a.handle].end());
    return bytes;
  }
  /// The task `victim` offered, on scratch bytes sized as this rank's buffers; nothing for a refusal.
  /// \throws flow_error for a task number or input bytes that do not fit this flow
  static std::optional<stolen_task> take_offer(int victim, std::vector<std::byte> const& bytes, std::vector<flow_task> const& tasks,
                                               std::vector<std::string> const& names,
                                               std::vector<std::span<std::byte>> const& buffers) {
    std::uint64_t head[2] = {no_op, 0};
    if (bytes.size() >= sizeof head) std::memcpy(head, bytes.data(), sizeof head);
    if (head[0] == no_op) return std::nullopt;
    if (head[1] >= tasks.size())
      throw flow_error("dag::task_flow: rank " + std::to_string(victim) + " gave task #" + std::to_string(head[1]) + " of a flow of " +
                           std::to_string(tasks.size()) + " tasks",
                       "", "");
    stolen_task job{victim, head[0], static_cast<std::size_t>(head[1]), {}, {}, {}};
    std::size_t at = sizeof head;
    for (auto const& a : tasks[job.task].accesses) {
      auto& b = job.bytes.emplace_back(buffers[a.handle].size());
      if (!reads(a.mode)) continue;
      if (at + b.size() > bytes.size())
        throw flow_error("dag::task_flow: the inputs of stolen task '" + names[job.task] + "' from rank " + std::to_string(victim) +
                             " are shorter than its handles",
                         names[job.task], "");
      std::memcpy(b.data(), bytes.data() + at, b.size());
      at += b.size();
    }
    for (auto& b : job.bytes) job.spans.emplace_back(b);
    return job;
  }
  /// Fills `job.result` from its scratch bytes after its body ran.
  static void seal_result(stolen_task& job, flow_task const& task) {
    job.result.resize(sizeof job.op);
    std::memcpy(job.result.data(), &job.op, sizeof job.op);
    for (std::size_t k = 0; k < task.accesses.size(); ++k)
      if (writes(task.accesses[k].mode)) job.result.insert(job.result.end(), job.bytes[k].begin(), job.bytes[k].end());
  }
  /// The operation a result answers (`no_op` when too short to say).
  static std::uint64_t result_op(std::vector<std::byte> const& bytes) {
    std::uint64_t op = no_op;
    if (bytes.size() >= sizeof op) std::memcpy(&op, bytes.data(), sizeof op);
    return op;
  }
  /// Writes a result of task `t` from `thief` into this rank's buffers.
  /// \throws flow_error when it is shorter than the task's written handles
  static void apply_result(int thief, std::vector<std::byte> const& bytes, std::size_t t, std::vector<flow_task> const& tasks,
                           std::vector<std::string> const& names, std::vector<std::span<std::byte>> const& buffers) {
    std::size_t at = sizeof(std::uint64_t);
    for (auto const& a : tasks[t].accesses)
      if (writes(a.mode)) {
        auto const dst = buffers[a.handle];
        if (at + dst.size() > bytes.size())
          throw flow_error("dag::task_flow: the result of task '" + names[t] + "' from rank " + std::to_string(thief) +
                               " is shorter than its written handles",
                           names[t], "");
        std::memcpy(dst.data(), bytes.data() + at, dst.size());
        at += dst.size();
      }
  }
};

/// Which rank an idle rank asks next: round robin over the others; after a round of refusals it
/// waits as the dispatcher's retries do (`strata::schedule::exponential_backoff`: 0.1 ms, doubling, at most
/// 2 ms, less up to half by jitter so that idle ranks refused together do not ask again together); an
/// accepted request resets the wait.
class victim_picker {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr ::strata::schedule::exponential_backoff backoff{.base = ::strata::schedule::seconds{1e-4},
                                                                  .cap = ::strata::schedule::seconds{2e-3}};

  victim_picker(int me, int ranks)
      : me_(me), ranks_(std::max(1, ranks)), next_((me + 1) % ranks_), rng_(0x5ea1 + static_cast<std::uint64_t>(me)) {}
  [[nodiscard]] int next() const noexcept { return next_; }
  [[nodiscard]] bool may_ask(clock::time_point now) const noexcept { return now >= not_before_; }
  void refused() {
    next_ = (next_ + 1) % ranks_;
    if (next_ == me_) next_ = (next_ + 1) % ranks_;
    if (++refused_ >= ranks_ - 1) {
      refused_ = 0;
      not_before_ = clock::now() + std::chrono::duration_cast<clock::duration>(backoff.delay(rounds_++, rng_));
    }
  }
  void accepted() noexcept { refused_ = 0, rounds_ = 0; }

 private:
  int me_, ranks_, next_;
  int refused_ = 0;
  unsigned rounds_ = 0;  // rounds of refusals since the last accepted request
  clock::time_point not_before_{};
  std::mt19937_64 rng_;
};

/// The steal messages of one rank: synchronous sends (`MPI_Issend`, so that once the drain has
/// completed a rank's sends its peers have taken them) kept with their buffers until complete, and
/// matched receives of whole messages. Communication thread only.
class steal_channel {
 public:
  explicit steal_channel(MPI_Comm comm) : comm_(comm) {}
  void send(int to, int tag, std::vector<std::byte> bytes) {
    MPI_Request q;
    comm::detail::check_mpi(MPI_Issend(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, to, tag, comm_, &q),
                            "MPI_Issend (task_flow steal)");
    reqs_.push_back(q);
    bufs_.push_back(std::move(bytes));  // a moved vector keeps its buffer
  }
  /// A pending message with `tag` from any rank (its source in `from`), if one has arrived.
  std::optional<std::vector<std::byte>> take(int tag, int& from) {
    int flag = 0;
    MPI_Message msg;
    MPI_Status st;
    comm::detail::check_mpi(MPI_Improbe(MPI_ANY_SOURCE, tag, comm_, &flag, &msg, &st), "MPI_Improbe (task_flow steal)");
    if (!flag) return std::nullopt;
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    std::vector<std::byte> bytes(static_cast<std::size_t>(count));
    comm::detail::check_mpi(MPI_Mrecv(bytes.data(), count, MPI_BYTE, &msg, MPI_STATUS_IGNORE), "MPI_Mrecv (task_flow steal)");
    from = st.MPI_SOURCE;
    return bytes;
  }
  /// Forgets the sends that have completed.
  void test() {
    if (reqs_.empty()) return;
    int n = 0;
    idx_.resize(reqs_.size());
    comm::detail::check_mpi(MPI_Testsome(static_cast<int>(reqs_.size()), reqs_.data(), &n, idx_.data(), MPI_STATUSES_IGNORE),
                            "MPI_Testsome (task_flow steal)");
    std::size_t w = 0;
    for (std::size_t k = 0; k < reqs_.size(); ++k)
      if (reqs_[k] != MPI_REQUEST_NULL) reqs_[w] = reqs_[k], std::swap(bufs_[w], bufs_[k]), ++w;
    reqs_.resize(w);
    bufs_.resize(w);
  }
  /// The sends not yet complete (the drain completes them with the transfers').
  [[nodiscard]] std::vector<MPI_Request> const& pending() const noexcept { return reqs_; }

 private:
  MPI_Comm comm_;
  std::vector<MPI_Request> reqs_;
  std::vector<std::vector<std::byte>> bufs_;
  std::vector<int> idx_;
};

}  // namespace strata::dag::detail
