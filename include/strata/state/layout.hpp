#pragma once
/// \file
/// \brief How a protected region relates to the other ranks' copies, which decides whether a
/// checkpoint written by N ranks can be restored on M ranks (N→M restore).

#include <cstdint>
#include <limits>
#include <string>

namespace strata {

/// \brief The region is this rank's own state (the default): restorable only on the same rank count.
struct per_rank {
  friend constexpr bool operator==(per_rank, per_rank) noexcept { return true; }
};

/// \brief The region holds the same value on every rank (a step counter, parameters): on another
/// rank count every rank takes rank 0's copy.
struct replicated {
  friend constexpr bool operator==(replicated, replicated) noexcept { return true; }
};

/// \brief The region holds a block of a global index space: elements
/// `[local_offset, local_offset + local_count)` of the container are global elements
/// `[global_offset, global_offset + local_count)` of `global_size`. Elements outside the window
/// (halos, padding) are saved but not redistributed. On another rank count each rank declares
/// its new block (the container already sized for it) and strata fills it from the old shards.
///
/// \code
/// // rows [first, first + rows) of an n x n field, stored with one halo row above and below
/// ckpt.protect("u", u, strata::distributed{.global_offset = first * n, .global_size = n * n,
///                                          .local_offset = n, .local_count = rows * n});
/// \endcode
struct distributed {
  static constexpr std::uint64_t whole = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t global_offset = 0;
  std::uint64_t global_size = 0;
  std::uint64_t local_offset = 0;
  std::uint64_t local_count = whole;  ///< `whole`: the container from local_offset to its end
  friend constexpr bool operator==(distributed const&, distributed const&) = default;
};

namespace state {

/// \brief One of per_rank, replicated, distributed, as stored per region.
struct layout {
  enum class kind : std::uint32_t { per_rank = 0, replicated = 1, distributed = 2 };
  kind how = kind::per_rank;
  distributed block{};

  layout() = default;
  layout(per_rank) noexcept {}                                        // NOLINT: tag conversion
  layout(replicated) noexcept : how(kind::replicated) {}              // NOLINT
  layout(distributed d) noexcept : how(kind::distributed), block(d) {}  // NOLINT
  friend bool operator==(layout const&, layout const&) = default;
};

/// \brief `l` with a distributed window that runs to the container's end (`distributed::whole`)
/// resolved against a container of `count` elements.
inline layout resolved(layout l, std::uint64_t count) noexcept {
  if (l.how == layout::kind::distributed && l.block.local_count == distributed::whole)
    l.block.local_count = count >= l.block.local_offset ? count - l.block.local_offset : 0;
  return l;
}

inline char const* to_string(layout::kind k) noexcept {
  switch (k) {
    case layout::kind::replicated: return "replicated";
    case layout::kind::distributed: return "distributed";
    default: return "per-rank";
  }
}

}  // namespace state
}  // namespace strata
