#pragma once
/// \file
/// \brief Snapshot strategies whose versions depend on earlier ones (incremental chains), and how
/// the checkpointer drives them.

#include <strata/snapshot/concepts.hpp>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace strata::snapshot {

/// \brief Where a protected Thrust vector's memory is now (pointer into the device system's
/// memory, and its size in bytes); lets a strategy hash and copy device data where it lives.
using device_view = std::function<std::pair<std::byte const*, std::size_t>()>;

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

/// \brief A strategy that can hash and copy Thrust device data in place when told where it is.
template <class S>
concept device_aware = requires(S& s, std::string name, device_view view) { s.watch_device(std::move(name), view); };

}  // namespace strata::snapshot
