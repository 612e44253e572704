#pragma once
/// \file
/// \brief `metrics::prometheus_file`: writes a registry's text to a file (node-exporter textfile style),
/// periodically and on demand, atomically (temporary file + rename) so a scraper never reads half a file.

#include <strata/error.hpp>
#include <strata/metrics/registry.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace strata::metrics {

/// \brief Writes `registry` to `path` every `period` (call `tick` from a loop) and whenever `write` is called.
///
/// \code
/// strata::metrics::prometheus_file out{reg, "metrics/strata.prom", std::chrono::seconds{5}};
/// while (running) { work(); out.tick(); }
/// out.write();   // final state
/// \endcode
class prometheus_file {
 public:
  using clock = std::chrono::steady_clock;

  prometheus_file(registry const& reg, std::filesystem::path path, std::chrono::duration<double> period = std::chrono::seconds{5})
      : reg_(&reg), path_(std::move(path)), period_(period), next_(clock::now()) {}

  /// \brief Writes now, atomically.
  void write() {
    std::error_code ec;
    if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path(), ec);
    auto const tmp = path_.string() + ".tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      if (!f) throw error("metrics: cannot write " + tmp);
      f << reg_->prometheus_text();
      if (!f.flush()) throw error("metrics: cannot write " + tmp);
    }
    std::filesystem::rename(tmp, path_, ec);
    if (ec) throw error("metrics: cannot rename " + tmp + " to " + path_.string() + ": " + ec.message());
    ++writes_;
    next_ = clock::now() + std::chrono::duration_cast<clock::duration>(period_);
  }
  /// \brief Writes if the period has passed since the last write; returns whether it wrote.
  bool tick(clock::time_point now = clock::now()) {
    if (now < next_) return false;
    write();
    return true;
  }
  [[nodiscard]] std::filesystem::path const& path() const noexcept { return path_; }
  [[nodiscard]] std::size_t writes() const noexcept { return writes_; }

 private:
  registry const* reg_;
  std::filesystem::path path_;
  std::chrono::duration<double> period_;
  clock::time_point next_;
  std::size_t writes_ = 0;
};

}  // namespace strata::metrics
