#pragma once
/// \file
/// \brief `schedule::dispatcher`: fault-tolerant task dispatch over MPI (SPEC S1, S3, R6, R9, R10a, R10c).
///
/// Rank 0 routes: it keeps the queue, orders it with the Priority policy, picks
/// a worker with the Selection policy and sends the task; every other rank runs
/// tasks and answers. Workers send heartbeats at a fixed period from a helper
/// thread; a worker that fails the health thresholds is declared dead and its
/// tasks are retried elsewhere after an exponential, capped, jittered backoff.
/// Every result carries a per-worker sequence number and the attempt it answers:
/// repeats, answers for unknown ids and answers to an attempt that was taken
/// back are dropped with a log line. Requests to a worker that missed a health check are held and resent
/// in order when it answers again; the worker applies requests in sequence order and drops repeats
/// (SPEC R10c). An attempt unanswered past `task_timeout` is retried elsewhere; a worker unhealthy past
/// `lost_worker_grace` ends the job rather than keep it waiting. With a state directory, every final
/// outcome is logged in a write-ahead log before the application hears of it,
/// and the queue is checkpointed with the core checkpointer, so a killed and
/// restarted job neither loses nor repeats a completion (SPEC R10a).
/// On a one-rank communicator rank 0 runs the tasks itself.

#include <strata/checkpoint/checkpointer.hpp>
#include <strata/checkpoint/log.hpp>
#include <strata/comm/concepts.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/comm/solo.hpp>
#include <strata/error.hpp>
#include <strata/metrics/progress.hpp>
#include <strata/metrics/prometheus.hpp>
#include <strata/metrics/registry.hpp>
#include <strata/replay/wal.hpp>
#include <strata/schedule/backoff.hpp>
#include <strata/schedule/detail/link.hpp>
#include <strata/schedule/detail/protocol.hpp>
#include <strata/schedule/detail/ready_queue.hpp>
#include <strata/schedule/health.hpp>
#include <strata/schedule/priority.hpp>
#include <strata/schedule/selection.hpp>
#include <strata/schedule/task.hpp>
#include <strata/state/serializer.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace strata::schedule {

/// \brief What a worker's function is given.
struct task_context {
  task_id id = 0;
  unsigned attempt = 0;                  ///< 1 for the first run, 2 for the first retry, ...
  std::span<const std::byte> payload;
  int rank = 0;                          ///< the rank running it
  std::uint64_t sequence = 0;            ///< the request's sequence number on this worker: applied in increasing order
};

/// \brief The queue's counts, as a queue query answers them (SPEC S3).
using queue_counts = detail::queue_counts;

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

/// \brief Everything with a default; `{.directory = "state"}` makes the job restartable.
struct dispatcher_options {
  std::filesystem::path directory;          ///< write-ahead log and queue checkpoints (empty: nothing durable)
  std::uint32_t max_in_flight = 2;          ///< tasks a worker may hold at once (>= 1)
  std::size_t max_payload_bytes = std::size_t{1} << 20;  ///< larger tasks are refused at submit
  std::size_t max_result_bytes = std::size_t{1} << 20;   ///< larger results count as a failed attempt
  seconds heartbeat_period{0.25};           ///< how often workers say they are alive (fixed period, SPEC R10c)
  health_thresholds health{.max_consecutive_failures = 3, .stale_after = seconds{30.0}, .check_period = seconds{1.0}};
  exponential_backoff backoff{};            ///< delay before a failed task runs again
  std::uint64_t seed = 1;                   ///< seeds the backoff jitter
  double latency_alpha = 0.8;               ///< EWMA weight of the newest response time in `worker_status::latency_s`
  std::size_t checkpoint_every = 256;       ///< final outcomes between queue checkpoints (0: only at the end)
  replay::fsync_policy wal_fsync = replay::fsync_policy::every_record;
  std::filesystem::path metrics_file;       ///< Prometheus text file (empty: none)
  seconds metrics_period{5.0};              ///< how often it is rewritten
  bool progress = false;                    ///< print a progress line on stderr about once a second
  /// How long rank 0 waits, after the last task, for every worker to confirm shutdown (a worker stuck in
  /// a task confirms when it returns). Past it, a worker that is unhealthy (silent, or stuck in a timed-out
  /// attempt) ends the job as `lost_worker_grace` says; for one still heartbeating, the communicator is
  /// kept until MPI_Finalize.
  seconds shutdown_timeout{30.0};
  /// Per-attempt timeout, from assignment to answer (so it includes the wait behind the worker's other
  /// in-flight tasks): an attempt unanswered past it is failed and retried elsewhere by the retry policy,
  /// with the worker's other tasks, and the worker counts as stuck: no new task until it answers. 0: off.
  seconds task_timeout{0.0};
  /// A worker unhealthy this long (silent since its last sign of life, or stuck since its attempt timed
  /// out) no longer keeps the job alive: once every task is final, or no healthy worker is left, rank 0
  /// syncs the write-ahead log, checkpoints the queue and ends the job (exits with `lost_worker_exit_code`
  /// without MPI_Finalize, so the launcher kills the other ranks) with a message naming the rank and host.
  /// 0: wait for it forever.
  seconds lost_worker_grace{60.0};
  std::function<void(std::string_view)> log; ///< where notices go (default: stderr, "strata[rank R]: " prefix)
  /// Worker side: free and total memory it reports (default: the node's physical memory).
  std::function<std::pair<std::uint64_t, std::uint64_t>()> memory_probe;
};

/// \brief Routes tasks from rank 0 to the other ranks; `Task`, `Priority`, `Selection` and `Comm` are policies.
///
/// \code
/// strata::comm::mpi_environment env{argc, argv};
/// strata::schedule::dispatcher<strata::schedule::task, strata::schedule::weighted_ageing,
///                              strata::schedule::filter_score> d{MPI_COMM_WORLD, {.directory = "state"}};
/// if (d.is_router()) {
///   d.on_complete([&](auto id, auto result) { write_line(id, result); });  // idempotent by id
///   d.recover();                                           // checkpoint + write-ahead log replay
///   for (auto& t : make_tasks()) d.submit(std::move(t));    // ids already done are skipped
/// }
/// d.run([](strata::schedule::task_context const& c) { return compute(c.payload); });
/// \endcode
template <task_like Task = task, checked_priority_policy Priority = fcfs,
          checked_selection_policy Selection = round_robin, class Comm = comm::mpi>
class dispatcher {
  static_assert(comm::point_to_point_communicator<Comm>,
                "strata::schedule::dispatcher: Comm must model strata::comm::point_to_point_communicator "
                "(send, recv and probe of bytes), e.g. strata::comm::mpi or strata::comm::solo");

 public:
  using task_type = Task;
  using priority_type = Priority;
  using selection_type = Selection;
  /// \brief Runs one task on a worker; returns its result bytes, throws to report a failure.
  using work_fn = std::function<std::vector<std::byte>(task_context const&)>;
  /// \brief Hears of a success; called once per task id per run, and again at recovery for outcomes
  /// replayed from the log, so it must be idempotent by id.
  using completion_fn = std::function<void(task_id, std::span<const std::byte>)>;
  /// \brief Hears of a final failure (retry budget spent, or expired).
  using failure_fn = std::function<void(task_id, std::string_view)>;
  /// \brief The exit code of a job ended because a worker was lost (see `dispatcher_options::lost_worker_grace`).
  static constexpr int lost_worker_exit_code = 3;

  explicit dispatcher(Comm comm, dispatcher_options opt = {}, Priority priority = {}, Selection selection = {})
      : comm_(std::move(comm)), opt_(std::move(opt)), ready_(priority), selection_(std::move(selection)),
        rng_(opt_.seed) {
    if (opt_.max_in_flight == 0) throw usage_error("dispatcher: max_in_flight must be at least 1");
    if (!(opt_.latency_alpha > 0.0 && opt_.latency_alpha <= 1.0))
      throw usage_error("dispatcher: latency_alpha must be in (0, 1]");
    opt_.backoff.validate();
    if (opt_.task_timeout.count() < 0.0 || opt_.lost_worker_grace.count() < 0.0)
      throw usage_error("dispatcher: task_timeout and lost_worker_grace must not be negative (0 turns them off)");
    if (!opt_.log) {
      int const r = comm_.rank();
      opt_.log = [r](std::string_view m) { strata::detail::write_log_line(std::cerr, r, m); };
    }
    auto const n = static_cast<std::size_t>(std::max(0, comm_.size() - 1));
    workers_.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      workers_[i].rank = static_cast<int>(i) + 1;
      workers_[i].in_flight = 0;
    }
    available_ = n;
    last_seq_.assign(n, 0);
    declared_dead_.assign(n, false);
    links_.resize(n);
    health_ = health_monitor(n, opt_.health);
    register_metrics();
  }

  dispatcher(dispatcher const&) = delete;
  dispatcher& operator=(dispatcher const&) = delete;

  /// \brief True on rank 0, which routes; the other ranks run tasks.
  [[nodiscard]] bool is_router() const noexcept { return comm_.rank() == 0; }

  /// \brief Rank 0: sets the success sink.
  void on_complete(completion_fn f) { on_complete_ = std::move(f); }
  /// \brief Rank 0: sets the final-failure sink.
  void on_failure(failure_fn f) { on_failure_ = std::move(f); }
  /// \brief Rank 0: tasks that arrive while `run` routes. `f(now)` is called on every pass of the routing
  /// loop and may `submit` tasks; it returns false once no more will come. `run` then returns when every
  /// task is final (without a feeder it returns as soon as the submitted tasks are).
  void feed(std::function<bool(clock::time_point)> f) { feeder_ = std::move(f); }
  /// \brief Rank 0: called just before each queue checkpoint (e.g. to fsync the application's output).
  void before_checkpoint(std::function<void()> f) { before_checkpoint_ = std::move(f); }

  /// \brief Rank 0: loads the last queue checkpoint, then replays the write-ahead log past it, calling the
  /// sinks for replayed outcomes. Safe to call again (does nothing the second time). \returns tasks known final.
  std::size_t recover() {
    require_router("recover");
    if (recovered_) return succeeded_ + failed_;
    recovered_ = true;
    if (opt_.directory.empty()) return 0;
    std::filesystem::create_directories(opt_.directory);
    ckpt_ = std::make_unique<queue_checkpointer>(
        comm::solo{}, typename queue_checkpointer::options{.directory = opt_.directory / "queue"});
    ckpt_->protect("dispatcher", blob_);
    std::uint64_t ckpt_term = 0;
    if (auto v = ckpt_->restore_latest()) {
      ckpt_term = load_blob();
      log("restored the queue from checkpoint version " + std::to_string(*v) + ": " + std::to_string(summary_.restored) +
          " tasks, " + std::to_string(succeeded_ + failed_) + " final, log applied up to index " +
          std::to_string(applied_));
    }
    wal_.emplace(opt_.directory / "completions.wal",
                 replay::wal_options{.fsync = opt_.wal_fsync, .log = [this](std::string_view m) { log(m); }});
    term_ = std::max(ckpt_term, wal_->last_term()) + 1;
    if (wal_->base_index() > applied_)
      log("warning: the write-ahead log starts after index " + std::to_string(wal_->base_index()) +
          " but the queue checkpoint only covers up to " + std::to_string(applied_) +
          "; outcomes in between were applied by an earlier run");
    applied_ = wal_->replay(applied_, [&](replay::wal_entry const& e) { apply_log_entry(e); });
    if (summary_.replayed)
      log("replayed " + std::to_string(summary_.replayed) + " outcome(s) from the write-ahead log (term " +
          std::to_string(term_) + ")");
    return succeeded_ + failed_;
  }

  /// \brief Rank 0: queues a task. Refused (false, with a log line) when its payload exceeds the limit;
  /// skipped (false) when the id is already known, e.g. finished in an earlier run.
  bool submit(Task t) {
    require_router("submit");
    if (t.payload().size() > opt_.max_payload_bytes) {
      log("task " + std::to_string(t.id()) + ": payload of " + std::to_string(t.payload().size()) +
          " bytes exceeds max_payload_bytes " + std::to_string(opt_.max_payload_bytes) + "; task refused");
      m_.rejected->add();
      return false;
    }
    if (tasks_.contains(t.id())) return false;
    if (t.status() != task_status::pending)
      throw usage_error("dispatcher: task " + std::to_string(t.id()) + " submitted in state " +
                        std::string(to_string(t.status())) + " (must be pending)");
    auto const id = t.id();
    if (t.spec().ttl.count() > 0.0) has_ttl_ = true;
    auto& rec = tasks_.emplace(id, record{std::move(t), next_seq_++, -1, {}}).first->second;
    ready_.push(&rec.task, rec.seq, clock::now());
    ++open_;
    m_.submitted->add();
    return true;
  }

  /// \brief Rank 0: true when task `id` reached a final state (now or in an earlier run).
  [[nodiscard]] bool is_final(task_id id) const {
    auto it = tasks_.find(id);
    return it != tasks_.end() && is_terminal(it->second.task.status());
  }
  /// \brief Rank 0: the task's record, if known.
  [[nodiscard]] Task const* find(task_id id) const {
    auto it = tasks_.find(id);
    return it == tasks_.end() ? nullptr : &it->second.task;
  }

  /// \brief Collective: rank 0 routes until every submitted task is final, then releases the workers;
  /// the other ranks run `work` on what they are sent.
  run_summary run(work_fn work) {
    if (is_router()) return route(work);
    serve(work);
    return summary_;
  }

  /// \brief Queue counts (SPEC S3 query). On rank 0 read locally; on a worker, asks rank 0 by message
  /// (only from inside a task, while rank 0 is routing).
  [[nodiscard]] queue_counts query_queue() const {
    if (is_router()) return counts();
    std::lock_guard lock{comm_mutex_};
    comm_.send({}, 0, detail::tag_query);
    std::vector<std::byte> buf;
    comm_.recv(buf, 0, detail::tag_query_reply);
    return detail::decode_counts(buf);
  }

  /// \brief Fault injection for tests: this worker stops sending heartbeats and sleeps for `d`,
  /// as a hung node would (call from inside a task).
  void simulate_hang(seconds d) {
    auto const until = clock::now() + std::chrono::duration_cast<clock::duration>(d);
    hang_until_.store(until.time_since_epoch().count());
    log("fault injection: hanging for " + std::to_string(d.count()) + " s without heartbeats");
    std::this_thread::sleep_until(until);
  }

  /// \brief The dispatcher's metrics (SPEC S7); rank 0 fills most of them.
  [[nodiscard]] metrics::registry& metrics() noexcept { return registry_; }
  /// \brief Rank 0: writes the Prometheus file now (if one is configured).
  void write_metrics() {
    if (prom_) prom_->write();
  }
  /// \brief Rank 0: the workers as the Selection policy sees them.
  [[nodiscard]] worker_view workers() const noexcept { return workers_; }
  [[nodiscard]] run_summary const& summary() const noexcept { return summary_; }
  [[nodiscard]] Comm const& communicator() const noexcept { return comm_; }
  [[nodiscard]] dispatcher_options const& options() const noexcept { return opt_; }
  /// \brief Rank 0: the write-ahead log's current term (grows on every restart).
  [[nodiscard]] std::uint64_t term() const noexcept { return term_; }

 private:
  using queue_checkpointer = checkpointer<comm::solo>;
  static constexpr std::size_t eager_bytes = 4096;

  struct record {
    Task task;
    std::uint64_t seq = 0;
    int worker = -1;  // index in workers_ while running
    clock::time_point assigned_at{};
  };
  enum class outcome : std::uint8_t { succeeded = 1, failed = 2 };

  struct metric_refs {
    metrics::counter* submitted;
    metrics::counter* succeeded;
    metrics::counter* failed;
    metrics::counter* retried;
    metrics::counter* rejected;
    metrics::counter* dropped;
    metrics::counter* dead;
    metrics::counter* timed_out;
    metrics::counter* ckpt_bytes;
    metrics::counter* wal_bytes;
    metrics::gauge* queue_length;
    metrics::gauge* running;
    metrics::gauge* alive;
    metrics::histogram* dispatch_latency;
    metrics::histogram* task_wait;
    metrics::histogram* response;
    metrics::histogram* ckpt_stall;
  };

  void register_metrics() {
    auto& r = registry_;
    m_.submitted = &r.counter("strata_sched_tasks_submitted_total", "Tasks accepted by submit");
    m_.succeeded = &r.counter("strata_sched_tasks_succeeded_total", "Tasks that succeeded in this run");
    m_.failed = &r.counter("strata_sched_tasks_failed_total", "Tasks that failed for good in this run");
    m_.retried = &r.counter("strata_sched_task_retries_total", "failed -> pending moves");
    m_.rejected = &r.counter("strata_sched_tasks_rejected_total", "Tasks refused at submit (payload too large)");
    m_.dropped = &r.counter("strata_sched_results_dropped_total", "Duplicate, stale, unknown or malformed answers");
    m_.dead = &r.counter("strata_sched_workers_declared_dead_total", "Workers that crossed the health thresholds");
    m_.timed_out = &r.counter("strata_sched_attempts_timed_out_total", "Attempts unanswered past task_timeout");
    m_.ckpt_bytes = &r.counter("strata_sched_checkpoint_bytes_total", "Bytes of queue checkpoints written");
    m_.wal_bytes = &r.counter("strata_sched_wal_bytes_total", "Bytes appended to the write-ahead log");
    m_.queue_length = &r.gauge("strata_sched_queue_length", "Tasks waiting to run");
    m_.running = &r.gauge("strata_sched_running", "Tasks on workers");
    m_.alive = &r.gauge("strata_sched_workers_alive", "Workers not declared dead");
    m_.dispatch_latency = &r.histogram("strata_sched_dispatch_latency_seconds",
                                       "Selection decision plus send, per assignment",
                                       metrics::histogram::exponential(1e-7, 4.0, 12));
    m_.task_wait = &r.histogram("strata_sched_task_wait_seconds", "Submit (or retry) to assignment",
                                metrics::histogram::exponential(1e-5, 4.0, 12));
    m_.response = &r.histogram("strata_sched_response_seconds", "Assignment to answer",
                               metrics::histogram::exponential(1e-5, 4.0, 12));
    m_.ckpt_stall = &r.histogram("strata_sched_checkpoint_stall_seconds", "Routing blocked by a queue checkpoint",
                                 metrics::histogram::exponential(1e-5, 4.0, 12));
  }

  void log(std::string_view m) const { opt_.log(std::string("dispatcher: ").append(m)); }
  void require_router(char const* what) const {
    if (!is_router()) throw usage_error(std::string("dispatcher::") + what + " is for rank 0 (the router) only");
  }

  [[nodiscard]] queue_counts counts() const {
    queue_counts c;
    c.pending = open_ - running_;
    c.running = running_;
    c.succeeded = succeeded_;
    c.failed = failed_;
    c.workers_alive = static_cast<std::uint64_t>(
        std::count_if(workers_.begin(), workers_.end(), [](worker_status const& w) { return w.alive; }));
    return c;
  }

  // ---------------------------------------------------------------- rank 0

  run_summary route(work_fn const& work) {
    if (!recovered_) recover();
    auto const t0 = clock::now();
    if (!opt_.metrics_file.empty() && !prom_)
      prom_ = std::make_unique<metrics::prometheus_file>(registry_, opt_.metrics_file, opt_.metrics_period);
    std::optional<metrics::progress_line> bar;
    if (opt_.progress) {
      bar.emplace(tasks_.size(), "tasks");
      bar->set_baseline(succeeded_ + failed_);
    }
    health_ = health_monitor(workers_.size(), opt_.health, t0);
    auto next_sweep = t0;
    unsigned idle = 0;
    bool no_worker_warned = false;
    bool feeding = static_cast<bool>(feeder_);
    while (open_ > 0 || feeding) {
      bool progressed = false;
      if (feeding) {
        auto const before = next_seq_;
        feeding = feeder_(clock::now());
        progressed = next_seq_ != before;
      }
      if (workers_.empty()) {
        progressed |= run_locally(work);
      } else {
        progressed |= poll_messages();
        auto const now = clock::now();
        watch_health(now);
        progressed |= dispatch(now);
        if (open_ > 0 && all_lost(now))
          end_job("no healthy worker is left: " + unhealthy_workers(now) + "; " + std::to_string(open_) +
                  " task(s) not final");
        if (available_ == 0 && running_ == 0 && !ready_.empty() && !no_worker_warned) {
          log("no worker is alive; " + std::to_string(ready_.size()) + " task(s) wait for one to come back");
          no_worker_warned = true;
        } else if (available_ > 0) {
          no_worker_warned = false;
        }
      }
      auto const now = clock::now();
      progressed |= release_retries(now);
      if ((has_ttl_ || timeouts_on()) && now >= next_sweep) {
        if (has_ttl_) expire_sweep(now);
        if (timeouts_on()) timeout_sweep(now);
        next_sweep = now + std::chrono::milliseconds(100);
      }
      update_gauges();
      if (prom_) prom_->tick(now);
      if (bar) bar->update(succeeded_ + failed_, now);
      idle_wait(progressed, idle);
    }
    shutdown_workers();
    make_durable();
    update_gauges();
    if (prom_) prom_->write();
    if (bar) bar->finish(succeeded_ + failed_);
    summary_.succeeded = succeeded_;
    summary_.failed = failed_;
    summary_.seconds = std::chrono::duration<double>(clock::now() - t0).count();
    return summary_;
  }

  /// One-rank communicator: run the best ready task here.
  bool run_locally(work_fn const& work) {
    auto const now = clock::now();
    Task const* t = ready_.pop(now);
    if (!t) return false;
    auto& rec = tasks_.at(t->id());
    if (rec.task.expired(now)) {
      expire(rec, now);
      return true;
    }
    rec.task.start();
    ++running_;
    m_.task_wait->observe(std::chrono::duration<double>(now - rec.task.created()).count());
    detail::result_msg r = execute(work, task_context{rec.task.id(), rec.task.attempts(), rec.task.payload(), 0}, 0);
    --running_;
    finish_attempt(rec, r, clock::now());
    return true;
  }

  bool poll_messages() {
    bool any = false;
    std::vector<std::byte> buf;
    while (auto info = next_message(comm::any_source, buf)) {
      any = true;
      handle(info->source, info->tag, buf);
    }
    return any;
  }

  /// A pending message, received at once (a matched probe where the communicator has one, so that
  /// what was probed is what is received).
  std::optional<comm::message_info> next_message(int source, std::vector<std::byte>& buf) const {
    if constexpr (requires { comm_.try_recv(buf, source, comm::any_tag); }) {
      return comm_.try_recv(buf, source, comm::any_tag);
    } else {
      auto info = comm_.probe(source, comm::any_tag);
      if (info) comm_.recv(buf, info->source, info->tag);
      return info;
    }
  }

  void handle(int source, int tag, std::vector<std::byte> const& buf) {
    auto const now = clock::now();
    if (source < 1 || source > static_cast<int>(workers_.size())) {
      log("message with tag " + std::to_string(tag) + " from unexpected rank " + std::to_string(source) + "; dropped");
      return;
    }
    auto const w = static_cast<std::size_t>(source - 1);
    if (tag == detail::tag_query) {
      auto const reply = detail::encode(counts());
      comm_.send(reply, source, detail::tag_query_reply);
      return;
    }
    if (tag != detail::tag_result && tag != detail::tag_heartbeat && tag != detail::tag_hello) {
      log("message with unknown tag " + std::to_string(tag) + " from rank " + std::to_string(source) + "; dropped");
      ++summary_.malformed_dropped;
      m_.dropped->add();
      return;
    }
    if (health_.heard_from(w, now)) {
      log("rank " + std::to_string(source) + " is answering again after being declared dead; it may take new tasks");
      workers_[w].alive = true;
      refresh(w);
    }
    if (links_[w].suspected()) resend_held(w);
    if (tag == detail::tag_hello) {
      links_[w].host.assign(reinterpret_cast<char const*>(buf.data()), buf.size());
      return;
    }
    if (tag == detail::tag_result && links_[w].clear_stuck()) {
      log(who(w) + " answers again after being stuck in a task; it may take new tasks");
      refresh(w);
    }
    try {
      if (tag == detail::tag_heartbeat) {
        auto const hb = detail::decode_heartbeat(buf);
        auto& s = workers_[w];
        s.queue_length = hb.queue_length;
        s.free_memory = hb.free_memory;
        s.total_memory = hb.total_memory;
        if (s.responses == 0 && hb.recent_latency_s > 0.0) s.latency_s = hb.recent_latency_s;
        largest_memory_ = std::max(largest_memory_, hb.total_memory);
        refresh(w);
        return;
      }
      if (buf.size() > opt_.max_result_bytes + 4096) {
        auto r = detail::decode_result(buf);  // still well-formed: fail the attempt rather than lose the task
        r.ok = false;
        r.error = "result of " + std::to_string(r.result.size()) + " bytes exceeds max_result_bytes " +
                  std::to_string(opt_.max_result_bytes);
        r.result.clear();
        log("task " + std::to_string(r.id) + " from rank " + std::to_string(source) + ": " + r.error);
        on_result(w, std::move(r), now);
        return;
      }
      on_result(w, detail::decode_result(buf), now);
    } catch (strata::error const& e) {
      log("malformed " + std::string(tag == detail::tag_result ? "result" : "heartbeat") + " from rank " +
          std::to_string(source) + " (" + std::to_string(buf.size()) + " bytes: " + e.what() + "); dropped");
      ++summary_.malformed_dropped;
      m_.dropped->add();
      health_.error(w);
    }
  }

  void on_result(std::size_t w, detail::result_msg r, clock::time_point now) {
    int const rank = static_cast<int>(w) + 1;
    auto drop = [&](std::size_t& counter, std::string const& why) {
      log(why);
      ++counter;
      m_.dropped->add();
    };
    if (r.seq <= last_seq_[w]) {
      drop(summary_.duplicates_dropped, "duplicate result (sequence " + std::to_string(r.seq) + " <= " +
                                            std::to_string(last_seq_[w]) + ") for task " + std::to_string(r.id) +
                                            " from rank " + std::to_string(rank) + "; dropped");
      return;
    }
    last_seq_[w] = r.seq;
    auto it = tasks_.find(r.id);
    if (it == tasks_.end()) {
      drop(summary_.unknown_dropped, "result for unknown task id " + std::to_string(r.id) + " from rank " +
                                         std::to_string(rank) + "; dropped");
      return;
    }
    auto& rec = it->second;
    bool const current = rec.task.status() == task_status::running && rec.worker == static_cast<int>(w) &&
                         rec.task.attempts() == r.attempt;
    if (!current && declared_dead_[w]) {
      drop(summary_.stale_dropped, "result for task " + std::to_string(r.id) + " attempt " +
                                       std::to_string(r.attempt) + " from rank " + std::to_string(rank) +
                                       ", which was declared dead; the task was taken back and reassigned (now " +
                                       std::string(to_string(rec.task.status())) + "); dropped");
      return;
    }
    if (is_terminal(rec.task.status())) {
      drop(summary_.duplicates_dropped, "result for task " + std::to_string(r.id) + " from rank " +
                                            std::to_string(rank) + ", which already " +
                                            std::string(to_string(rec.task.status())) + "; dropped");
      return;
    }
    if (!current) {
      drop(summary_.stale_dropped, "result for task " + std::to_string(r.id) + " attempt " +
                                       std::to_string(r.attempt) + " from rank " + std::to_string(rank) +
                                       ", an attempt that was taken back; dropped");
      return;
    }
    auto& s = workers_[w];
    double const response = std::chrono::duration<double>(now - rec.assigned_at).count();
    s.in_flight -= 1;
    s.last_response_s = response;
    s.latency_s = s.responses == 0 ? response : opt_.latency_alpha * response + (1 - opt_.latency_alpha) * s.latency_s;
    s.responses += 1;
    --running_;
    rec.worker = -1;
    refresh(w);
    m_.response->observe(response);
    finish_attempt(rec, r, now);
  }

  /// The attempt is over: success, retry, or final failure.
  void finish_attempt(record& rec, detail::result_msg const& r, clock::time_point now) {
    if (r.ok && r.result.size() <= opt_.max_result_bytes) {
      rec.task.succeed();
      commit_outcome(rec, outcome::succeeded, r.result);
      return;
    }
    std::string reason = r.ok ? "result of " + std::to_string(r.result.size()) + " bytes exceeds max_result_bytes"
                              : r.error;
    rec.task.fail(std::move(reason));
    retry_or_fail(rec, now);
  }

  void retry_or_fail(record& rec, clock::time_point now) {
    if (rec.task.can_retry()) {
      rec.task.retry();
      auto const delay = opt_.backoff.delay(rec.task.retries_used() - 1, rng_);
      delayed_.push({now + std::chrono::duration_cast<clock::duration>(delay), rec.task.id()});
      ++summary_.retries;
      m_.retried->add();
      return;
    }
    log("task " + std::to_string(rec.task.id()) + " failed for good after " + std::to_string(rec.task.attempts()) +
        " attempt(s): " + rec.task.failure_reason());
    auto const& reason = rec.task.failure_reason();
    commit_outcome(rec, outcome::failed, std::as_bytes(std::span(reason.data(), reason.size())));
  }

  /// Logs a final outcome durably, then tells the application, then checkpoints when due.
  void commit_outcome(record& rec, outcome o, std::span<const std::byte> data) {
    auto const id = rec.task.id();
    if (wal_) {
      std::vector<std::byte> entry;
      byte_writer w{entry};
      w.value(static_cast<std::uint8_t>(o));
      w.value(id);
      w.value(static_cast<std::uint32_t>(rec.task.attempts()));
      w.range(data);
      applied_ = wal_->append(term_, entry);
      m_.wal_bytes->add(static_cast<double>(entry.size() + replay::wal::record_header_bytes));
    }
    --open_;
    ++summary_.completed_this_run;
    if (o == outcome::succeeded) {
      ++succeeded_;
      m_.succeeded->add();
    } else {
      ++failed_;
      m_.failed->add();
    }
    crash_point_after_log();
    if (o == outcome::succeeded) {
      if (on_complete_) on_complete_(id, data);
    } else if (on_failure_) {
      on_failure_(id, std::string_view(reinterpret_cast<char const*>(data.data()), data.size()));
    }
    release_payload(rec.task);
    if (ckpt_ && opt_.checkpoint_every > 0 && ++outcomes_since_ckpt_ >= opt_.checkpoint_every) checkpoint_queue();
  }

  /// Test hook: STRATA_SCHED_CRASH_AFTER_LOG=K kills rank 0 right after the K-th outcome of this run is
  /// logged, before the application hears of it (the hardest moment for exactly-once output).
  void crash_point_after_log() {
#ifdef STRATA_ENABLE_FAULT_INJECTION
    static long const k = [] {
      char const* s = std::getenv("STRATA_SCHED_CRASH_AFTER_LOG");
      return s && *s ? std::atol(s) : 0L;
    }();
    if (k > 0 && static_cast<long>(summary_.completed_this_run) == k) {
      log("fault injection: SIGKILL after logging outcome " + std::to_string(k) + ", before applying it");
      std::raise(SIGKILL);
    }
#endif
  }

  static void release_payload(Task& t) {
    if constexpr (requires { t.release_payload(); }) t.release_payload();
  }

  void apply_log_entry(replay::wal_entry const& e) {
    byte_reader r{e.data};
    std::uint8_t kind = 0;
    task_id id = 0;
    std::uint32_t attempts = 0;
    std::vector<std::byte> data;
    try {
      r.value(kind);
      r.value(id);
      r.value(attempts);
      r.range(data);
    } catch (strata::error const& err) {
      log("write-ahead log entry " + std::to_string(e.index) + " does not decode (" + err.what() + "); skipped");
      return;
    }
    auto it = tasks_.find(id);
    if (it != tasks_.end() && is_terminal(it->second.task.status())) return;  // already applied
    auto const status = kind == static_cast<std::uint8_t>(outcome::succeeded) ? task_status::succeeded
                                                                               : task_status::failed;
    std::string reason;
    if (status == task_status::failed) reason.assign(reinterpret_cast<char const*>(data.data()), data.size());
    Task t = Task::restored(id, {}, it != tasks_.end() ? it->second.task.spec() : task_spec{}, clock::now(), status,
                            attempts, 0, reason);
    if (it == tasks_.end()) {
      tasks_.emplace(id, record{std::move(t), next_seq_++, -1, {}});
    } else {
      // A restored pending task is in the ready queue: take it out before it becomes final.
      ready_.remove_if([id](Task const& x) { return x.id() == id; }, [](Task const&) {});
      it->second.task = std::move(t);
      --open_;
    }
    if (status == task_status::succeeded) {
      ++succeeded_;
      if (on_complete_) on_complete_(id, data);
    } else {
      ++failed_;
      if (on_failure_) on_failure_(id, reason);
    }
    ++summary_.replayed;
  }

  bool dispatch(clock::time_point now) {
    bool any = false;
    std::vector<Task const*> deferred;
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
      auto const w = selection_.select(std::span<const worker_status>(workers_), {rec.task.memory_needed()});
      if (!w) {
        if (largest_memory_ > 0 && rec.task.memory_needed() > largest_memory_) {
          // No worker could ever take it: retrying would not help, fail it for good with the reason.
          rec.task.start();
          rec.task.fail("needs " + std::to_string(rec.task.memory_needed()) +
                        " bytes of free memory, more than any worker has (" + std::to_string(largest_memory_) + ")");
          log("task " + std::to_string(rec.task.id()) + " " + rec.task.failure_reason() + "; failed for good");
          auto const& reason = rec.task.failure_reason();
          commit_outcome(rec, outcome::failed, std::as_bytes(std::span(reason.data(), reason.size())));
          any = true;
          continue;
        }
        deferred.push_back(t);
        if (deferred.size() >= 64) break;
        continue;
      }
      if (rec.task.payload().size() > eager_bytes && workers_[*w].in_flight > 0) {
        // A large assignment may need the receiver's matching receive (rendezvous); a worker busy sending a
        // large result would not post it, and both sides would wait. Large tasks go to idle workers only.
        deferred.push_back(t);
        if (deferred.size() >= 64) break;
        continue;
      }
      assign(rec, *w, now, t_sel);
      any = true;
    }
    for (Task const* t : deferred) ready_.push(t, tasks_.at(t->id()).seq, now);
    return any;
  }

  void assign(record& rec, std::size_t w, clock::time_point now, clock::time_point t_sel) {
    rec.task.start();
    rec.worker = static_cast<int>(w);
    rec.assigned_at = now;
    ++running_;
    send_request(w, detail::tag_assign, detail::assign_body(rec.task.id(), rec.task.attempts(), rec.task.payload()));
    workers_[w].in_flight += 1;
    refresh(w);
    m_.dispatch_latency->observe(std::chrono::duration<double>(clock::now() - t_sel).count());
    m_.task_wait->observe(std::chrono::duration<double>(now - rec.task.created()).count());
  }

  /// Recomputes availability of worker w and tells the selection policy.
  void refresh(std::size_t w) {
    auto& s = workers_[w];
    bool const now_available = s.alive && !links_[w].stuck() && s.in_flight < opt_.max_in_flight;
    if (now_available != s.available) {
      if (now_available) ++available_;
      else --available_;
      s.available = now_available;
    }
    selection_.update(std::span<const worker_status>(workers_), w);
  }

  void declare_dead(std::size_t w, clock::time_point now) {
    auto& s = workers_[w];
    s.alive = false;
    declared_dead_[w] = true;
    ++summary_.workers_declared_dead;
    m_.dead->add();
    links_[w].suspect();
    std::size_t const taken = take_back(w, "worker rank " + std::to_string(s.rank) + " declared dead", now);
    log("rank " + std::to_string(s.rank) + " declared dead: " + std::to_string(health_.consecutive_failures(w)) +
        " failed health checks in a row, last heard " +
        std::to_string(std::chrono::duration<double>(now - health_.last_success(w)).count()) +
        " s ago (thresholds: more than " + std::to_string(opt_.health.max_consecutive_failures) + " checks and " +
        std::to_string(opt_.health.stale_after.count()) + " s); " + std::to_string(taken) +
        " task(s) taken back for retry");
  }

  /// Fails every attempt running on worker w (reason `why`) and hands each to the retry policy; drops
  /// the assignments still held for it. Returns how many were taken back.
  std::size_t take_back(std::size_t w, std::string const& why, clock::time_point now) {
    std::size_t taken = 0;
    for (auto& [id, rec] : tasks_) {
      if (rec.task.status() != task_status::running || rec.worker != static_cast<int>(w)) continue;
      rec.task.fail(why);
      rec.worker = -1;
      --running_;
      ++taken;
      retry_or_fail(rec, now);
    }
    links_[w].drop_held(detail::tag_assign);
    workers_[w].in_flight = 0;
    refresh(w);
    return taken;
  }

  // ------------------------------------------- requests, suspicion, timeouts, lost workers (R6, R10c)

  /// "rank 2 (host h)", or with a state: "rank 2 (host h: stuck in a task for 3.0 s)".
  [[nodiscard]] std::string who(std::size_t w, std::string const& state = {}) const {
    return "rank " + std::to_string(workers_[w].rank) + " (host " +
           (links_[w].host.empty() ? std::string("unknown") : links_[w].host) + (state.empty() ? "" : ": " + state) +
           ")";
  }
  [[nodiscard]] static double seconds_between(clock::time_point a, clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  }

  /// Issues a request to worker w: sent now, or held while w is suspected.
  void send_request(std::size_t w, int tag, std::vector<std::byte> body) {
    for (auto const& o : links_[w].issue({tag, std::move(body)})) transmit(w, o);
  }
  void transmit(std::size_t w, detail::worker_link::outgoing const& o) {
    comm_.send(detail::frame(o.seq, o.req.body), workers_[w].rank, o.req.tag);
  }
  /// Worker w answered while suspected: sends what was held for it, in the order it was issued.
  void resend_held(std::size_t w) {
    auto const out = links_[w].resume();
    for (auto const& o : out) transmit(w, o);
    summary_.requests_resent += out.size();
    log(who(w) + " answers again" +
        (out.empty() ? std::string{}
                     : "; " + std::to_string(out.size()) + " request(s) held for it resent in order from sequence " +
                           std::to_string(out.front().seq)));
  }

  /// Health checks due at `now`: declares dead who crossed the thresholds, suspects who missed a check.
  void watch_health(clock::time_point now) {
    for (std::size_t w : health_.check(now)) declare_dead(w, now);
    for (std::size_t w = 0; w < links_.size(); ++w)
      if (health_.consecutive_failures(w) > 0 && links_[w].suspect())
        log(who(w) + " missed a health check (last heard " +
            std::to_string(seconds_between(health_.last_success(w), now)) +
            " s ago); requests to it are held until it answers");
  }

  [[nodiscard]] bool timeouts_on() const noexcept { return opt_.task_timeout.count() > 0.0; }

  /// Attempts unanswered past `task_timeout` on workers that still heartbeat: those workers are stuck
  /// (see `mark_stuck`). A silent worker is left to the health checks: what is held for it was never sent.
  void timeout_sweep(clock::time_point now) {
    auto const limit = std::chrono::duration_cast<clock::duration>(opt_.task_timeout);
    std::vector<std::pair<std::size_t, task_id>> late;  // worker, its oldest late task
    for (auto const& [id, rec] : tasks_) {
      if (rec.task.status() != task_status::running || rec.worker < 0 || now - rec.assigned_at <= limit) continue;
      auto const w = static_cast<std::size_t>(rec.worker);
      if (links_[w].suspected()) continue;
      auto it = std::find_if(late.begin(), late.end(), [w](auto const& p) { return p.first == w; });
      if (it == late.end()) late.emplace_back(w, id);
      else if (rec.assigned_at < tasks_.at(it->second).assigned_at) it->second = id;
    }
    for (auto const& [w, id] : late) mark_stuck(w, tasks_.at(id), now);
  }

  /// Worker w still heartbeats but left `late` unanswered past the timeout: every task it holds is
  /// taken back for retry elsewhere, and it gets no new task until it answers.
  void mark_stuck(std::size_t w, record const& late, clock::time_point now) {
    auto const id = late.task.id();
    auto const attempt = late.task.attempts();
    auto const waited = seconds_between(late.assigned_at, now);
    links_[w].mark_stuck(now);
    ++summary_.attempts_timed_out;
    m_.timed_out->add();
    std::size_t const taken = take_back(w, "attempt not answered within task_timeout " +
                                               std::to_string(opt_.task_timeout.count()) + " s on rank " +
                                               std::to_string(workers_[w].rank), now);
    log("task " + std::to_string(id) + " attempt " + std::to_string(attempt) + " on " + who(w) +
        " not answered within task_timeout " + std::to_string(opt_.task_timeout.count()) + " s (" +
        std::to_string(waited) + " s); " + std::to_string(taken) + " task(s) taken back for retry; rank " +
        std::to_string(workers_[w].rank) + " is stuck and gets no new task until it answers");
  }

  [[nodiscard]] bool lost(std::size_t w, clock::time_point now) const {
    return links_[w].lost(now, health_.last_success(w),
                          std::chrono::duration_cast<clock::duration>(opt_.lost_worker_grace));
  }
  [[nodiscard]] bool unhealthy(std::size_t w) const { return links_[w].suspected() || links_[w].stuck(); }
  /// True when every worker (among those `among` marks, or all) is lost, and there is one.
  [[nodiscard]] bool all_lost(clock::time_point now, std::vector<bool> const* among = nullptr) const {
    bool any = false;
    for (std::size_t w = 0; w < workers_.size(); ++w) {
      if (among && !(*among)[w]) continue;
      if (!lost(w, now)) return false;
      any = true;
    }
    return any;
  }
  /// "rank 2 (host h: silent for 3.1 s, declared dead), ..." for every unhealthy worker among `among`.
  [[nodiscard]] std::string unhealthy_workers(clock::time_point now, std::vector<bool> const* among = nullptr) const {
    std::string out;
    for (std::size_t w = 0; w < workers_.size(); ++w) {
      if (!unhealthy(w) || (among && !(*among)[w])) continue;
      std::string state = links_[w].stuck()
                              ? "stuck in a task for " + std::to_string(seconds_between(links_[w].stuck_since(), now))
                              : "silent for " + std::to_string(seconds_between(health_.last_success(w), now));
      state += " s";
      if (!workers_[w].alive) state += ", declared dead";
      out += (out.empty() ? "" : ", ") + who(w, state);
    }
    return out;
  }

  /// Makes every outcome durable: the write-ahead log synced, the queue checkpointed when it changed.
  void make_durable() {
    if (wal_) wal_->sync();
    if (ckpt_ && outcomes_since_ckpt_ > 0) checkpoint_queue();
  }

  /// A lost worker would keep the job waiting forever (its MPI_Finalize never comes): make the state
  /// durable and end the job, naming who and why.
  [[noreturn]] void end_job(std::string const& why) {
    make_durable();
    if (prom_) prom_->write();
    std::string const msg = "ending the job: " + why + " (lost_worker_grace " +
                            std::to_string(opt_.lost_worker_grace.count()) + " s). " +
                            std::to_string(succeeded_ + failed_) +
                            " final outcome(s) are in the write-ahead log and kept; rerun the same command to resume";
    log(msg);
    if constexpr (requires { comm_.native(); }) {
      // Not MPI_Abort: Open MPI 4.1's mpiexec was seen to hang (ranks gone, never reaped) on the help
      // message MPI_Abort sends it. A rank that exits non-zero without MPI_Finalize ends the job too:
      // the launcher kills the other ranks, a stopped one included.
      std::fflush(nullptr);
      std::_Exit(lost_worker_exit_code);
    }
    throw comm_error("dispatcher: " + msg);
  }

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

  void expire(record& rec, clock::time_point now) {
    if (rec.task.status() == task_status::running) {
      if (rec.worker >= 0) {
        auto const w = static_cast<std::size_t>(rec.worker);
        workers_[w].in_flight -= 1;
        refresh(w);
      }
      --running_;
      rec.worker = -1;
    }
    rec.task.expire(now);
    log("task " + std::to_string(rec.task.id()) + " " + rec.task.failure_reason());
    auto const& reason = rec.task.failure_reason();
    commit_outcome(rec, outcome::failed, std::as_bytes(std::span(reason.data(), reason.size())));
  }

  void expire_sweep(clock::time_point now) {
    std::vector<task_id> doomed;
    ready_.remove_if([&](Task const& t) { return t.expired(now); }, [&](Task const& t) { doomed.push_back(t.id()); });
    for (auto& [id, rec] : tasks_)
      if (rec.task.status() == task_status::running && rec.task.expired(now)) doomed.push_back(id);
    for (auto id : doomed) {
      auto& rec = tasks_.at(id);
      if (rec.task.status() == task_status::pending || rec.task.status() == task_status::running) expire(rec, now);
    }
  }

  /// Sends shutdown to every worker, then receives from each until its `tag_bye`, handling what comes
  /// before it (late heartbeats, late or repeated answers) like any other message. Messages from one
  /// sender arrive in order, so after the bye nothing of that worker is left unmatched: the
  /// communicator can be freed without a late message reaching the next one created (MPI reuses a
  /// freed communicator's context id, and an unmatched message would be matched there).
  void shutdown_workers() {
    for (std::size_t w = 0; w < workers_.size(); ++w) send_request(w, detail::tag_shutdown, {});
    std::vector<bool> waiting(workers_.size(), true);  // no bye yet
    std::size_t left = workers_.size();
    auto const deadline = clock::now() + std::chrono::duration_cast<clock::duration>(opt_.shutdown_timeout);
    std::vector<std::byte> buf;
    unsigned idle = 0;
    while (left > 0 && clock::now() < deadline) {
      watch_health(clock::now());
      if (all_lost(clock::now(), &waiting)) break;  // waiting longer is pointless
      auto info = next_message(comm::any_source, buf);
      idle_wait(info.has_value(), idle);
      if (!info) continue;
      auto const w = static_cast<std::size_t>(info->source - 1);
      if (info->tag == detail::tag_bye && info->source >= 1 && w < workers_.size()) {
        if (waiting[w]) --left;
        waiting[w] = false;
        continue;
      }
      handle(info->source, info->tag, buf);
    }
    if (left == 0) return;
    if (opt_.lost_worker_grace.count() > 0.0) {
      auto const lost_ones = unhealthy_workers(clock::now(), &waiting);
      if (!lost_ones.empty()) end_job(lost_ones + " did not confirm shutdown after every task was final");
    }
    std::string who;
    for (std::size_t w = 0; w < workers_.size(); ++w)
      if (waiting[w]) who += (who.empty() ? "" : ", ") + std::to_string(workers_[w].rank) + (workers_[w].alive ? "" : " (declared dead)");
    log("rank(s) " + who + " did not confirm shutdown within " + std::to_string(opt_.shutdown_timeout.count()) +
        " s; this dispatcher's communicator is kept until MPI_Finalize, so that their late messages cannot reach a later one");
    if constexpr (requires { comm_.retain_until_finalize(); }) comm_.retain_until_finalize();
  }

  void update_gauges() {
    m_.queue_length->set(static_cast<double>(open_ - running_));
    m_.running->set(static_cast<double>(running_));
    m_.alive->set(static_cast<double>(
        std::count_if(workers_.begin(), workers_.end(), [](worker_status const& w) { return w.alive; })));
  }

  // ------------------------------------------------------ queue checkpoint

  void checkpoint_queue() {
    auto const t0 = clock::now();
    if (before_checkpoint_) before_checkpoint_();
    wal_->sync();
    save_blob(t0);
    ckpt_->checkpoint();
    m_.ckpt_bytes->add(static_cast<double>(blob_.size()));
    wal_->reset(applied_);  // records up to `applied_` are inside the checkpoint now
    outcomes_since_ckpt_ = 0;
    m_.ckpt_stall->observe(std::chrono::duration<double>(clock::now() - t0).count());
  }

  void save_blob(clock::time_point now) {
    blob_.clear();
    byte_writer w{blob_};
    w.value(std::uint32_t{0x53444351});  // "QCDS"
    w.value(term_);
    w.value(applied_);
    w.value(static_cast<std::uint64_t>(tasks_.size()));
    for (auto const& [id, rec] : tasks_) {
      auto const& t = rec.task;
      auto status = t.status() == task_status::running ? task_status::pending : t.status();
      w.value(id);
      w.value(rec.seq);
      w.value(static_cast<std::uint8_t>(status));
      w.value(static_cast<std::uint32_t>(t.attempts()));
      w.value(static_cast<std::uint32_t>(t.retries_used()));
      auto const& sp = t.spec();
      w.value(sp.business_level);
      w.value(sp.resource_demand);
      w.value(sp.memory_needed);
      w.value(sp.ttl.count());
      w.value(static_cast<std::uint32_t>(sp.max_retries));
      w.value(t.age(now));
      w.range(is_terminal(status) ? std::span<const std::byte>{} : t.payload());
      w.range(t.failure_reason());
    }
  }

  std::uint64_t load_blob() {
    byte_reader r{blob_};
    if (r.value<std::uint32_t>() != 0x53444351) throw restore_error("dispatcher: the queue checkpoint is not ours");
    auto const term = r.value<std::uint64_t>();
    applied_ = r.value<std::uint64_t>();
    auto const n = r.value<std::uint64_t>();
    auto const now = clock::now();
    for (std::uint64_t i = 0; i < n; ++i) {
      auto const id = r.value<task_id>();
      auto const seq = r.value<std::uint64_t>();
      auto const status = static_cast<task_status>(r.value<std::uint8_t>());
      auto const attempts = r.value<std::uint32_t>();
      auto const retries = r.value<std::uint32_t>();
      task_spec sp;
      r.value(sp.business_level);
      r.value(sp.resource_demand);
      r.value(sp.memory_needed);
      double ttl = 0;
      r.value(ttl);
      sp.ttl = seconds{ttl};
      sp.max_retries = r.value<std::uint32_t>();
      double const age = r.value<double>();
      std::vector<std::byte> payload;
      r.range(payload);
      std::string reason;
      r.range(reason);
      auto const created = now - std::chrono::duration_cast<clock::duration>(seconds{age});
      auto& rec = tasks_.insert_or_assign(id, record{Task::restored(id, std::move(payload), sp, created, status,
                                                                    attempts, retries, std::move(reason)),
                                                     seq, -1, {}})
                      .first->second;
      next_seq_ = std::max(next_seq_, seq + 1);
      if (sp.ttl.count() > 0.0) has_ttl_ = true;
      if (status == task_status::succeeded) ++succeeded_;
      else if (status == task_status::failed) ++failed_;
      else {
        ready_.push(&rec.task, seq, now);
        ++open_;
      }
    }
    summary_.restored = static_cast<std::size_t>(n);
    return term;
  }

  // ---------------------------------------------------------------- workers

  detail::result_msg execute(work_fn const& work, task_context const& c, std::uint64_t result_seq) {
    detail::result_msg r;
    r.seq = result_seq;
    r.id = c.id;
    r.attempt = c.attempt;
    auto const t0 = clock::now();
    try {
      r.result = work(c);
      r.ok = true;
      if (r.result.size() > opt_.max_result_bytes) {
        r.ok = false;
        r.error = "result of " + std::to_string(r.result.size()) + " bytes exceeds max_result_bytes " +
                  std::to_string(opt_.max_result_bytes);
        r.result.clear();
      }
    } catch (std::exception const& e) {
      r.ok = false;
      r.error = e.what();
    } catch (...) {
      r.ok = false;
      r.error = "unknown exception";
    }
    r.elapsed_s = std::chrono::duration<double>(clock::now() - t0).count();
    return r;
  }

  /// A request as the worker keeps it until its turn comes.
  struct request_in {
    int tag = 0;
    detail::assign_msg assign;  // for tag_assign
  };

  /// Worker: decodes a request from rank 0 and hands it to the inbox; returns those now due, in order.
  std::vector<std::pair<std::uint64_t, request_in>> accept_request(detail::in_order_inbox<request_in>& inbox, int tag,
                                                                   std::vector<std::byte> const& buf) const {
    if (tag != detail::tag_assign && tag != detail::tag_shutdown) {
      log("unexpected message with tag " + std::to_string(tag) + " from rank 0; dropped");
      return {};
    }
    request_in in{tag, {}};
    std::uint64_t seq = 0;
    try {
      if (tag == detail::tag_assign) {
        in.assign = detail::decode_assign(buf);
        seq = in.assign.seq;
      } else {
        seq = detail::decode_request_seq(buf);
      }
    } catch (strata::error const& e) {
      log(std::string("malformed ") + (tag == detail::tag_assign ? "assignment" : "shutdown") + " from rank 0 (" +
          e.what() + "); dropped");
      return {};
    }
    auto const repeats = inbox.repeats();
    auto ready = inbox.accept(seq, std::move(in));
    if (inbox.repeats() != repeats)
      log("repeated request (sequence " + std::to_string(seq) + ") from rank 0; dropped");
    else if (ready.empty())
      log("request sequence " + std::to_string(seq) + " arrived before " + std::to_string(inbox.next_expected()) +
          "; kept until the ones before it arrive");
    return ready;
  }

  /// Worker: its first message, naming the host it runs on (for rank 0's messages about it).
  void say_hello() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    std::string_view const h{host};
    std::lock_guard lock{comm_mutex_};
    comm_.send(std::as_bytes(std::span(h.data(), h.size())), 0, detail::tag_hello);
  }

  void serve(work_fn const& work) {
    say_hello();
    std::atomic<bool> stop{false};
    std::atomic<std::uint32_t> queue_length{0};
    std::atomic<double> recent_latency{0.0};
    std::thread heartbeat([&] {
      std::uint64_t seq = 0;
      auto next = clock::now();
      while (!stop.load()) {
        auto const now = clock::now();
        if (now >= next && now.time_since_epoch().count() >= hang_until_.load()) {
          auto [free, total] = memory();
          auto const msg = detail::encode(detail::heartbeat_msg{++seq, queue_length.load(), free, total,
                                                                recent_latency.load()});
          {
            std::lock_guard lock{comm_mutex_};
            comm_.send(msg, 0, detail::tag_heartbeat);
          }
          next = now + std::chrono::duration_cast<clock::duration>(opt_.heartbeat_period);
        }
        std::this_thread::sleep_for(std::min(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 opt_.heartbeat_period / 4),
                                             std::chrono::milliseconds(20)) +
                                    std::chrono::microseconds(100));
      }
    });
    std::uint64_t seq = 0;
    unsigned idle = 0;
    std::vector<std::byte> buf;
    detail::in_order_inbox<request_in> inbox;
    try {
      for (bool done = false; !done;) {
        std::optional<comm::message_info> info;
        {
          std::lock_guard lock{comm_mutex_};
          info = next_message(0, buf);
        }
        if (!info) {
          idle_wait(false, idle);
          continue;
        }
        idle_wait(true, idle);
        for (auto& [rseq, req] : accept_request(inbox, info->tag, buf)) {
          if (req.tag == detail::tag_shutdown) {
            done = true;
            break;
          }
          auto const& a = req.assign;
          queue_length.store(1);
          auto r = execute(work, task_context{a.id, a.attempt, a.payload, comm_.rank(), rseq}, ++seq);
          queue_length.store(0);
          recent_latency.store(r.elapsed_s);
          auto const msg = detail::encode(r);
          std::lock_guard lock{comm_mutex_};
          comm_.send(msg, 0, detail::tag_result);
        }
      }
    } catch (...) {
      stop.store(true);
      heartbeat.join();
      throw;
    }
    stop.store(true);
    heartbeat.join();
    // Last message of this worker, after its last heartbeat: rank 0 waits for it before it lets the
    // communicator go (see shutdown_workers).
    comm_.send({}, 0, detail::tag_bye);
  }

  [[nodiscard]] std::pair<std::uint64_t, std::uint64_t> memory() const {
    if (opt_.memory_probe) return opt_.memory_probe();
    auto const page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    return {static_cast<std::uint64_t>(::sysconf(_SC_AVPHYS_PAGES)) * page,
            static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) * page};
  }

  /// Polling back-off: hot while messages flow, then yields, then sleeps up to 1 ms.
  static void idle_wait(bool progressed, unsigned& idle) {
    if (progressed) {
      idle = 0;
      return;
    }
    ++idle;
    if (idle < 64) return;
    if (idle < 256) {
      std::this_thread::yield();
      return;
    }
    auto const us = std::min<unsigned>(1000, 10u << std::min<unsigned>((idle - 256) / 64, 7));
    std::this_thread::sleep_for(std::chrono::microseconds(us));
  }

  Comm comm_;
  dispatcher_options opt_;
  detail::ready_queue<Priority, Task> ready_;
  Selection selection_;
  std::mt19937_64 rng_;
  std::unordered_map<task_id, record> tasks_;
  std::priority_queue<std::pair<clock::time_point, task_id>, std::vector<std::pair<clock::time_point, task_id>>,
                      std::greater<>>
      delayed_;
  std::vector<worker_status> workers_;
  std::vector<std::uint64_t> last_seq_;
  std::vector<bool> declared_dead_;
  std::vector<detail::worker_link> links_;  // per worker: held requests, suspected / stuck, host
  health_monitor health_;
  std::size_t available_ = 0;
  std::uint64_t largest_memory_ = 0;
  std::uint64_t next_seq_ = 0;
  std::size_t open_ = 0;
  std::size_t running_ = 0;
  std::size_t succeeded_ = 0;
  std::size_t failed_ = 0;
  bool has_ttl_ = false;
  bool recovered_ = false;
  completion_fn on_complete_;
  std::function<bool(clock::time_point)> feeder_;
  failure_fn on_failure_;
  std::function<void()> before_checkpoint_;
  run_summary summary_;
  // durability (rank 0)
  std::optional<replay::wal> wal_;
  std::unique_ptr<queue_checkpointer> ckpt_;
  std::vector<std::byte> blob_;
  std::uint64_t term_ = 1;
  std::uint64_t applied_ = 0;
  std::size_t outcomes_since_ckpt_ = 0;
  // metrics
  metrics::registry registry_;
  metric_refs m_{};
  std::unique_ptr<metrics::prometheus_file> prom_;
  // workers
  mutable std::mutex comm_mutex_;
  std::atomic<clock::rep> hang_until_{0};
};

}  // namespace strata::schedule
