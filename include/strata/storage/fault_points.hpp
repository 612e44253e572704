#pragma once
/// \file
/// \brief The storage layer's fault-injection points (`STRATA_FAULT=<phase>@<rank>[:<version>[+]]`,
/// see `strata/detail/fault.hpp`).

#include <strata/detail/fault.hpp>

#include <string_view>

/// \brief Names of the points where a storage driver lets a test crash a rank.
namespace strata::storage::fault_points {

/// \brief Half of the shard written, not yet durable (`posix_dir`, and so `node_local`'s L1;
/// `mpiio_file`: half of the collective writes issued).
inline constexpr std::string_view writing_shard = "writing_shard";
/// \brief Before the shard goes to other ranks: the copy to the partner (`partner_memory`,
/// `node_local` L2) or the parity exchange (`node_local` L3); the own shard is durable.
inline constexpr std::string_view sending_partner = "sending_partner";
/// \brief `multilevel`: the background copy of a version to the slow level has begun, nothing of it
/// is durable there yet (the fast level has the version).
inline constexpr std::string_view flushing = "flushing";

}  // namespace strata::storage::fault_points
