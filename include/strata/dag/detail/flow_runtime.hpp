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
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
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

/// How a rank's part of a run ended.
struct run_outcome {
  enum code : std::uint64_t { ok = 0, aborted = 1, threw = 2 };  // worst wins in the agreement
  std::uint64_t status = ok;
  std::string task, reason;  // the task that threw here, and what it threw
  double elapsed_s = 0.0, busy_s = 0.0;
  std::size_t tasks_run = 0;                // local and stolen
  std::vector<std::uint64_t> stolen;        // tasks this rank ran for another rank
  std::uint64_t steal_bytes_sent = 0;       // inputs given away and results sent back
};

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

/// Runs one rank's `local_plan`: `workers` threads take ready tasks by priority; the calling thread
/// posts and tests the transfers (MPI_Isend / MPI_Irecv / MPI_Testsome: every MPI call of the run is made
/// by this one thread, so MPI_THREAD_FUNNELED suffices) and waits on a condition variable, never in a
/// blocking MPI call. A task that throws stops the rank and sends an abort message to every peer; then all
/// ranks drain their messages (sends completed, unexpected messages discarded, a non-blocking barrier)
/// so that no rank is left waiting. `comm` is MPI_COMM_NULL for a single process without MPI.
///
/// With stealing on, a rank whose workers find no ready task asks a peer (round robin, backing off
/// after a round of refusals) for one; the peer gives its lowest-priority ready movable task beyond
/// what its own idle workers will take, with the bytes the task reads. The thief runs it on scratch
/// copies (its own buffers keep their versions) and sends the written bytes back; the owner writes them
/// into its buffers and completes the task as if it had run there, so every later transfer and the
/// values at the homes are those of the placement. A rank done with its plan enters a non-blocking
/// barrier and keeps answering and stealing until every rank is in it (or a failure stops the run).
class flow_executor {
 public:
  using clock = std::chrono::steady_clock;

  flow_executor(local_plan& plan, std::vector<flow_task> const& tasks, std::vector<std::string> const& task_names,
                std::vector<std::span<std::byte>> const& buffers, int workers, MPI_Comm comm, int ranks, steal_setup steal = {})
      : plan_(plan), tasks_(tasks), names_(task_names), buffers_(buffers), workers_(std::max(1, workers)), comm_(comm),
        ranks_(ranks), mpi_(comm != MPI_COMM_NULL && ranks > 1), steal_(std::move(steal)) {
    if (comm_ != MPI_COMM_NULL) MPI_Comm_rank(comm_, &me_);
    steal_.on = steal_.on && mpi_;
    away_.assign(plan_.ops.size(), 0);
    next_victim_ = (me_ + 1) % std::max(1, ranks_);
  }

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
    if (mpi_) drain();
    out_.elapsed_s = std::chrono::duration<double>(clock::now() - t0).count();
    return std::move(out_);
  }

 private:
  static constexpr auto no_op = std::numeric_limits<std::uint64_t>::max();

  struct by_priority {
    std::vector<local_op> const* ops;
    bool operator()(std::uint32_t a, std::uint32_t b) const {
      auto const pa = (*ops)[a].priority, pb = (*ops)[b].priority;
      return pa != pb ? pa < pb : a > b;  // ascending: the last is the highest priority, then program order
    }
  };

  // A task run here for another rank: scratch bytes per access (the reads as received), then the result.
  struct stolen_task {
    int victim = -1;
    std::uint64_t op = 0;  // the victim's operation, echoed in the result
    std::size_t task = 0;
    std::vector<std::vector<std::byte>> bytes;
    std::vector<std::span<std::byte>> spans;
    std::vector<std::byte> result;  // op, then the written accesses' bytes in declaration order
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
      ready_.insert(i);
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
    std::unique_lock lk(m_);
    for (;;) {
      ++idle_;
      work_cv_.wait(lk, [&] { return stop_ || (!failed_ && (!ready_.empty() || !stolen_ready_.empty())); });
      --idle_;
      if (stop_) return;
      if (!ready_.empty())
        run_local(lk);
      else
        run_stolen(lk);
    }
  }
  // Under lk, released while the body runs: the highest-priority ready task of this rank's plan.
  void run_local(std::unique_lock<std::mutex>& lk) {
    thread_local std::vector<std::span<std::byte>> spans;
    auto const top = std::prev(ready_.end());
    auto const i = *top;
    ready_.erase(top);
    ++running_;
    lk.unlock();
    auto const t = plan_.ops[i].index;
    spans.clear();
    for (auto const& a : tasks_[t].accesses) spans.push_back(buffers_[a.handle]);
    auto const [error, busy] = call(t, spans);
    lk.lock();
    if (!body_done(t, error, busy)) return;
    if (complete(i)) work_cv_.notify_all();
    if (!comm_ready_.empty() || done_ == plan_.ops.size()) comm_cv_.notify_one();
  }
  // Under lk, released while the body runs: a task stolen from another rank, on its scratch bytes.
  void run_stolen(std::unique_lock<std::mutex>& lk) {
    auto job = std::move(stolen_ready_.front());
    stolen_ready_.pop_front();
    ++running_;
    lk.unlock();
    auto const [error, busy] = call(job.task, job.spans);
    if (error.empty()) {
      auto const& acc = tasks_[job.task].accesses;
      job.result.resize(sizeof(std::uint64_t));
      std::memcpy(job.result.data(), &job.op, sizeof job.op);
      for (std::size_t k = 0; k < acc.size(); ++k)
        if (writes(acc[k].mode)) job.result.insert(job.result.end(), job.bytes[k].begin(), job.bytes[k].end());
    }
    lk.lock();
    if (!body_done(job.task, error, busy)) return;
    out_.stolen.push_back(job.task);
    stolen_done_.push_back(std::move(job));
    comm_cv_.notify_one();
  }
  // Runs task t's body; returns what it threw ("" when nothing) and the seconds it took.
  std::pair<std::string, double> call(std::size_t t, std::span<std::span<std::byte> const> spans) {
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
    return {std::move(error), std::chrono::duration<double>(clock::now() - b0).count()};
  }
  // Under m_: counts a body that ran; false when it threw (this rank fails, naming task t).
  bool body_done(std::size_t t, std::string const& error, double busy) {
    --running_;
    out_.busy_s += busy;
    ++out_.tasks_run;
    if (error.empty()) return true;
    if (out_.status != run_outcome::threw) out_.status = run_outcome::threw, out_.task = names_[t], out_.reason = error;
    failed_ = true;
    comm_cv_.notify_all();
    return false;
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
    for (int r = 0; r < ranks_; ++r)
      if (r != me_) {
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

  // Stealing, all on the communication thread. Every steal message is synchronous (MPI_Issend), so
  // that once the drain has completed a rank's sends its peers have taken them.
  void steal_send(int to, int tag, std::vector<std::byte> bytes) {
    MPI_Request q;
    comm::detail::check_mpi(MPI_Issend(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, to, tag, comm_, &q),
                            "MPI_Issend (task_flow steal)");
    steal_reqs_.push_back(q);
    steal_bufs_.push_back(std::move(bytes));  // a moved vector keeps its buffer
  }
  std::optional<std::vector<std::byte>> steal_take(int tag, int& from) {
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
  // One round: requests answered, a reply and results taken, finished stolen tasks sent back, an
  // idle rank's request sent. Returns whether anything happened.
  bool steal_step() {
    bool event = false;
    int from = -1;
    while (steal_take(steal_.request_tag, from)) answer(from), event = true;
    if (auto reply = steal_take(steal_.request_tag + 1, from)) take_reply(from, *reply), event = true;
    while (auto result = steal_take(steal_.request_tag + 2, from)) take_result(from, *result), event = true;
    std::vector<stolen_task> done;
    {
      std::lock_guard lk(m_);
      done.swap(stolen_done_);
    }
    for (auto& job : done) {
      out_.steal_bytes_sent += job.result.size();
      steal_send(job.victim, steal_.request_tag + 2, std::move(job.result));
    }
    held_ -= done.size();
    event |= !done.empty();
    if (!steal_reqs_.empty()) {
      int n = 0;
      idx_.resize(steal_reqs_.size());
      comm::detail::check_mpi(
          MPI_Testsome(static_cast<int>(steal_reqs_.size()), steal_reqs_.data(), &n, idx_.data(), MPI_STATUSES_IGNORE),
          "MPI_Testsome (task_flow steal)");
      std::size_t w = 0;
      for (std::size_t k = 0; k < steal_reqs_.size(); ++k)
        if (steal_reqs_[k] != MPI_REQUEST_NULL) steal_reqs_[w] = steal_reqs_[k], std::swap(steal_bufs_[w], steal_bufs_[k]), ++w;
      steal_reqs_.resize(w);
      steal_bufs_.resize(w);
    }
    return ask_if_idle() || event;
  }
  // A peer asks for work: give the lowest-priority ready movable task that this rank's idle workers will
  // not take, with the bytes it reads; or refuse (operation no_op).
  void answer(int thief) {
    std::uint64_t head[2] = {no_op, 0};
    {
      std::lock_guard lk(m_);
      if (!failed_ && ready_.size() > static_cast<std::size_t>(idle_))
        for (auto it = ready_.begin(); it != ready_.end(); ++it)
          if (steal_.movable[plan_.ops[*it].index]) {
            head[0] = *it, head[1] = plan_.ops[*it].index;
            away_[*it] = 1;
            ready_.erase(it);
            break;
          }
    }
    std::vector<std::byte> bytes(sizeof head);
    std::memcpy(bytes.data(), head, sizeof head);
    if (head[0] != no_op) {
      for (auto const& a : tasks_[head[1]].accesses)
        if (reads(a.mode)) bytes.insert(bytes.end(), buffers_[a.handle].begin(), buffers_[a.handle].end());
      out_.steal_bytes_sent += bytes.size();
    }
    steal_send(thief, steal_.request_tag + 1, std::move(bytes));
  }
  // The answer to this rank's request: a task for the workers, or a refusal (ask the next rank; after a
  // round of refusals wait, twice as long each round up to 2 ms).
  void take_reply(int victim, std::vector<std::byte> const& bytes) {
    asking_ = false;
    std::uint64_t head[2] = {no_op, 0};
    if (bytes.size() >= sizeof head) std::memcpy(head, bytes.data(), sizeof head);
    if (head[0] == no_op) {
      next_victim_ = (next_victim_ + 1) % ranks_;
      if (next_victim_ == me_) next_victim_ = (next_victim_ + 1) % ranks_;
      if (++refused_ >= ranks_ - 1) {
        refused_ = 0;
        not_before_ = clock::now() + backoff_;
        backoff_ = std::min(backoff_ * 2, std::chrono::microseconds(2000));
      }
      return;
    }
    refused_ = 0, backoff_ = std::chrono::microseconds(100);
    if (head[1] >= tasks_.size())
      throw flow_error("dag::task_flow: rank " + std::to_string(victim) + " gave task #" + std::to_string(head[1]) + " of a flow of " +
                           std::to_string(tasks_.size()) + " tasks",
                       "", "");
    stolen_task job{victim, head[0], static_cast<std::size_t>(head[1]), {}, {}, {}};
    std::size_t at = sizeof head;
    for (auto const& a : tasks_[job.task].accesses) {
      auto& b = job.bytes.emplace_back(buffers_[a.handle].size());
      if (!reads(a.mode)) continue;
      if (at + b.size() > bytes.size())
        throw flow_error("dag::task_flow: the inputs of stolen task '" + names_[job.task] + "' from rank " + std::to_string(victim) +
                             " are shorter than its handles",
                         names_[job.task], "");
      std::memcpy(b.data(), bytes.data() + at, b.size());
      at += b.size();
    }
    for (auto& b : job.bytes) job.spans.emplace_back(b);
    ++held_;
    std::lock_guard lk(m_);
    stolen_ready_.push_back(std::move(job));
    work_cv_.notify_one();
  }
  // A thief's result: the written bytes into this rank's buffers, then the task completes here.
  void take_result(int thief, std::vector<std::byte> const& bytes) {
    std::uint64_t op = no_op;
    if (bytes.size() >= sizeof op) std::memcpy(&op, bytes.data(), sizeof op);
    if (op >= plan_.ops.size() || !away_[op])
      throw flow_error("dag::task_flow: rank " + std::to_string(thief) +
                           " returned the result of an operation this rank did not give it",
                       "", "");
    auto const t = plan_.ops[op].index;
    std::size_t at = sizeof op;
    for (auto const& a : tasks_[t].accesses)
      if (writes(a.mode)) {
        auto const dst = buffers_[a.handle];
        if (at + dst.size() > bytes.size())
          throw flow_error("dag::task_flow: the result of task '" + names_[t] + "' from rank " + std::to_string(thief) +
                               " is shorter than its written handles",
                           names_[t], "");
        std::memcpy(dst.data(), bytes.data() + at, dst.size());
        at += dst.size();
      }
    away_[op] = 0;
    std::lock_guard lk(m_);
    if (complete(static_cast<std::uint32_t>(op))) work_cv_.notify_all();
  }
  // Asks the next rank for a task when this rank's workers have nothing: no ready task, none stolen.
  bool ask_if_idle() {
    if (asking_ || held_ > 0 || clock::now() < not_before_) return false;
    {
      std::lock_guard lk(m_);
      if (failed_ || idle_ == 0 || !ready_.empty()) return false;
    }
    asking_ = true;
    steal_send(next_victim_, steal_.request_tag, {});
    return true;
  }

  // The communication loop of the calling thread; returns when every local operation is done (with
  // stealing: and every rank is), or after a failure once no task is running.
  void progress() {
    std::vector<std::uint32_t> to_post;
    auto last_event = clock::now();
    bool abort_sent = false;
    for (;;) {
      bool failed = false, threw = false, local_done = false;
      {
        std::lock_guard lk(m_);
        failed = failed_;
        threw = out_.status == run_outcome::threw;
        local_done = done_ == plan_.ops.size();
        if (failed ? running_ == 0 : local_done && (!steal_.on || all_done_)) {
          if (threw && mpi_ && !abort_sent) send_aborts();
          return;
        }
        to_post.swap(comm_ready_);
      }
      if (threw && mpi_ && !abort_sent) send_aborts(), abort_sent = true;
      bool event = false;
      if (!failed)
        for (auto i : to_post) post(i), event = true;
      to_post.clear();
      if (mpi_) {
        event |= test_transfers();
        if (!failed && abort_arrived()) {
          std::lock_guard lk(m_);
          if (out_.status == run_outcome::ok) out_.status = run_outcome::aborted;
          failed_ = true;
          event = true;
        }
      }
      if (steal_.on && !failed) {
        event |= steal_step();
        if (local_done && !done_barrier_posted_) enter_done_barrier(), event = true;
        if (done_barrier_posted_ && !all_done_) {
          int flag = 0;
          comm::detail::check_mpi(MPI_Test(&done_barrier_, &flag, MPI_STATUS_IGNORE), "MPI_Test (task_flow steal barrier)");
          all_done_ = flag != 0;
          event |= all_done_;
        }
      }
      if (event) {
        last_event = clock::now();
        continue;
      }
      std::unique_lock lk(m_);
      auto const woken = [&] {
        return !comm_ready_.empty() || !stolen_done_.empty() || (failed_ ? running_ == 0 : done_ == plan_.ops.size() && !steal_.on) ||
               (out_.status == run_outcome::threw && !abort_sent);
      };
      if (!mpi_) {
        comm_cv_.wait(lk, woken);
      } else if ((!reqs_.empty() || asking_) && idle_ > 0 && clock::now() - last_event < std::chrono::milliseconds(2)) {
        // A worker has nothing to do until data arrives: poll without sleeping (its core is free).
        lk.unlock();
        std::this_thread::yield();
      } else {
        // Every worker computes (or nothing is in flight): poll rarely, leave the cores to them.
        comm_cv_.wait_for(lk, reqs_.empty() ? std::chrono::microseconds(500) : std::chrono::microseconds(50), woken);
      }
    }
  }
  void enter_done_barrier() {
    comm::detail::check_mpi(MPI_Ibarrier(comm_, &done_barrier_), "MPI_Ibarrier (task_flow steal)");
    done_barrier_posted_ = true;
  }

  // After the local part: complete this rank's sends (peers may have stopped receiving, so discard any
  // message that arrives unasked), then a non-blocking barrier; cancel receives no one will match. With
  // stealing every rank enters the done barrier first (a failed rank here), so the barriers pair up.
  void drain() {
    if (steal_.on && !done_barrier_posted_) enter_done_barrier();
    for (auto r : aborts_) reqs_.push_back(r), req_op_.push_back(std::numeric_limits<std::uint32_t>::max());
    std::vector<MPI_Request> sends, recvs;
    for (std::size_t k = 0; k < reqs_.size(); ++k)
      (req_op_[k] != std::numeric_limits<std::uint32_t>::max() && plan_.ops[req_op_[k]].what == local_op::kind::recv ? recvs
                                                                                                                     : sends)
          .push_back(reqs_[k]);
    sends.insert(sends.end(), steal_reqs_.begin(), steal_reqs_.end());
    if (done_barrier_posted_ && !all_done_) sends.push_back(done_barrier_);
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
  bool mpi_;
  int me_ = 0;
  steal_setup steal_;

  std::mutex m_;
  std::condition_variable work_cv_, comm_cv_;
  std::set<std::uint32_t, by_priority> ready_{by_priority{&plan_.ops}};
  std::vector<std::uint32_t> comm_ready_;
  std::deque<stolen_task> stolen_ready_;  // stolen here, for the workers
  std::vector<stolen_task> stolen_done_;  // run here, results to send back
  std::size_t done_ = 0;
  int running_ = 0, idle_ = 0;
  bool failed_ = false, stop_ = false;
  run_outcome out_;
  // Communication thread only.
  std::vector<MPI_Request> reqs_, aborts_;
  std::vector<std::uint32_t> req_op_;
  std::vector<int> idx_;
  std::vector<char> away_;  // per op: given to a thief, its result not yet back
  std::vector<MPI_Request> steal_reqs_;
  std::vector<std::vector<std::byte>> steal_bufs_;
  bool asking_ = false, done_barrier_posted_ = false, all_done_ = false;
  std::size_t held_ = 0;  // stolen tasks here whose results are not yet sent
  int next_victim_ = 0, refused_ = 0;
  clock::time_point not_before_{};
  std::chrono::microseconds backoff_{100};
  MPI_Request done_barrier_ = MPI_REQUEST_NULL;
};

}  // namespace strata::dag::detail
