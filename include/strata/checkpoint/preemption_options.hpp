#pragma once
/// \file
/// \brief The pre-emption settings of a checkpointer (`.preemption = {...}`, SPEC O1) and what a
/// caught signal leaves behind; the signal handling itself is `checkpoint/preemption.hpp`.

#include <strata/error.hpp>
#include <strata/validation.hpp>

#include <array>
#include <csignal>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

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
  /// \brief Adds `s` at the end (beyond `capacity`: `overflow()`).
  constexpr void push_back(int s) noexcept {
    if (size_ == capacity) overflow_ = true;
    else list_[size_++] = s;
  }
  friend constexpr bool operator==(signal_set const& a, signal_set const& b) noexcept {
    if (a.size_ != b.size_ || a.overflow_ != b.overflow_) return false;
    for (std::size_t i = 0; i < a.size_; ++i)
      if (a.list_[i] != b.list_[i]) return false;
    return true;
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
  /// Steps between two agreements: one all-reduce each, at steps that are multiples (with `comm::mpi`
  /// non-blocking: started at such a step, finished and acted on at the next).
  std::uint64_t check_every = 1;

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

}  // namespace strata::preemption
