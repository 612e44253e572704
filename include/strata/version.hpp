#pragma once
/// \file
/// \brief strata's version.

#define STRATA_VERSION_MAJOR 0
#define STRATA_VERSION_MINOR 1
#define STRATA_VERSION_PATCH 0

namespace strata {
/// \brief "major.minor.patch".
inline constexpr char const* version_string = "0.1.0";
}  // namespace strata
