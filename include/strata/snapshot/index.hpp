#pragma once
/// \file
/// \brief The index at the front of a shard (format 2 of `full` and `incremental`): what a reader
/// needs to fetch and check part of a region without reading the rest of the shard.
///
/// Layout (little-endian): magic (the strategy's 8 bytes), u32 format = 2, u64 version, u32 rank,
/// u32 ranks, strategy name, u64 index bytes, u64 block bytes, u32 chain length + u64 versions
/// (base first), u32 region count; per region: name, u32 kind, type, u64 element size, u64 count,
/// u8 resizable, u64 payload bytes, u32 layout kind, u64 global offset, u64 global size,
/// u64 local offset, u64 local count, u64 block count (0: no block hashes), u64 hashes offset,
/// u64 hashes xxh3, u64 stored blocks, u64 stored list offset, u64 stored list xxh3, u64 data offset.
/// The index is followed by the sections (per region: the hash of every block, u64 each; the
/// ascending list of the blocks this shard stores, u64 each, only when it stores some but not all),
/// then each region's stored blocks back to back from its data offset.
///
/// The manifest records the index's size and xxh3. A reader checks the index against them before
/// it trusts an offset in it, each section against the xxh3 the index gives it, and each block it
/// reads against its hash: no byte it uses is unchecked, and it reads no block it does not need.

#include <strata/detail/hash.hpp>
#include <strata/error.hpp>
#include <strata/snapshot/shard.hpp>
#include <strata/state/layout.hpp>
#include <strata/state/serializer.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strata::snapshot {

/// \brief A part of a shard: where it starts, its size, its xxh3.
struct shard_section {
  std::uint64_t offset = 0, bytes = 0, xxh3 = 0;
};

/// \brief One region as the index of a shard describes it.
struct indexed_region {
  state::region_info info;
  state::layout layout;           ///< as declared when it was saved
  std::uint64_t bytes = 0;        ///< payload bytes of the region at this version
  std::uint64_t block_count = 0;  ///< blocks with a hash (0: none; the region can only be read whole)
  shard_section hashes;           ///< the hash of every block of the region at this version
  std::uint64_t stored = 0;       ///< blocks whose bytes this shard holds (== block_count: all, in order)
  shard_section stored_list;      ///< which ones (ascending u64), when some but not all
  std::uint64_t data_offset = 0;  ///< where the stored bytes start in the shard, back to back
  [[nodiscard]] bool all_stored() const noexcept { return stored == block_count; }
};

/// \brief The index of a shard (its first `bytes` bytes).
struct shard_index {
  shard_id id;
  std::uint64_t bytes = 0;                ///< size of the index itself
  std::uint64_t block_bytes = 0;          ///< size of a hashed block (the last one of a region may be shorter)
  std::vector<std::uint64_t> depends;     ///< versions this shard needs (incremental chain, base first)
  std::vector<indexed_region> regions;
  bool block_readable = true;             ///< false: the data is packed (compressed): read the shard whole
  [[nodiscard]] indexed_region const* find(std::string_view name) const {
    for (auto const& r : regions)
      if (r.info.name == name) return &r;
    return nullptr;
  }
};

/// \brief A strategy whose shards begin with an index (`read_index` parses the first bytes the
/// manifest names) and whose blocks can be checked one by one (`hash_block`).
template <class S>
concept indexed = requires(S const& s, std::span<const std::byte> bytes, shard_id id, std::string const& where) {
  { s.read_index(bytes, id, where) } -> std::same_as<shard_index>;
  { s.hash_block(bytes) } -> std::same_as<std::uint64_t>;
};

/// \brief Whether `s`'s shards can be read through their index: an `indexed` strategy's can, unless
/// it says otherwise at run time (`s.indexes()`: `snapshot::any` holding a strategy that is not indexed).
template <class S>
[[nodiscard]] bool reads_index([[maybe_unused]] S const& s) noexcept {
  if constexpr (!indexed<S>) return false;
  else if constexpr (requires { { s.indexes() } -> std::convertible_to<bool>; }) return s.indexes();
  else return true;
}

namespace detail {

inline constexpr std::uint32_t indexed_format = 2;

/// \brief The format number that follows a shard's 8-byte magic (0 when the shard is too short).
inline std::uint32_t format_of(std::span<const std::byte> shard) noexcept {
  if (shard.size() < 12) return 0;
  std::uint32_t f = 0;
  std::memcpy(&f, shard.data() + 8, sizeof f);
  return f;
}

/// \brief One region as it goes into an index: what it is, the hash of each of its blocks (none:
/// not hashed), and which blocks the shard stores (`all_stored`, else the ascending list `stored`).
struct index_entry {
  state::region_info info;
  state::layout layout;
  std::uint64_t bytes = 0;
  std::vector<std::uint64_t> hashes;
  bool all_stored = true;
  std::vector<std::uint64_t> stored;
  std::uint64_t data_bytes = 0;  ///< bytes of the stored blocks (all stored: `bytes`)
};

/// \brief The front of an indexed shard: index, sections and padding up to the first region's data.
struct index_front {
  std::vector<std::byte> bytes;
  std::uint64_t index_bytes = 0;
  std::vector<std::uint64_t> data_offsets;  ///< per entry; each region's data goes there
  std::uint64_t end = 0;                    ///< the shard's size once every region's data is in place
};

/// \brief Blocks of `block` bytes that hold `bytes` (the last one may be short).
inline constexpr std::uint64_t blocks_of(std::uint64_t bytes, std::uint64_t block) noexcept {
  return block == 0 ? 0 : (bytes + block - 1) / block;
}
inline std::uint64_t align_up(std::uint64_t x, std::uint64_t a) noexcept { return a <= 1 ? x : (x + a - 1) / a * a; }

struct index_header {
  std::array<char, 8> magic;
  shard_id id;
  std::string_view strategy;
  std::uint64_t block_bytes = 0;
  std::span<const std::uint64_t> depends;  ///< the chain, base first
};

inline void write_index(std::vector<std::byte>& out, index_header const& h, std::uint64_t index_bytes,
                        std::vector<index_entry> const& entries, std::vector<indexed_region> const& placed) {
  byte_writer w{out};
  w.bytes(std::as_bytes(std::span(h.magic)));
  w.value(indexed_format);
  w.value(h.id.version);
  w.value(h.id.rank);
  w.value(h.id.ranks);
  write_string(w, std::string(h.strategy));
  w.value(index_bytes);
  w.value(h.block_bytes);
  w.value(static_cast<std::uint32_t>(h.depends.size()));
  for (auto d : h.depends) w.value(d);
  w.value(static_cast<std::uint32_t>(entries.size()));
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto const& e = entries[i];
    auto const& p = placed[i];
    write_string(w, e.info.name);
    w.value(static_cast<std::uint32_t>(e.info.kind));
    write_string(w, e.info.type);
    w.value(e.info.elem_size);
    w.value(e.info.count);
    w.value(static_cast<std::uint8_t>(e.info.resizable));
    w.value(e.bytes);
    w.value(static_cast<std::uint32_t>(e.layout.how));
    w.value(e.layout.block.global_offset);
    w.value(e.layout.block.global_size);
    w.value(e.layout.block.local_offset);
    w.value(e.layout.block.local_count);
    w.value(p.block_count);
    w.value(p.hashes.offset);
    w.value(p.hashes.xxh3);
    w.value(p.stored);
    w.value(p.stored_list.offset);
    w.value(p.stored_list.xxh3);
    w.value(p.data_offset);
  }
}

/// \brief Lays out the index and its sections for `entries`, each region's data aligned to `align`.
inline index_front build_index(index_header const& h, std::vector<index_entry> const& entries, std::size_t align) {
  std::vector<indexed_region> placed(entries.size());
  std::vector<std::byte> probe;
  write_index(probe, h, 0, entries, placed);  // the index's size does not depend on the values in it
  index_front f;
  f.index_bytes = probe.size();
  std::uint64_t at = f.index_bytes;
  std::vector<std::byte> sections;
  auto add_section = [&](std::vector<std::uint64_t> const& v) {
    auto const b = std::as_bytes(std::span(v));
    shard_section s{at, b.size(), strata::detail::xxh3(b)};
    sections.insert(sections.end(), b.begin(), b.end());
    at += b.size();
    return s;
  };
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto const& e = entries[i];
    auto& p = placed[i];
    p.block_count = e.hashes.size();
    if (!e.hashes.empty()) p.hashes = add_section(e.hashes);
    p.stored = e.all_stored ? p.block_count : e.stored.size();
    if (!e.all_stored && !e.stored.empty()) p.stored_list = add_section(e.stored);
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    at = align_up(at, align);
    placed[i].data_offset = at;
    f.data_offsets.push_back(at);
    at += entries[i].data_bytes;
  }
  f.end = at;
  f.bytes.reserve(static_cast<std::size_t>(f.data_offsets.empty() ? at : f.data_offsets.front()));
  write_index(f.bytes, h, f.index_bytes, entries, placed);
  f.bytes.insert(f.bytes.end(), sections.begin(), sections.end());
  if (!f.data_offsets.empty()) f.bytes.resize(static_cast<std::size_t>(f.data_offsets.front()));
  return f;
}

/// \brief Parses the index at the front of `bytes` (the whole shard, or at least its index);
/// checks the magic, the format, the shard's identity and the strategy that wrote it.
inline shard_index parse_index(std::span<const std::byte> bytes, std::array<char, 8> const& magic,
                               std::string_view strategy, std::uint64_t block_bytes, shard_id expect) {
  byte_reader r{bytes};
  auto m = r.bytes(magic.size());
  if (std::memcmp(m.data(), magic.data(), magic.size()) != 0) throw error("not a strata shard of this strategy (bad magic)");
  if (auto f = r.value<std::uint32_t>(); f != indexed_format) throw error("shard format " + std::to_string(f) + " has no index");
  check_shard_id(r, expect);
  if (auto s = read_string(r); s != strategy)
    throw error("shard written by snapshot strategy '" + s + "', reading with '" + std::string(strategy) + "'");
  shard_index x;
  x.id = expect;
  r.value(x.bytes);
  auto const consumed = bytes.size() - r.remaining();
  if (x.bytes > bytes.size() || x.bytes < consumed)
    throw error("index of " + std::to_string(x.bytes) + " bytes does not fit the " + std::to_string(bytes.size()) + " given");
  r = byte_reader{bytes.first(static_cast<std::size_t>(x.bytes))};  // the rest is read within the index only
  r.bytes(consumed);
  r.value(x.block_bytes);
  if (block_bytes != 0 && x.block_bytes != block_bytes)
    throw error("shard uses " + std::to_string(x.block_bytes) + "-byte blocks, this strategy " + std::to_string(block_bytes));
  x.depends.resize(r.value<std::uint32_t>());
  for (auto& d : x.depends) {
    r.value(d);
    if (d >= expect.version) throw error("depends on version " + std::to_string(d) + ", which is not older");
  }
  auto const n = r.value<std::uint32_t>();
  for (std::uint32_t i = 0; i < n; ++i) {
    indexed_region g;
    g.info.name = read_string(r);
    g.info.kind = static_cast<state::region_kind>(r.value<std::uint32_t>());
    g.info.type = read_string(r);
    r.value(g.info.elem_size);
    r.value(g.info.count);
    g.info.resizable = r.value<std::uint8_t>() != 0;
    r.value(g.bytes);
    g.layout.how = static_cast<state::layout::kind>(r.value<std::uint32_t>());
    r.value(g.layout.block.global_offset);
    r.value(g.layout.block.global_size);
    r.value(g.layout.block.local_offset);
    r.value(g.layout.block.local_count);
    r.value(g.block_count);
    r.value(g.hashes.offset);
    r.value(g.hashes.xxh3);
    r.value(g.stored);
    r.value(g.stored_list.offset);
    r.value(g.stored_list.xxh3);
    r.value(g.data_offset);
    auto fail = [&](std::string const& what) { throw error("region '" + g.info.name + "': " + what); };
    if (g.info.kind != state::region_kind::user && g.info.elem_size * g.info.count != g.bytes)
      fail("claims " + std::to_string(g.info.count) + " x " + std::to_string(g.info.elem_size) + " bytes but holds " +
           std::to_string(g.bytes));
    if (g.info.kind == state::region_kind::user) g.info.count = g.bytes;
    if (g.block_count != 0 && (x.block_bytes == 0 || g.block_count != blocks_of(g.bytes, x.block_bytes)))
      fail("bad block count " + std::to_string(g.block_count));
    if (g.stored > g.block_count) fail("stores more blocks than it has");
    g.hashes.bytes = g.block_count * 8;
    g.stored_list.bytes = g.all_stored() ? 0 : g.stored * 8;
    x.regions.push_back(std::move(g));
  }
  if (!r.done()) throw error(std::to_string(r.remaining()) + " unexpected bytes at the end of the index");
  return x;
}

}  // namespace detail

/// \brief The u64 values of a section, after checking `bytes` (the section as read) against its xxh3.
inline std::vector<std::uint64_t> section_values(std::span<const std::byte> bytes, shard_section const& s,
                                                 std::string const& what) {
  if (s.bytes == 0 && bytes.empty()) return {};  // an empty section has no bytes to check
  if (bytes.size() != s.bytes || strata::detail::xxh3(bytes) != s.xxh3)
    throw error(what + " (bytes [" + std::to_string(s.offset) + ", +" + std::to_string(s.bytes) +
                ") of the shard) does not match its checksum in the index");
  std::vector<std::uint64_t> v(static_cast<std::size_t>(s.bytes / 8));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), v.size() * 8);
  return v;
}

/// \brief Where the newest bytes of each block of one region are in a chain of indexed shards
/// (base first): the newest link that stores a block holds its current bytes.
///
/// \code
/// snapshot::region_blocks rb{chain, "u"};
/// for (auto k : rb.links_with_lists()) rb.set_list(k, section_values(read(k, list_of(k)), ...));
/// auto [link, offset] = rb.locate(7);   // block 7: read rb.block_size(7) bytes there, check its hash
/// \endcode
///
/// The chain's indexes must outlive it.
class region_blocks {
 public:
  /// \brief Checks that the chain is the one each shard names and that the region keeps its size
  /// between versions that do not rewrite all its blocks (as `incremental::decode_chain` does).
  region_blocks(std::span<const shard_index> chain, std::string name) : name_(std::move(name)) {
    if (chain.empty()) throw error("region '" + name_ + "': empty chain");
    std::vector<std::uint64_t> before;
    std::uint64_t size = 0;
    for (auto const& link : chain) {
      if (link.depends != before)
        throw error("version " + std::to_string(link.id.version) + " was encoded on another chain than the one given");
      before.push_back(link.id.version);
      auto const* g = link.find(name_);
      links_.push_back(g);
      lists_.emplace_back();
      if (!g) continue;
      if (!g->all_stored() && g->bytes != size)
        throw error("version " + std::to_string(link.id.version) + ": region '" + name_ +
                    "' changes size without rewriting all its blocks");
      size = g->bytes;
      if (g->block_count != 0 && link.block_bytes != chain.back().block_bytes)
        throw error("region '" + name_ + "': the chain mixes block sizes");
    }
    newest_ = links_.back();
    if (!newest_) throw error("region '" + name_ + "' is not in version " + std::to_string(chain.back().id.version));
    if (newest_->block_count == 0) throw error("region '" + name_ + "' was saved without block hashes");
    block_ = chain.back().block_bytes;
  }

  [[nodiscard]] indexed_region const& newest() const noexcept { return *newest_; }
  [[nodiscard]] std::uint64_t block_bytes() const noexcept { return block_; }
  /// \brief Bytes of block `i` (the last block may be short).
  [[nodiscard]] std::uint64_t block_size(std::uint64_t i) const noexcept {
    auto const left = newest_->bytes - i * block_;
    return left < block_ ? left : block_;
  }
  /// \brief Links whose list of stored blocks `locate` needs (`set_list` them first).
  [[nodiscard]] std::vector<std::size_t> links_with_lists() const {
    std::vector<std::size_t> out;
    for (std::size_t k = 0; k < links_.size(); ++k)
      if (links_[k] && !links_[k]->all_stored() && links_[k]->stored != 0) out.push_back(k);
    return out;
  }
  [[nodiscard]] indexed_region const* link(std::size_t k) const noexcept { return links_[k]; }
  void set_list(std::size_t k, std::vector<std::uint64_t> list) {
    for (std::size_t i = 0; i < list.size(); ++i)
      if (list[i] >= links_[k]->block_count || (i && list[i] <= list[i - 1]))
        throw error("region '" + name_ + "': bad list of stored blocks");
    lists_[k] = std::move(list);
  }
  /// \brief The link holding block `i`'s bytes of the newest version, and their offset in that link's shard.
  [[nodiscard]] std::pair<std::size_t, std::uint64_t> locate(std::uint64_t i) const {
    for (std::size_t k = links_.size(); k-- > 0;) {
      auto const* g = links_[k];
      if (!g) continue;
      if (g->all_stored()) return {k, g->data_offset + i * block_};
      auto const& l = lists_[k];
      std::size_t lo = 0, hi = l.size();  // the list is ascending: binary search for i
      while (lo < hi) {
        auto const mid = lo + (hi - lo) / 2;
        if (l[mid] < i) lo = mid + 1;
        else hi = mid;
      }
      if (lo < l.size() && l[lo] == i) return {k, g->data_offset + static_cast<std::uint64_t>(lo) * block_};
    }
    throw error("region '" + name_ + "': block " + std::to_string(i) + " is stored in no version of the chain");
  }

 private:
  std::string name_;
  std::vector<indexed_region const*> links_;
  std::vector<std::vector<std::uint64_t>> lists_;
  indexed_region const* newest_ = nullptr;
  std::uint64_t block_ = 0;
};

}  // namespace strata::snapshot
