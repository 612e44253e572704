#pragma once
// Summary statistics shared by the benchmarks (not part of the library).
#include <algorithm>
#include <cstddef>
#include <vector>

namespace strata_bench {

/// The median of `v` (the upper one of an even count; 0 when empty).
inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

}  // namespace strata_bench
