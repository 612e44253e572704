#pragma once
/// \file
/// \brief Fault boundaries (SPEC R6): health checks with explicit, configurable thresholds.
///
/// Every `check_period` each peer is checked: it passes if it was heard from
/// (heartbeat, result) since the previous check, and fails otherwise; an error
/// reported against it also counts as a failed check. A peer is declared dead
/// when it failed more than `max_consecutive_failures` checks in a row AND its
/// last success is older than `stale_after` (SPEC R6: more than 3 checks and 30 s).

#include <strata/error.hpp>
#include <strata/schedule/task.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace strata::schedule {

/// \brief The thresholds of SPEC R6; defaults are the spec's example.
struct health_thresholds {
  unsigned max_consecutive_failures = 3;  ///< dead only after MORE than this many failed checks in a row
  seconds stale_after{30.0};              ///< ... and when the last success is older than this
  seconds check_period{1.0};              ///< how often peers are checked
  friend constexpr bool operator==(health_thresholds const&, health_thresholds const&) = default;
};

/// \brief Tracks the health of `n` peers and says when one crosses the thresholds.
///
/// \code
/// strata::schedule::health_monitor h{4, {.stale_after = seconds{2}, .check_period = seconds{0.2}}};
/// h.heard_from(2, clock::now());
/// for (std::size_t dead : h.check(clock::now())) reassign_tasks_of(dead);
/// \endcode
class health_monitor {
 public:
  health_monitor() = default;
  health_monitor(std::size_t peers, health_thresholds t = {}, clock::time_point now = clock::now())
      : thresholds_(t), peers_(peers, peer{now, 0, false, false, 0}), next_check_(now + std::chrono::duration_cast<clock::duration>(t.check_period)) {
    if (!(t.check_period.count() > 0.0)) throw usage_error("health_thresholds: check_period must be positive");
  }

  /// \brief A sign of life from `p`; returns true when that revives a peer declared dead.
  bool heard_from(std::size_t p, clock::time_point now) {
    auto& s = at(p);
    s.last_success = now;
    s.heard_since_check = true;
    s.consecutive_failures = 0;
    if (!s.dead) return false;
    s.dead = false;
    return true;
  }
  /// \brief An error against `p` (timeout, bad message): counts as one failed check.
  void error(std::size_t p) {
    auto& s = at(p);
    ++s.consecutive_failures;
    ++s.errors;
  }
  /// \brief Runs the checks that are due at `now`; returns the peers declared dead by them.
  std::vector<std::size_t> check(clock::time_point now) {
    std::vector<std::size_t> newly_dead;
    while (now >= next_check_) {
      for (auto& s : peers_) {
        if (s.heard_since_check) s.heard_since_check = false;
        else ++s.consecutive_failures;
      }
      next_check_ += std::chrono::duration_cast<clock::duration>(thresholds_.check_period);
    }
    for (std::size_t p = 0; p < peers_.size(); ++p) {
      auto& s = peers_[p];
      if (!s.dead && s.consecutive_failures > thresholds_.max_consecutive_failures &&
          now - s.last_success > thresholds_.stale_after) {
        s.dead = true;
        newly_dead.push_back(p);
      }
    }
    return newly_dead;
  }
  [[nodiscard]] bool dead(std::size_t p) const { return at(p).dead; }
  [[nodiscard]] unsigned consecutive_failures(std::size_t p) const { return at(p).consecutive_failures; }
  [[nodiscard]] clock::time_point last_success(std::size_t p) const { return at(p).last_success; }
  [[nodiscard]] std::size_t errors(std::size_t p) const { return at(p).errors; }
  [[nodiscard]] std::size_t size() const noexcept { return peers_.size(); }
  [[nodiscard]] health_thresholds const& thresholds() const noexcept { return thresholds_; }

 private:
  struct peer {
    clock::time_point last_success;
    unsigned consecutive_failures;
    bool heard_since_check;
    bool dead;
    std::size_t errors;
  };
  peer& at(std::size_t p) {
    if (p >= peers_.size()) throw usage_error("health_monitor: peer " + std::to_string(p) + " out of range");
    return peers_[p];
  }
  peer const& at(std::size_t p) const {
    if (p >= peers_.size()) throw usage_error("health_monitor: peer " + std::to_string(p) + " out of range");
    return peers_[p];
  }
  health_thresholds thresholds_{};
  std::vector<peer> peers_;
  clock::time_point next_check_{};
};

}  // namespace strata::schedule
