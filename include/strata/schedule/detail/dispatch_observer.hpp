#pragma once
/// \file
/// \brief The dispatcher's metrics (SPEC S7), Prometheus file and progress line, as an observer of the
/// router's events (submit, assign, answer, retry, final outcome, dead worker) and of the durable log.
/// Not API: reached through `dispatcher::metrics()`.

#include <strata/metrics/progress.hpp>
#include <strata/metrics/prometheus.hpp>
#include <strata/metrics/registry.hpp>
#include <strata/schedule/detail/protocol.hpp>
#include <strata/schedule/task.hpp>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>

namespace strata::schedule::detail {

/// What the router tells its observer; the default hears nothing (the router's unit test uses it).
struct null_observer {
  void submitted() noexcept {}
  void rejected() noexcept {}
  void assigned(double /*wait_s*/, double /*decision_s*/) noexcept {}
  void started_here(double /*wait_s*/) noexcept {}
  void answered(double /*response_s*/) noexcept {}
  void dropped() noexcept {}
  void retried() noexcept {}
  void finished(outcome) noexcept {}
  void worker_dead() noexcept {}
  void timed_out() noexcept {}
};

/// The 17 metrics of the dispatcher in one registry, plus the Prometheus file and the progress line.
class dispatch_observer {
 public:
  dispatch_observer() { register_metrics(); }
  dispatch_observer(dispatch_observer const&) = delete;
  dispatch_observer& operator=(dispatch_observer const&) = delete;

  void submitted() { m_.submitted->add(); }
  void rejected() { m_.rejected->add(); }
  /// A task went to a worker: `wait_s` since it was created, `decision_s` for selection plus send.
  void assigned(double wait_s, double decision_s) {
    m_.dispatch_latency->observe(decision_s);
    m_.task_wait->observe(wait_s);
  }
  /// A task started on rank 0 itself (one-rank communicator): only its wait is measured.
  void started_here(double wait_s) { m_.task_wait->observe(wait_s); }
  void answered(double response_s) { m_.response->observe(response_s); }
  void dropped() { m_.dropped->add(); }
  void retried() { m_.retried->add(); }
  void finished(outcome o) { (o == outcome::succeeded ? m_.succeeded : m_.failed)->add(); }
  void worker_dead() { m_.dead->add(); }
  void timed_out() { m_.timed_out->add(); }
  void logged(std::size_t bytes) { m_.wal_bytes->add(static_cast<double>(bytes)); }
  void checkpointed(std::size_t bytes, double stall_s) {
    m_.ckpt_bytes->add(static_cast<double>(bytes));
    m_.ckpt_stall->observe(stall_s);
  }

  /// Start of a routing run: opens the Prometheus file and the progress line when asked for.
  void begin(std::filesystem::path const& metrics_file, seconds metrics_period, bool progress, std::size_t total,
             std::size_t already_final) {
    if (!metrics_file.empty() && !prom_)
      prom_ = std::make_unique<metrics::prometheus_file>(registry_, metrics_file, metrics_period);
    if (progress) {
      bar_.emplace(total, "tasks");
      bar_->set_baseline(already_final);
    }
  }
  /// Every pass of the routing loop: gauges, then the file and the line when due.
  void tick(queue_counts const& c, clock::time_point now) {
    gauges(c);
    if (prom_) prom_->tick(now);
    if (bar_) bar_->update(static_cast<std::size_t>(c.succeeded + c.failed), now);
  }
  /// End of a routing run.
  void end(queue_counts const& c) {
    gauges(c);
    write();
    if (bar_) bar_->finish(static_cast<std::size_t>(c.succeeded + c.failed));
    bar_.reset();
  }
  /// Writes the Prometheus file now (if one is configured).
  void write() {
    if (prom_) prom_->write();
  }
  [[nodiscard]] metrics::registry& registry() noexcept { return registry_; }

 private:
  void gauges(queue_counts const& c) {
    m_.queue_length->set(static_cast<double>(c.pending));
    m_.running->set(static_cast<double>(c.running));
    m_.alive->set(static_cast<double>(c.workers_alive));
  }

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
    auto seconds_from_10us = [&](char const* name, char const* help) {
      return &r.histogram(name, help, metrics::histogram::exponential(1e-5, 4.0, 12));
    };
    m_.task_wait = seconds_from_10us("strata_sched_task_wait_seconds", "Submit (or retry) to assignment");
    m_.response = seconds_from_10us("strata_sched_response_seconds", "Assignment to answer");
    m_.ckpt_stall = seconds_from_10us("strata_sched_checkpoint_stall_seconds", "Routing blocked by a queue checkpoint");
  }

  metrics::registry registry_;
  metric_refs m_{};
  std::unique_ptr<metrics::prometheus_file> prom_;
  std::optional<metrics::progress_line> bar_;
};

}  // namespace strata::schedule::detail
