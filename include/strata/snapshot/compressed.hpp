#pragma once
/// \file
/// \brief `snapshot::compressed<Inner, Codec>`: any snapshot strategy, its shards compressed (zstd).
///
/// Shard layout (format 2): magic "STRATAZS", u32 format, codec name, u64 uncompressed bytes,
/// u64 index bytes, the inner shard's index uncompressed, the rest of the inner shard compressed.
/// The index stays readable without decompressing (an N→M restore learns every old rank's layout
/// from it); the data can only be read whole. Format 1 (still read): no index, all compressed.

#include <strata/error.hpp>
#include <strata/snapshot/chained.hpp>
#include <strata/snapshot/full.hpp>
#include <strata/snapshot/index.hpp>
#include <strata/state/serializer.hpp>
#include <strata/validation.hpp>

#ifdef STRATA_HAVE_ZSTD
#include <zstd.h>
#endif

#include <array>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace strata::snapshot {

/// \brief A byte codec: `encode(bytes) -> vector<byte>`, `decode(bytes, original_size) -> vector<byte>`.
template <class C>
concept codec = std::semiregular<C> && requires(C const& c, std::span<const std::byte> in, std::size_t n) {
  { C::name } -> std::convertible_to<std::string_view>;
  { c.encode(in) } -> std::same_as<std::vector<std::byte>>;
  { c.decode(in, n) } -> std::same_as<std::vector<std::byte>>;
};

#ifdef STRATA_HAVE_ZSTD
/// \brief zstd at `level` (1 fast .. 19 small; negative levels faster still).
///
/// \code
/// strata::snapshot::compressed<strata::snapshot::full, strata::snapshot::zstd_codec> s{.codec = {.level = 1}};
/// \endcode
struct zstd_codec {
  static constexpr std::string_view name = "zstd";
  int level = 1;

  [[nodiscard]] std::vector<std::byte> encode(std::span<const std::byte> in) const {
    std::vector<std::byte> out(ZSTD_compressBound(in.size()));
    auto const n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), level);
    if (ZSTD_isError(n)) throw checkpoint_error(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
    out.resize(n);
    return out;
  }
  [[nodiscard]] std::vector<std::byte> decode(std::span<const std::byte> in, std::size_t original) const {
    std::vector<std::byte> out(original);
    auto const n = ZSTD_decompress(out.data(), out.size(), in.data(), in.size());
    if (ZSTD_isError(n)) throw error(std::string("zstd decompression failed: ") + ZSTD_getErrorName(n));
    if (n != original) throw error("zstd: decompressed " + std::to_string(n) + " bytes, expected " + std::to_string(original));
    return out;
  }
  /// \brief Refuses a level zstd does not have.
  void validate() const {
    strata::detail::require(level >= ZSTD_minCLevel() && level <= ZSTD_maxCLevel(), "zstd_codec", "level",
                            std::to_string(level),
                            "is not a zstd level (" + std::to_string(ZSTD_minCLevel()) + " to " +
                                std::to_string(ZSTD_maxCLevel()) + ")");
  }
  friend constexpr bool operator==(zstd_codec const&, zstd_codec const&) = default;
};
static_assert(codec<zstd_codec>);
#endif

namespace detail {
/// "compressed+<inner name>", built at compile time (a type parameter rather than references to
/// string_views as template arguments, which nvcc's front end rejects).
template <class Inner>
struct compressed_name {
  static constexpr std::string_view prefix = "compressed";
  static constexpr auto storage = [] {
    constexpr std::string_view inner = Inner::name;
    std::array<char, prefix.size() + inner.size() + 1> s{};
    for (std::size_t i = 0; i < prefix.size(); ++i) s[i] = prefix[i];
    s[prefix.size()] = '+';
    for (std::size_t i = 0; i < inner.size(); ++i) s[prefix.size() + 1 + i] = inner[i];
    return s;
  }();
  static constexpr std::string_view value{storage.data(), storage.size()};
};
}  // namespace detail

/// \brief Decorates `Inner` (full or incremental): its shard is compressed with `Codec` before it is
/// written and decompressed before `Inner` decodes it. Chains of an incremental `Inner` work as before.
///
/// \code
/// using snap = strata::snapshot::compressed<strata::snapshot::incremental<>, strata::snapshot::zstd_codec>;
/// strata::checkpointer<strata::comm::mpi, snap> ckpt{MPI_COMM_WORLD, {.snapshot = {.codec = {.level = 3}}}};
/// \endcode
template <strategy Inner = full,
#ifdef STRATA_HAVE_ZSTD
          codec Codec = zstd_codec
#else
          codec Codec
#endif
          >
struct compressed {
  static constexpr std::string_view name = detail::compressed_name<Inner>::value;

  Inner inner{};
  Codec codec{};

  /// \brief The inner strategy's and the codec's checks.
  void validate() const {
    if constexpr (validating<Inner>) inner.validate();
    if constexpr (validating<Codec>) codec.validate();
  }

  /// \brief Whether the inner strategy hashes Thrust data on its own system (see `device_aware`).
  static constexpr bool hashes_device_blocks = device_aware<Inner>;

  [[nodiscard]] encoded_shard encode(state::registry& reg, shard_id id) {
    auto raw = inner.encode(reg, id);
    std::vector<std::byte> flat;
    flat.reserve(raw.bytes());
    for (auto s : raw.segments) flat.insert(flat.end(), s.begin(), s.end());
    auto const index = std::min<std::size_t>(static_cast<std::size_t>(raw.index_bytes), flat.size());
    auto packed = codec.encode(std::span<const std::byte>(flat).subspan(index));
    encoded_shard out;
    byte_writer w{out.owned};
    w.bytes(std::as_bytes(std::span(magic)));
    w.value(format);
    strata::snapshot::detail::write_string(w, std::string(Codec::name));
    w.value(static_cast<std::uint64_t>(flat.size()));
    w.value(static_cast<std::uint64_t>(index));
    w.bytes(std::span<const std::byte>(flat).first(index));
    if (index) out.index_bytes = out.owned.size();
    w.bytes(packed);
    out.segments.emplace_back(out.owned.data(), out.owned.size());
    last_raw_ = flat.size();
    return out;
  }
  [[nodiscard]] std::vector<decoded_region> decode(std::span<const std::byte> shard, shard_id id, std::string const& where) {
    unpacked_.assign(1, unpack(shard, where));
    return inner.decode(unpacked_[0], id, where);
  }

  /// \brief The inner shard's index, kept uncompressed at the front (its data cannot be read in part).
  [[nodiscard]] shard_index read_index(std::span<const std::byte> head, shard_id id, std::string const& where) const
    requires indexed<Inner>
  {
    auto const [at, index, raw] = outer_header(head, where);
    if (index == 0 || at + index > head.size()) throw error(where + ": the compressed shard keeps no index at its front");
    auto x = inner.read_index(head.subspan(at, index), id, where);
    x.bytes = at + index;
    x.block_readable = false;
    return x;
  }
  [[nodiscard]] std::uint64_t hash_block(std::span<const std::byte> block) const noexcept
    requires indexed<Inner>
  {
    return inner.hash_block(block);
  }

  [[nodiscard]] std::vector<std::uint64_t> depends_on() const requires chained<Inner> { return inner.depends_on(); }
  [[nodiscard]] std::vector<decoded_region> decode_chain(std::span<const std::span<const std::byte>> shards,
                                                         std::span<const shard_id> ids, std::string const& where)
    requires chained<Inner>
  {
    unpacked_.clear();
    for (auto s : shards) unpacked_.push_back(unpack(s, where));
    std::vector<std::span<const std::byte>> views(unpacked_.begin(), unpacked_.end());
    return inner.decode_chain(views, ids, where);
  }
  /// \brief The inner strategy's wish for an early base (it hashes the state; compression does not change it).
  [[nodiscard]] bool wants_base(state::registry& reg) requires rebasing<Inner> { return inner.wants_base(reg); }
  void committed(std::uint64_t v) requires chained<Inner> { inner.committed(v); }
  void abandon(std::uint64_t v) requires chained<Inner> { inner.abandon(v); }
  void reset() requires chained<Inner> { inner.reset(); }
  void adopt_restored() requires chained<Inner> { inner.adopt_restored(); }

  /// \brief Whether the inner strategy's last encode measured how much changed (full: the sampled
  /// estimate, incremental: the dirty blocks); the two below are then its figures.
  [[nodiscard]] bool measures_change() const noexcept requires requires(Inner const& i) { i.last_dirty_bytes(); } {
    return snapshot::measures_change(inner);
  }
  [[nodiscard]] std::uint64_t last_dirty_bytes() const requires requires(Inner const& i) { i.last_dirty_bytes(); } {
    return inner.last_dirty_bytes();
  }
  [[nodiscard]] std::uint64_t last_protected_bytes() const requires requires(Inner const& i) { i.last_protected_bytes(); } {
    return inner.last_protected_bytes();
  }
  /// \brief Uncompressed size of the last encoded shard.
  [[nodiscard]] std::uint64_t last_raw_bytes() const noexcept { return last_raw_; }

  friend bool operator==(compressed const& a, compressed const& b) noexcept {
    return a.inner == b.inner && a.codec == b.codec;
  }

  // Implementation state below. Public only so that the policy stays an aggregate
  // (`{.max_chain = 8}` / `{.codec = {.level = 3}}`); not part of the API.
  static constexpr std::array<char, 8> magic{'S', 'T', 'R', 'A', 'T', 'A', 'Z', 'S'};
  static constexpr std::uint32_t format = 2;

  struct outer {
    std::size_t at = 0;           ///< where the inner index begins
    std::size_t index = 0;        ///< its size (format 1: 0)
    std::uint64_t raw = 0;        ///< bytes of the inner shard
  };
  /// Reads the header of a compressed shard: magic, format, codec, sizes.
  outer outer_header(std::span<const std::byte> shard, std::string const& where) const {
    try {
      byte_reader r{shard};
      auto m = r.bytes(magic.size());
      if (std::memcmp(m.data(), magic.data(), magic.size()) != 0) throw error("not a compressed strata shard (bad magic)");
      auto const f = r.value<std::uint32_t>();
      if (f != 1 && f != format) throw error("unsupported compressed shard format " + std::to_string(f));
      if (auto c = strata::snapshot::detail::read_string(r); c != Codec::name)
        throw error("shard compressed with '" + c + "', this strategy uses '" + std::string(Codec::name) + "'");
      outer o;
      o.raw = r.value<std::uint64_t>();
      if (o.raw > (std::uint64_t{1} << 40)) throw error("implausible uncompressed size " + std::to_string(o.raw));
      if (f == format) o.index = static_cast<std::size_t>(r.value<std::uint64_t>());
      if (o.index > o.raw) throw error("index of " + std::to_string(o.index) + " bytes in a shard of " + std::to_string(o.raw));
      o.at = shard.size() - r.remaining();
      return o;
    } catch (error const& e) {
      throw error(where + ": " + e.what());
    }
  }

  std::vector<std::byte> unpack(std::span<const std::byte> shard, std::string const& where) const {
    auto const o = outer_header(shard, where);
    try {
      if (o.at + o.index > shard.size()) throw error("truncated inside its index");
      auto rest = codec.decode(shard.subspan(o.at + o.index), static_cast<std::size_t>(o.raw - o.index));
      std::vector<std::byte> out(shard.begin() + static_cast<std::ptrdiff_t>(o.at),
                                 shard.begin() + static_cast<std::ptrdiff_t>(o.at + o.index));
      out.insert(out.end(), rest.begin(), rest.end());
      return out;
    } catch (error const& e) {
      throw error(where + ": " + e.what());
    }
  }

  std::vector<std::vector<std::byte>> unpacked_;
  std::uint64_t last_raw_ = 0;
};

#ifdef STRATA_HAVE_ZSTD
static_assert(strategy<compressed<full>>);
static_assert(indexed<compressed<full>>);
#endif

}  // namespace strata::snapshot
