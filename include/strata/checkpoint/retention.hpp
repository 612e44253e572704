#pragma once
/// \file
/// \brief Retention (logical layer: how long versions are kept).

#include <strata/config.hpp>
#include <strata/validation.hpp>

#include <concepts>
#include <cstdint>
#include <map>
#include <span>
#include <vector>

namespace strata::retention {

/// \brief For each committed version, the versions it needs to be restored (incremental chains).
using dependency_map = std::map<std::uint64_t, std::vector<std::uint64_t>>;

/// \brief Chooses which committed versions to retire after a commit.
///
/// A policy may also offer `retire(committed, dependencies)`; the checkpointer then uses it. Either
/// way the checkpointer never deletes a version that a kept version depends on (`protect_dependencies`).
template <class R>
concept policy = std::copyable<R> && requires(R const& r, std::span<const std::uint64_t> committed) {
  { r.retire(committed) } -> std::same_as<std::vector<std::uint64_t>>;
};

/// \brief A policy that takes incremental chains into account itself.
template <class R>
concept dependency_aware = policy<R> &&
    requires(R const& r, std::span<const std::uint64_t> committed, dependency_map const& deps) {
      { r.retire(committed, deps) } -> std::same_as<std::vector<std::uint64_t>>;
    };

/// \brief Removes from `doomed` every version that a version not in `doomed` needs (transitively).
STRATA_INLINE std::vector<std::uint64_t> protect_dependencies(std::span<const std::uint64_t> committed,
                                                              std::vector<std::uint64_t> doomed,
                                                              dependency_map const& deps);

/// \brief Keeps the newest `count` committed versions (at least 1: a checkpointer refuses 0), retires the rest.
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
  /// \brief As above, but a version that one of the newest `count` needs (its incremental base and
  /// deltas) is kept too, however old.
  [[nodiscard]] std::vector<std::uint64_t> retire(std::span<const std::uint64_t> committed,
                                                  dependency_map const& deps) const {
    return protect_dependencies(committed, retire(committed), deps);
  }
  /// \brief Refuses `count = 0` (every version would be retired at its own commit).
  void validate() const {
    strata::detail::require_at_least("keep_last", "count", count, 1, "0 would keep no version");
  }
  friend constexpr bool operator==(keep_last const&, keep_last const&) = default;
};

static_assert(policy<keep_last<>>);
static_assert(dependency_aware<keep_last<>>);

}  // namespace strata::retention

#if !defined(STRATA_SEPARATE_COMPILATION)
#include <strata/checkpoint/impl/retention.ipp>
#endif
