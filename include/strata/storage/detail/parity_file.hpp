#pragma once
/// \file
/// \brief The parity file of `node_local`'s L3 level: its header, written with the chunks and checked
/// before any chunk is used.
///
/// Parity file: a header of 64-bit words (native byte order): the magic `0x5354524154414c33`,
/// format 1, version, code (1 XOR, 2 Reed-Solomon), group, g, m, member, c, padded length k x c; the
/// g members' ranks, shard sizes and xxh3; per parity chunk j its stripe and xxh3; the xxh3 of all the
/// words before it. Then the m chunks. At restore a parity file is used only if its header checks
/// and names the shard sizes and checksums the commit record has, and a chunk only if its checksum
/// matches; a rebuilt shard is written only if its size and xxh3 are the record's. The parity of a
/// rebuilt rank is not rebuilt: the group is whole again at the next checkpoint.

#include <strata/detail/hash.hpp>
#include <strata/storage/concepts.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace strata::storage::detail {

/// \brief The header of a parity file (layout in the file's description), as 64-bit words.
struct parity_header {
  static constexpr std::uint64_t magic = 0x5354524154414c33, format = 1;
  std::uint64_t version = 0, code = 0, group = 0, g = 0, m = 0, member = 0, chunk = 0, padded = 0;
  std::vector<std::uint64_t> ranks, bytes, xxh3;  // per member
  std::vector<std::uint64_t> stripe, chunk_xxh3;  // per parity chunk j
  static std::size_t words(std::uint64_t g, std::uint64_t m) { return 11 + 3 * g + 2 * m; }
  [[nodiscard]] std::size_t size() const { return 8 * words(g, m); }
  /// \brief Where parity chunk j starts in a file of a group of g members, m parity chunks of `chunk` bytes.
  static std::size_t chunk_offset(std::uint64_t g, std::uint64_t m, std::uint64_t chunk, std::uint64_t j) {
    return static_cast<std::size_t>(8 * words(g, m) + j * chunk);
  }

  /// \brief The header of member `member` of `group_ranks` (group `group`, code 1 XOR or 2 Reed-Solomon,
  /// m parity chunks) for version v, from every rank's shard size and xxh3; the chunk size c is the
  /// group's largest shard / k, rounded up to 64 bytes. Its stripes and chunk checksums come with the chunks.
  static parity_header for_member(std::uint64_t v, std::uint64_t code, std::uint64_t group, std::vector<int> const& group_ranks,
                                  std::size_t member, std::size_t m, std::vector<std::uint64_t> const& all_bytes,
                                  std::vector<std::uint64_t> const& all_xxh3) {
    std::size_t const g = group_ranks.size(), k = g - m;
    parity_header h;
    h.version = v, h.code = code, h.group = group, h.g = g, h.m = m, h.member = member;
    std::uint64_t widest = 0;
    for (int r : group_ranks) {
      h.ranks.push_back(static_cast<std::uint64_t>(r));
      h.bytes.push_back(all_bytes[static_cast<std::size_t>(r)]);
      h.xxh3.push_back(all_xxh3[static_cast<std::size_t>(r)]);
      widest = std::max(widest, h.bytes.back());
    }
    h.chunk = std::max<std::uint64_t>(64, (widest + k - 1) / k + 63) / 64 * 64;
    h.padded = k * h.chunk;
    return h;
  }

  [[nodiscard]] std::vector<std::uint64_t> encode() const {
    std::vector<std::uint64_t> w{magic, format, version, code, group, g, m, member, chunk, padded};
    for (auto const* f : {&ranks, &bytes, &xxh3}) w.insert(w.end(), f->begin(), f->end());
    for (std::size_t j = 0; j < m; ++j) w.insert(w.end(), {stripe[j], chunk_xxh3[j]});
    w.push_back(strata::detail::xxh3(std::as_bytes(std::span(w))));
    return w;
  }
  /// Parses the header of `file`; on failure says why in `why`.
  static std::optional<parity_header> decode(std::span<const std::byte> file, std::string& why) {
    auto word = [&](std::size_t i) {
      std::uint64_t x;
      std::memcpy(&x, file.data() + 8 * i, 8);
      return x;
    };
    if (file.size() < 8 * 11 || word(0) != magic || word(1) != format) {
      why = "not a parity file of this format (damaged header)";
      return std::nullopt;
    }
    parity_header h;
    h.version = word(2), h.code = word(3), h.group = word(4), h.g = word(5), h.m = word(6), h.member = word(7);
    h.chunk = word(8), h.padded = word(9);
    if (h.g < 2 || h.g > 256 || h.m < 1 || h.m >= h.g || h.member >= h.g || file.size() < 8 * words(h.g, h.m)) {
      why = "damaged header (group of " + std::to_string(h.g) + ", " + std::to_string(h.m) + " parity chunks)";
      return std::nullopt;
    }
    std::size_t const n = words(h.g, h.m);
    if (strata::detail::xxh3(file.first(8 * (n - 1))) != word(n - 1)) {
      why = "damaged header (checksum mismatch)";
      return std::nullopt;
    }
    std::size_t at = 10;
    for (auto* f : {&h.ranks, &h.bytes, &h.xxh3})
      for (std::size_t i = 0; i < h.g; ++i) f->push_back(word(at++));
    for (std::size_t j = 0; j < h.m; ++j) {
      h.stripe.push_back(word(at++));
      h.chunk_xxh3.push_back(word(at++));
    }
    if (h.padded != (h.g - h.m) * h.chunk || file.size() != h.size() + h.m * h.chunk) {
      why = "truncated or of the wrong length (" + std::to_string(file.size()) + " bytes, header says " +
            std::to_string(h.size() + h.m * h.chunk) + ")";
      return std::nullopt;
    }
    return h;
  }
};

/// \brief A parity file checked against the commit record: its header if usable, which of its
/// chunks pass their checksums, and what is wrong with it (empty: nothing).
struct parity_check {
  std::optional<parity_header> header;
  std::vector<std::uint64_t> chunk_ok;  ///< per parity chunk j: 1 if intact
  std::string why;
};

/// \brief Checks the parity file `file` that rank `rank` wrote for version v: a valid header, written
/// for v and that rank, naming the shards the commit record `e` has; then each chunk's checksum.
inline parity_check check_parity_file(std::span<const std::byte> file, std::uint64_t v, int rank,
                                      version_expectation const& e) {
  parity_check c;
  auto& h = c.header;
  h = parity_header::decode(file, c.why);
  if (h && (h->version != v || h->ranks[h->member] != static_cast<std::uint64_t>(rank))) {
    c.why = "written for another version or rank";
    h.reset();
  }
  for (std::size_t q = 0; h && q < h->g; ++q)
    if (h->ranks[q] >= e.ranks || h->bytes[q] != e.bytes[h->ranks[q]] || h->xxh3[q] != e.xxh3[h->ranks[q]]) {
      c.why = "its header names other shards than the commit record (rank " + std::to_string(h->ranks[q]) + ")";
      h.reset();
    }
  for (std::size_t j = 0; h && j < h->m; ++j) {
    auto const chunk = file.subspan(parity_header::chunk_offset(h->g, h->m, h->chunk, j), h->chunk);
    c.chunk_ok.push_back(strata::detail::xxh3(chunk) == h->chunk_xxh3[j]);
    if (!c.chunk_ok.back())
      c.why += (c.why.empty() ? "" : "; ") + std::string("parity chunk ") + std::to_string(j) + " (stripe " +
               std::to_string(h->stripe[j]) + ") fails its checksum";
  }
  return c;
}

}  // namespace strata::storage::detail
