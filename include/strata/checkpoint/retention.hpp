#pragma once
/// \file
/// \brief Retention (logical layer: how long versions are kept).

#include <concepts>
#include <cstdint>
#include <span>
#include <vector>

namespace strata::retention {

/// \brief Chooses which committed versions to retire after a commit.
template <class R>
concept policy = std::copyable<R> && requires(R const& r, std::span<const std::uint64_t> committed) {
  { r.retire(committed) } -> std::same_as<std::vector<std::uint64_t>>;
};

/// \brief Keeps the newest `count` committed versions (at least 1), retires the rest.
///
/// \code
/// strata::retention::keep_last<5> keep;           // compile-time default
/// strata::retention::keep_last<> keep_runtime{8}; // or set at run time
/// \endcode
template <std::size_t K = 3>
struct keep_last {
  static_assert(K >= 1, "keep_last<K>: K must be at least 1, or no checkpoint would survive its commit");
  std::size_t count = K;

  /// \brief `committed` ascending; returns the versions to delete.
  [[nodiscard]] std::vector<std::uint64_t> retire(std::span<const std::uint64_t> committed) const {
    auto const keep = count == 0 ? 1 : count;
    if (committed.size() <= keep) return {};
    return {committed.begin(), committed.end() - static_cast<std::ptrdiff_t>(keep)};
  }
  friend constexpr bool operator==(keep_last const&, keep_last const&) = default;
};

static_assert(policy<keep_last<>>);

}  // namespace strata::retention
