#pragma once
/// \file
/// \brief The checkpointer's application log (SPEC R9, option `.replay_log`): entries
/// `{term, index, data}` appended between checkpoints, truncated when a version that includes them
/// commits, replayed after the restored version in index order. Not a public header.
///
/// Each rank keeps its own write-ahead log, `<log directory>/rank-<R>.wal`. The last index a
/// checkpoint includes travels in the checkpoint itself (the hidden per-rank region `strata.log`,
/// `{term, index}`), so a restore knows where its replay starts, and a replay killed half-way and
/// redone starts again from the same checkpointed state: every entry ends up applied exactly once.

#include <strata/checkpoint/fault_points.hpp>
#include <strata/checkpoint/log.hpp>
#include <strata/checkpoint/log_entry.hpp>
#include <strata/error.hpp>
#include <strata/replay/wal.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <span>
#include <string>

namespace strata::checkpoint::detail {

/// The hidden region holding `{term, index}` of the newest log entry a checkpoint includes.
inline constexpr char const* log_region_name = "strata.log";

class app_log {
 public:
  using mark_type = std::array<std::uint64_t, 2>;  ///< {term, index}

  app_log(std::filesystem::path file, replay::fsync_policy fsync, logger const& log, int rank)
      : rank_(rank),
        wal_(std::move(file), replay::wal_options{.fsync = fsync,
                                                  .log = [&log](std::string_view m) { log.warn(std::string(m)); },
                                                  .refuse_sequence_break = true}) {
    term_ = wal_.last_term() + 1;
  }

  /// \brief The checkpointed `{term, index}` (protected as the region `strata.log`).
  mark_type& mark() noexcept { return mark_; }

  /// \brief Appends one entry in the current term; returns its index.
  std::uint64_t append(std::span<const std::byte> data) {
    std::lock_guard g{mu_};
    return wal_.append(term_, data);
  }
  /// \brief Before a checkpoint is encoded: the mark says which entries it includes (all so far).
  std::uint64_t stamp() {
    std::lock_guard g{mu_};
    mark_ = {term_, wal_.last_index()};
    return mark_[1];
  }
  /// \brief A version that includes entries through `index` committed: they are dropped from the log.
  /// A failure is a warning (the entries are replayed only after that version: nothing is lost).
  void committed(std::uint64_t index, logger const& log) {
    std::lock_guard g{mu_};
    try {
      wal_.truncate_through(index);
    } catch (std::exception const& e) {
      log.warn("the application log could not be truncated after a commit (it keeps older entries): " +
               std::string(e.what()));
    }
  }
  /// \brief Before a restore loads the mark: a version without the region (none restored, or taken
  /// before the log was used) includes no entry.
  void forget_mark() noexcept { mark_ = {0, 0}; }

  /// \brief Entries after the restored mark.
  [[nodiscard]] std::uint64_t pending() const {
    std::lock_guard g{mu_};
    return wal_.last_index() > mark_[1] ? wal_.last_index() - mark_[1] : 0;
  }
  /// \brief Why the entries after the restored mark cannot be replayed (empty: they can): the log was
  /// truncated past the mark when a newer version committed, which the restore could not use.
  [[nodiscard]] std::string gap(std::string const& restored) const {
    std::lock_guard g{mu_};
    if (wal_.base_index() <= mark_[1]) return {};
    return "rank " + std::to_string(rank_) + ": " + restored + " includes the application log through index " +
           std::to_string(mark_[1]) + ", but " + wal_.path().string() + " holds only the entries after index " +
           std::to_string(wal_.base_index()) + " (entries " + std::to_string(mark_[1] + 1) + " to " +
           std::to_string(wal_.base_index()) +
           " were dropped when a newer version committed, and that version could not be restored); repair the newer "
           "version, or move the log aside to restore without replaying it";
  }

  /// \brief Calls `apply` for every entry after the mark, in index order (fault point
  /// `replaying_log`, version = the entry's index); then later entries get a new term.
  /// \returns how many were applied.
  std::uint64_t replay(log_replayer apply) {
    std::lock_guard g{mu_};
    std::uint64_t n = 0;
    wal_.replay_views(mark_[1], [&](std::uint64_t term, std::uint64_t index, std::span<const std::byte> data) {
      fault::point(fault_points::replaying_log, rank_, index);
      apply(log_entry{term, index, data});
      ++n;
    });
    new_term();
    return n;
  }
  /// \brief An explicit rollback: the entries after the mark belong to the history left behind. They
  /// are kept in `<log>.branch-<version>` and the log goes on from the mark. \returns that file (empty: none moved).
  std::string branch(std::uint64_t version) {
    std::lock_guard g{mu_};
    new_term();
    if (wal_.last_index() <= mark_[1] && wal_.base_index() == mark_[1]) return {};
    auto const aside = wal_.path().string() + ".branch-" + std::to_string(version);
    std::error_code ec;
    std::filesystem::copy_file(wal_.path(), aside, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) throw error("cannot keep the application log's later entries in " + aside + ": " + ec.message());
    wal_.reset(mark_[1]);
    return aside;
  }

  /// \brief After a restore: later entries get a new term, and a log that ends before the restored
  /// mark (moved aside or lost: those entries are in the checkpoint) goes on after it.
  void settle(logger const& log) {
    std::lock_guard g{mu_};
    new_term();
    if (wal_.last_index() >= mark_[1]) return;
    log.warn("the application log " + wal_.path().string() + " ends at index " + std::to_string(wal_.last_index()) +
             " but the restored version includes the entries through " + std::to_string(mark_[1]) +
             "; the log goes on after that index");
    wal_.reset(mark_[1]);
  }

  [[nodiscard]] std::filesystem::path const& path() const noexcept { return wal_.path(); }

 private:
  void new_term() { term_ = std::max({term_, wal_.last_term() + 1, mark_[0] + 1}); }

  int rank_;
  mutable std::mutex mu_;  ///< the application thread appends; a background writer truncates
  replay::wal wal_;
  std::uint64_t term_ = 1;
  mark_type mark_{0, 0};
};

}  // namespace strata::checkpoint::detail
