#pragma once
/// \file
/// \brief The checkpointer's options (`strata::checkpointer<...>::options`), and the figures it reports.

#include <strata/checkpoint/log.hpp>
#include <strata/checkpoint/preemption_options.hpp>
#include <strata/replay/fsync_policy.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <iostream>

namespace strata {

namespace metrics {
class registry;
}

/// \brief Figures of the last checkpoint or restore, for logs, metrics and benchmarks.
struct checkpoint_stats {
  std::uint64_t version = 0;
  std::uint64_t bytes = 0;        ///< this rank's shard
  double encode_seconds = 0;      ///< staging and encoding (application blocked)
  double commit_seconds = 0;      ///< write, verify and the protocol
  double total_seconds = 0;       ///< application blocked in all (async: staging only)
  std::uint64_t superseded = 0;   ///< async: staged versions replaced before they were written
  std::uint64_t read_bytes = 0;   ///< restore: shard bytes this rank read (every version it tried; commit records aside)
  /// restore: the most bytes of shards this rank held at once (N→M: what `memory_limit_bytes` bounds)
  std::uint64_t held_bytes = 0;
};

namespace checkpoint {

/// \brief A checkpointer's options (`checkpointer<...>::options`): everything with a sensible
/// default, `{.directory = "ckpt"}` is enough.
///
/// Designated initialisers must name the members in this order: directory, trigger, retention,
/// snapshot, storage, consistency, verify_after_write, check_free_space, async, memory_limit_bytes,
/// log_level, log, lock_directory, lock_lease, preemption, allow_resize, metrics, metrics_file,
/// metrics_period, progress_after, replay_log, log_directory, log_fsync (any may be left out;
/// `tests/unit/checkpoint/test_checkpointer_options.cpp` compiles them all in this order). Each
/// is checked at construction: a value that cannot work is a `usage_error` on every rank naming
/// the option.
template <class Snapshot, class Storage, class Consistency, class Trigger, class Retention>
struct basic_options {
  std::filesystem::path directory = "strata_checkpoints";
  Trigger trigger{};
  Retention retention{};
  Snapshot snapshot{};
  Storage storage{};
  Consistency consistency{};
  bool verify_after_write = false;  ///< re-read each shard and compare its checksum before voting (sizes are always checked)
  bool check_free_space = true;    ///< refuse a checkpoint that cannot fit before writing anything
  bool async = false;              ///< write and commit on a background thread (needs MPI_THREAD_MULTIPLE)
  /// N→M restore refuses, before touching any state, to hold more than this many bytes of old
  /// shards on a rank at once: the old blocks it restores (kept until every rank agrees), the
  /// indexes of the old shards, the block hashes of those it reads, and any old shard it must read
  /// whole (written before shards had an index, or compressed). 0: no limit (every value is valid).
  std::uint64_t memory_limit_bytes = 0;
  verbosity log_level = verbosity::warnings;
  std::ostream* log = &std::cerr;
  /// Rank 0 locks the directory (`DIR/.strata.lock`, SPEC R12): a second job on it is refused at
  /// construction, naming the holder's host, pid and start time; a lock left by a dead job is taken over.
  bool lock_directory = true;
  /// A lock held on another host is judged by its renewals (every third of this): a restart on
  /// other nodes waits up to this long to see whether the holder is still alive.
  std::chrono::duration<double> lock_lease{30.0};
  /// Pre-emption (SPEC O1): the signals that make the next `step()` checkpoint on every rank and
  /// stop (`stop_requested()`), or exit. While on, `step()` costs one all-reduce of one integer
  /// every `check_every` steps (shared with the trigger's, when it needs one). `{.signals = {}}`: off.
  preemption::options preemption{};
  /// A restore may resize a resizable container to the size it was saved with (logged: a warning
  /// when the container held elements, info when it was empty); false refuses such a restore.
  bool allow_resize = true;
  /// The registry the checkpointer's metrics go to (SPEC O3; names in docs/checkpointing.md): null,
  /// one of its own; else this one (e.g. a dispatcher's `metrics()`, for one file with both), which
  /// must outlive the checkpointer.
  strata::metrics::registry* metrics = nullptr;
  /// Prometheus text file that rank 0 rewrites atomically (temporary file + rename) after a commit or
  /// a restore, at most once per `metrics_period`, and at `wait()` (empty: none). It holds rank 0's
  /// figures and the `strata_ckpt_job_*` ones reduced over the ranks.
  std::filesystem::path metrics_file;
  std::chrono::duration<double> metrics_period{0.0};
  /// A checkpoint or restore still running after this long gets a progress line from rank 0, and
  /// another every as long (infinity: none).
  std::chrono::duration<double> progress_after{5.0};
  /// The application log (SPEC R9): `append_log(entry)` between checkpoints; a commit drops the
  /// entries the version includes; `restore_latest(replay)` restores the newest version, then calls
  /// `replay` for each later entry in order — each applied exactly once, even when a restore is
  /// killed and redone. One log per rank, `rank-<R>.wal` in `log_directory`.
  bool replay_log = false;
  /// Where the ranks' logs are (empty: `<directory>/.strata.log`, on the checkpoints' file system).
  std::filesystem::path log_directory;
  /// When an appended entry is durable: `every_record` (when `append_log` returns, even across a
  /// power cut), `every_n`, or `never` (survives a killed process, not a lost node).
  replay::fsync_policy log_fsync = replay::fsync_policy::every_record;
};

}  // namespace checkpoint
}  // namespace strata
