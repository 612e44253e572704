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
///
/// The parts, under `schedule/detail/`: `router.hpp` (every decision of rank 0, no communicator),
/// `worker_loop.hpp` (the worker side and its heartbeat thread), `durable_outcomes.hpp` (the log and
/// the queue snapshot), `dispatch_observer.hpp` (metrics and progress); this class wires them to a
/// communicator and keeps the health of the workers.

#include <strata/checkpoint/log.hpp>
#include <strata/comm/concepts.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/comm/solo.hpp>
#include <strata/error.hpp>
#include <strata/metrics/registry.hpp>
#include <strata/replay/wal.hpp>
#include <strata/schedule/backoff.hpp>
#include <strata/schedule/detail/dispatch_observer.hpp>
#include <strata/schedule/detail/durable_outcomes.hpp>
#include <strata/schedule/detail/link.hpp>
#include <strata/schedule/detail/polling.hpp>
#include <strata/schedule/detail/protocol.hpp>
#include <strata/schedule/detail/router.hpp>
#include <strata/schedule/detail/worker_loop.hpp>
#include <strata/schedule/health.hpp>
#include <strata/schedule/priority.hpp>
#include <strata/schedule/selection.hpp>
#include <strata/schedule/task.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strata::schedule {

/// \brief The queue's counts, as a queue query answers them (SPEC S3).
using queue_counts = detail::queue_counts;

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
  using work_fn = detail::work_fn;
  /// \brief Hears of a success; called once per task id per run, and again at recovery for outcomes
  /// replayed from the log, so it must be idempotent by id.
  using completion_fn = std::function<void(task_id, std::span<const std::byte>)>;
  /// \brief Hears of a final failure (retry budget spent, or expired).
  using failure_fn = std::function<void(task_id, std::string_view)>;
  /// \brief The exit code of a job ended because a worker was lost (see `dispatcher_options::lost_worker_grace`).
  static constexpr int lost_worker_exit_code = 3;

  // Overloads, not `Priority priority = {}` default arguments: a policy whose default constructor is
  // explicit (`ewma_proportional`) cannot be copy-list-initialised from `{}` (nvcc refuses it, g++ warns).
  explicit dispatcher(Comm comm, dispatcher_options opt = {})
      : dispatcher(std::move(comm), std::move(opt), Priority(), Selection()) {}
  explicit dispatcher(Comm comm, dispatcher_options opt, Priority priority)
      : dispatcher(std::move(comm), std::move(opt), std::move(priority), Selection()) {}
  explicit dispatcher(Comm comm, dispatcher_options opt, Priority priority, Selection selection)
      : comm_(std::move(comm)), opt_(checked(std::move(opt), comm_.rank())),
        router_(worker_count(comm_),
                {.max_in_flight = opt_.max_in_flight, .max_payload_bytes = opt_.max_payload_bytes,
                 .max_result_bytes = opt_.max_result_bytes, .backoff = opt_.backoff, .seed = opt_.seed,
                 .latency_alpha = opt_.latency_alpha, .log = [this](std::string_view m) { log(m); }},
                std::move(priority), std::move(selection)),
        worker_(comm_, {.heartbeat_period = opt_.heartbeat_period, .max_result_bytes = opt_.max_result_bytes,
                        .memory_probe = opt_.memory_probe, .log = [this](std::string_view m) { log(m); }}),
        links_(worker_count(comm_)), health_(worker_count(comm_), opt_.health) {
    router_.on_final([this](record& rec, detail::outcome o, std::span<const std::byte> data) {
      commit_outcome(rec, o, data);
    });
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
    if (recovered_) return router_.final_count();
    recovered_ = true;
    if (opt_.directory.empty()) return 0;
    durable_.emplace(detail::durable_outcomes::options{
        .directory = opt_.directory, .fsync = opt_.wal_fsync, .log = [this](std::string_view m) { log(m); }});
    auto const now = clock::now();
    auto const version = durable_->load_snapshot([&](detail::snapshot_entry&& e) {
      auto const seq = e.seq;
      router_.restore(std::move(e).template rebuild<Task>(now), seq, now);
    });
    if (version)
      log("restored the queue from checkpoint version " + std::to_string(*version) + ": " +
          std::to_string(router_.summary().restored) + " tasks, " + std::to_string(router_.final_count()) +
          " final, log applied up to index " + std::to_string(durable_->applied()));
    durable_->open_log([&](detail::outcome_entry&& e) { apply_log_entry(std::move(e)); });
    if (router_.summary().replayed)
      log("replayed " + std::to_string(router_.summary().replayed) + " outcome(s) from the write-ahead log (term " +
          std::to_string(durable_->term()) + ")");
    return router_.final_count();
  }

  /// \brief Rank 0: queues a task. Refused (false, with a log line) when its payload exceeds the limit;
  /// skipped (false) when the id is already known, e.g. finished in an earlier run.
  bool submit(Task t) {
    require_router("submit");
    return router_.submit(std::move(t), clock::now());
  }

  /// \brief Rank 0: true when task `id` reached a final state (now or in an earlier run).
  [[nodiscard]] bool is_final(task_id id) const {
    auto const* t = router_.find(id);
    return t && is_terminal(t->status());
  }
  /// \brief Rank 0: the task's record, if known.
  [[nodiscard]] Task const* find(task_id id) const { return router_.find(id); }

  /// \brief Collective: rank 0 routes until every submitted task is final, then releases the workers;
  /// the other ranks run `work` on what they are sent.
  run_summary run(work_fn work) {
    if (is_router()) return route(work);
    worker_.serve(work);
    return router_.summary();
  }

  /// \brief Queue counts (SPEC S3 query). On rank 0 read locally; on a worker, asks rank 0 by message
  /// (only from inside a task, while rank 0 is routing).
  [[nodiscard]] queue_counts query_queue() const { return is_router() ? router_.counts() : worker_.query(); }

  /// \brief Fault injection for tests: this worker stops sending heartbeats and sleeps for `d`,
  /// as a hung node would (call from inside a task).
  void simulate_hang(seconds d) { worker_.simulate_hang(d); }

  /// \brief The dispatcher's metrics (SPEC S7); rank 0 fills most of them.
  [[nodiscard]] metrics::registry& metrics() noexcept { return router_.observer().registry(); }
  /// \brief Rank 0: writes the Prometheus file now (if one is configured).
  void write_metrics() { router_.observer().write(); }
  /// \brief Rank 0: the workers as the Selection policy sees them.
  [[nodiscard]] worker_view workers() const noexcept { return router_.workers(); }
  [[nodiscard]] run_summary const& summary() const noexcept { return router_.summary(); }
  [[nodiscard]] Comm const& communicator() const noexcept { return comm_; }
  [[nodiscard]] dispatcher_options const& options() const noexcept { return opt_; }
  /// \brief Rank 0: the write-ahead log's current term (grows on every restart).
  [[nodiscard]] std::uint64_t term() const noexcept { return durable_ ? durable_->term() : 1; }

 private:
  using router_type = detail::router<Task, Priority, Selection, detail::dispatch_observer>;
  using record = typename router_type::record;

  static dispatcher_options checked(dispatcher_options opt, int rank) {
    if (opt.max_in_flight == 0) throw usage_error("dispatcher: max_in_flight must be at least 1");
    if (!(opt.latency_alpha > 0.0 && opt.latency_alpha <= 1.0))
      throw usage_error("dispatcher: latency_alpha must be in (0, 1]");
    opt.backoff.validate();
    if (opt.task_timeout.count() < 0.0 || opt.lost_worker_grace.count() < 0.0)
      throw usage_error("dispatcher: task_timeout and lost_worker_grace must not be negative (0 turns them off)");
    if (!opt.log) opt.log = [rank](std::string_view m) { strata::detail::write_log_line(std::cerr, rank, m); };
    return opt;
  }
  static std::size_t worker_count(Comm const& c) { return static_cast<std::size_t>(std::max(0, c.size() - 1)); }

  void log(std::string_view m) const { opt_.log(std::string("dispatcher: ").append(m)); }
  void require_router(char const* what) const {
    if (!is_router()) throw usage_error(std::string("dispatcher::") + what + " is for rank 0 (the router) only");
  }

  run_summary route(work_fn const& work) {
    if (!recovered_) recover();
    auto const t0 = clock::now();
    auto& observer = router_.observer();
    observer.begin(opt_.metrics_file, opt_.metrics_period, opt_.progress, router_.tasks().size(),
                   router_.final_count());
    health_ = health_monitor(links_.size(), opt_.health, t0);
    auto next_sweep = t0;
    unsigned idle = 0;
    bool no_worker_warned = false;
    bool feeding = static_cast<bool>(feeder_);
    while (router_.open() > 0 || feeding) {
      bool progressed = false;
      if (feeding) {
        auto const before = router_.next_seq();
        feeding = feeder_(clock::now());
        progressed = router_.next_seq() != before;
      }
      if (links_.empty()) {
        progressed |= router_.run_here(clock::now(), [&](record const& rec) {
          return detail::execute(work, task_context{rec.task.id(), rec.task.attempts(), rec.task.payload(), 0}, 0,
                                 opt_.max_result_bytes);
        });
      } else {
        progressed |= poll_messages();
        auto const now = clock::now();
        watch_health(now);
        progressed |= router_.dispatch(now, [&](record const& rec, std::size_t w) {
          send_request(w, detail::tag_assign,
                       detail::assign_body(rec.task.id(), rec.task.attempts(), rec.task.payload()));
        });
        if (router_.open() > 0 && all_lost(now))
          end_job("no healthy worker is left: " + unhealthy_workers(now) + "; " + std::to_string(router_.open()) +
                  " task(s) not final");
        if (router_.available() == 0 && router_.running() == 0 && router_.ready_size() > 0 && !no_worker_warned) {
          log("no worker is alive; " + std::to_string(router_.ready_size()) + " task(s) wait for one to come back");
          no_worker_warned = true;
        } else if (router_.available() > 0) {
          no_worker_warned = false;
        }
      }
      auto const now = clock::now();
      progressed |= router_.release_retries(now);
      if ((router_.has_ttl() || timeouts_on()) && now >= next_sweep) {
        router_.expire_sweep(now);
        if (timeouts_on()) timeout_sweep(now);
        next_sweep = now + std::chrono::milliseconds(100);
      }
      observer.tick(router_.counts(), now);
      detail::idle_wait(progressed, idle);
    }
    shutdown_workers();
    make_durable();
    auto const c = router_.counts();
    observer.end(c);
    auto& s = router_.summary();
    s.succeeded = static_cast<std::size_t>(c.succeeded);
    s.failed = static_cast<std::size_t>(c.failed);
    s.seconds = seconds_between(t0, clock::now());
    return s;
  }

  bool poll_messages() {
    bool any = false;
    std::vector<std::byte> buf;
    while (auto info = detail::next_message(comm_, comm::any_source, buf)) {
      any = true;
      handle(info->source, info->tag, buf);
    }
    return any;
  }

  void drop_malformed() {
    ++router_.summary().malformed_dropped;
    router_.observer().dropped();
  }

  void handle(int source, int tag, std::vector<std::byte> const& buf) {
    auto const now = clock::now();
    if (source < 1 || source > static_cast<int>(links_.size())) {
      log("message with tag " + std::to_string(tag) + " from unexpected rank " + std::to_string(source) + "; dropped");
      return;
    }
    auto const w = static_cast<std::size_t>(source - 1);
    if (tag == detail::tag_query) {
      auto const reply = detail::encode(router_.counts());
      comm_.send(reply, source, detail::tag_query_reply);
      return;
    }
    if (tag != detail::tag_result && tag != detail::tag_heartbeat && tag != detail::tag_hello) {
      log("message with unknown tag " + std::to_string(tag) + " from rank " + std::to_string(source) + "; dropped");
      drop_malformed();
      return;
    }
    if (health_.heard_from(w, now)) {
      log("rank " + std::to_string(source) + " is answering again after being declared dead; it may take new tasks");
      router_.revive(w);
    }
    if (links_[w].suspected()) resend_held(w);
    if (tag == detail::tag_hello) {
      links_[w].host.assign(reinterpret_cast<char const*>(buf.data()), buf.size());
      return;
    }
    if (tag == detail::tag_result && links_[w].clear_stuck()) {
      log(who(w) + " answers again after being stuck in a task; it may take new tasks");
      router_.set_stuck(w, false);
    }
    try {
      if (tag == detail::tag_heartbeat) router_.heartbeat(w, detail::decode_heartbeat(buf));
      else router_.on_result(w, detail::decode_result(buf), now);
    } catch (strata::error const& e) {
      log("malformed " + std::string(tag == detail::tag_result ? "result" : "heartbeat") + " from rank " +
          std::to_string(source) + " (" + std::to_string(buf.size()) + " bytes: " + e.what() + "); dropped");
      drop_malformed();
      health_.error(w);
    }
  }

  /// A final outcome: logged durably, then told to the application, then the queue checkpointed when due.
  void commit_outcome(record& rec, detail::outcome o, std::span<const std::byte> data) {
    auto const id = rec.task.id();
    if (durable_)
      router_.observer().logged(durable_->append(o, id, static_cast<std::uint32_t>(rec.task.attempts()), data));
    crash_point_after_log();
    if (o == detail::outcome::succeeded) {
      if (on_complete_) on_complete_(id, data);
    } else if (on_failure_) {
      on_failure_(id, std::string_view(reinterpret_cast<char const*>(data.data()), data.size()));
    }
    if (durable_ && opt_.checkpoint_every > 0 && durable_->since_checkpoint() >= opt_.checkpoint_every)
      checkpoint_queue();
  }

  /// Test hook: STRATA_SCHED_CRASH_AFTER_LOG=K kills rank 0 right after the K-th outcome of this run is
  /// logged, before the application hears of it (the hardest moment for exactly-once output).
  void crash_point_after_log() {
#ifdef STRATA_ENABLE_FAULT_INJECTION
    static long const k = [] {
      char const* s = std::getenv("STRATA_SCHED_CRASH_AFTER_LOG");
      return s && *s ? std::atol(s) : 0L;
    }();
    if (k > 0 && static_cast<long>(router_.summary().completed_this_run) == k) {
      log("fault injection: SIGKILL after logging outcome " + std::to_string(k) + ", before applying it");
      std::raise(SIGKILL);
    }
#endif
  }

  /// An outcome replayed from the write-ahead log: applied to the queue, told to the application.
  void apply_log_entry(detail::outcome_entry&& e) {
    std::string reason;
    if (e.kind == detail::outcome::failed) reason.assign(reinterpret_cast<char const*>(e.data.data()), e.data.size());
    if (!router_.replay(e.id, e.kind, e.attempts, reason)) return;  // already final
    if (e.kind == detail::outcome::succeeded) {
      if (on_complete_) on_complete_(e.id, e.data);
    } else if (on_failure_) {
      on_failure_(e.id, reason);
    }
  }

  void checkpoint_queue() {
    auto const t0 = clock::now();
    if (before_checkpoint_) before_checkpoint_();
    auto const& tasks = router_.tasks();
    auto const bytes = durable_->checkpoint(tasks.size(), [&](auto&& put) {
      for (auto const& [id, rec] : tasks) put(detail::snapshot_entry::of(rec.task, rec.seq, t0));
    });
    router_.observer().checkpointed(bytes, seconds_between(t0, clock::now()));
  }

  /// Makes every outcome durable: the write-ahead log synced, the queue checkpointed when it changed.
  void make_durable() {
    if (!durable_) return;
    durable_->sync();
    if (durable_->since_checkpoint() > 0) checkpoint_queue();
  }

  void declare_dead(std::size_t w, clock::time_point now) {
    links_[w].suspect();
    std::size_t const taken = router_.declare_dead(w, now);
    links_[w].drop_held(detail::tag_assign);
    log("rank " + std::to_string(rank_of(w)) + " declared dead: " + std::to_string(health_.consecutive_failures(w)) +
        " failed health checks in a row, last heard " + std::to_string(seconds_between(health_.last_success(w), now)) +
        " s ago (thresholds: more than " + std::to_string(opt_.health.max_consecutive_failures) + " checks and " +
        std::to_string(opt_.health.stale_after.count()) + " s); " + std::to_string(taken) +
        " task(s) taken back for retry");
  }

  [[nodiscard]] int rank_of(std::size_t w) const { return router_.workers()[w].rank; }
  /// "rank 2 (host h)", or with a state: "rank 2 (host h: stuck in a task for 3.0 s)".
  [[nodiscard]] std::string who(std::size_t w, std::string const& state = {}) const {
    return "rank " + std::to_string(rank_of(w)) + " (host " +
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
    comm_.send(detail::frame(o.seq, o.req.body), rank_of(w), o.req.tag);
  }
  /// Worker w answered while suspected: sends what was held for it, in the order it was issued.
  void resend_held(std::size_t w) {
    auto const out = links_[w].resume();
    for (auto const& o : out) transmit(w, o);
    router_.summary().requests_resent += out.size();
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
    auto const late = router_.late_attempts(now, std::chrono::duration_cast<clock::duration>(opt_.task_timeout),
                                            [&](std::size_t w) { return links_[w].suspected(); });
    for (auto const& [w, rec] : late) mark_stuck(w, *rec, now);
  }

  /// Worker w still heartbeats but left `late` unanswered past the timeout: every task it holds is
  /// taken back for retry elsewhere, and it gets no new task until it answers.
  void mark_stuck(std::size_t w, record const& late, clock::time_point now) {
    auto const id = late.task.id();
    auto const attempt = late.task.attempts();
    auto const waited = seconds_between(late.assigned_at, now);
    auto const limit = std::to_string(opt_.task_timeout.count());
    links_[w].mark_stuck(now);
    router_.set_stuck(w, true);
    ++router_.summary().attempts_timed_out;
    router_.observer().timed_out();
    std::size_t const taken =
        router_.take_back(w, "attempt not answered within task_timeout " + limit + " s on rank " +
                                 std::to_string(rank_of(w)), now);
    links_[w].drop_held(detail::tag_assign);
    log("task " + std::to_string(id) + " attempt " + std::to_string(attempt) + " on " + who(w) +
        " not answered within task_timeout " + limit + " s (" + std::to_string(waited) + " s); " +
        std::to_string(taken) + " task(s) taken back for retry; rank " + std::to_string(rank_of(w)) +
        " is stuck and gets no new task until it answers");
  }

  [[nodiscard]] bool lost(std::size_t w, clock::time_point now) const {
    return links_[w].lost(now, health_.last_success(w),
                          std::chrono::duration_cast<clock::duration>(opt_.lost_worker_grace));
  }
  [[nodiscard]] bool unhealthy(std::size_t w) const { return links_[w].suspected() || links_[w].stuck(); }
  /// True when every worker (among those `among` marks, or all) is lost, and there is one.
  [[nodiscard]] bool all_lost(clock::time_point now, std::vector<bool> const* among = nullptr) const {
    bool any = false;
    for (std::size_t w = 0; w < links_.size(); ++w) {
      if (among && !(*among)[w]) continue;
      if (!lost(w, now)) return false;
      any = true;
    }
    return any;
  }
  /// "rank 2 (host h: silent for 3.1 s, declared dead), ..." for every unhealthy worker among `among`.
  [[nodiscard]] std::string unhealthy_workers(clock::time_point now, std::vector<bool> const* among = nullptr) const {
    std::string out;
    for (std::size_t w = 0; w < links_.size(); ++w) {
      if (!unhealthy(w) || (among && !(*among)[w])) continue;
      std::string state = links_[w].stuck()
                              ? "stuck in a task for " + std::to_string(seconds_between(links_[w].stuck_since(), now))
                              : "silent for " + std::to_string(seconds_between(health_.last_success(w), now));
      state += " s";
      if (!router_.workers()[w].alive) state += ", declared dead";
      out += (out.empty() ? "" : ", ") + who(w, state);
    }
    return out;
  }

  /// A lost worker would keep the job waiting forever (its MPI_Finalize never comes): make the state
  /// durable and end the job, naming who and why.
  [[noreturn]] void end_job(std::string const& why) {
    make_durable();
    router_.observer().write();
    std::string const msg = "ending the job: " + why + " (lost_worker_grace " +
                            std::to_string(opt_.lost_worker_grace.count()) + " s). " +
                            std::to_string(router_.final_count()) +
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

  /// Sends shutdown to every worker, then receives from each until its `tag_bye`, handling what comes
  /// before it (late heartbeats, late or repeated answers) like any other message. Messages from one
  /// sender arrive in order, so after the bye nothing of that worker is left unmatched: the
  /// communicator can be freed without a late message reaching the next one created (MPI reuses a
  /// freed communicator's context id, and an unmatched message would be matched there).
  void shutdown_workers() {
    for (std::size_t w = 0; w < links_.size(); ++w) send_request(w, detail::tag_shutdown, {});
    std::vector<bool> waiting(links_.size(), true);  // no bye yet
    std::size_t left = links_.size();
    auto const deadline = clock::now() + std::chrono::duration_cast<clock::duration>(opt_.shutdown_timeout);
    std::vector<std::byte> buf;
    unsigned idle = 0;
    while (left > 0 && clock::now() < deadline) {
      watch_health(clock::now());
      if (all_lost(clock::now(), &waiting)) break;  // waiting longer is pointless
      auto info = detail::next_message(comm_, comm::any_source, buf);
      detail::idle_wait(info.has_value(), idle);
      if (!info) continue;
      auto const w = static_cast<std::size_t>(info->source - 1);
      if (info->tag == detail::tag_bye && info->source >= 1 && w < links_.size()) {
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
    for (std::size_t w = 0; w < links_.size(); ++w)
      if (waiting[w])
        who += (who.empty() ? "" : ", ") + std::to_string(rank_of(w)) +
               (router_.workers()[w].alive ? "" : " (declared dead)");
    log("rank(s) " + who + " did not confirm shutdown within " + std::to_string(opt_.shutdown_timeout.count()) +
        " s; this dispatcher's communicator is kept until MPI_Finalize, so that their late messages cannot reach a later one");
    if constexpr (requires { comm_.retain_until_finalize(); }) comm_.retain_until_finalize();
  }


  Comm comm_;
  dispatcher_options opt_;
  router_type router_;
  detail::worker_loop<Comm> worker_;
  std::vector<detail::worker_link> links_;  // per worker: held requests, suspected / stuck, host
  health_monitor health_;
  std::optional<detail::durable_outcomes> durable_;  // rank 0 with a state directory, once recovered
  bool recovered_ = false;
  completion_fn on_complete_;
  failure_fn on_failure_;
  std::function<bool(clock::time_point)> feeder_;
  std::function<void()> before_checkpoint_;
};

}  // namespace strata::schedule
