#pragma once
/// \file
/// \brief `snapshot::full`: every protected byte in every version.

#include <strata/snapshot/concepts.hpp>

namespace strata::snapshot {

/// \brief Writes every region whole. Host data goes to storage in place (no copy);
/// device data on CUDA is staged through a host buffer.
///
/// \code
/// strata::checkpointer<strata::comm::mpi, strata::snapshot::full> ckpt{MPI_COMM_WORLD};
/// \endcode
struct full {
  static constexpr std::string_view name = "full";

  [[nodiscard]] encoded_shard encode(state::registry& reg, shard_id id) const {
    detail::shard_builder b{id, name, reg.size()};
    for (auto const& r : reg) {
      auto const payload = r->stage();  // before info(): a user type's size is known once staged
      b.add(r->info(), payload);
    }
    return std::move(b).finish();
  }
  [[nodiscard]] std::vector<decoded_region> decode(std::span<const std::byte> shard, shard_id id,
                                                   std::string const& where) const {
    return detail::parse_shard(shard, id, name, where);
  }
  friend constexpr bool operator==(full, full) noexcept { return true; }
};

static_assert(strategy<full>);

}  // namespace strata::snapshot
