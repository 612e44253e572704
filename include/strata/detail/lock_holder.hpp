#pragma once
/// \file
/// \brief `detail::lock_holder`: the record a `dir_lock` file holds about its holder, and its text format.
///
/// The file names its holder: host, pid, the pid's start time in clock ticks after boot
/// (`/proc/<pid>/stat` field 22, which tells a recycled pid apart), the boot id, the wall-clock start
/// time (ISO 8601), who took it and a random token, one `key=value` line each after the line
/// `strata-dir-lock 1`, ending with the line `end` so that a torn write reads as incomplete.

#include <strata/detail/posix_io.hpp>
#include <strata/detail/process_probe.hpp>

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace strata::detail {

/// \brief What a lock file says about its holder.
struct lock_holder {
  std::string host;
  long long pid = 0;
  std::uint64_t start_ticks = 0;  ///< `/proc/<pid>/stat` field 22 (0: unknown)
  std::string boot_id;            ///< `/proc/sys/kernel/random/boot_id` (empty: unknown)
  std::string started;            ///< the process's wall-clock start, ISO 8601 UTC
  std::string locked;             ///< when it took the lock, ISO 8601 UTC
  std::string who;                ///< e.g. "rank 0"
  std::string program;
  std::string token;

  /// \brief The holder this process would be.
  static lock_holder of_this_process(std::string const& who) {
    lock_holder h;
    h.host = host_name();
    h.pid = static_cast<long long>(::getpid());
    h.start_ticks = proc_stat(h.pid).value_or(proc_info{}).start_ticks;
    h.boot_id = read_boot_id();
    h.started = iso8601(process_start_wall(h.start_ticks));
    h.locked = iso8601(std::time(nullptr));
    h.who = one_line(who);
    h.program = one_line(try_read_file(std::filesystem::path("/proc/self/comm")).value_or(""));
    h.token = new_token();
    return h;
  }
  /// \brief The file's text; ends with "end" so that a torn write reads as incomplete.
  [[nodiscard]] std::string to_text() const {
    return "strata-dir-lock 1\nhost=" + host + "\npid=" + std::to_string(pid) +
           "\npid_start_ticks=" + std::to_string(start_ticks) + "\nboot_id=" + boot_id + "\nstarted=" + started +
           "\nlocked=" + locked + "\nwho=" + who + "\nprogram=" + program + "\ntoken=" + token + "\nend\n";
  }
  /// \brief nullopt when the text is empty, incomplete or not a strata lock.
  static std::optional<lock_holder> parse(std::string_view text) {
    constexpr std::string_view magic = "strata-dir-lock 1\n";
    if (!text.starts_with(magic) || !text.ends_with("\nend\n")) return std::nullopt;
    lock_holder h;
    std::size_t at = magic.size();
    while (at < text.size()) {
      auto const nl = text.find('\n', at);
      auto const line = text.substr(at, nl - at);
      at = nl + 1;
      auto const eq = line.find('=');
      if (eq == std::string_view::npos) continue;
      auto const key = line.substr(0, eq);
      std::string val(line.substr(eq + 1));
      try {
        if (key == "host") h.host = val;
        else if (key == "pid") h.pid = std::stoll(val);
        else if (key == "pid_start_ticks") h.start_ticks = std::stoull(val);
        else if (key == "boot_id") h.boot_id = val;
        else if (key == "started") h.started = val;
        else if (key == "locked") h.locked = val;
        else if (key == "who") h.who = val;
        else if (key == "program") h.program = val;
        else if (key == "token") h.token = val;
      } catch (std::exception const&) {
        return std::nullopt;
      }
    }
    if (h.host.empty() || h.pid <= 0 || h.pid > std::numeric_limits<pid_t>::max() || h.token.empty()) return std::nullopt;
    return h;
  }
  /// \brief The holder named by the file at `path`; nullopt when it is missing, incomplete or not a lock.
  static std::optional<lock_holder> read(std::filesystem::path const& path) {
    auto const content = try_read_file(path);
    return content ? parse(*content) : std::nullopt;
  }
  /// \brief "rank 0 of heat2d, pid 4242 on host node17, started 2024-05-01T10:00:00Z".
  [[nodiscard]] std::string describe() const {
    std::string s = who.empty() ? std::string("a job") : who;
    if (!program.empty()) s += " of " + program;
    s += ", pid " + std::to_string(pid) + " on host " + host;
    if (!started.empty()) s += ", started " + started;
    return s;
  }

 private:
  static std::string iso8601(std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
  }
  static std::string new_token() {
    std::random_device rd;
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x%08x%08x%08x", rd(), rd(), rd(),
                  static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
    return buf;
  }
};

}  // namespace strata::detail
