#pragma once
/// \file
/// \brief Implementation of `dag::task_flow::run` (SPEC S9): the executor running one rank's plan
/// (`flow_plan.hpp`) with a pool of worker threads and the calling thread, which makes every MPI call
/// (and runs tasks between them unless it has a thread of its own), stealing through `flow_steal_protocol.hpp`.

#include <strata/comm/mpi.hpp>
#include <strata/dag/access.hpp>
#include <strata/dag/detail/flow_device.hpp>
#include <strata/dag/detail/flow_plan.hpp>
#include <strata/dag/detail/flow_steal.hpp>
#include <strata/dag/detail/flow_steal_protocol.hpp>
#include <strata/dag/detail/flow_transfers.hpp>
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

/// How a rank's part of a run ended.
struct run_outcome {
  enum code : std::uint64_t { ok = 0, aborted = 1, threw = 2 };  // worst wins in the agreement
  std::uint64_t status = ok;
  std::string task, reason;  // the task that threw here, and what it threw
  double elapsed_s = 0.0, busy_s = 0.0;
  std::size_t tasks_run = 0;                // local and stolen
  std::vector<std::uint64_t> stolen;        // tasks this rank ran for another rank
  std::uint64_t steal_bytes_sent = 0;       // inputs given away and results sent back
  std::size_t device_tasks = 0;             // run by the device workers
  std::size_t steal_requests = 0;           // sent by this rank
  std::uint64_t device_bytes_in = 0, device_bytes_out = 0;
};

/// Runs one rank's `local_plan`: `workers` threads take ready tasks by priority. The calling thread
/// posts and tests the transfers (MPI_Isend / MPI_Irecv / MPI_Testsome: every MPI call of the run is made
/// by this one thread, so MPI_THREAD_FUNNELED suffices), never in a blocking MPI call. By default it is one
/// of the workers: it runs one ready task between two rounds of tests (a pool of `workers - 1` threads
/// beside it), and polls while it has no task and transfers are in flight; with `progress_thread` it only
/// communicates (a pool of `workers`) and waits on a condition variable while the workers compute.
/// `devices` device workers run the tasks with a device body over the copies of `device_copies`
/// (`flow_device.hpp`), which stay on the device until the host needs them (a host task reading, a send,
/// a steal offer: `host_current` first; at a device worker's end, `flush`); host workers take only tasks
/// with a host body. A task that throws stops the rank and sends an abort message to every peer; then all
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
class flow_executor final : private steal_host {
 public:
  using clock = std::chrono::steady_clock;

  flow_executor(local_plan& plan, std::vector<flow_task> const& tasks, std::vector<std::string> const& task_names,
                std::vector<std::span<std::byte>> const& buffers, int workers, MPI_Comm comm, int ranks, steal_setup steal = {},
                bool progress_thread = false, int devices = 0)
      : plan_(plan), tasks_(tasks), names_(task_names), buffers_(buffers), caller_works_(!progress_thread),
        pool_size_(std::max(1, workers) - (progress_thread ? 0 : 1)), devices_(std::max(0, devices)), comm_(comm), ranks_(ranks),
        mpi_(comm != MPI_COMM_NULL && ranks > 1) {
    if (comm_ != MPI_COMM_NULL) MPI_Comm_rank(comm_, &me_);
    if (steal.on && mpi_) stealing_.emplace(std::move(steal), comm_, me_, ranks_, tasks_, names_, buffers_, plan_.ops);
    if (devices_ > 0) dev_.emplace(buffers_.size(), devices_), ran_on_device_.assign(plan_.ops.size(), -1);
  }

  run_outcome run() {
    auto const t0 = clock::now();
    {
      std::vector<std::jthread> pool;
      for (int w = 0; w < pool_size_; ++w) pool.emplace_back([this] { worker(); });
      if (devices_ > detail::visible_devices())
        fail_here("(devices)", "flow_options::devices is " + std::to_string(devices_) + " but this process sees " +
                                   std::to_string(detail::visible_devices()) + " device(s)");
      else
        for (int d = 0; d < devices_; ++d) pool.emplace_back([this, d] { device_worker(d); });
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
    if (stealing_) out_.steal_requests = stealing_->requests(), out_.steal_bytes_sent = stealing_->bytes_sent();
    if (dev_) out_.device_bytes_in = dev_->bytes_in(), out_.device_bytes_out = dev_->bytes_out();
    out_.elapsed_s = std::chrono::duration<double>(clock::now() - t0).count();
    return std::move(out_);
  }

 private:
  struct by_priority {
    std::vector<local_op> const* ops;
    bool operator()(std::uint32_t a, std::uint32_t b) const {
      auto const pa = (*ops)[a].priority, pb = (*ops)[b].priority;
      return pa != pb ? pa < pb : a > b;  // ascending: the last is the highest priority, then program order
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
      ready_.insert(i);
    else
      comm_ready_.push_back(i);
  }
  // Under m_: op i is done; returns whether workers have new work.
  bool complete(std::uint32_t i) {
    bool work = false;
    ++done_;
    if (dev_) {  // the host buffers it wrote hold the newest values: other device copies are stale
      auto const& op = plan_.ops[i];
      if (op.what == local_op::kind::recv) dev_->wrote(op.index, -1);
      if (op.what == local_op::kind::task)
        for (auto const& a : tasks_[op.index].accesses)
          if (writes(a.mode)) dev_->wrote(a.handle, ran_on_device_[i]);
    }
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
      work_cv_.wait(lk, [&] { return stop_ || (!failed_ && has_host_work()); });
      --idle_;
      if (stop_) return;
      if (auto const it = pick(false); it != ready_.end())
        run_local(lk, it);
      else
        run_stolen(lk);
    }
  }
  // A device worker: device d current on this thread, its copies freed on this thread at the end.
  void device_worker(int d) {
    try {
      detail::use_device(d);
    } catch (std::exception const& e) {
      fail_here("(device " + std::to_string(d) + ")", e.what());
    }
    {
      std::unique_lock lk(m_);
      for (;;) {
        work_cv_.wait(lk, [&] { return stop_ || (!failed_ && pick(true) != ready_.end()); });
        if (stop_) break;
        run_local(lk, pick(true), d);
      }
    }
    try {
      dev_->flush(d, buffers_);
    } catch (std::exception const& e) {
      fail_here("(device " + std::to_string(d) + ")", std::string("copying the device's values back: ") + e.what());
    }
    dev_->release(d);
  }
  using ready_set = std::set<std::uint32_t, by_priority>;
  // Under m_: the highest-priority ready task a host (device) worker can run; ready_.end() when none.
  ready_set::iterator pick(bool device) {
    for (auto it = ready_.end(); it != ready_.begin();) {
      --it;
      auto const& t = tasks_[plan_.ops[*it].index];
      if (device ? static_cast<bool>(t.device_body) : static_cast<bool>(t.body)) return it;
    }
    return ready_.end();
  }
  // Under m_: a task for a host worker (ready here, or stolen).
  bool has_host_work() { return !stolen_ready_.empty() || pick(false) != ready_.end(); }
  // Under lk, released while the body runs: ready task `it` of this rank's plan, on the host (device < 0)
  // or on device worker `device`.
  void run_local(std::unique_lock<std::mutex>& lk, ready_set::iterator it, int device = -1) {
    thread_local std::vector<std::span<std::byte>> spans;
    auto const i = *it;
    ready_.erase(it);
    ++running_;
    lk.unlock();
    auto const t = plan_.ops[i].index;
    spans.clear();
    auto const [error, busy] = device < 0 ? timed([&] {
      reads_on_host(t);
      for (auto const& a : tasks_[t].accesses) spans.push_back(buffers_[a.handle]);
      tasks_[t].body(spans);
    })
                                          : timed([&] { run_on_device(device, t, spans); });
    lk.lock();
    if (!body_done(t, error, busy)) return;
    if (device >= 0) ran_on_device_[i] = device, ++out_.device_tasks;
    bool const work = complete(i);
    if (work && pool_size_ + devices_ > 0) work_cv_.notify_all();
    if (!comm_ready_.empty() || done_ == plan_.ops.size() || (work && caller_idle_)) comm_cv_.notify_one();
  }
  // Under lk, released while the body runs: a task stolen from another rank, on its scratch bytes.
  void run_stolen(std::unique_lock<std::mutex>& lk) {
    auto job = std::move(stolen_ready_.front());
    stolen_ready_.pop_front();
    ++running_;
    lk.unlock();
    auto const [error, busy] = timed([&] { tasks_[job.task].body(job.spans); });
    if (error.empty()) steal_message::seal_result(job, tasks_[job.task]);
    lk.lock();
    if (!body_done(job.task, error, busy)) return;
    out_.stolen.push_back(job.task);
    stolen_done_.push_back(std::move(job));
    comm_cv_.notify_one();
  }
  // Task t on device worker d: its handles' device copies (copied in where stale), the device body, the
  // device's work finished; what it wrote stays on the device (dev_->wrote when it completes).
  void run_on_device(int d, std::size_t t, std::vector<std::span<std::byte>>& spans) {
    auto const& acc = tasks_[t].accesses;
    for (auto const& a : acc) spans.push_back(dev_->acquire(d, a.handle, buffers_[a.handle], reads(a.mode)));
    tasks_[t].device_body(spans);
    detail::finish_device_work();
  }
  // Before the host reads handle h (a send) or what task t reads (its host body, a steal offer): the
  // newest values in the host buffers, copied back from the device holding them (lazy write-back).
  void on_host(std::size_t h) {
    if (dev_) dev_->host_current(h, buffers_[h]);
  }
  void reads_on_host(std::size_t t) {
    if (dev_)
      for (auto const& a : tasks_[t].accesses)
        if (reads(a.mode)) dev_->host_current(a.handle, buffers_[a.handle]);
  }
  // Runs a task body; returns what it threw ("" when nothing) and the seconds it took.
  template <class Body>
  std::pair<std::string, double> timed(Body&& body) {
    std::string error;
    auto const b0 = clock::now();
    try {
      body();
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

  // Completes the transfers that finished; returns whether any did.
  bool test_transfers() {
    auto const& done = transfers_.test();
    if (done.empty()) return false;
    std::lock_guard lk(m_);
    bool work = false;
    for (auto i : done) work |= complete(i);
    if (work) work_cv_.notify_all();
    return true;
  }

  // steal_host: what the stealing protocol asks of this rank, on the communication thread.
  std::uint64_t give_away(std::vector<char> const& movable) override {
    std::uint64_t op = steal_message::no_op;
    {
      std::lock_guard lk(m_);
      if (!failed_ && ready_.size() > static_cast<std::size_t>(idle_workers()))
        for (auto it = ready_.begin(); it != ready_.end(); ++it)
          if (movable[plan_.ops[*it].index] && tasks_[plan_.ops[*it].index].body) {  // a host body: the thief's host runs it
            op = *it;
            ready_.erase(it);
            break;
          }
    }
    if (op != steal_message::no_op) reads_on_host(plan_.ops[op].index);
    return op;
  }
  void run_for_peer(stolen_task job) override {
    std::lock_guard lk(m_);
    stolen_ready_.push_back(std::move(job));
    if (pool_size_ > 0) work_cv_.notify_all();  // notify_one could wake a device worker, which cannot take it
  }
  void complete_given(std::uint64_t op) override {
    std::lock_guard lk(m_);
    if (complete(static_cast<std::uint32_t>(op))) work_cv_.notify_all();
  }
  std::vector<stolen_task> take_finished() override {
    std::vector<stolen_task> done;
    std::lock_guard lk(m_);
    done.swap(stolen_done_);
    return done;
  }
  bool starving() override {
    std::lock_guard lk(m_);
    return !failed_ && idle_workers() > 0 && pick(false) == ready_.end();
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
        if (failed ? running_ == 0 : local_done && (!stealing_ || stealing_->all_done())) {
          if (threw && mpi_ && !abort_sent) transfers_.send_aborts(me_, ranks_);
          return;
        }
        to_post.swap(comm_ready_);
      }
      if (threw && mpi_ && !abort_sent) transfers_.send_aborts(me_, ranks_), abort_sent = true;
      bool event = false;
      if (!failed)
        for (auto i : to_post) {
          auto const& op = plan_.ops[i];
          if (op.what == local_op::kind::send) on_host(op.index);
          transfers_.post(op, buffers_[op.index], i), event = true;
        }
      to_post.clear();
      if (mpi_) {
        event |= test_transfers();
        if (!failed && transfers_.abort_arrived()) {
          std::lock_guard lk(m_);
          if (out_.status == run_outcome::ok) out_.status = run_outcome::aborted;
          failed_ = true;
          event = true;
        }
      }
      if (stealing_ && !failed) {
        event |= stealing_->step(*this);
        event |= stealing_->step_done_barrier(local_done);
      }
      if (caller_works_ && !failed && run_one()) event = true;
      if (event) {
        last_event = clock::now();
        continue;
      }
      std::unique_lock lk(m_);
      auto const woken = [&] {
        return !comm_ready_.empty() || !stolen_done_.empty() || (failed_ ? running_ == 0 : done_ == plan_.ops.size() && !stealing_) ||
               (out_.status == run_outcome::threw && !abort_sent) ||
               (caller_works_ && !failed_ && has_host_work());
      };
      if (woken()) continue;
      if (!mpi_) {
        comm_cv_.wait(lk, woken);
      } else if ((!transfers_.empty() || (stealing_ && stealing_->asking())) && idle_workers() > 0 && clock::now() - last_event < std::chrono::milliseconds(2)) {
        // A worker (this thread, or one of the pool) has nothing to do until data arrives: poll without
        // sleeping (its core is free).
        lk.unlock();
        std::this_thread::yield();
      } else {
        // Every worker computes (or nothing is in flight): poll rarely, leave the cores to them.
        comm_cv_.wait_for(lk, transfers_.empty() ? std::chrono::microseconds(500) : std::chrono::microseconds(50), woken);
      }
    }
  }
  // The calling thread as a worker: runs the highest-priority ready task (or a stolen one); false when
  // there is none. While it finds none it counts as an idle worker (for stealing).
  bool run_one() {
    std::unique_lock lk(m_);
    if (failed_ || !has_host_work()) {
      caller_idle_ = true;
      return false;
    }
    caller_idle_ = false;
    if (auto const it = pick(false); it != ready_.end())
      run_local(lk, it);
    else
      run_stolen(lk);
    return true;
  }
  // Under m_: workers waiting for a task, the calling thread included while it finds none.
  int idle_workers() const { return idle_ + (caller_works_ && caller_idle_ ? 1 : 0); }

  // After the local part (flow_transfers::drain). With stealing every rank enters the done barrier first
  // (a failed rank here), so the barriers pair up; the steal messages and that barrier complete in the drain.
  void drain() {
    std::vector<MPI_Request> other;
    if (stealing_) other = stealing_->finish();
    if (transfers_.drain(other) && out_.status == run_outcome::ok) out_.status = run_outcome::aborted;
  }

  local_plan& plan_;
  std::vector<flow_task> const& tasks_;
  std::vector<std::string> const& names_;
  std::vector<std::span<std::byte>> const& buffers_;
  bool caller_works_;  // the calling thread runs tasks between its MPI calls
  int pool_size_;      // host worker threads besides it
  int devices_;        // device workers
  MPI_Comm comm_;
  int ranks_;
  bool mpi_;
  int me_ = 0;

  std::mutex m_;
  std::condition_variable work_cv_, comm_cv_;
  std::set<std::uint32_t, by_priority> ready_{by_priority{&plan_.ops}};
  std::optional<device_copies> dev_;  // with device workers
  std::vector<int> ran_on_device_;     // per op: the device that ran the task (-1: a host worker, or elsewhere)
  std::vector<std::uint32_t> comm_ready_;
  std::deque<stolen_task> stolen_ready_;  // stolen here, for the workers
  std::vector<stolen_task> stolen_done_;  // run here, results to send back
  std::size_t done_ = 0;
  int running_ = 0, idle_ = 0;
  bool failed_ = false, stop_ = false;
  bool caller_idle_ = false;  // the calling thread (as a worker) found no task at its last look (run_one)
  run_outcome out_;
  // Communication thread only.
  flow_transfers transfers_{comm_};
  std::optional<steal_protocol> stealing_;  // with stealing on
};

}  // namespace strata::dag::detail
