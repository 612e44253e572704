#pragma once
/// \file
/// \brief What this host says about a process, for `dir_lock`'s liveness checks: its state and start
/// time from `/proc/<pid>/stat`, the boot id, the host name, and whether a pid still names the process
/// that started at a given time.
///
/// Linux-specific parts (`/proc`) degrade gracefully: without them a pid counts as alive while
/// `kill(pid, 0)` says it exists, and start times and the boot id are unknown (0, empty).

#include <strata/detail/posix_io.hpp>

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>

namespace strata::detail {

/// \brief A process's state letter and start time (clock ticks after boot), from `/proc/<pid>/stat`.
struct proc_info {
  char state = '?';
  std::uint64_t start_ticks = 0;
};

/// \brief `s` without trailing newlines and spaces, inner line breaks made spaces (one line of a lock file).
inline std::string one_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

/// \brief State and start time (clock ticks after boot) from `/proc/<pid>/stat` (fields 3 and 22).
inline std::optional<proc_info> proc_stat(long long pid) {
  auto const text = try_read_file(std::filesystem::path("/proc") / std::to_string(pid) / "stat");
  if (!text) return std::nullopt;
  auto const close = text->rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return std::nullopt;
  proc_info p;
  std::size_t at = close + 1;
  for (int field = 3; field <= 22; ++field) {
    while (at < text->size() && (*text)[at] == ' ') ++at;
    auto const end = text->find(' ', at);
    auto const tok = text->substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (tok.empty()) return std::nullopt;
    if (field == 3) p.state = tok[0];
    if (field == 22) {
      try {
        p.start_ticks = std::stoull(tok);
      } catch (std::exception const&) {
        return std::nullopt;
      }
    }
    if (end == std::string::npos && field < 22) return std::nullopt;
    at = end;
  }
  return p;
}

/// \brief The wall-clock time of `ticks` after boot (`/proc/stat`'s btime); now when unknown.
inline std::time_t process_start_wall(std::uint64_t ticks) {
  auto const stat = try_read_file(std::filesystem::path("/proc/stat"));
  long const hz = ::sysconf(_SC_CLK_TCK);
  if (stat && ticks != 0 && hz > 0) {
    if (auto at = stat->find("\nbtime "); at != std::string::npos) {
      try {
        return static_cast<std::time_t>(std::stoll(stat->substr(at + 7)) + static_cast<long long>(ticks) / hz);
      } catch (std::exception const&) {
      }
    }
  }
  return std::time(nullptr);
}

/// \brief This host's name ("unknown-host" when it has none).
inline std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return one_line(buf);
}

/// \brief `/proc/sys/kernel/random/boot_id` (empty: unknown): tells one boot of this host from the next.
inline std::string read_boot_id() {
  return one_line(try_read_file(std::filesystem::path("/proc/sys/kernel/random/boot_id")).value_or(""));
}

/// \brief Empty while pid `pid` of this host may still be the process that started at `start_ticks`
/// (0: unknown); otherwise why it is not (exited, a zombie, or the pid now names another process).
inline std::string why_process_gone(long long pid, std::uint64_t start_ticks) {
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return "that process has exited";
  if (auto p = proc_stat(pid)) {
    if (p->state == 'Z' || p->state == 'X') return "that process has exited";
    if (start_ticks != 0 && p->start_ticks != 0 && p->start_ticks != start_ticks)
      return "pid " + std::to_string(pid) + " now belongs to another process, started at another time";
  }
  return {};
}

}  // namespace strata::detail
