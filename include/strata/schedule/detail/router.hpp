#pragma once
/// \file
/// \brief The dispatcher's router: the task table, the ready queue (Priority), worker selection
/// (Selection), answers, retries with backoff, TTL and take-back — everything rank 0 decides, without a
/// communicator. Not API; tested alone in tests/unit/schedule/test_router.cpp.
///
/// Every change of a task's state goes through `transition`, which keeps the counts by status and the
/// workers' in-flight counts; a final outcome leaves through `commit` (to the `on_final` sink, which
/// logs it durably and tells the application). Sending is the caller's: `dispatch` hands each
/// assignment to a function it is given.

#include <strata/error.hpp>
#include <strata/schedule/backoff.hpp>
#include <strata/schedule/detail/dispatch_observer.hpp>
#include <strata/schedule/detail/protocol.hpp>
#include <strata/schedule/detail/ready_queue.hpp>
#include <strata/schedule/priority.hpp>
#include <strata/schedule/selection.hpp>
#include <strata/schedule/task.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace strata::schedule {

/// \brief Figures of one `run`.
struct run_summary {
  std::size_t succeeded = 0;            ///< tasks that succeeded (all time, including earlier runs)
  std::size_t failed = 0;               ///< tasks that failed for good (all time)
  std::size_t completed_this_run = 0;   ///< final outcomes reached in this run
  std::size_t replayed = 0;             ///< outcomes found in the write-ahead log at recovery
  std::size_t restored = 0;             ///< tasks found in the queue checkpoint at recovery
  std::size_t retries = 0;              ///< failed -> pending moves
  std::size_t workers_declared_dead = 0;
  std::size_t duplicates_dropped = 0;   ///< repeated answers (same sequence number, or task already final)
  std::size_t stale_dropped = 0;        ///< answers to an attempt that was taken back (e.g. from a dead worker)
  std::size_t unknown_dropped = 0;      ///< answers naming a task id never submitted
  std::size_t malformed_dropped = 0;    ///< messages that did not decode or exceeded the size limit
  std::size_t attempts_timed_out = 0;   ///< attempts unanswered past `task_timeout`, taken back
  std::size_t requests_resent = 0;      ///< requests held while their worker was unreachable, sent when it answered
  double seconds = 0.0;
};

}  // namespace strata::schedule

namespace strata::schedule::detail {

/// The router's share of `dispatcher_options`.
struct router_options {
  std::uint32_t max_in_flight = 2;
  std::size_t max_payload_bytes = std::size_t{1} << 20;
  std::size_t max_result_bytes = std::size_t{1} << 20;
  exponential_backoff backoff{};
  std::uint64_t seed = 1;
  double latency_alpha = 0.8;
  std::function<void(std::string_view)> log;  ///< notices (may be empty)
};

/// A task as the router keeps it.
template <class Task>
struct task_record {
  Task task;
  std::uint64_t seq = 0;             ///< submission order: ties in the ready queue
  int worker = -1;                   ///< index of the worker running it, -1 when none
  clock::time_point assigned_at{};
  bool counted = false;              ///< in the counts by status (set by its first transition)
};

/// What became of an answer.
enum class answer : std::uint8_t { applied, duplicate, unknown, stale };

/// Rank 0's decisions over `workers` workers (indices 0..n-1 are ranks 1..n).
///
/// \code
/// detail::router<task, fcfs, round_robin> r{2, {.max_in_flight = 1}, {}, round_robin()};
/// r.on_final([](auto& rec, outcome o, auto data) { /* log durably, tell the application */ });
/// r.submit(task{1, {}}, clock::now());
/// r.dispatch(clock::now(), [](auto const& rec, std::size_t w) { /* send rec.task to worker w */ });
/// r.on_result(w, answer_from_worker, clock::now());
/// \endcode
template <task_like Task, class Priority, class Selection, class Observer = null_observer>
class router {
 public:
  using record = task_record<Task>;
  /// Hears of each final outcome once, after the task reached it: durable logging, the application.
  using final_fn = std::function<void(record&, outcome, std::span<const std::byte>)>;
  /// Larger assignments go to idle workers only (see `dispatch`).
  static constexpr std::size_t eager_bytes = 4096;

  router(std::size_t workers, router_options opt, Priority priority, Selection selection)
      : opt_(std::move(opt)), ready_(priority), selection_(std::move(selection)), rng_(opt_.seed),
        workers_(workers), last_seq_(workers, 0), declared_dead_(workers, false), stuck_(workers, false),
        available_(workers) {
    for (std::size_t i = 0; i < workers; ++i) workers_[i].rank = static_cast<int>(i) + 1;
  }
  router(router const&) = delete;
  router& operator=(router const&) = delete;

  void on_final(final_fn f) { on_final_ = std::move(f); }

  /// Queues a task. Refused (false, with a log line) when its payload exceeds the limit; skipped (false)
  /// when the id is already known.
  bool submit(Task t, clock::time_point now) {
    if (t.payload().size() > opt_.max_payload_bytes) {
      log("task " + std::to_string(t.id()) + ": payload of " + std::to_string(t.payload().size()) +
          " bytes exceeds max_payload_bytes " + std::to_string(opt_.max_payload_bytes) + "; task refused");
      observer_.rejected();
      return false;
    }
    if (tasks_.contains(t.id())) return false;
    if (t.status() != task_status::pending)
      throw usage_error("dispatcher: task " + std::to_string(t.id()) + " submitted in state " +
                        std::string(to_string(t.status())) + " (must be pending)");
    auto& rec = put(std::move(t), next_seq_++);
    ready_.push(&rec.task, rec.seq, now);
    observer_.submitted();
    return true;
  }

  /// Recovery: a task as the queue snapshot had it; one not final goes back to the queue.
  void restore(Task t, std::uint64_t seq, clock::time_point now) {
    next_seq_ = std::max(next_seq_, seq + 1);
    auto& rec = put(std::move(t), seq);
    if (!is_terminal(rec.task.status())) ready_.push(&rec.task, seq, now);
    ++summary_.restored;
  }

  /// Recovery: an outcome from the write-ahead log. False (nothing done) when the task is already final.
  bool replay(task_id id, outcome o, unsigned attempts, std::string reason) {
    auto it = tasks_.find(id);
    if (it != tasks_.end() && is_terminal(it->second.task.status())) return false;
    auto const status = o == outcome::succeeded ? task_status::succeeded : task_status::failed;
    Task t = Task::restored(id, {}, it != tasks_.end() ? it->second.task.spec() : task_spec{}, clock::now(), status,
                            attempts, 0, std::move(reason));
    if (it == tasks_.end()) {
      put(std::move(t), next_seq_++);
    } else {
      // A restored pending task is in the ready queue: take it out before it becomes final.
      ready_.remove_if([id](Task const& x) { return x.id() == id; }, [](Task const&) {});
      transition(it->second, [&](Task& x) { x = std::move(t); });
    }
    ++summary_.replayed;
    return true;
  }

  /// Assigns ready tasks while workers are available: `send(record const&, worker)` after each decision.
  /// Expired tasks fail on the way; a task no worker could ever take fails for good.
  template <class Send>
  bool dispatch(clock::time_point now, Send&& send) {
    bool any = false;
    std::vector<Task const*> deferred;
    auto defer = [&](Task const* t) {
      deferred.push_back(t);
      return deferred.size() >= 64;
    };
    while (available_ > 0) {
      Task const* t = ready_.pop(now);
      if (!t) break;
      auto& rec = tasks_.at(t->id());
      if (rec.task.expired(now)) {
        expire(rec, now);
        any = true;
        continue;
      }
      auto const t_sel = clock::now();
      auto const w = selection_.select(worker_view(workers_), {rec.task.memory_needed()});
      if (!w) {
        if (largest_memory_ > 0 && rec.task.memory_needed() > largest_memory_) {
          // No worker could ever take it: retrying would not help.
          transition(rec, [](Task& x) { x.start(); });
          transition(rec, [&](Task& x) {
            x.fail("needs " + std::to_string(x.memory_needed()) + " bytes of free memory, more than any worker has (" +
                   std::to_string(largest_memory_) + ")");
          });
          fail_for_good(rec, "task " + std::to_string(rec.task.id()) + " " + rec.task.failure_reason() +
                                 "; failed for good");
          any = true;
          continue;
        }
        if (defer(t)) break;
        continue;
      }
      if (rec.task.payload().size() > eager_bytes && workers_[*w].in_flight > 0) {
        // A large assignment may need the receiver's matching receive (rendezvous); a worker busy sending a
        // large result would not post it, and both sides would wait. Large tasks go to idle workers only.
        if (defer(t)) break;
        continue;
      }
      transition(rec, [](Task& x) { x.start(); }, *w, now);
      send(std::as_const(rec), *w);
      observer_.assigned(seconds(now - rec.task.created()).count(), seconds(clock::now() - t_sel).count());
      any = true;
    }
    for (Task const* t : deferred) ready_.push(t, tasks_.at(t->id()).seq, now);
    return any;
  }

  /// No workers (one-rank communicator): runs the best ready task here, `execute(record const&)` giving
  /// its answer.
  template <class Execute>
  bool run_here(clock::time_point now, Execute&& execute) {
    Task const* t = ready_.pop(now);
    if (!t) return false;
    auto& rec = tasks_.at(t->id());
    if (rec.task.expired(now)) {
      expire(rec, now);
      return true;
    }
    transition(rec, [](Task& x) { x.start(); }, std::nullopt, now);
    observer_.started_here(seconds(now - rec.task.created()).count());
    finish_attempt(rec, execute(std::as_const(rec)), clock::now());
    return true;
  }

  /// An answer from worker `w`: applied to its task, or dropped with a log line (a repeat, an unknown
  /// task, an attempt that was taken back).
  answer on_result(std::size_t w, result_msg r, clock::time_point now) {
    auto const rank = std::to_string(workers_[w].rank);
    auto const id = std::to_string(r.id);
    if (enforce_result_limit(r, opt_.max_result_bytes)) log("task " + id + " from rank " + rank + ": " + r.error);
    auto drop = [&](answer a, std::size_t& counter, std::string const& why) {
      log(why);
      ++counter;
      observer_.dropped();
      return a;
    };
    if (r.seq <= last_seq_[w])
      return drop(answer::duplicate, summary_.duplicates_dropped,
                  "duplicate result (sequence " + std::to_string(r.seq) + " <= " + std::to_string(last_seq_[w]) +
                      ") for task " + id + " from rank " + rank + "; dropped");
    last_seq_[w] = r.seq;
    auto it = tasks_.find(r.id);
    if (it == tasks_.end())
      return drop(answer::unknown, summary_.unknown_dropped,
                  "result for unknown task id " + id + " from rank " + rank + "; dropped");
    auto& rec = it->second;
    auto const status = std::string(to_string(rec.task.status()));
    bool const current = rec.task.status() == task_status::running && rec.worker == static_cast<int>(w) &&
                         rec.task.attempts() == r.attempt;
    if (!current && declared_dead_[w])
      return drop(answer::stale, summary_.stale_dropped,
                  "result for task " + id + " attempt " + std::to_string(r.attempt) + " from rank " + rank +
                      ", which was declared dead; the task was taken back and reassigned (now " + status +
                      "); dropped");
    if (is_terminal(rec.task.status()))
      return drop(answer::duplicate, summary_.duplicates_dropped,
                  "result for task " + id + " from rank " + rank + ", which already " + status + "; dropped");
    if (!current)
      return drop(answer::stale, summary_.stale_dropped,
                  "result for task " + id + " attempt " + std::to_string(r.attempt) + " from rank " + rank +
                      ", an attempt that was taken back; dropped");
    auto& s = workers_[w];
    double const response = seconds(now - rec.assigned_at).count();
    s.last_response_s = response;
    s.latency_s = s.responses == 0 ? response : opt_.latency_alpha * response + (1 - opt_.latency_alpha) * s.latency_s;
    s.responses += 1;
    observer_.answered(response);
    finish_attempt(rec, std::move(r), now);
    return answer::applied;
  }

  /// Fails every attempt running on worker `w` (reason `why`) and hands each to the retry policy.
  /// \returns how many were taken back.
  std::size_t take_back(std::size_t w, std::string const& why, clock::time_point now) {
    std::size_t taken = 0;
    for (auto& [id, rec] : tasks_) {
      if (rec.task.status() != task_status::running || rec.worker != static_cast<int>(w)) continue;
      transition(rec, [&](Task& t) { t.fail(why); });
      ++taken;
      retry_or_fail(rec, now);
    }
    refresh(w);
    return taken;
  }

  /// Worker `w` crossed the health thresholds: no more tasks for it, its running ones taken back.
  std::size_t declare_dead(std::size_t w, clock::time_point now) {
    workers_[w].alive = false;
    declared_dead_[w] = true;
    ++summary_.workers_declared_dead;
    observer_.worker_dead();
    return take_back(w, "worker rank " + std::to_string(workers_[w].rank) + " declared dead", now);
  }
  /// Worker `w`, declared dead, answers again: it may take new tasks.
  void revive(std::size_t w) {
    workers_[w].alive = true;
    refresh(w);
  }
  /// Worker `w` is stuck in a timed-out attempt (no new task), or out of it.
  void set_stuck(std::size_t w, bool stuck) {
    stuck_[w] = stuck;
    refresh(w);
  }
  /// What worker `w` says of itself.
  void heartbeat(std::size_t w, heartbeat_msg const& hb) {
    auto& s = workers_[w];
    s.queue_length = hb.queue_length;
    s.free_memory = hb.free_memory;
    s.total_memory = hb.total_memory;
    if (s.responses == 0 && hb.recent_latency_s > 0.0) s.latency_s = hb.recent_latency_s;
    largest_memory_ = std::max(largest_memory_, hb.total_memory);
    refresh(w);
  }

  /// Attempts assigned longer than `limit` ago: for each worker (`skip(w)` false) the oldest one.
  template <class Skip>
  [[nodiscard]] std::vector<std::pair<std::size_t, record const*>> late_attempts(clock::time_point now,
                                                                                 clock::duration limit,
                                                                                 Skip&& skip) const {
    std::vector<std::pair<std::size_t, record const*>> late;
    for (auto const& [id, rec] : tasks_) {
      if (rec.task.status() != task_status::running || rec.worker < 0 || now - rec.assigned_at <= limit) continue;
      auto const w = static_cast<std::size_t>(rec.worker);
      if (skip(w)) continue;
      auto it = std::find_if(late.begin(), late.end(), [w](auto const& p) { return p.first == w; });
      if (it == late.end()) late.emplace_back(w, &rec);
      else if (rec.assigned_at < it->second->assigned_at) it->second = &rec;
    }
    return late;
  }

  /// Tasks whose backoff is over go back to the ready queue.
  bool release_retries(clock::time_point now) {
    bool any = false;
    while (!delayed_.empty() && delayed_.top().first <= now) {
      auto const id = delayed_.top().second;
      delayed_.pop();
      auto& rec = tasks_.at(id);
      if (rec.task.status() != task_status::pending) continue;
      ready_.push(&rec.task, rec.seq, now);
      any = true;
    }
    return any;
  }

  /// Fails every pending or running task past its TTL.
  void expire_sweep(clock::time_point now) {
    if (!has_ttl_) return;
    std::vector<task_id> doomed;
    ready_.remove_if([&](Task const& t) { return t.expired(now); }, [&](Task const& t) { doomed.push_back(t.id()); });
    for (auto& [id, rec] : tasks_)
      if (rec.task.status() == task_status::running && rec.task.expired(now)) doomed.push_back(id);
    for (auto id : doomed) {
      auto& rec = tasks_.at(id);
      if (rec.task.status() == task_status::pending || rec.task.status() == task_status::running) expire(rec, now);
    }
  }

  [[nodiscard]] queue_counts counts() const {
    return {count(task_status::pending), count(task_status::running), count(task_status::succeeded),
            count(task_status::failed),
            static_cast<std::uint64_t>(std::count_if(workers_.begin(), workers_.end(),
                                                     [](worker_status const& w) { return w.alive; }))};
  }
  /// Tasks not final (pending, waiting out a backoff, or running).
  [[nodiscard]] std::size_t open() const noexcept { return count(task_status::pending) + count(task_status::running); }
  [[nodiscard]] std::size_t running() const noexcept { return count(task_status::running); }
  [[nodiscard]] std::size_t final_count() const noexcept {
    return count(task_status::succeeded) + count(task_status::failed);
  }
  [[nodiscard]] std::size_t ready_size() const noexcept { return ready_.size(); }
  [[nodiscard]] std::size_t available() const noexcept { return available_; }
  [[nodiscard]] bool has_ttl() const noexcept { return has_ttl_; }
  /// Grows with every task the router learns of (submit, replay).
  [[nodiscard]] std::uint64_t next_seq() const noexcept { return next_seq_; }
  [[nodiscard]] Task const* find(task_id id) const {
    auto it = tasks_.find(id);
    return it == tasks_.end() ? nullptr : &it->second.task;
  }
  [[nodiscard]] std::unordered_map<task_id, record> const& tasks() const noexcept { return tasks_; }
  [[nodiscard]] worker_view workers() const noexcept { return workers_; }
  [[nodiscard]] run_summary& summary() noexcept { return summary_; }
  [[nodiscard]] run_summary const& summary() const noexcept { return summary_; }
  [[nodiscard]] Observer& observer() noexcept { return observer_; }

 private:
  /// The one place a task changes state, and so the one place the counts follow: `change` makes one move
  /// of the R1 state machine (or, at recovery, rebuilds the task); the counts by status, and the in-flight
  /// count and availability of the worker it leaves or joins, follow from the status before and after.
  /// `worker`: where a move to running runs (none: here, on rank 0).
  template <class Change>
  void transition(record& rec, Change&& change, std::optional<std::size_t> worker = std::nullopt,
                  clock::time_point now = {}) {
    bool const was_counted = rec.counted;
    auto const from = rec.task.status();
    std::forward<Change>(change)(rec.task);  // an illegal move throws transition_error: nothing changed
    auto const to = rec.task.status();
    rec.counted = true;
    if (was_counted) --by_status_[index(from)];
    ++by_status_[index(to)];
    bool const was_running = was_counted && from == task_status::running;
    if (was_running && to != task_status::running && rec.worker >= 0) {
      auto const w = static_cast<std::size_t>(std::exchange(rec.worker, -1));
      workers_[w].in_flight -= 1;
      refresh(w);
    }
    if (to == task_status::running && !was_running) {
      rec.assigned_at = now;
      if (worker) {
        rec.worker = static_cast<int>(*worker);
        workers_[*worker].in_flight += 1;
        refresh(*worker);
      }
    }
  }

  /// A task new to the router, counted in its status.
  record& put(Task t, std::uint64_t seq) {
    if (t.spec().ttl.count() > 0.0) has_ttl_ = true;
    if (auto it = tasks_.find(t.id()); it != tasks_.end()) {  // submitted before recovery: the restored state wins
      transition(it->second, [&](Task& x) { x = std::move(t); });
      it->second.seq = seq;
      return it->second;
    }
    auto const id = t.id();
    auto& rec = tasks_.emplace(id, record{std::move(t), seq}).first->second;
    transition(rec, [](Task&) {});
    return rec;
  }

  /// The attempt is over: success, retry, or final failure.
  void finish_attempt(record& rec, result_msg r, clock::time_point now) {
    if (r.ok) {
      transition(rec, [](Task& t) { t.succeed(); });
      commit(rec, outcome::succeeded, r.result);
      return;
    }
    transition(rec, [&](Task& t) { t.fail(std::move(r.error)); });
    retry_or_fail(rec, now);
  }

  void retry_or_fail(record& rec, clock::time_point now) {
    if (rec.task.can_retry()) {
      transition(rec, [](Task& t) { t.retry(); });
      auto const delay = opt_.backoff.delay(rec.task.retries_used() - 1, rng_);
      delayed_.push({now + std::chrono::duration_cast<clock::duration>(delay), rec.task.id()});
      ++summary_.retries;
      observer_.retried();
      return;
    }
    fail_for_good(rec, "task " + std::to_string(rec.task.id()) + " failed for good after " +
                           std::to_string(rec.task.attempts()) + " attempt(s): " + rec.task.failure_reason());
  }

  void expire(record& rec, clock::time_point now) {
    transition(rec, [now](Task& t) { t.expire(now); });
    fail_for_good(rec, "task " + std::to_string(rec.task.id()) + " " + rec.task.failure_reason());
  }

  /// The one way a failed task leaves for good (retries spent, expired, or no worker could take it):
  /// `notice` logged, the failure reason committed.
  void fail_for_good(record& rec, std::string const& notice) {
    log(notice);
    auto const& reason = rec.task.failure_reason();
    commit(rec, outcome::failed, std::as_bytes(std::span(reason.data(), reason.size())));
  }

  void commit(record& rec, outcome o, std::span<const std::byte> data) {
    ++summary_.completed_this_run;
    observer_.finished(o);
    if (on_final_) on_final_(rec, o, data);
    if constexpr (requires { rec.task.release_payload(); }) rec.task.release_payload();
  }

  /// Recomputes the availability of worker `w` and tells the selection policy.
  void refresh(std::size_t w) {
    auto& s = workers_[w];
    bool const now_available = s.alive && !stuck_[w] && s.in_flight < opt_.max_in_flight;
    if (now_available != s.available) {
      if (now_available) ++available_;
      else --available_;
      s.available = now_available;
    }
    selection_.update(worker_view(workers_), w);
  }

  void log(std::string_view m) const {
    if (opt_.log) opt_.log(m);
  }
  static constexpr std::size_t index(task_status s) noexcept { return static_cast<std::size_t>(s); }
  [[nodiscard]] std::size_t count(task_status s) const noexcept { return by_status_[index(s)]; }

  router_options opt_;
  ready_queue<Priority, Task> ready_;
  Selection selection_;
  std::mt19937_64 rng_;
  std::unordered_map<task_id, record> tasks_;
  std::priority_queue<std::pair<clock::time_point, task_id>, std::vector<std::pair<clock::time_point, task_id>>,
                      std::greater<>>
      delayed_;
  std::vector<worker_status> workers_;
  std::vector<std::uint64_t> last_seq_;  // per worker: the newest answer's sequence number
  std::vector<bool> declared_dead_;      // per worker: ever declared dead (its late answers are stale)
  std::vector<bool> stuck_;              // per worker: in a timed-out attempt
  std::size_t available_ = 0;
  std::uint64_t largest_memory_ = 0;
  std::uint64_t next_seq_ = 0;
  std::array<std::size_t, 4> by_status_{};  // tasks per task_status
  bool has_ttl_ = false;
  final_fn on_final_;
  run_summary summary_;
  Observer observer_;
};

}  // namespace strata::schedule::detail
