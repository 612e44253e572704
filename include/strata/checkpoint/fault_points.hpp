#pragma once
/// \file
/// \brief The checkpointer's fault-injection points (`STRATA_FAULT=<phase>@<rank>[:<version>[+]]`,
/// see `strata/detail/fault.hpp`).

#include <strata/detail/fault.hpp>

#include <string_view>

/// \brief Names of the points of the checkpointer where a test may crash a rank.
namespace strata::checkpoint::fault_points {

/// \brief Asynchronous writer: the version is staged and queued, the background writer has not
/// finished it; the kill comes from the application thread right after `step()`/`checkpoint()`.
inline constexpr std::string_view writer_staged = "writer_staged";

}  // namespace strata::checkpoint::fault_points
