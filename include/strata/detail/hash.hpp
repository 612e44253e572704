#pragma once
/// \file
/// \brief xxHash (XXH3-64), used header-only, for shard and block checksums.

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace strata::detail {

/// \brief XXH3-64 of a byte span.
inline std::uint64_t xxh3(std::span<const std::byte> data) noexcept { return XXH3_64bits(data.data(), data.size()); }
inline std::uint64_t xxh3(std::string_view s) noexcept { return XXH3_64bits(s.data(), s.size()); }

/// \brief Streaming XXH3-64 over several pieces.
class xxh3_stream {
 public:
  xxh3_stream() noexcept { XXH3_64bits_reset(&state_); }
  void update(std::span<const std::byte> data) noexcept { XXH3_64bits_update(&state_, data.data(), data.size()); }
  [[nodiscard]] std::uint64_t digest() const noexcept { return XXH3_64bits_digest(&state_); }

 private:
  XXH3_state_t state_;
};

/// \brief 16 lower-case hex digits.
inline std::string to_hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}
/// \brief Parses 16 hex digits; nullopt on anything else.
inline std::optional<std::uint64_t> from_hex(std::string_view s) noexcept {
  if (s.size() != 16) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= static_cast<std::uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint64_t>(c - 'a' + 10);
    else return std::nullopt;
  }
  return v;
}

}  // namespace strata::detail
