#pragma once
/// \file
/// \brief Definitions of checkpoint/retention.hpp: included by it (header-only builds), else
/// compiled once in strata/src.hpp (STRATA_SEPARATE_COMPILATION).

#include <strata/checkpoint/retention.hpp>

#include <algorithm>
#include <set>

namespace strata::retention {

STRATA_INLINE std::vector<std::uint64_t> protect_dependencies(std::span<const std::uint64_t> committed,
                                                              std::vector<std::uint64_t> doomed,
                                                              dependency_map const& deps) {
  std::set<std::uint64_t> keep;
  for (auto v : committed)
    if (std::find(doomed.begin(), doomed.end(), v) == doomed.end()) keep.insert(v);
  std::vector<std::uint64_t> todo(keep.begin(), keep.end());
  while (!todo.empty()) {
    auto v = todo.back();
    todo.pop_back();
    if (auto it = deps.find(v); it != deps.end())
      for (auto d : it->second)
        if (keep.insert(d).second) todo.push_back(d);
  }
  std::erase_if(doomed, [&](std::uint64_t v) { return keep.contains(v); });
  return doomed;
}

}  // namespace strata::retention
