#pragma once
/// \file
/// \brief Implementation of `dag::task_flow::run` (SPEC S9): the per-rank plan of local operations
/// (tasks, sends, receives) with their local dependencies, and the executor running it with a pool of
/// worker threads and one communication thread (the caller) that makes every MPI call.

#include <strata/comm/mpi.hpp>
#include <strata/dag/access.hpp>
#include <strata/dag/flow_error.hpp>
#include <strata/dag/graph.hpp>

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <queue>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace strata::dag::detail {

/// The type-erased body of a task: one byte span per declared access, in declaration order.
using flow_body = std::function<void(std::span<std::span<std::byte> const>)>;

/// What the runtime needs of one submitted task.
struct flow_task {
  std::vector<data_access> accesses;
  flow_body body;
};

/// One local operation of a rank: a task it runs, or a transfer of one handle's bytes to / from a peer.
struct local_op {
  enum class kind : std::uint8_t { task, send, recv };
  kind what = kind::task;
  std::size_t index = 0;  // task id (task) or handle id (send, recv)
  int peer = -1;
  int tag = 0;
  double priority = 0.0;
  std::uint32_t waiting = 0;        // local predecessors not yet done
  std::vector<std::uint32_t> next;  // local successors
};

/// The operations of one rank and counts over all ranks.
struct local_plan {
  std::vector<local_op> ops;
  std::size_t transfers = 0;       // all ranks
  std::size_t local_tasks = 0;     // this rank
  std::uint64_t bytes_sent = 0;    // this rank
};

/// Tag of the abort message; transfer k uses tag k + 1.
inline constexpr int abort_tag = 0;

/// HEFT's upward rank with free transfers: cost + costliest path to an exit. Task ids are in program
/// order, which is a topological order of an inferred graph.
inline std::vector<double> upward_ranks(graph const& g) {
  std::vector<double> up(g.size(), 0.0);
  for (auto t = g.size(); t-- > 0;) {
    double tail = 0.0;
    for (auto ei : g.out_edges(t)) tail = std::max(tail, up[g.edges()[ei].to]);
    auto const& c = g.at(t).cost;
    up[t] = (c.empty() ? 0.0 : c.begin()->second) + tail;
  }
  return up;
}

/// Builds rank `me`'s operations. Every rank walks the same program order with the same placement, so
/// all agree on which transfers exist and on their tags. Each transfer is a reader of the handle on the
/// sender and a writer on the receiver; local dependencies (RAW, WAR, WAW) are inferred over each rank's
/// own accesses, so a rank waits for a peer only through the data it receives.
inline local_plan build_local_plan(int me, int ranks, std::vector<int> const& rank_of, std::vector<flow_task> const& tasks,
                                   std::vector<data_info> const& data, std::vector<double> const& priority) {
  constexpr auto none = std::numeric_limits<std::uint32_t>::max();
  auto const P = static_cast<std::size_t>(ranks);
  local_plan plan;
  std::vector<std::vector<char>> valid(data.size(), std::vector<char>(P, 0));  // ranks holding the latest value
  std::vector<int> producer(data.size());
  for (std::size_t h = 0; h < data.size(); ++h) valid[h][static_cast<std::size_t>(data[h].home)] = 1, producer[h] = data[h].home;
  std::vector<std::uint32_t> last_writer(data.size(), none);
  std::vector<std::vector<std::uint32_t>> readers(data.size());

  auto depend = [&](std::uint32_t pred, std::uint32_t op) {
    if (pred == none) return;
    auto& nx = plan.ops[pred].next;
    if (!nx.empty() && nx.back() == op) return;  // every edge into `op` is added while `op` is the newest
    nx.push_back(op);
    ++plan.ops[op].waiting;
  };
  auto local_access = [&](std::uint32_t op, handle_id h, access_mode m) {
    depend(last_writer[h], op);
    if (!writes(m)) {
      readers[h].push_back(op);
      return;
    }
    for (auto r : readers[h]) depend(r, op);
    readers[h].clear();
    last_writer[h] = op;
  };
  auto add = [&](local_op op) {
    plan.ops.push_back(std::move(op));
    return static_cast<std::uint32_t>(plan.ops.size() - 1);
  };
  auto transfer = [&](handle_id h, int to, double prio) {
    int const from = producer[h];
    int const tag = static_cast<int>(++plan.transfers);
    if (from == me) {
      local_access(add({local_op::kind::send, h, to, tag, prio, 0, {}}), h, access_mode::read);
      plan.bytes_sent += data[h].bytes;
    }
    if (to == me) local_access(add({local_op::kind::recv, h, from, tag, prio, 0, {}}), h, access_mode::write);
    valid[h][static_cast<std::size_t>(to)] = 1;
  };

  for (task_id t = 0; t < tasks.size(); ++t) {
    int const e = rank_of[t];
    for (auto const& a : tasks[t].accesses)
      if (reads(a.mode) && !valid[a.handle][static_cast<std::size_t>(e)]) transfer(a.handle, e, priority[t]);
    if (e == me) {
      auto const op = add({local_op::kind::task, t, -1, 0, priority[t], 0, {}});
      for (auto const& a : tasks[t].accesses) local_access(op, a.handle, a.mode);
      ++plan.local_tasks;
    }
    for (auto const& a : tasks[t].accesses)
      if (writes(a.mode)) {
        std::ranges::fill(valid[a.handle], 0);
        valid[a.handle][static_cast<std::size_t>(e)] = 1;
        producer[a.handle] = e;
      }
  }
  // Every handle's final value goes back to its home.
  for (handle_id h = 0; h < data.size(); ++h)
    if (!valid[h][static_cast<std::size_t>(data[h].home)]) transfer(h, data[h].home, 0.0);
  return plan;
}

/// How a rank's part of a run ended.
struct run_outcome {
  enum code : std::uint64_t { ok = 0, aborted = 1, threw = 2 };  // worst wins in the agreement
  std::uint64_t status = ok;
  std::string task, reason;  // the task that threw here, and what it threw
  double elapsed_s = 0.0, busy_s = 0.0;
  std::size_t tasks_run = 0;
};

/// Runs one rank's `local_plan`: `workers` threads take ready tasks by priority; the calling thread
/// posts and tests the transfers (MPI_Isend / MPI_Irecv / MPI_Testsome: every MPI call of the run is made
/// by this one thread, so MPI_THREAD_FUNNELED suffices) and waits on a condition variable, never in a
/// blocking MPI call. A task that throws stops the rank and sends an abort message to every peer; then all
/// ranks drain their messages (sends completed, unexpected messages discarded, a non-blocking barrier)
/// so that no rank is left waiting. `comm` is MPI_COMM_NULL for a single process without MPI.
class flow_executor {
 public:
  using clock = std::chrono::steady_clock;

  flow_executor(local_plan& plan, std::vector<flow_task> const& tasks, std::vector<std::string> const& task_names,
                std::vector<std::span<std::byte>> const& buffers, int workers, MPI_Comm comm, int ranks)
      : plan_(plan), tasks_(tasks), names_(task_names), buffers_(buffers), workers_(std::max(1, workers)), comm_(comm),
        ranks_(ranks) {}

  run_outcome run() {
    auto const t0 = clock::now();
    {
      std::vector<std::jthread> pool;
      for (int w = 0; w < workers_; ++w) pool.emplace_back([this] { worker(); });
      try {
        seed();
        progress();
      } catch (std::exception const& e) {
        fail_here("(runtime)", e.what());
        wait_idle();
      }
      {
        std::lock_guard lk(m_);
        stop_ = true;
      }
      work_cv_.notify_all();
    }  // workers joined
    if (comm_ != MPI_COMM_NULL && ranks_ > 1) drain();
    out_.elapsed_s = std::chrono::duration<double>(clock::now() - t0).count();
    return std::move(out_);
  }

 private:
  struct by_priority {
    std::vector<local_op> const* ops;
    bool operator()(std::uint32_t a, std::uint32_t b) const {
      auto const pa = (*ops)[a].priority, pb = (*ops)[b].priority;
      return pa != pb ? pa < pb : a > b;  // highest priority first, then program order
    }
  };

  void seed() {
    std::lock_guard lk(m_);
    for (std::uint32_t i = 0; i < plan_.ops.size(); ++i)
      if (plan_.ops[i].waiting == 0) make_ready(i);
    work_cv_.notify_all();
  }
  // Under m_.
  void make_ready(std::uint32_t i) {
    if (plan_.ops[i].what == local_op::kind::task)
      ready_.push(i);
    else
      comm_ready_.push_back(i);
  }
  // Under m_: op i is done; returns whether workers have new work.
  bool complete(std::uint32_t i) {
    bool work = false;
    ++done_;
    for (auto n : plan_.ops[i].next)
      if (--plan_.ops[n].waiting == 0) {
        make_ready(n);
        work |= plan_.ops[n].what == local_op::kind::task;
      }
    return work;
  }
  void fail_here(std::string const& task, std::string const& reason) {
    std::lock_guard lk(m_);
    if (out_.status != run_outcome::threw) out_.status = run_outcome::threw, out_.task = task, out_.reason = reason;
    failed_ = true;
    work_cv_.notify_all();
    comm_cv_.notify_all();
  }
  void wait_idle() {
    std::unique_lock lk(m_);
    comm_cv_.wait(lk, [&] { return running_ == 0; });
  }

  void worker() {
    thread_local std::vector<std::span<std::byte>> spans;
    std::unique_lock lk(m_);
    for (;;) {
      ++idle_;
      work_cv_.wait(lk, [&] { return stop_ || (!failed_ && !ready_.empty()); });
      --idle_;
      if (stop_) return;
      auto const i = ready_.top();
      ready_.pop();
      ++running_;
      lk.unlock();
      auto const t = plan_.ops[i].index;
      spans.clear();
      for (auto const& a : tasks_[t].accesses) spans.push_back(buffers_[a.handle]);
      std::string error;
      auto const b0 = clock::now();
      try {
        tasks_[t].body(spans);
      } catch (std::exception const& e) {
        error = e.what();
        if (error.empty()) error = "(empty what())";
      } catch (...) {
        error = "an exception not derived from std::exception";
      }
      auto const busy = std::chrono::duration<double>(clock::now() - b0).count();
      lk.lock();
      --running_;
      out_.busy_s += busy;
      ++out_.tasks_run;
      if (!error.empty()) {
        if (out_.status != run_outcome::threw) out_.status = run_outcome::threw, out_.task = names_[t], out_.reason = error;
        failed_ = true;
        comm_cv_.notify_all();
        continue;
      }
      if (complete(i)) work_cv_.notify_all();
      if (!comm_ready_.empty() || done_ == plan_.ops.size()) comm_cv_.notify_one();
    }
  }

  void post(std::uint32_t i) {
    auto const& op = plan_.ops[i];
    auto const buf = buffers_[op.index];
    if (buf.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
      throw flow_error("dag::task_flow: a handle of " + std::to_string(buf.size()) + " bytes exceeds MPI's int count", "", "");
    MPI_Request r;
    if (op.what == local_op::kind::send)
      comm::detail::check_mpi(MPI_Isend(buf.data(), static_cast<int>(buf.size()), MPI_BYTE, op.peer, op.tag, comm_, &r),
                              "MPI_Isend (task_flow transfer)");
    else
      comm::detail::check_mpi(MPI_Irecv(buf.data(), static_cast<int>(buf.size()), MPI_BYTE, op.peer, op.tag, comm_, &r),
                              "MPI_Irecv (task_flow transfer)");
    reqs_.push_back(r);
    req_op_.push_back(i);
  }
  // Tests the posted transfers; completes the finished ones. Returns whether any finished.
  bool test_transfers() {
    if (reqs_.empty()) return false;
    int n = 0;
    idx_.resize(reqs_.size());
    comm::detail::check_mpi(MPI_Testsome(static_cast<int>(reqs_.size()), reqs_.data(), &n, idx_.data(), MPI_STATUSES_IGNORE),
                            "MPI_Testsome (task_flow transfers)");
    if (n <= 0) return false;
    {
      std::lock_guard lk(m_);
      bool work = false;
      for (int k = 0; k < n; ++k) work |= complete(req_op_[static_cast<std::size_t>(idx_[static_cast<std::size_t>(k)])]);
      if (work) work_cv_.notify_all();
    }
    std::size_t w = 0;
    for (std::size_t k = 0; k < reqs_.size(); ++k)
      if (reqs_[k] != MPI_REQUEST_NULL) reqs_[w] = reqs_[k], req_op_[w] = req_op_[k], ++w;
    reqs_.resize(w);
    req_op_.resize(w);
    return true;
  }
  void send_aborts() {
    int const me = [&] { int r = 0; MPI_Comm_rank(comm_, &r); return r; }();
    for (int r = 0; r < ranks_; ++r)
      if (r != me) {
        MPI_Request q;
        // Synchronous: its completion means the peer has taken it, so the drain's barrier follows it.
        comm::detail::check_mpi(MPI_Issend(nullptr, 0, MPI_BYTE, r, abort_tag, comm_, &q), "MPI_Issend (task_flow abort)");
        aborts_.push_back(q);
      }
  }
  bool abort_arrived() {
    int flag = 0;
    MPI_Status st;
    comm::detail::check_mpi(MPI_Iprobe(MPI_ANY_SOURCE, abort_tag, comm_, &flag, &st), "MPI_Iprobe (task_flow abort)");
    if (!flag) return false;
    comm::detail::check_mpi(MPI_Recv(nullptr, 0, MPI_BYTE, st.MPI_SOURCE, abort_tag, comm_, MPI_STATUS_IGNORE),
                            "MPI_Recv (task_flow abort)");
    return true;
  }

  // The communication loop of the calling thread; returns when every local operation is done, or
  // after a failure once no task is running.
  void progress() {
    bool const mpi = comm_ != MPI_COMM_NULL && ranks_ > 1;
    std::vector<std::uint32_t> to_post;
    auto last_event = clock::now();
    bool abort_sent = false;
    for (;;) {
      bool failed = false, threw = false;
      {
        std::lock_guard lk(m_);
        failed = failed_;
        threw = out_.status == run_outcome::threw;
        if (failed ? running_ == 0 : done_ == plan_.ops.size()) {
          if (threw && mpi && !abort_sent) send_aborts();
          return;
        }
        to_post.swap(comm_ready_);
      }
      if (threw && mpi && !abort_sent) send_aborts(), abort_sent = true;
      bool event = false;
      if (!failed)
        for (auto i : to_post) post(i), event = true;
      to_post.clear();
      if (mpi) {
        event |= test_transfers();
        if (!failed && abort_arrived()) {
          std::lock_guard lk(m_);
          if (out_.status == run_outcome::ok) out_.status = run_outcome::aborted;
          failed_ = true;
          event = true;
        }
      }
      if (event) {
        last_event = clock::now();
        continue;
      }
      std::unique_lock lk(m_);
      auto const woken = [&] {
        return !comm_ready_.empty() || (failed_ ? running_ == 0 : done_ == plan_.ops.size()) ||
               (out_.status == run_outcome::threw && !abort_sent);
      };
      if (!mpi) {
        comm_cv_.wait(lk, woken);
      } else if (!reqs_.empty() && idle_ > 0 && clock::now() - last_event < std::chrono::milliseconds(2)) {
        // A worker has nothing to do until data arrives: poll without sleeping (its core is free).
        lk.unlock();
        std::this_thread::yield();
      } else {
        // Every worker computes (or nothing is in flight): poll rarely, leave the cores to them.
        comm_cv_.wait_for(lk, reqs_.empty() ? std::chrono::microseconds(500) : std::chrono::microseconds(50), woken);
      }
    }
  }

  // After the local part: complete this rank's sends (peers may have stopped receiving, so discard any
  // message that arrives unasked), then a non-blocking barrier; cancel receives no one will match.
  void drain() {
    for (auto r : aborts_) reqs_.push_back(r), req_op_.push_back(std::numeric_limits<std::uint32_t>::max());
    std::vector<MPI_Request> sends, recvs;
    for (std::size_t k = 0; k < reqs_.size(); ++k)
      (req_op_[k] != std::numeric_limits<std::uint32_t>::max() && plan_.ops[req_op_[k]].what == local_op::kind::recv ? recvs
                                                                                                                     : sends)
          .push_back(reqs_[k]);
    std::vector<std::byte> discard;
    MPI_Request barrier = MPI_REQUEST_NULL;
    bool in_barrier = false;
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
        if (st.MPI_TAG == abort_tag && out_.status == run_outcome::ok) out_.status = run_outcome::aborted;
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
  }

  local_plan& plan_;
  std::vector<flow_task> const& tasks_;
  std::vector<std::string> const& names_;
  std::vector<std::span<std::byte>> const& buffers_;
  int workers_;
  MPI_Comm comm_;
  int ranks_;

  std::mutex m_;
  std::condition_variable work_cv_, comm_cv_;
  std::priority_queue<std::uint32_t, std::vector<std::uint32_t>, by_priority> ready_{by_priority{&plan_.ops}};
  std::vector<std::uint32_t> comm_ready_;
  std::size_t done_ = 0;
  int running_ = 0, idle_ = 0;
  bool failed_ = false, stop_ = false;
  run_outcome out_;
  // Communication thread only.
  std::vector<MPI_Request> reqs_, aborts_;
  std::vector<std::uint32_t> req_op_;
  std::vector<int> idx_;
};

}  // namespace strata::dag::detail
