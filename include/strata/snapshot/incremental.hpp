#pragma once
/// \file
/// \brief `snapshot::incremental`: only the fixed-size blocks that changed since the previous version.
///
/// Shard layout (little-endian): magic "STRATAIN", u32 format, u64 version, u32 rank, u32 ranks,
/// strategy name, u64 block bytes, u32 chain length + u64 versions (base first; empty for a base),
/// u32 region count; per region: name, u32 kind, type, u64 element size, u64 count, u8 resizable,
/// u64 payload bytes, u64 block count, u64 hash per block, u64 dirty count, u64 dirty indices
/// (ascending), then the dirty blocks' bytes back to back.
/// Every shard carries the hashes of all its blocks, so a restore verifies each block it rebuilds.

#include <strata/error.hpp>
#include <strata/snapshot/block_hash.hpp>
#include <strata/snapshot/chained.hpp>
#include <strata/snapshot/shard.hpp>
#include <strata/state/serializer.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace strata::snapshot {

/// \brief Writes only changed blocks; a full base again after `max_chain` versions.
///
/// Blocks of Thrust device data are hashed on the device (one Thrust transform, a kernel on CUDA,
/// OpenMP threads on the OMP system) and only dirty blocks are gathered and copied to the host.
/// Restore rebuilds each region from the base and the deltas and checks every block's hash.
///
/// \code
/// strata::checkpointer<strata::comm::mpi, strata::snapshot::incremental<64 * 1024>> ckpt{
///     MPI_COMM_WORLD, {.directory = "ckpt", .snapshot = {.max_chain = 8}}};
/// \endcode
template <std::size_t BlockBytes = 64 * 1024, block_hasher Hash = lane_hash>
struct incremental {
  static_assert(BlockBytes >= 64 && BlockBytes % 8 == 0,
                "snapshot::incremental<BlockBytes>: the block size must be a multiple of 8 bytes, at least 64");
  static constexpr std::string_view name = "incremental";
  static constexpr std::size_t block_bytes = BlockBytes;

  /// \brief Versions in one chain, base included (1: every version is a full base).
  std::size_t max_chain = 8;
  Hash hash{};

  /// \brief Registers where a protected Thrust vector lives (the checkpointer calls this).
  void watch_device(std::string region, device_view view) { st_.devices[std::move(region)] = std::move(view); }

  [[nodiscard]] encoded_shard encode(state::registry& reg, shard_id id) {
    undo_ = st_.chain;
    auto& cs = st_.chain;
    bool const base = cs.chain.empty() || cs.chain.size() >= std::max<std::size_t>(max_chain, 1);
    last_depends_ = base ? std::vector<std::uint64_t>{} : cs.chain;
    encoded_shard out;
    byte_writer w{out.owned};
    write_header(w, id, last_depends_, reg.size());
    std::map<std::string, std::vector<std::uint64_t>> next_hashes;
    last_dirty_ = last_total_ = 0;
    for (auto const& r : reg) {
      auto const name_now = r->info().name;
      std::byte const* dev = nullptr;
      std::size_t dev_bytes = 0;
      std::span<const std::byte> host;
      auto dv = st_.devices.find(name_now);
      bool const on_device = dv != st_.devices.end();
      if (on_device) std::tie(dev, dev_bytes) = dv->second();
      else host = r->stage();  // before info(): a user type's size is known once staged
      auto const info = r->info();
      std::size_t const bytes = on_device ? dev_bytes : host.size();
      auto hashes = on_device ? hash_device_blocks(dev, bytes, BlockBytes, hash) : hash_host_blocks(host, BlockBytes, hash);
      std::vector<std::uint64_t> dirty;
      auto prev = cs.hashes.find(name_now);
      bool const all = base || prev == cs.hashes.end() || prev->second.size() != hashes.size();
      for (std::size_t i = 0; i < hashes.size(); ++i)
        if (all || prev->second[i] != hashes[i]) dirty.push_back(i);
      write_region_header(w, info, bytes, hashes, dirty);
      std::size_t payload = 0;
      for (auto i : dirty) payload += std::min(BlockBytes, bytes - i * BlockBytes);
      auto const at = out.owned.size();
      out.owned.resize(at + payload);
      std::byte* dst = out.owned.data() + at;
      if (on_device) {
        copy_dirty_device_blocks(dev, bytes, BlockBytes, dirty, dst);
      } else {
        for (auto i : dirty) {
          auto const n = std::min(BlockBytes, bytes - i * BlockBytes);
          std::memcpy(dst, host.data() + i * BlockBytes, n);
          dst += n;
        }
      }
      last_dirty_ += payload;
      last_total_ += bytes;
      next_hashes[name_now] = std::move(hashes);
    }
    cs.hashes = std::move(next_hashes);
    if (base) cs.chain.clear();
    cs.chain.push_back(id.version);
    out.segments.emplace_back(out.owned.data(), out.owned.size());
    return out;
  }

  /// \brief Versions the last encoded shard needs, base first (empty: it is a base).
  [[nodiscard]] std::vector<std::uint64_t> depends_on() const { return last_depends_; }
  /// \brief Bytes of dirty blocks in the last encoded shard, and protected bytes in all.
  [[nodiscard]] std::uint64_t last_dirty_bytes() const noexcept { return last_dirty_; }
  [[nodiscard]] std::uint64_t last_protected_bytes() const noexcept { return last_total_; }

  void committed(std::uint64_t) noexcept { undo_.reset(); }
  /// \brief The last encode will never be committed: the next delta is taken against the one before.
  void abandon(std::uint64_t v) {
    if (undo_ && !st_.chain.chain.empty() && st_.chain.chain.back() == v) st_.chain = *undo_;
    else reset();
    undo_.reset();
  }
  /// \brief The next version is a full base.
  void reset() noexcept {
    st_.chain = {};
    undo_.reset();
  }
  /// \brief The chain last decoded is what the application holds now: the next delta builds on it.
  void adopt_restored() {
    if (decoded_) st_.chain = *decoded_;
    undo_.reset();
  }

  /// \brief Decodes a self-contained (base) shard; a delta needs `decode_chain`.
  [[nodiscard]] std::vector<decoded_region> decode(std::span<const std::byte> shard, shard_id id,
                                                   std::string const& where) {
    std::array<std::span<const std::byte>, 1> one{shard};
    std::array<shard_id, 1> ids{id};
    return decode_chain(one, ids, where);
  }

  /// \brief Rebuilds the regions from this rank's shards of a chain, base first; checks that the
  /// chain is the one each shard names and every rebuilt block against its recorded hash.
  [[nodiscard]] std::vector<decoded_region> decode_chain(std::span<const std::span<const std::byte>> shards,
                                                         std::span<const shard_id> ids, std::string const& where) {
    try {
      if (shards.empty() || shards.size() != ids.size()) throw error("empty chain");
      restored_.clear();
      std::vector<decoded_region> out;
      chain_state cs;
      for (std::size_t k = 0; k < shards.size(); ++k) {
        auto parsed = parse(shards[k], ids[k]);
        std::vector<std::uint64_t> expect;
        for (std::size_t j = 0; j < k; ++j) expect.push_back(ids[j].version);
        if (parsed.depends != expect)
          throw error("version " + std::to_string(ids[k].version) + " was encoded on a different chain (" +
                      describe(parsed.depends) + ") than the one given (" + describe(expect) + ")");
        out.clear();
        cs.hashes.clear();
        for (auto& reg : parsed.regions) {
          auto& buf = restored_[reg.info.name];
          bool const all = reg.dirty.size() == reg.hashes.size();
          if (!all && buf.size() != reg.bytes)
            throw error("version " + std::to_string(ids[k].version) + ": region '" + reg.info.name +
                        "' changes size without rewriting all its blocks");
          buf.resize(reg.bytes);
          std::size_t off = 0;
          for (auto i : reg.dirty) {
            auto const n = std::min<std::size_t>(BlockBytes, reg.bytes - i * BlockBytes);
            std::memcpy(buf.data() + i * BlockBytes, reg.data.data() + off, n);
            off += n;
          }
          out.push_back({reg.info, {}});
          cs.hashes[reg.info.name] = std::move(reg.hashes);
        }
      }
      // Every block of the result against the newest shard's hashes.
      for (auto& d : out) {
        auto const& buf = restored_[d.info.name];
        auto const got = hash_host_blocks(std::span<const std::byte>(buf), BlockBytes, hash);
        auto const& want = cs.hashes[d.info.name];
        for (std::size_t i = 0; i < want.size(); ++i)
          if (got[i] != want[i])
            throw error("region '" + d.info.name + "' block " + std::to_string(i) + " does not match its hash after applying the chain " + describe(versions_of(ids)));
        d.payload = buf;
      }
      for (auto const& id : ids) cs.chain.push_back(id.version);
      decoded_ = std::move(cs);
      return out;
    } catch (error const& e) {
      throw error(where + ": " + e.what());
    }
  }

  friend bool operator==(incremental const& a, incremental const& b) noexcept { return a.max_chain == b.max_chain; }

  // Implementation state below. Public only so that the policy stays an aggregate
  // (`{.max_chain = 8}` / `{.codec = {.level = 3}}`); not part of the API.
  struct chain_state {
    std::vector<std::uint64_t> chain;                            ///< base .. last encoded
    std::map<std::string, std::vector<std::uint64_t>> hashes;    ///< per region, of the last encoded
  };
  struct state_t {
    chain_state chain;
    std::map<std::string, device_view> devices;
  };
  struct parsed_region {
    state::region_info info;
    std::uint64_t bytes = 0;
    std::vector<std::uint64_t> hashes, dirty;
    std::span<const std::byte> data;
  };
  struct parsed_shard {
    std::vector<std::uint64_t> depends;
    std::vector<parsed_region> regions;
  };

  static constexpr std::array<char, 8> magic{'S', 'T', 'R', 'A', 'T', 'A', 'I', 'N'};
  static constexpr std::uint32_t format = 1;

  static std::string describe(std::vector<std::uint64_t> const& v) {
    if (v.empty()) return "a base";
    std::string s = "versions";
    for (auto x : v) s += " " + std::to_string(x);
    return s;
  }
  static std::vector<std::uint64_t> versions_of(std::span<const shard_id> ids) {
    std::vector<std::uint64_t> v;
    for (auto const& i : ids) v.push_back(i.version);
    return v;
  }

  static void write_header(byte_writer& w, shard_id id, std::vector<std::uint64_t> const& depends, std::size_t regions) {
    w.bytes(std::as_bytes(std::span(magic)));
    w.value(format);
    w.value(id.version);
    w.value(id.rank);
    w.value(id.ranks);
    detail::write_string(w, std::string(name));
    w.value(static_cast<std::uint64_t>(BlockBytes));
    w.value(static_cast<std::uint32_t>(depends.size()));
    for (auto d : depends) w.value(d);
    w.value(static_cast<std::uint32_t>(regions));
  }
  static void write_region_header(byte_writer& w, state::region_info const& info, std::uint64_t bytes,
                                  std::vector<std::uint64_t> const& hashes, std::vector<std::uint64_t> const& dirty) {
    detail::write_string(w, info.name);
    w.value(static_cast<std::uint32_t>(info.kind));
    detail::write_string(w, info.type);
    w.value(info.elem_size);
    w.value(info.count);
    w.value(static_cast<std::uint8_t>(info.resizable));
    w.value(bytes);
    w.value(static_cast<std::uint64_t>(hashes.size()));
    w.bytes(std::as_bytes(std::span(hashes)));
    w.value(static_cast<std::uint64_t>(dirty.size()));
    w.bytes(std::as_bytes(std::span(dirty)));
  }

  static parsed_shard parse(std::span<const std::byte> shard, shard_id expect) {
    byte_reader r{shard};
    auto m = r.bytes(magic.size());
    if (std::memcmp(m.data(), magic.data(), magic.size()) != 0) throw error("not an incremental strata shard (bad magic)");
    if (auto f = r.value<std::uint32_t>(); f != format) throw error("unsupported incremental shard format " + std::to_string(f));
    detail::check_shard_id(r, expect);
    if (auto s = detail::read_string(r); s != name) throw error("shard written by snapshot strategy '" + s + "'");
    if (auto b = r.value<std::uint64_t>(); b != BlockBytes)
      throw error("shard uses " + std::to_string(b) + "-byte blocks, this strategy " + std::to_string(BlockBytes));
    parsed_shard p;
    p.depends.resize(r.value<std::uint32_t>());
    for (auto& d : p.depends) r.value(d);
    auto const regions = r.value<std::uint32_t>();
    for (std::uint32_t k = 0; k < regions; ++k) {
      parsed_region g;
      g.info.name = detail::read_string(r);
      g.info.kind = static_cast<state::region_kind>(r.value<std::uint32_t>());
      g.info.type = detail::read_string(r);
      r.value(g.info.elem_size);
      r.value(g.info.count);
      g.info.resizable = r.value<std::uint8_t>() != 0;
      r.value(g.bytes);
      if (g.info.kind != state::region_kind::user && g.info.elem_size * g.info.count != g.bytes)
        throw error("region '" + g.info.name + "' claims " + std::to_string(g.info.count) + " x " +
                    std::to_string(g.info.elem_size) + " bytes but holds " + std::to_string(g.bytes));
      if (g.info.kind == state::region_kind::user) g.info.count = g.bytes;
      auto const nb = r.value<std::uint64_t>();
      if (nb != detail::block_count(g.bytes, BlockBytes)) throw error("region '" + g.info.name + "': bad block count");
      g.hashes.resize(nb);
      if (auto src = r.bytes(nb * 8); nb) std::memcpy(g.hashes.data(), src.data(), nb * 8);
      auto const nd = r.value<std::uint64_t>();
      if (nd > nb) throw error("region '" + g.info.name + "': more dirty blocks than blocks");
      g.dirty.resize(nd);
      if (auto src = r.bytes(nd * 8); nd) std::memcpy(g.dirty.data(), src.data(), nd * 8);
      std::size_t payload = 0;
      for (std::size_t i = 0; i < nd; ++i) {
        if (g.dirty[i] >= nb || (i && g.dirty[i] <= g.dirty[i - 1])) throw error("region '" + g.info.name + "': bad dirty block list");
        payload += std::min<std::size_t>(BlockBytes, g.bytes - g.dirty[i] * BlockBytes);
      }
      g.data = r.bytes(payload);
      p.regions.push_back(std::move(g));
    }
    if (!r.done()) throw error(std::to_string(r.remaining()) + " trailing bytes after the last region");
    return p;
  }

  state_t st_;
  std::optional<chain_state> undo_;
  std::optional<chain_state> decoded_;
  std::vector<std::uint64_t> last_depends_;
  std::uint64_t last_dirty_ = 0, last_total_ = 0;
  std::map<std::string, std::vector<std::byte>> restored_;
};

static_assert(chained<incremental<>>);
static_assert(device_aware<incremental<>>);

}  // namespace strata::snapshot
