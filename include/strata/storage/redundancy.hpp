#pragma once
/// \file
/// \brief `storage::redundancy`: which copy of a shard beyond the node-local one `storage::node_local`
/// keeps (its own header so that node_local's parts in `storage/detail/` can name it).

#include <cstdint>
#include <string_view>

namespace strata::storage {

/// \brief Which copy of a shard beyond the node-local one `node_local` keeps.
enum class redundancy : std::uint8_t {
  none,          ///< L1 only: a lost node loses its ranks' shards (a shared level must serve them)
  partner,       ///< L2: a copy of each shard on the node-local disk of a rank on another node
  xor_group,     ///< L3: XOR parity across a group of ranks on distinct nodes; one lost member per group
  reed_solomon,  ///< L3: Reed-Solomon parity across a group; `parity` lost members per group (needs ISA-L)
};

/// \brief The name of a redundancy as options and logs spell it.
inline std::string_view to_string(redundancy r) noexcept {
  switch (r) {
    case redundancy::none: return "none";
    case redundancy::partner: return "partner";
    case redundancy::xor_group: return "xor_group";
    case redundancy::reed_solomon: return "reed_solomon";
  }
  return "?";
}

}  // namespace strata::storage
