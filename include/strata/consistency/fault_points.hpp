#pragma once
/// \file
/// \brief The consistency layer's fault-injection points (`STRATA_FAULT=<phase>@<rank>[:<version>[+]]`,
/// see `strata/detail/fault.hpp`).

#include <strata/detail/fault.hpp>

#include <string_view>

/// \brief Names of the points of the commit protocol where a test may crash a rank.
namespace strata::consistency::fault_points {

/// \brief The shard is durable and verified, before the vote.
inline constexpr std::string_view after_shard = "after_shard";
/// \brief Every rank voted yes; the commit record is not written yet.
inline constexpr std::string_view before_commit = "before_commit";
/// \brief The commit record is written (the version exists).
inline constexpr std::string_view after_commit = "after_commit";

}  // namespace strata::consistency::fault_points
