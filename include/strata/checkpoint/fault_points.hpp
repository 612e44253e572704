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

/// \brief Restore with option `.replay_log`: about to apply the log entry whose index is the
/// "version" of the trigger (`replaying_log@1:7` kills rank 1 before it applies entry 7).
inline constexpr std::string_view replaying_log = "replaying_log";

}  // namespace strata::checkpoint::fault_points
