#pragma once
/// \file
/// \brief `metrics::progress_line`: a one-line progress display for long runs (done / total, rate, ETA).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

namespace strata::metrics {

/// \brief Renders `done/total (pct) rate/s ETA` and prints it at most once per period.
///
/// On a terminal the line is redrawn in place (`\r`); into a file or pipe a new line is written each period.
/// \code
/// strata::metrics::progress_line bar{n_items, "items"};
/// bar.update(done);          // prints when due
/// bar.finish(done);          // prints the last state and a newline
/// \endcode
class progress_line {
 public:
  using clock = std::chrono::steady_clock;

  explicit progress_line(std::size_t total, std::string unit = "tasks",
                         std::chrono::duration<double> period = std::chrono::seconds{1}, std::FILE* out = stderr,
                         clock::time_point start = clock::now())
      : total_(total), unit_(std::move(unit)), period_(period), out_(out), start_(start), next_(start) {}

  /// \brief The line for `done` items at `now`, e.g. `120/500 items (24.0%)  35.2 items/s  ETA 10.8 s`.
  [[nodiscard]] std::string render(std::size_t done, clock::time_point now = clock::now()) const {
    double const elapsed = std::chrono::duration<double>(now - start_).count();
    double const rate = elapsed > 0.0 ? static_cast<double>(done - std::min(done, first_done_)) / elapsed : 0.0;
    double const pct = total_ ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 100.0;
    char buf[160];
    if (done >= total_) {
      std::snprintf(buf, sizeof buf, "%zu/%zu %s (%.1f%%)  %.1f %s/s  done in %.1f s", done, total_, unit_.c_str(),
                    pct, rate, unit_.c_str(), elapsed);
    } else if (rate > 0.0) {
      double const eta = static_cast<double>(total_ - done) / rate;
      std::snprintf(buf, sizeof buf, "%zu/%zu %s (%.1f%%)  %.1f %s/s  ETA %.1f s", done, total_, unit_.c_str(), pct,
                    rate, unit_.c_str(), eta);
    } else {
      std::snprintf(buf, sizeof buf, "%zu/%zu %s (%.1f%%)  -- %s/s  ETA --", done, total_, unit_.c_str(), pct,
                    unit_.c_str());
    }
    return buf;
  }
  /// \brief Items already done when the display started (a resumed run): not counted in the rate.
  void set_baseline(std::size_t already_done) noexcept { first_done_ = already_done; }
  /// \brief Prints the line if a period has passed; returns whether it printed.
  bool update(std::size_t done, clock::time_point now = clock::now()) {
    if (now < next_ || out_ == nullptr) return false;
    print(render(done, now), false);
    next_ = now + std::chrono::duration_cast<clock::duration>(period_);
    return true;
  }
  /// \brief Prints the final line.
  void finish(std::size_t done, clock::time_point now = clock::now()) {
    if (out_ != nullptr) print(render(done, now), true);
  }

 private:
  void print(std::string const& line, bool last) {
    bool const tty = is_tty();
    if (tty) std::fprintf(out_, "\r%s\x1b[K%s", line.c_str(), last ? "\n" : "");
    else std::fprintf(out_, "progress: %s\n", line.c_str());
    std::fflush(out_);
  }
  [[nodiscard]] bool is_tty() const noexcept;

  std::size_t total_;
  std::string unit_;
  std::chrono::duration<double> period_;
  std::FILE* out_;
  clock::time_point start_;
  clock::time_point next_;
  std::size_t first_done_ = 0;
};

}  // namespace strata::metrics

#include <unistd.h>

inline bool strata::metrics::progress_line::is_tty() const noexcept { return ::isatty(::fileno(out_)) != 0; }
