#pragma once
/// \file
/// \brief Log lines of the checkpointer: `strata[rank R]: ...` on a stream chosen by the user.

#include <iostream>
#include <mutex>
#include <string>

namespace strata {

/// \brief How much the checkpointer says.
enum class verbosity { quiet = 0, warnings = 1, info = 2 };

/// \brief A rank-prefixed log sink.
class logger {
 public:
  logger(std::ostream* out = &std::cerr, verbosity level = verbosity::warnings, int rank = 0)
      : out_(out), level_(level), rank_(rank) {}
  void warn(std::string const& msg) const { write(verbosity::warnings, "warning: " + msg); }
  void info(std::string const& msg) const { write(verbosity::info, msg); }
  void set_rank(int rank) noexcept { rank_ = rank; }
  [[nodiscard]] verbosity level() const noexcept { return level_; }

 private:
  void write(verbosity at, std::string const& msg) const {
    if (!out_ || static_cast<int>(level_) < static_cast<int>(at)) return;
    static std::mutex m;
    std::lock_guard lock{m};
    *out_ << "strata[rank " << rank_ << "]: " << msg << '\n' << std::flush;
  }
  std::ostream* out_;
  verbosity level_;
  int rank_;
};

}  // namespace strata
