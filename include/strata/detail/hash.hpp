#pragma once
/// \file
/// \brief xxHash (XXH3-64) for shard and block checksums, and the hex form they are written in.
///
/// xxHash itself (used header-only, XXH_INLINE_ALL) is included by the definitions only
/// (`detail/impl/hash.ipp`; `detail/xxh3_stream.hpp` for streaming), so that a file which merely
/// declares a checksum does not parse it.

#include <strata/config.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace strata::detail {

/// \brief XXH3-64 of a byte span.
STRATA_INLINE std::uint64_t xxh3(std::span<const std::byte> data) noexcept;
STRATA_INLINE std::uint64_t xxh3(std::string_view s) noexcept;

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

#if !defined(STRATA_SEPARATE_COMPILATION)
#include <strata/detail/impl/hash.ipp>
#endif
