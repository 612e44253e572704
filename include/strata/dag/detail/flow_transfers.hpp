#pragma once
/// \file
/// \brief The MPI side of one rank's `dag::task_flow` run (SPEC S9): the planned transfers posted and
/// tested without blocking, the abort messages of a failed run, and the drain that leaves no message in
/// flight when the run ends. Used by `flow_runtime.hpp` from its communication (calling) thread only.

#include <strata/comm/mpi.hpp>
#include <strata/dag/detail/flow_plan.hpp>
#include <strata/dag/flow_error.hpp>

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace strata::dag::detail {

/// The transfers in flight of one rank, each tagged with the local operation it completes.
class flow_transfers {
 public:
  explicit flow_transfers(MPI_Comm comm) : comm_(comm) {}

  /// Posts operation `op` (a send or a receive of `buf` with `peer`, `tag`).
  void post(local_op const& what, std::span<std::byte> buf, std::uint32_t op) {
    if (buf.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
      throw flow_error("dag::task_flow: a handle of " + std::to_string(buf.size()) + " bytes exceeds MPI's int count", "", "");
    MPI_Request r;
    bool const send = what.what == local_op::kind::send;
    if (send)
      comm::detail::check_mpi(MPI_Isend(buf.data(), static_cast<int>(buf.size()), MPI_BYTE, what.peer, what.tag, comm_, &r),
                              "MPI_Isend (task_flow transfer)");
    else
      comm::detail::check_mpi(MPI_Irecv(buf.data(), static_cast<int>(buf.size()), MPI_BYTE, what.peer, what.tag, comm_, &r),
                              "MPI_Irecv (task_flow transfer)");
    reqs_.push_back(r);
    ops_.push_back({op, !send});
  }
  [[nodiscard]] bool empty() const noexcept { return reqs_.empty(); }

  /// Tests the posted transfers; the operations of those that finished (empty when none).
  std::vector<std::uint32_t> const& test() {
    finished_.clear();
    if (reqs_.empty()) return finished_;
    idx_.resize(reqs_.size());
    int n = 0;
    comm::detail::check_mpi(MPI_Testsome(static_cast<int>(reqs_.size()), reqs_.data(), &n, idx_.data(), MPI_STATUSES_IGNORE),
                            "MPI_Testsome (task_flow transfers)");
    if (n <= 0) return finished_;
    for (int k = 0; k < n; ++k) finished_.push_back(ops_[static_cast<std::size_t>(idx_[static_cast<std::size_t>(k)])].op);
    std::size_t w = 0;  // keep the unfinished ones (MPI_Testsome set the finished ones to MPI_REQUEST_NULL)
    for (std::size_t k = 0; k < reqs_.size(); ++k)
      if (reqs_[k] != MPI_REQUEST_NULL) reqs_[w] = reqs_[k], ops_[w] = ops_[k], ++w;
    reqs_.resize(w);
    ops_.resize(w);
    return finished_;
  }

  /// Tells every other rank that this run failed (synchronous sends: once complete, the peer has the
  /// message, so the drain's barrier comes after it).
  void send_aborts(int me, int ranks) {
    for (int r = 0; r < ranks; ++r)
      if (r != me) {
        MPI_Request q;
        comm::detail::check_mpi(MPI_Issend(nullptr, 0, MPI_BYTE, r, abort_tag, comm_, &q), "MPI_Issend (task_flow abort)");
        aborts_.push_back(q);
      }
  }
  /// Whether a peer's abort message arrived (taken if so).
  bool abort_arrived() {
    int flag = 0;
    MPI_Status st;
    comm::detail::check_mpi(MPI_Iprobe(MPI_ANY_SOURCE, abort_tag, comm_, &flag, &st), "MPI_Iprobe (task_flow abort)");
    if (!flag) return false;
    comm::detail::check_mpi(MPI_Recv(nullptr, 0, MPI_BYTE, st.MPI_SOURCE, abort_tag, comm_, MPI_STATUS_IGNORE),
                            "MPI_Recv (task_flow abort)");
    return true;
  }

  /// After the local part: complete this rank's sends and aborts and the `other` requests (steal
  /// messages, a pending barrier), discarding any message that arrives unasked (peers may have stopped
  /// receiving), then meet every rank in a non-blocking barrier and cancel the receives no one will
  /// match. Returns whether an abort message was among the discarded ones.
  bool drain(std::span<MPI_Request const> other) {
    std::vector<MPI_Request> sends(other.begin(), other.end()), recvs;
    sends.insert(sends.end(), aborts_.begin(), aborts_.end());
    for (std::size_t k = 0; k < reqs_.size(); ++k) (ops_[k].receive ? recvs : sends).push_back(reqs_[k]);
    reqs_.clear(), ops_.clear(), aborts_.clear();
    std::vector<std::byte> discard;
    MPI_Request barrier = MPI_REQUEST_NULL;
    bool in_barrier = false, aborted = false;
    for (;;) {
      bool event = false;
      if (!sends.empty()) {
        int all = 0;
        MPI_Testall(static_cast<int>(sends.size()), sends.data(), &all, MPI_STATUSES_IGNORE);
        if (all) sends.clear(), event = true;
      }
      if (sends.empty() && !in_barrier) {
        MPI_Ibarrier(comm_, &barrier);
        in_barrier = true;
      }
      int flag = 0;
      MPI_Message msg;
      MPI_Status st;
      MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_, &flag, &msg, &st);
      if (flag) {
        int count = 0;
        MPI_Get_count(&st, MPI_BYTE, &count);
        discard.resize(static_cast<std::size_t>(std::max(count, 1)));
        MPI_Mrecv(discard.data(), count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
        aborted |= st.MPI_TAG == abort_tag;
        event = true;
      }
      if (in_barrier) {
        int done = 0;
        MPI_Test(&barrier, &done, MPI_STATUS_IGNORE);
        if (done) break;
      }
      if (!event) std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    for (auto& r : recvs) {
      int done = 0;
      MPI_Test(&r, &done, MPI_STATUS_IGNORE);
      if (done) continue;
      MPI_Cancel(&r);
      MPI_Wait(&r, MPI_STATUS_IGNORE);
    }
    return aborted;
  }

 private:
  struct posted {
    std::uint32_t op;
    bool receive;
  };
  MPI_Comm comm_;
  std::vector<MPI_Request> reqs_;  // in flight, with ops_ alongside
  std::vector<posted> ops_;
  std::vector<MPI_Request> aborts_;
  std::vector<int> idx_;
  std::vector<std::uint32_t> finished_;
};

}  // namespace strata::dag::detail
