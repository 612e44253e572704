#pragma once
/// \file
/// \brief The library's one logger (SPEC O3): `strata[rank R]: ...` lines, each written whole, on a
/// stream chosen by the user. The checkpointer, the dispatcher, the write-ahead log and fault
/// injection all write through `detail::write_log_line`.

#include <iostream>
#include <mutex>
#include <string>
#include <string_view>

namespace strata {

namespace detail {
/// \brief Writes `strata[rank R]: msg` and a newline as one piece, under a process-wide mutex.
///
/// The line is formatted first and handed to the stream in a single call: `std::cerr` is
/// unbuffered, so piecewise `<<` would issue one write per piece, and under `mpirun` (which
/// forwards each rank's stdout and stderr through separate pipes) another line could land in the
/// middle of this one.
/// A negative `rank` (a component that knows none, e.g. the write-ahead log) writes `strata: msg`.
inline void write_log_line(std::ostream& out, int rank, std::string_view msg) {
  std::string line = rank < 0 ? std::string("strata: ") : "strata[rank " + std::to_string(rank) + "]: ";
  line.append(msg);
  line.push_back('\n');
  static std::mutex m;
  std::lock_guard lock{m};
  out.write(line.data(), static_cast<std::streamsize>(line.size()));
  out.flush();
}
}  // namespace detail

/// \brief How much the checkpointer says.
enum class verbosity { quiet = 0, warnings = 1, info = 2 };

/// \brief A rank-prefixed log sink.
class logger {
 public:
  logger(std::ostream* out = &std::cerr, verbosity level = verbosity::warnings, int rank = 0)
      : out_(out), level_(level), rank_(rank) {}
  void warn(std::string const& msg) const { write(verbosity::warnings, "warning: " + msg); }
  void info(std::string const& msg) const { write(verbosity::info, msg); }
  /// \brief A line as visible as a warning (shown unless quiet) that reports no problem.
  void notice(std::string const& msg) const { write(verbosity::warnings, msg); }
  void set_rank(int rank) noexcept { rank_ = rank; }
  [[nodiscard]] verbosity level() const noexcept { return level_; }

 private:
  void write(verbosity at, std::string const& msg) const {
    if (!out_ || static_cast<int>(level_) < static_cast<int>(at)) return;
    detail::write_log_line(*out_, rank_, msg);
  }
  std::ostream* out_;
  verbosity level_;
  int rank_;
};

}  // namespace strata
