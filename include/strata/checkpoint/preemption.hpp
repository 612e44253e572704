#pragma once
/// \file
/// \brief `strata::preemption`: catch the signals a batch scheduler sends before it pre-empts a job
/// (SPEC O1), so that the checkpointer can save the state at the next step and stop.
///
/// The handlers only count signals (a lock-free atomic per signal); everything else happens in
/// `checkpointer::step()`. Several listeners may share a signal: the handler is installed by the
/// first and the previous disposition restored by the last.

#include <strata/error.hpp>
#include <strata/validation.hpp>

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

/// \brief What the checkpointer does once the pre-emption checkpoint is committed.
enum class action {
  stop,  ///< `step()` returns, `stop_requested()` is true: the application ends its loop
  exit,  ///< the library ends the process: `MPI_Finalize`, then `std::exit(exit_status)`
};

/// \brief Up to `capacity` signal numbers, as a value (no allocation: options stay cheap to copy).
///
/// \code
/// strata::preemption::signal_set s{SIGTERM, SIGUSR1};
/// \endcode
class signal_set {
 public:
  static constexpr std::size_t capacity = 8;
  constexpr signal_set() noexcept = default;
  constexpr signal_set(std::initializer_list<int> signals) noexcept {
    for (int s : signals) {
      if (size_ == capacity) {
        overflow_ = true;
        break;
      }
      list_[size_++] = s;
    }
  }
  [[nodiscard]] constexpr bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return size_; }
  /// \brief Whether more than `capacity` signals were given (the checkpointer refuses it).
  [[nodiscard]] constexpr bool overflow() const noexcept { return overflow_; }
  [[nodiscard]] constexpr int const* begin() const noexcept { return list_.data(); }
  [[nodiscard]] constexpr int const* end() const noexcept { return list_.data() + size_; }
  constexpr void clear() noexcept { *this = {}; }
  friend constexpr bool operator==(signal_set const& a, signal_set const& b) noexcept {
    return std::equal(a.begin(), a.end(), b.begin(), b.end()) && a.overflow_ == b.overflow_;
  }

 private:
  std::array<int, capacity> list_{};
  std::size_t size_ = 0;
  bool overflow_ = false;
};

/// \brief A checkpointer's pre-emption settings (`.preemption = {...}`).
///
/// \code
/// strata::checkpointer<> ckpt{MPI_COMM_WORLD, {.directory = "ckpt", .preemption = {.signals = {SIGUSR1}}}};
/// \endcode
struct options {
  /// Caught from the first `step()` on; empty: pre-emption off (no handler, no collective).
  signal_set signals{SIGTERM, SIGUSR1};
  action on_signal = action::stop;
  int exit_status = 0;            ///< `on_signal = exit`: the status after a committed checkpoint
  std::uint64_t check_every = 1;  ///< steps between two agreements (one all-reduce each, at steps that are multiples)

  /// \brief Whether any signal is caught (the checkpointer then agrees on them at `step()`).
  [[nodiscard]] bool enabled() const noexcept { return !signals.empty(); }
  /// \brief Throws `usage_error` naming a signal that cannot serve, or a bad count or status.
  void validate() const;
};

/// \brief What stopped a run: the signal, the lowest rank that caught it, the step and the version saved.
struct event {
  int signal = 0;
  int rank = 0;
  std::uint64_t step = 0;
  std::uint64_t version = 0;
};

/// \brief "SIGTERM", "SIGUSR1", ..., or "signal N".
inline std::string signal_name(int s) {
  static constexpr std::pair<int, char const*> names[] = {
      {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},   {SIGTRAP, "SIGTRAP"},
      {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},   {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"},
      {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"}, {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},
      {SIGCHLD, "SIGCHLD"}, {SIGCONT, "SIGCONT"}, {SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"}, {SIGXCPU, "SIGXCPU"},
      {SIGSYS, "SIGSYS"}};
  for (auto const& [n, name] : names)
    if (n == s) return name;
  return "signal " + std::to_string(s);
}

namespace detail {

#ifdef NSIG
inline constexpr int signal_slots = NSIG;
#else
inline constexpr int signal_slots = 65;
#endif

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

/// Why `s` cannot be caught for a pre-emption (empty: it can).
inline std::string unusable(int s) {
  if (s <= 0 || s >= signal_slots) return "signal " + std::to_string(s) + " is not a signal number";
  if (s == SIGKILL || s == SIGSTOP) return signal_name(s) + " cannot be caught";
  for (int fault : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS})
    if (s == fault) return signal_name(s) + " reports a fault in the program, not a pre-emption";
  return {};
}

}  // namespace detail

inline void options::validate() const {
  std::string list;
  for (int s : signals) list += (list.empty() ? "" : ", ") + signal_name(s);
  strata::detail::require(!signals.overflow(), "preemption", "signals", "{" + list + ", ...}",
                          "holds more than " + std::to_string(signal_set::capacity) + " signals");
  for (int s : signals)
    if (auto why = detail::unusable(s); !why.empty())
      strata::detail::require(false, "preemption", "signals", "{" + list + "}",
                              why + "; use SIGTERM, SIGUSR1 or SIGUSR2 ({} turns pre-emption off)");
  strata::detail::require_at_least("preemption", "check_every", check_every, 1, "steps between two agreements");
  strata::detail::require(exit_status >= 0 && exit_status <= 255, "preemption", "exit_status",
                          std::to_string(exit_status), "must be an exit status from 0 to 255");
}

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
