#pragma once
/// \file
/// \brief The snapshot strategy concept (execution layer: how state becomes shard bytes).

#include <strata/snapshot/shard.hpp>
#include <strata/state/registry.hpp>

#include <concepts>
#include <string_view>

namespace strata::snapshot {

/// \brief Turns the protected regions into a shard and a shard back into regions.
///
/// Models: `snapshot::full`.
template <class S>
concept strategy = std::semiregular<S> &&
    requires(S& s, state::registry& reg, shard_id id, std::span<const std::byte> bytes, std::string const& where) {
      { S::name } -> std::convertible_to<std::string_view>;
      { s.encode(reg, id) } -> std::same_as<encoded_shard>;
      { s.decode(bytes, id, where) } -> std::same_as<std::vector<decoded_region>>;
    };

}  // namespace strata::snapshot
