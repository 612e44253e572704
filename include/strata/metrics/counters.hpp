#pragma once
/// \file
/// \brief Metric kinds (SPEC S7): `counter`, `gauge`, `histogram`. Thread-safe, lock-free updates.

#include <strata/error.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace strata::metrics {

/// \brief A value that only grows (tasks done, bytes written).
class counter {
 public:
  /// \brief Adds `v` (must not be negative).
  void add(double v = 1.0) noexcept {
    if (v > 0.0) value_.fetch_add(v, std::memory_order_relaxed);
  }
  [[nodiscard]] double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

/// \brief A value that goes up and down (queue length, workers alive).
class gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double v) noexcept { value_.fetch_add(v, std::memory_order_relaxed); }
  [[nodiscard]] double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

/// \brief Counts of observations per bucket (upper bounds, Prometheus `le`), plus sum and count.
///
/// \code
/// strata::metrics::histogram h{strata::metrics::histogram::exponential(1e-6, 2.0, 24)};
/// h.observe(3.2e-5);
/// double p99 = h.quantile(0.99);   // upper bound of the bucket holding the 99th percentile
/// \endcode
class histogram {
 public:
  /// \brief `bounds` are the buckets' upper bounds, strictly increasing; +Inf is implicit.
  explicit histogram(std::vector<double> bounds = exponential(1e-6, 4.0, 14))
      : bounds_(std::move(bounds)), counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
    if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
        std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end())
      throw usage_error("histogram: bucket bounds must be strictly increasing");
  }
  /// \brief `n` bounds `start, start * factor, ...`.
  [[nodiscard]] static std::vector<double> exponential(double start, double factor, std::size_t n) {
    std::vector<double> b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = start * std::pow(factor, static_cast<double>(i));
    return b;
  }
  void observe(double v) noexcept {
    auto const i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
  }
  [[nodiscard]] std::vector<double> const& bounds() const noexcept { return bounds_; }
  /// \brief Observations in bucket `i` alone (i == bounds().size() is the +Inf bucket).
  [[nodiscard]] std::uint64_t bucket(std::size_t i) const noexcept { return counts_[i].load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  [[nodiscard]] double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }
  /// \brief Upper bound of the bucket holding quantile `q` (0 when empty, +inf in the overflow bucket).
  [[nodiscard]] double quantile(double q) const noexcept {
    std::uint64_t const n = count();
    if (n == 0) return 0.0;
    auto const target = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
      seen += bucket(i);
      if (seen >= target) return bounds_[i];
    }
    return std::numeric_limits<double>::infinity();
  }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0.0};
  std::atomic<std::uint64_t> count_{0};
};

}  // namespace strata::metrics
