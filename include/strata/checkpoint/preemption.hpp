#pragma once
/// \file
/// \brief `strata::preemption`: catch the signals a batch scheduler sends before it pre-empts a job
/// (SPEC O1), so that the checkpointer can save the state at the next step and stop.
///
/// The handlers only count signals (a lock-free atomic per signal); everything else happens in
/// `checkpointer::step()`. Several listeners may share a signal: the handler is installed by the
/// first and the previous disposition restored by the last.

#include <strata/checkpoint/preemption_options.hpp>
#include <strata/error.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <signal.h>

namespace strata::preemption {

namespace detail {

/// Process-wide: how often each signal was caught, and who installed the handler over what.
struct signal_table {
  std::atomic<std::uint32_t> caught[signal_slots]{};
  int users[signal_slots]{};
  struct sigaction previous[signal_slots]{};
  std::mutex m;
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "a signal handler may only touch lock-free atomics");
inline constinit signal_table table{};

inline void count_signal(int s) noexcept { table.caught[s].fetch_add(1, std::memory_order_relaxed); }

}  // namespace detail

/// \brief Catches `signals` while it lives (move-only RAII); `pending()` says which one came since
/// the listener started or was last `acknowledge`d.
///
/// \code
/// strata::preemption::listener l{{SIGTERM, SIGUSR1}};
/// while (work()) if (int s = l.pending()) { save(); std::printf("%s\n", strata::preemption::signal_name(s).c_str()); break; }
/// \endcode
class listener {
 public:
  /// \throws usage_error when a signal cannot be caught (the ones already installed are given back).
  explicit listener(signal_set const& set) {
    std::vector<int> signals(set.begin(), set.end());
    std::sort(signals.begin(), signals.end());
    signals.erase(std::unique(signals.begin(), signals.end()), signals.end());
    auto& t = detail::table;
    std::lock_guard g{t.m};
    for (int s : signals) {
      if (auto why = detail::unusable(s); !why.empty()) {
        release_locked();
        throw usage_error("strata::preemption::listener: " + why);
      }
      if (t.users[s] == 0) {
        struct sigaction sa {};
        sa.sa_handler = &detail::count_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;  // I/O and MPI calls interrupted by the signal carry on
        ::sigaction(s, &sa, &t.previous[s]);
      }
      ++t.users[s];
      mine_.push_back({s, t.caught[s].load(std::memory_order_relaxed)});
    }
  }
  listener(listener&& o) noexcept : mine_(std::exchange(o.mine_, {})) {}
  listener& operator=(listener&& o) noexcept {
    if (this != &o) {
      release();
      mine_ = std::exchange(o.mine_, {});
    }
    return *this;
  }
  listener(listener const&) = delete;
  listener& operator=(listener const&) = delete;
  ~listener() { release(); }

  /// \brief The lowest signal caught since the last `acknowledge()` (0: none).
  [[nodiscard]] int pending() const noexcept {
    for (auto const& w : mine_)
      if (detail::table.caught[w.signal].load(std::memory_order_relaxed) != w.seen) return w.signal;
    return 0;
  }
  /// \brief Forgets the signals caught so far.
  void acknowledge() noexcept {
    for (auto& w : mine_) w.seen = detail::table.caught[w.signal].load(std::memory_order_relaxed);
  }
  /// \brief Gives the signals back: the last listener of a signal restores what was there before it
  /// (unless someone installed another handler since).
  void release() noexcept {
    if (mine_.empty()) return;
    std::lock_guard g{detail::table.m};
    release_locked();
  }

 private:
  struct watched {
    int signal;
    std::uint32_t seen;
  };
  void release_locked() noexcept {
    auto& t = detail::table;
    for (auto const& w : mine_) {
      if (--t.users[w.signal] != 0) continue;
      struct sigaction now {};
      ::sigaction(w.signal, nullptr, &now);
      if (now.sa_handler == &detail::count_signal) ::sigaction(w.signal, &t.previous[w.signal], nullptr);
    }
    mine_.clear();
  }
  std::vector<watched> mine_;
};

}  // namespace strata::preemption
