#pragma once
/// \file
/// \brief Streaming XXH3-64 over several pieces (xxHash used header-only).

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace strata::detail {

/// \brief Streaming XXH3-64: `update` with each piece, then `digest` (the same value as `xxh3` of
/// the concatenation).
class xxh3_stream {
 public:
  xxh3_stream() noexcept { XXH3_64bits_reset(&state_); }
  void update(std::span<const std::byte> data) noexcept { XXH3_64bits_update(&state_, data.data(), data.size()); }
  [[nodiscard]] std::uint64_t digest() const noexcept { return XXH3_64bits_digest(&state_); }

 private:
  XXH3_state_t state_;
};

}  // namespace strata::detail
