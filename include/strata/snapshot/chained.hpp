#pragma once
/// \file
/// \brief Snapshot strategies whose versions depend on earlier ones (incremental chains), and how
/// the checkpointer drives them.

#include <strata/snapshot/concepts.hpp>

#include <cstdint>
#include <concepts>
#include <cstddef>
#include <memory>
#include <type_traits>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace strata::snapshot {


/// \brief A strategy whose shards may need earlier versions' shards to be decoded.
///
/// After `encode`, `depends_on()` lists the versions the new shard needs (base first, empty for
/// a self-contained shard); the checkpointer records it in the manifest, keeps those versions
/// alive and, on restore, hands `decode_chain` this rank's shards of the whole chain (base first,
/// each already checked against its manifest). `committed(v)`, `abandon(v)` (v will never be
/// committed: forget its encode), `reset()` (start a new base) and `adopt_restored()` (the last
/// decoded chain is the state now) keep the strategy's idea of the previous version right.
template <class S>
concept chained = strategy<S> &&
    requires(S& s, std::span<const std::span<const std::byte>> shards, std::span<const shard_id> ids,
             std::string const& where, std::uint64_t v) {
      { s.depends_on() } -> std::same_as<std::vector<std::uint64_t>>;
      { s.decode_chain(shards, ids, where) } -> std::same_as<std::vector<decoded_region>>;
      s.committed(v);
      s.abandon(v);
      s.reset();
      s.adopt_restored();
    };

/// \brief Whether `s` applies chains of shards: a `chained` strategy does, unless it says otherwise at
/// run time (`s.chains()`: `snapshot::any` holding a strategy that is not chained).
template <class S>
[[nodiscard]] bool applies_chains([[maybe_unused]] S const& s) noexcept {
  if constexpr (!chained<S>) return false;
  else if constexpr (requires { { s.chains() } -> std::convertible_to<bool>; }) return s.chains();
  else return true;
}

/// \brief A strategy that may want a full base before its chain is full (a delta that would be
/// nearly as large as the state: `snapshot::incremental`'s `rebase_fraction`). `s.wants_base(reg)`
/// is asked on every rank just before the encode; if any rank wants one, the checkpointer calls
/// `reset()` on all of them, since a version's manifest records one chain for every rank.
template <class S>
concept rebasing = requires(S& s, state::registry& reg) {
  { s.wants_base(reg) } -> std::convertible_to<bool>;
};

/// \brief Whether the checkpointer should ask `s.wants_base(...)`: a `rebasing` strategy, unless it
/// says otherwise at run time (`s.rebases()`: `snapshot::any` holding one that is not).
template <class S>
[[nodiscard]] bool asks_base([[maybe_unused]] S const& s) noexcept {
  if constexpr (!rebasing<S>) return false;
  else if constexpr (requires { { s.rebases() } -> std::convertible_to<bool>; }) return s.rebases();
  else return true;
}

/// \brief A strategy that hashes and gathers the blocks of Thrust data on the data's own system
/// (`S::hashes_device_blocks`): the checkpointer's `protect` attaches that work to such regions.
template <class S>
concept device_aware = requires { requires S::hashes_device_blocks; };

/// \brief Gives region `r` of `x` block work on `x`'s Thrust system (defined in
/// strata/snapshot/device_blocks.hpp, which a `device_aware` strategy's header includes).
template <state::thrust_device_range X>
void attach_device_blocks(state::region& r, X& x);

}  // namespace strata::snapshot
