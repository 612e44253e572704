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

/// \brief The name a manifest records for strategy `s`: `S::name`, or, for a strategy chosen at run
/// time (`snapshot::any`), the name of the one it holds (`s.runtime_name()`).
template <strategy S>
[[nodiscard]] std::string_view name_of([[maybe_unused]] S const& s) noexcept {
  if constexpr (requires { { s.runtime_name() } -> std::convertible_to<std::string_view>; }) return s.runtime_name();
  else return S::name;
}

/// \brief Whether `s` reports how much of the state its last encode found changed
/// (`last_dirty_bytes()`, `last_protected_bytes()`); an erased strategy says at run time (`s.measures_change()`).
template <class S>
[[nodiscard]] bool measures_change([[maybe_unused]] S const& s) noexcept {
  if constexpr (requires { { s.measures_change() } -> std::convertible_to<bool>; }) return s.measures_change();
  else return requires { s.last_dirty_bytes(); s.last_protected_bytes(); };
}

}  // namespace strata::snapshot
