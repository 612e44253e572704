#pragma once
/// \file
/// \brief Definitions of `detail/hash.hpp`: included by it (header-only builds), else compiled once
/// in strata/src.hpp (STRATA_SEPARATE_COMPILATION).

#include <strata/detail/hash.hpp>

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

namespace strata::detail {

STRATA_INLINE std::uint64_t xxh3(std::span<const std::byte> data) noexcept { return XXH3_64bits(data.data(), data.size()); }
STRATA_INLINE std::uint64_t xxh3(std::string_view s) noexcept { return XXH3_64bits(s.data(), s.size()); }

}  // namespace strata::detail
