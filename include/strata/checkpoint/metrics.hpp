#pragma once
/// \file
/// \brief The checkpointer's metrics (SPEC O3, S7) in a `metrics::registry`, and the progress line
/// rank 0 logs while a checkpoint or a restore takes long.

#include <strata/checkpoint/log.hpp>
#include <strata/metrics/registry.hpp>

#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace strata::checkpoint {

/// \brief The checkpointer's metrics, registered under `strata_ckpt_*` (listed in docs/checkpointing.md).
///
/// Plain names are this rank's figures; `strata_ckpt_job_*` are reduced over the ranks at each commit
/// or restore (max for seconds, sum for bytes), the same on every rank. Several checkpointers on
/// one registry add to the same metrics.
/// \code
/// strata::metrics::registry reg;
/// auto m = strata::checkpoint::metric_set::on(reg);
/// m.committed->add();
/// \endcode
struct metric_set {
  strata::metrics::histogram* stall;
  strata::metrics::histogram* encode;
  strata::metrics::histogram* commit;
  strata::metrics::counter* bytes_written;
  strata::metrics::gauge* last_bytes;
  strata::metrics::counter* committed;
  strata::metrics::counter* failed;
  strata::metrics::counter* superseded;
  strata::metrics::counter* retired;
  strata::metrics::gauge* last_version;
  strata::metrics::histogram* restore;
  strata::metrics::counter* restores;
  strata::metrics::counter* read_bytes;
  strata::metrics::gauge* restored_version;
  strata::metrics::gauge* job_stall_max;
  strata::metrics::counter* job_bytes_written;
  strata::metrics::gauge* job_restore_max;
  strata::metrics::counter* job_read_bytes;
  strata::metrics::registry* reg;

  /// \brief Registers (or finds) every metric on `r`.
  [[nodiscard]] static metric_set on(strata::metrics::registry& r) {
    auto const secs = strata::metrics::histogram::exponential(1e-4, 4.0, 12);  // 100 µs .. ~7 min
    return {
        &r.histogram("strata_ckpt_stall_seconds", "Application blocked per checkpoint (async: staging), this rank", secs),
        &r.histogram("strata_ckpt_encode_seconds", "Staging and encoding per checkpoint, this rank", secs),
        &r.histogram("strata_ckpt_commit_seconds", "Write, verify and commit protocol per checkpoint, this rank", secs),
        &r.counter("strata_ckpt_bytes_written_total", "Shard bytes of committed checkpoints, this rank"),
        &r.gauge("strata_ckpt_last_bytes", "Shard bytes of the last committed checkpoint, this rank"),
        &r.counter("strata_ckpt_committed_total", "Checkpoints committed"),
        &r.counter("strata_ckpt_failed_total", "Checkpoints that failed (the previous version stays intact)"),
        &r.counter("strata_ckpt_superseded_total", "Async: staged versions replaced before they were written"),
        &r.counter("strata_ckpt_versions_retired_total", "Versions removed by the retention policy"),
        &r.gauge("strata_ckpt_last_version", "The last committed version"),
        &r.histogram("strata_ckpt_restore_seconds", "Restore duration, this rank", secs),
        &r.counter("strata_ckpt_restores_total", "Restores that restored a version"),
        &r.counter("strata_ckpt_restore_read_bytes_total", "Shard bytes read by restores, this rank"),
        &r.gauge("strata_ckpt_restored_version", "The version the last restore restored"),
        &r.gauge("strata_ckpt_job_stall_seconds_max", "Last checkpoint: the longest stall of any rank"),
        &r.counter("strata_ckpt_job_bytes_written_total", "Shard bytes of committed checkpoints, all ranks"),
        &r.gauge("strata_ckpt_job_restore_seconds_max", "Last restore: the longest of any rank"),
        &r.counter("strata_ckpt_job_restore_read_bytes_total", "Shard bytes read by restores, all ranks"),
        &r,
    };
  }
  /// \brief Counts a restore of this rank's shard served by storage level `level` (e.g. `L1`, `L2`).
  void served_by(std::string const& level) const {
    std::string name = "strata_ckpt_restore_served_";
    for (char c : level) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    reg->counter(name + "_total", "Restores of this rank's shard served by storage level " + level).add();
  }
};

namespace detail {
/// \brief Rank 0's progress line for a long operation: nothing until `after` has passed, then a line
/// from `line(elapsed seconds)` every `after` until destroyed. A non-finite or non-positive `after`: off.
class progress_watch {
 public:
  progress_watch(logger const& log, std::chrono::duration<double> after, std::function<std::string(double)> line)
      : log_(log), line_(std::move(line)) {
    if (!(after.count() > 0.0) || !std::isfinite(after.count())) return;
    thread_ = std::thread([this, period = std::chrono::duration_cast<clock::duration>(after)] {
      auto const t0 = clock::now();
      std::unique_lock l{m_};
      while (!cv_.wait_for(l, period, [this] { return done_; }))
        log_.notice(line_(std::chrono::duration<double>(clock::now() - t0).count()));
    });
  }
  progress_watch(progress_watch const&) = delete;
  progress_watch& operator=(progress_watch const&) = delete;
  ~progress_watch() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard g{m_};
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  using clock = std::chrono::steady_clock;
  logger const& log_;
  std::function<std::string(double)> line_;
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

/// `1.5 MiB`-style size for log lines.
inline std::string human_bytes(double b) {
  char const* unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024.0 && u < 4) {
    b /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
  return buf;
}
}  // namespace detail

}  // namespace strata::checkpoint
