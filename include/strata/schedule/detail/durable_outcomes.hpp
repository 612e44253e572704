#pragma once
/// \file
/// \brief The dispatcher's durable state (SPEC R10a): every final outcome in a write-ahead log before the
/// application hears of it, and the queue in a snapshot taken with the core checkpointer (on one rank), so
/// that a restarted job neither loses nor repeats a completion. Both records are encoded through
/// strata's serializer (`serializer<outcome_entry>`, `serializer<snapshot_entry>`). Not API.

#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/solo.hpp>
#include <strata/error.hpp>
#include <strata/replay/wal.hpp>
#include <strata/schedule/detail/protocol.hpp>
#include <strata/schedule/task.hpp>
#include <strata/state/serializer.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strata::schedule::detail {

/// One final outcome, as the write-ahead log records it: the result bytes, or the failure reason.
struct outcome_entry {
  outcome kind = outcome::succeeded;
  task_id id = 0;
  std::uint32_t attempts = 0;
  std::vector<std::byte> data;
};

/// One task, as the queue snapshot records it (a running task is saved pending: its attempt is lost with
/// the process).
struct snapshot_entry {
  task_id id = 0;
  std::uint64_t seq = 0;
  task_status status = task_status::pending;
  std::uint32_t attempts = 0;
  std::uint32_t retries_used = 0;
  task_spec spec;
  double age_s = 0.0;
  std::vector<std::byte> payload;  ///< empty for a final task
  std::string reason;

  template <class Task>
  [[nodiscard]] static snapshot_entry of(Task const& t, std::uint64_t seq, clock::time_point now) {
    auto const status = t.status() == task_status::running ? task_status::pending : t.status();
    auto const payload = is_terminal(status) ? std::span<const std::byte>{} : std::span<const std::byte>(t.payload());
    return {t.id(), seq, status, static_cast<std::uint32_t>(t.attempts()), static_cast<std::uint32_t>(t.retries_used()),
            t.spec(), t.age(now), {payload.begin(), payload.end()}, t.failure_reason()};
  }
  /// The task again, created `age_s` before `now`.
  template <class Task>
  [[nodiscard]] Task rebuild(clock::time_point now) && {
    auto const created = now - std::chrono::duration_cast<clock::duration>(seconds{age_s});
    return Task::restored(id, std::move(payload), spec, created, status, attempts, retries_used, std::move(reason));
  }
};

}  // namespace strata::schedule::detail

namespace strata {

template <>
struct serializer<schedule::detail::outcome_entry> {
  static void save(byte_writer& w, schedule::detail::outcome_entry const& e) {
    w.value(static_cast<std::uint8_t>(e.kind));
    w.value(e.id);
    w.value(e.attempts);
    w.range(e.data);
  }
  static void load(byte_reader& r, schedule::detail::outcome_entry& e) {
    e.kind = r.value<std::uint8_t>() == static_cast<std::uint8_t>(schedule::detail::outcome::succeeded)
                 ? schedule::detail::outcome::succeeded
                 : schedule::detail::outcome::failed;
    r.value(e.id);
    r.value(e.attempts);
    r.range(e.data);
  }
};

template <>
struct serializer<schedule::detail::snapshot_entry> {
  static void save(byte_writer& w, schedule::detail::snapshot_entry const& e) {
    w.value(e.id);
    w.value(e.seq);
    w.value(static_cast<std::uint8_t>(e.status));
    w.value(e.attempts);
    w.value(e.retries_used);
    w.value(e.spec.business_level);
    w.value(e.spec.resource_demand);
    w.value(e.spec.memory_needed);
    w.value(e.spec.ttl.count());
    w.value(static_cast<std::uint32_t>(e.spec.max_retries));
    w.value(e.age_s);
    w.range(e.payload);
    w.range(e.reason);
  }
  static void load(byte_reader& r, schedule::detail::snapshot_entry& e) {
    r.value(e.id);
    r.value(e.seq);
    e.status = static_cast<schedule::task_status>(r.value<std::uint8_t>());
    r.value(e.attempts);
    r.value(e.retries_used);
    r.value(e.spec.business_level);
    r.value(e.spec.resource_demand);
    r.value(e.spec.memory_needed);
    e.spec.ttl = schedule::seconds{r.value<double>()};
    e.spec.max_retries = r.value<std::uint32_t>();
    r.value(e.age_s);
    r.range(e.payload);
    r.range(e.reason);
  }
};

}  // namespace strata

namespace strata::schedule::detail {

/// The write-ahead log of final outcomes and the queue snapshot, in one state directory.
///
/// \code
/// durable_outcomes d{{.directory = "state"}};
/// d.load_snapshot([&](snapshot_entry&& e) { router.restore(...); });
/// d.open_log([&](outcome_entry&& e) { return router.replay(...); });
/// d.append({outcome::succeeded, id, attempts, result});   // before the application hears of it
/// d.checkpoint(n, [&](auto&& put) { for (...) put(snapshot_entry::of(task, seq, now)); });
/// \endcode
class durable_outcomes {
 public:
  struct options {
    std::filesystem::path directory;
    replay::fsync_policy fsync = replay::fsync_policy::every_record;
    std::function<void(std::string_view)> log;
  };

  explicit durable_outcomes(options opt) : opt_(std::move(opt)) {
    std::filesystem::create_directories(opt_.directory);
    ckpt_ = std::make_unique<queue_checkpointer>(
        comm::solo{}, typename queue_checkpointer::options{.directory = opt_.directory / "queue"});
    ckpt_->protect("dispatcher", blob_);
  }

  /// Loads the newest queue snapshot, calling `restore(snapshot_entry&&)` for each task in it.
  /// \returns its version, or nothing when there is none.
  template <class Restore>
  std::optional<std::uint64_t> load_snapshot(Restore&& restore) {
    auto const v = ckpt_->restore_latest();
    if (!v) return v;
    byte_reader r{blob_};
    if (r.value<std::uint32_t>() != magic) throw restore_error("dispatcher: the queue checkpoint is not ours");
    snapshot_term_ = r.value<std::uint64_t>();
    applied_ = r.value<std::uint64_t>();
    auto const n = r.value<std::uint64_t>();
    for (std::uint64_t i = 0; i < n; ++i) {
      snapshot_entry e;
      serializer<snapshot_entry>::load(r, e);
      restore(std::move(e));
    }
    return v;
  }

  /// Opens the write-ahead log (its term follows the snapshot's and the log's) and replays the entries
  /// past the snapshot: `apply(outcome_entry&&)` for each one that decodes.
  template <class Apply>
  void open_log(Apply&& apply) {
    wal_.emplace(opt_.directory / "completions.wal", replay::wal_options{.fsync = opt_.fsync, .log = opt_.log});
    term_ = std::max(snapshot_term_, wal_->last_term()) + 1;
    if (wal_->base_index() > applied_)
      log("warning: the write-ahead log starts after index " + std::to_string(wal_->base_index()) +
          " but the queue checkpoint only covers up to " + std::to_string(applied_) +
          "; outcomes in between were applied by an earlier run");
    applied_ = wal_->replay(applied_, [&](replay::wal_entry const& raw) {
      outcome_entry e;
      try {
        byte_reader r{raw.data};
        serializer<outcome_entry>::load(r, e);
      } catch (strata::error const& err) {
        log("write-ahead log entry " + std::to_string(raw.index) + " does not decode (" + err.what() + "); skipped");
        return;
      }
      apply(std::move(e));
    });
  }

  /// Logs a final outcome. \returns the bytes appended.
  std::size_t append(outcome kind, task_id id, std::uint32_t attempts, std::span<const std::byte> data) {
    outcome_entry const e{kind, id, attempts, {data.begin(), data.end()}};
    std::vector<std::byte> bytes;
    byte_writer w{bytes};
    serializer<outcome_entry>::save(w, e);
    applied_ = wal_->append(term_, bytes);
    ++since_checkpoint_;
    return bytes.size() + replay::wal::record_header_bytes;
  }

  void sync() {
    if (wal_) wal_->sync();
  }

  /// Snapshots the queue: `each(put)` calls `put(snapshot_entry)` for every one of the `n` tasks; then the
  /// log restarts after what the snapshot covers. \returns the snapshot's bytes.
  template <class Each>
  std::size_t checkpoint(std::size_t n, Each&& each) {
    sync();
    blob_.clear();
    byte_writer w{blob_};
    w.value(magic);
    w.value(term_);
    w.value(applied_);
    w.value(static_cast<std::uint64_t>(n));
    std::size_t put_count = 0;
    each([&](snapshot_entry const& e) {
      serializer<snapshot_entry>::save(w, e);
      ++put_count;
    });
    if (put_count != n) throw usage_error("durable_outcomes: checkpoint promised " + std::to_string(n) + " tasks, got " +
                                          std::to_string(put_count));
    ckpt_->checkpoint();
    wal_->reset(applied_);  // records up to `applied_` are inside the checkpoint now
    since_checkpoint_ = 0;
    return blob_.size();
  }

  /// Outcomes logged since the last snapshot.
  [[nodiscard]] std::size_t since_checkpoint() const noexcept { return since_checkpoint_; }
  /// The log's current term (grows on every restart).
  [[nodiscard]] std::uint64_t term() const noexcept { return term_; }
  /// The index of the newest outcome applied.
  [[nodiscard]] std::uint64_t applied() const noexcept { return applied_; }

 private:
  using queue_checkpointer = checkpointer<comm::solo>;
  static constexpr std::uint32_t magic = 0x53444351;  // "QCDS"

  void log(std::string const& m) const {
    if (opt_.log) opt_.log(m);
  }

  options opt_;
  std::optional<replay::wal> wal_;
  std::unique_ptr<queue_checkpointer> ckpt_;
  std::vector<std::byte> blob_;
  std::uint64_t snapshot_term_ = 0;
  std::uint64_t term_ = 1;
  std::uint64_t applied_ = 0;
  std::size_t since_checkpoint_ = 0;
};

}  // namespace strata::schedule::detail
