#pragma once
/// \file
/// \brief `shard_reader`: reads a checkpoint's shards for a restore, and counts what it reads.
/// Whole shards are checked against the commit record (size, xxh3); for an N→M restore it reads
/// only the index of a shard (checked against the record) and the blocks a plan needs (each checked
/// against its hash in the index), so no byte it hands out is unchecked.

#include <strata/checkpoint/detail/resize_plan.hpp>
#include <strata/checkpoint/manifest.hpp>
#include <strata/detail/hash.hpp>
#include <strata/error.hpp>
#include <strata/snapshot/chained.hpp>
#include <strata/snapshot/index.hpp>
#include <strata/storage/concepts.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace strata::checkpoint::detail {

/// \brief Bytes of old shards a restore holds at once, against a limit (0: none).
struct memory_budget {
  std::uint64_t limit = 0;
  std::uint64_t held = 0, peak = 0;
  /// \brief Throws `usage_error` when holding `n` more bytes (of `what`) would go over the limit.
  void check(std::uint64_t n, std::string const& what) const {
    if (limit != 0 && held + n > limit)
      throw usage_error("it would hold " + std::to_string(held + n) + " bytes (" + what + "), over its memory limit of " +
                        std::to_string(limit) + " bytes");
  }
  void take(std::uint64_t n, std::string const& what) {
    check(n, what);
    held += n;
    peak = std::max(peak, held);
  }
  void give(std::uint64_t n) noexcept { held -= std::min(held, n); }
};

/// \brief A range read for a restore: the whole blocks that hold it, and where in them it lies.
struct staged_range {
  std::vector<std::byte> bytes;
  std::uint64_t skip = 0, size = 0;
  [[nodiscard]] std::span<const std::byte> view() const noexcept {
    return std::span<const std::byte>(bytes).subspan(static_cast<std::size_t>(skip), static_cast<std::size_t>(size));
  }
};

/// \brief Reads shards through a storage driver for a snapshot strategy; `bytes_read()` counts every
/// shard byte it read (commit records not counted).
template <class Storage, snapshot::strategy Snapshot>
class shard_reader {
 public:
  shard_reader(Storage const& storage, Snapshot& snapshot) : st_(&storage), snap_(&snapshot) {}

  /// \brief Version `v`'s commit record, parsed and checked (nullptr: there is none); read once.
  manifest const* record(std::uint64_t v) {
    auto it = records_.find(v);
    if (it == records_.end()) {
      std::optional<manifest> m;
      if (auto text = st_->read_commit(v)) m = manifest::parse(*text, st_->commit_location(v));
      it = records_.emplace(v, std::move(m)).first;
    }
    return it->second ? &*it->second : nullptr;
  }

  /// \brief Rank `r`'s shard of `m`'s version and of every version it depends on, each read whole
  /// and checked against its record, decoded. Payloads point into shards held until `release()`, or
  /// into the strategy's own buffers (valid until its next decode).
  std::vector<snapshot::decoded_region> decode_whole(manifest const& m, int r) {
    auto const v = m.version;
    auto const where = st_->shard_location(v, r);
    auto const newest = read_whole(m, r, std::nullopt);
    snapshot::shard_id const id{v, static_cast<std::uint32_t>(r), m.ranks};
    if constexpr (snapshot::chained<Snapshot>) {
      if (!snapshot::applies_chains(*snap_)) return decode_one(m, newest, id, where);  // erased, holding one that is not
      std::vector<std::span<const std::byte>> views;
      std::vector<snapshot::shard_id> ids;
      for (auto d : m.depends_on) {
        views.push_back(read_whole(link_record(m, d), r, v));
        ids.push_back({d, static_cast<std::uint32_t>(r), m.ranks});
      }
      views.push_back(newest);
      ids.push_back(id);
      return snap_->decode_chain(views, ids, where);
    } else {
      return decode_one(m, newest, id, where);
    }
  }

  /// \brief The index of rank `r`'s shard of `m`'s version, checked against the record (nullopt:
  /// the record keeps none, as in checkpoints written before indexes).
  std::optional<snapshot::shard_index> index(manifest const& m, int r)
    requires snapshot::indexed<Snapshot>
  {
    auto const& rec = m.shards[static_cast<std::size_t>(r)];
    if (rec.index_bytes == 0 || !snapshot::reads_index(*snap_)) return std::nullopt;
    auto const where = st_->shard_location(m.version, r);
    std::vector<std::byte> head(static_cast<std::size_t>(rec.index_bytes));
    read_part(m.version, r, 0, head);
    if (strata::detail::xxh3(std::span<const std::byte>(head)) != rec.index_xxh3)
      throw error(where + ": its index (the first " + std::to_string(rec.index_bytes) +
                  " bytes) does not match the checksum in the commit record (the shard is corrupt)");
    auto x = snap_->read_index(head, {m.version, static_cast<std::uint32_t>(r), m.ranks}, where);
    if (x.bytes != rec.index_bytes) throw error(where + ": its index does not have the size the commit record gives");
    if (x.depends != m.depends_on) throw error(where + ": its chain differs from the one its commit record gives");
    return x;
  }

  /// \brief The indexes of rank `r`'s shards of the chain of `m` (base first, `newest` last), when
  /// every one of them can be read in part; nullopt when one cannot (read the shards whole).
  std::optional<std::vector<snapshot::shard_index>> chain_in_part(manifest const& m, int r, snapshot::shard_index newest,
                                                                  memory_budget& budget)
    requires snapshot::indexed<Snapshot>
  {
    if (!newest.block_readable) return std::nullopt;
    std::vector<snapshot::shard_index> chain;
    for (auto d : m.depends_on) {
      auto x = index(link_record(m, d), r);
      if (!x || !x->block_readable) return std::nullopt;
      budget.take(x->bytes, "the indexes of the old shards");
      chain.push_back(std::move(*x));
    }
    chain.push_back(std::move(newest));
    return chain;
  }

  /// \brief Bytes `[offset, offset + bytes)` of region `name` of old rank `r`, as the chain of indexed
  /// shards `chain` (base first) has it: the whole blocks that hold them are read, from the newest
  /// shard that stores each, and checked against the newest shard's block hashes.
  staged_range read_blocks(std::span<const snapshot::shard_index> chain, int r, std::string const& name,
                           std::uint64_t offset, std::uint64_t bytes, memory_budget& budget)
    requires snapshot::indexed<Snapshot>
  {
    staged_range out;
    if (bytes == 0) return out;
    auto const& top = chain.back();
    auto const where = st_->shard_location(top.id.version, r);
    std::optional<snapshot::region_blocks> rb;
    try {
      rb.emplace(chain, name);
    } catch (error const& e) {
      throw error(where + ": " + e.what());
    }
    auto const& g = rb->newest();
    if (offset > g.bytes || bytes > g.bytes - offset)
      throw error(where + ": region '" + name + "' holds " + std::to_string(g.bytes) + " bytes, bytes [" +
                  std::to_string(offset) + ", +" + std::to_string(bytes) + ") are needed");
    std::uint64_t sections = 0;
    for (auto k : rb->links_with_lists()) {
      auto const& s = rb->link(k)->stored_list;
      rb->set_list(k, section(chain[k].id.version, r, s, "region '" + name + "' list of stored blocks", budget));
      sections += s.bytes;
    }
    auto const hashes = section(top.id.version, r, g.hashes, "region '" + name + "' block hashes", budget);
    sections += g.hashes.bytes;
    auto const block = rb->block_bytes();
    auto const first = offset / block, last = (offset + bytes + block - 1) / block;
    out.skip = offset - first * block;
    out.size = bytes;
    out.bytes.resize(static_cast<std::size_t>(std::min(last * block, g.bytes) - first * block));
    budget.take(out.bytes.size(), "the old blocks this rank restores");
    for (auto i = first; i < last;) {  // runs of blocks that lie back to back in one shard: one read each
      auto const [link, at] = rb->locate(i);
      auto j = i + 1;
      auto n = rb->block_size(i);
      for (; j < last; ++j) {
        auto const [l2, a2] = rb->locate(j);
        if (l2 != link || a2 != at + (j - i) * block) break;
        n += rb->block_size(j);
      }
      read_part(chain[link].id.version, r, at, std::span(out.bytes).subspan(static_cast<std::size_t>((i - first) * block), static_cast<std::size_t>(n)));
      i = j;
    }
    for (auto i = first; i < last; ++i) {
      auto const b = std::span<const std::byte>(out.bytes).subspan(static_cast<std::size_t>((i - first) * block),
                                                                   static_cast<std::size_t>(rb->block_size(i)));
      if (snap_->hash_block(b) != hashes[static_cast<std::size_t>(i)]) {
        auto const [link, at] = rb->locate(i);
        throw error(st_->shard_location(chain[link].id.version, r) + ": region '" + name + "' block " + std::to_string(i) +
                    " (bytes [" + std::to_string(at) + ", +" + std::to_string(b.size()) +
                    ") of the shard) does not match its hash (the shard is corrupt)");
      }
    }
    budget.give(sections);
    return out;
  }

  /// \brief Bytes `[offset, offset + bytes)` of region `name` copied out of regions decoded whole.
  static staged_range copy_range(std::vector<snapshot::decoded_region> const& regions, std::string const& name,
                                 std::uint64_t offset, std::uint64_t bytes, std::string const& where) {
    auto it = std::find_if(regions.begin(), regions.end(), [&](auto const& d) { return d.info.name == name; });
    if (it == regions.end()) throw error(where + ": holds no region '" + name + "'");
    if (offset > it->payload.size() || bytes > it->payload.size() - offset)
      throw error(where + ": region '" + name + "' holds " + std::to_string(it->payload.size()) + " bytes, bytes [" +
                  std::to_string(offset) + ", +" + std::to_string(bytes) + ") are needed");
    staged_range out;
    auto const p = it->payload.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(bytes));
    out.bytes.assign(p.begin(), p.end());
    out.size = bytes;
    return out;
  }

  /// \brief Shard bytes read so far.
  [[nodiscard]] std::uint64_t bytes_read() const noexcept { return read_; }
  /// \brief Bytes of the shards held whole now.
  [[nodiscard]] std::uint64_t bytes_held() const noexcept {
    std::uint64_t n = 0;
    for (auto const& b : held_) n += b.size();
    return n;
  }
  /// \brief Whether `bytes` lie inside a shard held whole now.
  [[nodiscard]] bool holds(std::span<const std::byte> bytes) const noexcept {
    for (auto const& b : held_)
      if (!bytes.empty() && bytes.data() >= b.data() && bytes.data() + bytes.size() <= b.data() + b.size()) return true;
    return bytes.empty();
  }
  /// \brief Lets go of the shards held whole.
  void release() noexcept { held_.clear(); }

 private:
  /// A shard that needs no other: decoded by a strategy that applies no chains.
  std::vector<snapshot::decoded_region> decode_one(manifest const& m, std::span<const std::byte> shard,
                                                   snapshot::shard_id const& id, std::string const& where) {
    if (!m.depends_on.empty())
      throw error(st_->commit_location(m.version) + ": depends on older versions, which this snapshot strategy cannot apply");
    return snap_->decode(shard, id, where);
  }

  /// The record of version `d`, which `m` depends on.
  manifest const& link_record(manifest const& m, std::uint64_t d) {
    auto const* dm = record(d);
    if (!dm)
      throw error("version " + std::to_string(m.version) + " depends on version " + std::to_string(d) +
                  ", whose commit record " + st_->commit_location(d) + " is missing");
    if (dm->ranks != m.ranks || dm->version != d)
      throw error(st_->commit_location(d) + ": does not match the chain of version " + std::to_string(m.version));
    return *dm;
  }

  /// Rank `r`'s shard of `m`'s version, read whole and checked against the record; held until `release()`.
  std::span<const std::byte> read_whole(manifest const& m, int r, std::optional<std::uint64_t> needed_by) {
    auto const where = st_->shard_location(m.version, r);
    storage::byte_buffer b = st_->read_shard(m.version, r);
    read_ += b.size();
    auto const& rec = m.shards[static_cast<std::size_t>(r)];
    if (needed_by) {
      if (b.size() != rec.bytes || strata::detail::xxh3(b.span()) != rec.xxh3)
        throw error(where + ": truncated or corrupt (version " + std::to_string(*needed_by) + " depends on it)");
    } else {
      if (b.size() != rec.bytes)
        throw error(where + ": " + std::to_string(b.size()) + " bytes, the manifest records " + std::to_string(rec.bytes) +
                    " (truncated or replaced)");
      if (strata::detail::xxh3(b.span()) != rec.xxh3) throw error(where + ": checksum mismatch (the shard is corrupt)");
    }
    held_.push_back(std::move(b));
    return held_.back().span();
  }

  /// Bytes `[offset, offset + out.size())` of rank `r`'s shard of `v`.
  void read_part(std::uint64_t v, int r, std::uint64_t offset, std::span<std::byte> out) {
    if constexpr (storage::partial_reader<Storage>) {
      st_->read_shard_part(v, r, offset, out);
    } else {
      storage::byte_buffer const b = st_->read_shard(v, r);  // a driver that cannot read less
      if (offset > b.size() || out.size() > b.size() - offset)
        throw error(st_->shard_location(v, r) + ": " + std::to_string(b.size()) + " bytes, bytes [" +
                    std::to_string(offset) + ", +" + std::to_string(out.size()) + ") asked (truncated)");
      if (!out.empty()) std::memcpy(out.data(), b.data() + offset, out.size());
    }
    read_ += out.size();
  }

  /// A section of rank `r`'s shard of `v` (block hashes, list of stored blocks), checked.
  std::vector<std::uint64_t> section(std::uint64_t v, int r, snapshot::shard_section const& s, std::string const& what,
                                     memory_budget& budget) {
    budget.take(s.bytes, "the block hashes of the old shards it reads");
    std::vector<std::byte> b(static_cast<std::size_t>(s.bytes));
    read_part(v, r, s.offset, b);
    return snapshot::section_values(b, s, st_->shard_location(v, r) + ": " + what);
  }

  Storage const* st_;
  Snapshot* snap_;
  std::map<std::uint64_t, std::optional<manifest>> records_;
  std::vector<storage::byte_buffer> held_;
  std::uint64_t read_ = 0;
};

}  // namespace strata::checkpoint::detail
