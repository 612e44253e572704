#pragma once
/// \file
/// \brief The shard: one rank's bytes of one version, and the layout `snapshot::full` wrote
/// before shards began with an index (format 1, still read).
///
/// Format 1 (little-endian, as written by this machine):
///   magic "STRATASH", u32 format, u32 region count, u64 version, u32 rank, u32 ranks,
///   u32 strategy name length, strategy name;
///   per region: u32 name length, name, u32 kind, u32 type length, type,
///   u64 element size, u64 count, u64 payload bytes, u8 resizable,
///   zero padding to a 64-byte boundary, payload.
/// Format 2 (written now) begins with an index: see `snapshot/index.hpp`. In both the payload is
/// aligned so that it can be loaded in place.

#include <strata/error.hpp>
#include <strata/state/region.hpp>
#include <strata/state/serializer.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace strata::snapshot {

/// \brief Identity of a shard, checked when it is read back.
struct shard_id {
  std::uint64_t version = 0;
  std::uint32_t rank = 0;
  std::uint32_t ranks = 1;
};

/// \brief A shard ready to write: header bytes owned here, payloads referenced in place.
struct encoded_shard {
  std::vector<std::byte> owned;                       ///< headers and padding (and any staged payload)
  std::vector<std::span<const std::byte>> segments;   ///< the shard, in order
  /// Size of the index the shard begins with (`snapshot/index.hpp`; 0: none). The commit record
  /// keeps its size and checksum, so that a reader can trust it without reading the whole shard.
  std::uint64_t index_bytes = 0;
  [[nodiscard]] std::uint64_t bytes() const noexcept {
    std::uint64_t n = 0;
    for (auto s : segments) n += s.size();
    return n;
  }
};

/// \brief One region as found in a shard read back.
struct decoded_region {
  state::region_info info;
  std::span<const std::byte> payload;
};

namespace detail {

inline constexpr std::array<char, 8> shard_magic{'S', 'T', 'R', 'A', 'T', 'A', 'S', 'H'};
inline constexpr std::uint32_t shard_format = 1;  ///< format 1 (`full` now writes format 2)
inline constexpr std::size_t payload_alignment = 64;

inline void write_string(byte_writer& w, std::string const& s) {
  w.value(static_cast<std::uint32_t>(s.size()));
  w.bytes(std::as_bytes(std::span(s.data(), s.size())));
}
inline std::string read_string(byte_reader& r) {
  auto const n = r.value<std::uint32_t>();
  auto b = r.bytes(n);
  return {reinterpret_cast<char const*>(b.data()), b.size()};
}
/// \brief Reads (version, rank, ranks) from a shard header and checks it is the shard expected:
/// a shard moved or copied to another version's or rank's place is refused.
inline void check_shard_id(byte_reader& r, shard_id expect) {
  shard_id got{};
  r.value(got.version);
  r.value(got.rank);
  r.value(got.ranks);
  if (got.version != expect.version || got.rank != expect.rank || got.ranks != expect.ranks)
    throw error("shard belongs to version " + std::to_string(got.version) + ", rank " + std::to_string(got.rank) +
                " of " + std::to_string(got.ranks) + ", expected version " + std::to_string(expect.version) +
                ", rank " + std::to_string(expect.rank) + " of " + std::to_string(expect.ranks));
}

/// \brief Parses a format-1 shard; `where` names it in errors (file, rank, version).
inline std::vector<decoded_region> parse_shard(std::span<const std::byte> shard, shard_id expect,
                                               std::string_view strategy, std::string const& where) {
  try {
    byte_reader r{shard};
    auto magic = r.bytes(shard_magic.size());
    if (std::memcmp(magic.data(), shard_magic.data(), shard_magic.size()) != 0)
      throw error("not a strata shard (bad magic)");
    auto const format = r.value<std::uint32_t>();
    if (format != shard_format) throw error("unsupported shard format " + std::to_string(format));
    auto const regions = r.value<std::uint32_t>();
    check_shard_id(r, expect);
    auto const strat = read_string(r);
    if (strat != strategy) throw error("shard written by snapshot strategy '" + strat + "', reading with '" + std::string(strategy) + "'");
    std::vector<decoded_region> out;
    out.reserve(regions);
    for (std::uint32_t i = 0; i < regions; ++i) {
      decoded_region d;
      d.info.name = read_string(r);
      d.info.kind = static_cast<state::region_kind>(r.value<std::uint32_t>());
      d.info.type = read_string(r);
      r.value(d.info.elem_size);
      r.value(d.info.count);
      auto const bytes = r.value<std::uint64_t>();
      d.info.resizable = r.value<std::uint8_t>() != 0;
      auto const used = shard.size() - r.remaining();
      if (auto rem = used % payload_alignment) r.bytes(payload_alignment - rem);
      if (d.info.kind != state::region_kind::user && d.info.elem_size * d.info.count != bytes)
        throw error("region '" + d.info.name + "' claims " + std::to_string(d.info.count) + " x " +
                    std::to_string(d.info.elem_size) + " bytes but holds " + std::to_string(bytes));
      d.payload = r.bytes(static_cast<std::size_t>(bytes));
      out.push_back(std::move(d));
    }
    if (!r.done()) throw error(std::to_string(r.remaining()) + " trailing bytes after the last region");
    return out;
  } catch (error const& e) {
    throw error(where + ": " + e.what());
  }
}

}  // namespace detail
}  // namespace strata::snapshot
