#pragma once
/// \file
/// \brief `snapshot::full`: every protected byte in every version.

#include <strata/snapshot/block_hash.hpp>
#include <strata/snapshot/concepts.hpp>
#include <strata/snapshot/detail/change_sample.hpp>
#include <strata/snapshot/index.hpp>
#include <strata/validation.hpp>

namespace strata::snapshot {

/// \brief Writes every region whole. Host data goes to storage in place (no copy);
/// device data on CUDA is staged through a host buffer.
///
/// The shard begins with an index (`snapshot/index.hpp`). Regions declared replicated or
/// distributed also get a hash per block of `block_bytes`, so that an N→M restore can read and
/// check only the blocks it needs; per-rank regions are not hashed (they are only ever read whole).
///
/// Each encode also estimates how much of the state changed since the previous one, for the
/// adaptive trigger (`last_dirty_bytes()` / `last_protected_bytes()`, SPEC R7): exactly for the
/// hashed regions, from a rotating sample of one block in `sample_every` for the others.
///
/// \code
/// strata::checkpointer<strata::comm::mpi, strata::snapshot::full> ckpt{MPI_COMM_WORLD};
/// \endcode
struct full {
  static constexpr std::string_view name = "full";

  /// \brief Granularity of the block hashes of replicated and distributed regions (what an N→M
  /// restore reads at least: a window is read in whole blocks).
  std::uint64_t block_bytes = 64 * 1024;
  /// \brief One block in `sample_every` of a per-rank region is hashed at each encode (and the
  /// previous encode's sample again) to estimate the change rate: 32 costs about 6 % of one hash
  /// pass over the data, far less than writing it. 0: no estimate (`measures_change()` is false).
  std::uint64_t sample_every = 32;
  /// \brief Refuses `block_bytes = 0`.
  void validate() const { strata::detail::require_at_least("full", "block_bytes", block_bytes, 1); }

  [[nodiscard]] encoded_shard encode(state::registry& reg, shard_id id) const {
    if (block_bytes == 0) throw usage_error("snapshot::full: block_bytes must not be 0");
    std::vector<detail::index_entry> entries;
    std::vector<std::span<const std::byte>> payloads;
    changes_.begin();
    for (auto const& r : reg) {
      auto const payload = r->stage();  // before info(): a user type's size is known once staged
      auto const info = r->info();
      detail::index_entry e;
      e.info = info;
      e.layout = state::resolved(reg.layout_of(info.name), info.count);
      e.bytes = payload.size();
      if (e.layout.how != state::layout::kind::per_rank)
        e.hashes = hash_host_blocks(payload, static_cast<std::size_t>(block_bytes), lane_hash{});
      e.data_bytes = payload.size();
      note_change(info.name, payload, e.hashes);
      entries.push_back(std::move(e));
      payloads.push_back(payload);
    }
    changes_.finish();
    auto front = detail::build_index({detail::shard_magic, id, name, block_bytes, {}}, entries, detail::payload_alignment);
    encoded_shard out;
    out.index_bytes = front.index_bytes;
    out.owned = std::move(front.bytes);
    out.segments.emplace_back(out.owned);
    static constexpr std::array<std::byte, detail::payload_alignment> zeros{};
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      if (i > 0) {
        auto const end = front.data_offsets[i - 1] + payloads[i - 1].size();
        if (auto pad = front.data_offsets[i] - end) out.segments.emplace_back(zeros.data(), static_cast<std::size_t>(pad));
      }
      if (!payloads[i].empty()) out.segments.push_back(payloads[i]);
    }
    return out;
  }

  [[nodiscard]] std::vector<decoded_region> decode(std::span<const std::byte> shard, shard_id id,
                                                   std::string const& where) const {
    if (detail::format_of(shard) == 1) return detail::parse_shard(shard, id, name, where);  // written before the index
    auto const x = read_index(shard, id, where);
    try {
      std::vector<decoded_region> out;
      for (auto const& g : x.regions) {
        if (g.data_offset > shard.size() || g.bytes > shard.size() - g.data_offset)
          throw error("region '" + g.info.name + "' lies outside the shard");
        out.push_back({g.info, shard.subspan(static_cast<std::size_t>(g.data_offset), static_cast<std::size_t>(g.bytes))});
      }
      auto const end = x.regions.empty() ? x.bytes : x.regions.back().data_offset + x.regions.back().bytes;
      if (end != shard.size()) throw error(std::to_string(shard.size() - end) + " trailing bytes after the last region");
      return out;
    } catch (error const& e) {
      throw error(where + ": " + e.what());
    }
  }

  /// \brief The index at the front of a shard (`head`: at least its first bytes the manifest names).
  [[nodiscard]] shard_index read_index(std::span<const std::byte> head, shard_id id, std::string const& where) const {
    try {
      return detail::parse_index(head, detail::shard_magic, name, 0, id);
    } catch (error const& e) {
      throw error(where + ": " + e.what());
    }
  }
  /// \brief The hash the index records for a block with these bytes.
  [[nodiscard]] std::uint64_t hash_block(std::span<const std::byte> block) const noexcept {
    return lane_hash{}(block.data(), block.size());
  }

  /// \brief Whether encodes estimate the change rate (`sample_every` is not 0).
  [[nodiscard]] bool measures_change() const noexcept { return sample_every != 0; }
  /// \brief Estimated bytes changed since the previous encode (all, at the first), and protected bytes in all.
  [[nodiscard]] std::uint64_t last_dirty_bytes() const noexcept { return changes_.changed_bytes(); }
  [[nodiscard]] std::uint64_t last_protected_bytes() const noexcept { return changes_.protected_bytes(); }

  /// \brief Equal parameters (the change estimate is a measurement, not part of the value).
  friend bool operator==(full const& a, full const& b) noexcept {
    return a.block_bytes == b.block_bytes && a.sample_every == b.sample_every;
  }

  // Implementation state below. Public only so that the policy stays an aggregate
  // (`{.block_bytes = 1 << 20}`); not part of the API.
  void note_change(std::string const& region, std::span<const std::byte> payload, std::vector<std::uint64_t> const& hashes) const {
    auto const block = static_cast<std::size_t>(block_bytes);
    if (!hashes.empty() || payload.empty()) changes_.exact(region, payload.size(), block, hashes);
    else if (sample_every != 0) changes_.sample(region, payload, block, static_cast<std::size_t>(sample_every));
  }
  /// The change estimate: a measurement, updated by the (const) encode, as a cache would be.
  mutable detail::change_sampler changes_;
};

static_assert(strategy<full>);
static_assert(indexed<full>);

}  // namespace strata::snapshot
