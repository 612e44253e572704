#pragma once
/// \file
/// \brief `snapshot::incremental`: only the fixed-size blocks that changed since the previous version.
///
/// Shard layout (format 2): the index of `snapshot/index.hpp` (magic "STRATAIN", the chain, per
/// region its layout, the hash of every block, the list of the dirty blocks this shard stores),
/// then each region's dirty blocks back to back. Every shard carries the hashes of all its blocks,
/// so a restore verifies each block it rebuilds, and an N→M restore can read single blocks.
/// Format 1 (still read): the same fields with each region's header followed by its blocks.

#include <strata/error.hpp>
#include <strata/snapshot/block_hash.hpp>
#include <strata/snapshot/device_blocks.hpp>
#include <strata/snapshot/chained.hpp>
#include <strata/snapshot/index.hpp>
#include <strata/snapshot/shard.hpp>
#include <strata/state/serializer.hpp>
#include <strata/validation.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

namespace strata::snapshot {

/// \brief Writes only changed blocks; a full base again after `max_chain` versions, or when a delta
/// would store `rebase_fraction` of the state or more.
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
  /// \brief A delta that would store at least this fraction of the protected bytes is written as a
  /// full base instead (a new chain). Such a delta saves little (at 0.5, half a copy at most) but
  /// keeps its whole chain on disk and on the restore path: on densely updated data every version
  /// would pin its predecessors and `keep_last<K>` would keep far more than K copies. With it, K
  /// kept versions take at most K full copies plus one chain. 1: a base only when every block
  /// changed; above 1: never (deltas whatever their size, as before issue 10).
  double rebase_fraction = 0.5;
  Hash hash{};
  /// \brief Refuses `max_chain = 0` and a `rebase_fraction` that is not above 0.
  void validate() const {
    strata::detail::require_at_least("incremental", "max_chain", max_chain, 1, "1: every version a full base");
    strata::detail::require(rebase_fraction > 0, "incremental", "rebase_fraction", strata::detail::number(rebase_fraction),
                            "must be above 0: a fraction of the protected bytes (1: a base only when every block "
                            "changed, above 1: never)");
  }

  /// \brief Regions of Thrust data with block work attached (`attach_device_blocks`, done by the
  /// checkpointer's `protect`) are hashed and gathered on their own system; that work computes
  /// `lane_hash`, so a strategy with another hash stages them to the host instead.
  static constexpr bool hashes_device_blocks = std::same_as<Hash, lane_hash>;

  /// \brief Whether the coming version should be a base: its delta would store `rebase_fraction`
  /// of the state or more (or the chain is full). Hashes the state; the `encode` that follows
  /// reuses the hashes. The checkpointer asks every rank and, if one wants a base, `reset()`s all:
  /// one manifest records one chain for every rank. Not asked, a strategy on several ranks keeps
  /// to `max_chain` (ranks deciding alone could disagree); on one rank it applies the rule itself.
  /// The plan holds views of the state: `encode` must follow directly, as in the checkpointer.
  [[nodiscard]] bool wants_base(state::registry& reg) {
    plan_ = make_plan(reg);
    plan_->asked = true;
    return plan_->base || too_large(*plan_);
  }

  [[nodiscard]] encoded_shard encode(state::registry& reg, shard_id id) {
    // The plan of wants_base, unless the chain moved since (a reset() after it only makes this a base).
    bool const fresh = plan_ && plan_->reg == &reg && (plan_->chain == st_.chain.chain || st_.chain.chain.empty());
    auto p = fresh ? std::move(*plan_) : make_plan(reg);
    plan_.reset();
    undo_ = st_.chain;
    undo_seen_ = seen_;
    auto& cs = st_.chain;
    // A delta nearly as large as the state saves little and keeps its whole chain alive: a base instead.
    bool const base = cs.chain.empty() || p.base || ((p.asked || id.ranks <= 1) && too_large(p));
    last_depends_ = base ? std::vector<std::uint64_t>{} : cs.chain;
    last_dirty_ = p.changed;
    last_total_ = p.total;
    last_stored_ = 0;
    for (std::size_t k = 0; k < p.sources.size(); ++k) {
      auto& src = p.sources[k];
      auto& e = p.entries[k];
      if (base) {
        src.dirty.resize(e.hashes.size());
        std::iota(src.dirty.begin(), src.dirty.end(), std::uint64_t{0});
      }
      e.all_stored = src.dirty.size() == e.hashes.size();
      if (!e.all_stored) e.stored = src.dirty;
      e.data_bytes = stored_bytes(src.dirty, src.bytes);
      last_stored_ += e.data_bytes;
    }
    auto out = assemble(id, last_depends_, p.entries, p.sources);
    seen_ = p.hashes;
    cs.hashes = std::move(p.hashes);
    if (base) cs.chain.clear();
    cs.chain.push_back(id.version);
    return out;
  }

  /// \brief Versions the last encoded shard needs, base first (empty: it is a base).
  [[nodiscard]] std::vector<std::uint64_t> depends_on() const { return last_depends_; }
  /// \brief Bytes of the blocks that changed since the previous encode (all, at the first), and
  /// protected bytes in all: the change rate the adaptive trigger reads. A base stores more.
  [[nodiscard]] std::uint64_t last_dirty_bytes() const noexcept { return last_dirty_; }
  [[nodiscard]] std::uint64_t last_protected_bytes() const noexcept { return last_total_; }
  /// \brief Bytes of the blocks the last encoded shard stores (all of them in a base).
  [[nodiscard]] std::uint64_t last_stored_bytes() const noexcept { return last_stored_; }

  void committed(std::uint64_t) noexcept { undo_.reset(); }
  /// \brief The last encode will never be committed: the next delta is taken against the one before.
  void abandon(std::uint64_t v) {
    if (undo_ && !st_.chain.chain.empty() && st_.chain.chain.back() == v) st_.chain = *undo_, seen_ = std::move(undo_seen_);
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
    if (decoded_) st_.chain = *decoded_, seen_ = decoded_->hashes;
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

  /// \brief The index at the front of a shard (`head`: at least its first bytes the manifest names).
  [[nodiscard]] shard_index read_index(std::span<const std::byte> head, shard_id id, std::string const& where) const {
    try {
      return detail::parse_index(head, magic, name, BlockBytes, id);
    } catch (error const& e) {
      throw error(where + ": " + e.what());
    }
  }
  /// \brief The hash the index records for a block with these bytes.
  [[nodiscard]] std::uint64_t hash_block(std::span<const std::byte> block) const noexcept {
    return hash(block.data(), block.size());
  }

  friend bool operator==(incremental const& a, incremental const& b) noexcept {
    return a.max_chain == b.max_chain && a.rebase_fraction == b.rebase_fraction;
  }

  // Implementation state below. Public only so that the policy stays an aggregate
  // (`{.max_chain = 8}` / `{.codec = {.level = 3}}`); not part of the API.
  struct chain_state {
    std::vector<std::uint64_t> chain;                            ///< base .. last encoded
    std::map<std::string, std::vector<std::uint64_t>> hashes;    ///< per region, of the last encoded
  };
  struct state_t {
    chain_state chain;
  };
  struct source {
    state::device_blocks* device = nullptr;  // block work on the data's own system, else `host`
    std::span<const std::byte> host;
    std::size_t bytes = 0;
    std::vector<std::uint64_t> dirty;  // blocks this shard stores
  };
  using hash_map = std::map<std::string, std::vector<std::uint64_t>>;

  /// The state hashed and compared, before the encode decides between a delta and a base.
  struct plan_t {
    state::registry const* reg = nullptr;
    std::vector<std::uint64_t> chain;  ///< the chain it was compared with
    bool asked = false;                ///< by `wants_base`: the ranks agree on the base
    bool base = false;                 ///< the chain is empty or full: a base anyway
    std::vector<detail::index_entry> entries;
    std::vector<source> sources;
    hash_map hashes;
    std::uint64_t delta = 0;    ///< bytes a delta on the chain would store
    std::uint64_t changed = 0;  ///< bytes changed since the last encode
    std::uint64_t total = 0;    ///< bytes protected
  };
  [[nodiscard]] bool too_large(plan_t const& p) const noexcept {
    return p.total && static_cast<double>(p.delta) >= rebase_fraction * static_cast<double>(p.total);
  }
  plan_t make_plan(state::registry& reg) const {
    auto const& cs = st_.chain;
    plan_t p;
    p.reg = &reg;
    p.chain = cs.chain;
    p.base = cs.chain.empty() || cs.chain.size() >= std::max<std::size_t>(max_chain, 1);
    for (auto const& r : reg) {
      auto const name_now = r->info().name;
      source src;
      if constexpr (hashes_device_blocks) src.device = r->device();
      if (src.device) src.bytes = src.device->bytes();
      else src.host = r->stage(), src.bytes = src.host.size();  // before info(): a user type's size is known once staged
      auto const info = r->info();
      auto hashes = src.device ? src.device->hash(BlockBytes) : hash_host_blocks(src.host, BlockBytes, hash);
      src.dirty = changed_blocks(cs.hashes, name_now, hashes);
      p.delta += stored_bytes(src.dirty, src.bytes);
      p.changed += stored_bytes(changed_blocks(seen_, name_now, hashes), src.bytes);
      p.total += src.bytes;
      detail::index_entry e;
      e.info = info;
      e.layout = state::resolved(reg.layout_of(name_now), info.count);
      e.bytes = src.bytes;
      e.hashes = hashes;
      p.hashes[name_now] = std::move(hashes);
      p.entries.push_back(std::move(e));
      p.sources.push_back(std::move(src));
    }
    return p;
  }

  /// Blocks of `region` whose hash differs from the one in `before` (all of them when it has none of that size).
  static std::vector<std::uint64_t> changed_blocks(hash_map const& before, std::string const& region,
                                                   std::vector<std::uint64_t> const& now) {
    auto prev = before.find(region);
    bool const all = prev == before.end() || prev->second.size() != now.size();
    std::vector<std::uint64_t> out;
    for (std::size_t i = 0; i < now.size(); ++i)
      if (all || prev->second[i] != now[i]) out.push_back(i);
    return out;
  }
  static std::uint64_t stored_bytes(std::vector<std::uint64_t> const& blocks, std::size_t bytes) {
    std::uint64_t n = 0;
    for (auto i : blocks) n += std::min(BlockBytes, bytes - i * BlockBytes);
    return n;
  }
  /// The index, then each region's stored blocks back to back (device blocks gathered on the device).
  static encoded_shard assemble(shard_id id, std::vector<std::uint64_t> const& depends,
                                std::vector<detail::index_entry> const& entries, std::vector<source> const& sources) {
    auto front = detail::build_index({magic, id, name, BlockBytes, depends}, entries, 1);
    encoded_shard out;
    out.index_bytes = front.index_bytes;
    out.owned = std::move(front.bytes);
    out.owned.resize(static_cast<std::size_t>(front.end));
    for (std::size_t k = 0; k < sources.size(); ++k) {
      auto const& src = sources[k];
      std::byte* dst = out.owned.data() + front.data_offsets[k];
      if (src.device) {
        src.device->gather(BlockBytes, src.dirty, dst);
        continue;
      }
      for (auto i : src.dirty) {
        auto const n = std::min(BlockBytes, src.bytes - i * BlockBytes);
        std::memcpy(dst, src.host.data() + i * BlockBytes, n);
        dst += n;
      }
    }
    out.segments.emplace_back(out.owned.data(), out.owned.size());
    return out;
  }

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

  static parsed_shard parse(std::span<const std::byte> shard, shard_id expect) {
    if (detail::format_of(shard) == 1) return parse_v1(shard, expect);
    auto const x = detail::parse_index(shard, magic, name, BlockBytes, expect);
    auto slice = [&](std::uint64_t offset, std::uint64_t bytes, std::string const& what) {
      if (offset > shard.size() || bytes > shard.size() - offset) throw error(what + " lies outside the shard");
      return shard.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(bytes));
    };
    parsed_shard p;
    p.depends = x.depends;
    std::uint64_t end = x.bytes;
    for (auto const& g : x.regions) {
      auto const what = "region '" + g.info.name + "'";
      if (g.block_count != detail::blocks_of(g.bytes, BlockBytes)) throw error(what + ": bad block count");
      parsed_region pr;
      pr.info = g.info;
      pr.bytes = g.bytes;
      pr.hashes = section_values(slice(g.hashes.offset, g.hashes.bytes, what + " block hashes"), g.hashes, what + " block hashes");
      if (g.all_stored()) {
        pr.dirty.resize(static_cast<std::size_t>(g.block_count));
        std::iota(pr.dirty.begin(), pr.dirty.end(), std::uint64_t{0});
      } else {
        pr.dirty = section_values(slice(g.stored_list.offset, g.stored_list.bytes, what + " dirty list"), g.stored_list,
                                  what + " dirty list");
      }
      std::size_t payload = 0;
      for (std::size_t i = 0; i < pr.dirty.size(); ++i) {
        if (pr.dirty[i] >= g.block_count || (i && pr.dirty[i] <= pr.dirty[i - 1])) throw error(what + ": bad dirty block list");
        payload += std::min<std::size_t>(BlockBytes, g.bytes - pr.dirty[i] * BlockBytes);
      }
      pr.data = slice(g.data_offset, payload, what + " data");
      end = g.data_offset + payload;
      p.regions.push_back(std::move(pr));
    }
    if (end != shard.size()) throw error(std::to_string(shard.size() - end) + " trailing bytes after the last region");
    return p;
  }

  static parsed_shard parse_v1(std::span<const std::byte> shard, shard_id expect) {
    byte_reader r{shard};
    auto m = r.bytes(magic.size());
    if (std::memcmp(m.data(), magic.data(), magic.size()) != 0) throw error("not an incremental strata shard (bad magic)");
    if (auto f = r.value<std::uint32_t>(); f != 1) throw error("unsupported incremental shard format " + std::to_string(f));
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
  std::uint64_t last_dirty_ = 0, last_total_ = 0, last_stored_ = 0;
  std::optional<plan_t> plan_;  ///< made by wants_base, used by the encode that follows
  hash_map seen_;  ///< block hashes of the last encode, whatever its chain (the change rate is measured against it)
  hash_map undo_seen_;  ///< `seen_` before the last encode (abandon puts it back)
  std::map<std::string, std::vector<std::byte>> restored_;
};

static_assert(chained<incremental<>>);
static_assert(device_aware<incremental<>>);
static_assert(indexed<incremental<>>);
static_assert(rebasing<incremental<>>);

}  // namespace strata::snapshot
