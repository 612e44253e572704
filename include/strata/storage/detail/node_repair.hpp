#pragma once
/// \file
/// \brief `node_repair`: `storage::node_local`'s recovering side (collective, at restart). The nodes'
/// first ranks exchange what their disks hold (`inventory.hpp`); commit records missing on a node
/// are copied there; every rank whose own shard is missing or damaged gets it from the cheapest
/// surviving copy (`repair_plan.hpp` decides which), checked against the commit record: another
/// node's L1, else a partner copy (L2), else rebuilt from its group's parity (L3).

#include <strata/comm/mpi.hpp>
#include <strata/detail/hash.hpp>
#include <strata/error.hpp>
#include <strata/storage/byte_buffer.hpp>
#include <strata/storage/concepts.hpp>
#include <strata/storage/detail/erasure.hpp>
#include <strata/storage/detail/exchange.hpp>
#include <strata/storage/detail/inventory.hpp>
#include <strata/storage/detail/node_state.hpp>
#include <strata/storage/detail/parity_file.hpp>
#include <strata/storage/detail/repair_plan.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace strata::storage::detail {

/// \brief Repairs one rank's node-local copies at restart; every member is collective over the
/// state's communicator (`node_local::recover` makes one and calls `recover`).
class node_repair {
 public:
  explicit node_repair(node_state& s) noexcept : s_(s) {}

  /// \brief Commit records copied to every node; for the newest version whose record says it was
  /// written by this rank count, every rank's missing shards (of it and of the versions it depends
  /// on) repaired and checked against the record; the level that served each rank in the state's `served`.
  /// `expect(v)` reads version v's record (may throw: that version is skipped); `say(text, warning)` logs.
  template <class Expect, class Say>
  void recover(Expect&& expect, Say&& say) {
    s_.served.clear();
    if (!s_.comm || s_.size == 1) return;
    auto const inv = gather_inventory(*s_.comm, s_.dir, s_.leader, s_.node_of);
    share_commit_records(inv);
    for (auto v : recorded_versions(inv)) {
      auto const e = try_expect(expect, v);
      // Same decision on every rank: a record that no rank can read, or another rank count, is not repaired here.
      std::uint64_t const usable = e && e->ranks == static_cast<std::uint32_t>(s_.size) && e->bytes.size() == e->ranks;
      if (s_.comm->all_reduce(usable, comm::reduce_op::min) == 0) continue;
      std::vector<std::string> served(static_cast<std::size_t>(s_.size));
      if (repair_chain(v, *e, expect, inv, served, say)) {
        if (s_.rank == 0) say_served(v, served, say);
        s_.served = std::move(served);
        return;
      }
      if (s_.rank == 0) say("version " + std::to_string(v) + " cannot be rebuilt on every rank from node-local copies", true);
    }
  }

 private:
  using kind = file_kind;

  /// The versions some node holds a commit record of, newest first.
  static std::vector<std::uint64_t> recorded_versions(inventory const& inv) {
    std::vector<std::uint64_t> versions;
    for (auto const& [key, holders] : inv.items)
      if (key.k == kind::record) versions.push_back(key.v);
    std::ranges::sort(versions, std::greater<>());
    versions.erase(std::unique(versions.begin(), versions.end()), versions.end());
    return versions;
  }

  /// `expect(v)`, or nothing if the record cannot be read.
  template <class Expect>
  static std::optional<version_expectation> try_expect(Expect& expect, std::uint64_t v) {
    try {
      return expect(v);
    } catch (std::exception const&) {
      return std::nullopt;
    }
  }

  /// Version v (record `e`) and the versions it depends on repaired on every rank; false (on every
  /// rank) if one cannot be.
  template <class Expect, class Say>
  bool repair_chain(std::uint64_t v, version_expectation const& e, Expect& expect, inventory const& inv,
                    std::vector<std::string>& served, Say& say) {
    std::vector<std::uint64_t> chain = e.depends_on;
    chain.push_back(v);
    for (auto d : chain) {
      auto const ed = d == v ? std::optional(e) : try_expect(expect, d);
      std::uint64_t const have = ed && ed->ranks == e.ranks;
      if (s_.comm->all_reduce(have, comm::reduce_op::min) == 0 || !repair(d, *ed, inv, served, say)) return false;
    }
    return true;
  }

  /// Rank 0's log line: the level that served each rank's shard of v.
  template <class Say>
  static void say_served(std::uint64_t v, std::vector<std::string> const& served, Say& say) {
    std::string text = "version " + std::to_string(v) + ": shards served by";
    bool degraded = false;
    for (std::size_t r = 0; r < served.size(); ++r) {
      text += " r" + std::to_string(r) + "=" + served[r];
      degraded |= served[r] != "L1";
    }
    // A shard rebuilt from another node is worth a warning: that node's copy is gone until the next checkpoint.
    say(text + (degraded ? " (copies lost with a node were rebuilt; redundancy is restored at the next checkpoint)" : ""),
        degraded);
  }

  /// Every node's first rank gets the commit records some other node holds and it lacks.
  void share_commit_records(inventory const& inv) {
    for (auto const& [k, holders] : inv.items) {
      if (k.k != kind::record || holders.size() == inv.leaders.size()) continue;
      int const root = holders.front();
      std::string text;
      if (s_.rank == root) text = s_.files.read_commit(k.v).value_or(std::string{});
      broadcast_text(*s_.comm, text, root);
      if (s_.leader && !std::ranges::binary_search(holders, s_.rank) && !text.empty()) s_.files.write_commit(k.v, text);
    }
    // The other ranks of a node read the records their first rank has just written.
    MPI_Barrier(s_.comm->native());
  }

  /// Every rank learns which ranks got their shard this round (`got` on each): marked in `here`,
  /// and `served` set from `label` for them (no `label`: each such rank sends its own entry of `served`).
  void mark_served(std::uint64_t got, std::vector<std::uint64_t>& here, std::vector<std::string>& served,
                   std::vector<std::string> const* label) {
    auto const gots = s_.comm->all_gather(got);
    for (int q = 0; q < s_.size; ++q) {
      auto const i = static_cast<std::size_t>(q);
      if (!gots[i]) continue;
      here[i] = 1;
      if (label) served[i] = (*label)[i];
      else broadcast_text(*s_.comm, served[i], q);  // for rank 0's log line
    }
  }

  /// Every rank ends with a valid own shard of version v in its node-local directory, fetched from
  /// the cheapest surviving copy; false (on every rank) if some rank cannot.
  template <class Say>
  bool repair(std::uint64_t v, version_expectation const& e, inventory const& inv, std::vector<std::string>& served,
              Say& say) {
    auto const r = static_cast<std::size_t>(s_.rank);
    auto valid = [&](std::span<const std::byte> b) { return b.size() == e.bytes[r] && strata::detail::xxh3(b) == e.xxh3[r]; };
    std::uint64_t have = 0;
    try {
      auto const b = byte_buffer::map_file(s_.file_path(v, s_.rank, kind::own));
      have = valid(b.span());
    } catch (error const&) {
    }
    auto const haves = s_.comm->all_gather(have);
    std::vector<std::uint64_t> here(haves.begin(), haves.end());
    for (std::size_t q = 0; q < here.size(); ++q)
      if (here[q]) served[q] = "L1";
    for (std::size_t round = 0;; ++round) {
      auto const next = plan_repair_round(inv, v, here, s_.node_of, round);
      auto const& plan = next.plan;
      auto const& what = next.what;
      if (s_.comm->all_reduce(std::uint64_t(std::ranges::count(here, 0)), comm::reduce_op::max) == 0) return true;
      if (plan.empty()) return s_.erasure() && rebuild_from_parity(v, e, inv, here, served, say);  // L3, the last resort here
      std::uint64_t got = 0;
      std::vector<byte_buffer> held;
      exchange(
          *s_.comm, s_.who(), plan,
          [&](transfer const& t) {
            auto const i = static_cast<std::size_t>(&t - plan.data());
            try {
              held.push_back(byte_buffer::map_file(s_.file_path(v, t.to, what[i])));
            } catch (error const&) {
              return std::span<const std::byte>{};  // vanished: the receiver sees a bad copy and moves on
            }
            return held.back().span();
          },
          [&](transfer const& t, std::vector<std::byte>&& b) {
            auto const i = static_cast<std::size_t>(&t - plan.data());
            if (!valid(b)) return;  // damaged copy: never used, the next source is tried
            s_.write_file(v, s_.rank, kind::own, b);
            got = 1;
            char const* level = what[i] == kind::own ? "L1 of" : "L2 partner on";
            served[r] = std::string(level) + " rank " + std::to_string(t.from);
          });
      mark_served(got, here, served, nullptr);
    }
  }

  /// The parity files this node holds for v, checked; every rank's findings, gathered (the words of
  /// `append_parity_fact`). The files are kept mapped in `held`; rank 0 warns of the damaged ones.
  template <class Say>
  std::vector<std::uint64_t> gather_parity_facts(std::uint64_t v, version_expectation const& e, inventory const& inv,
                                                 std::map<int, byte_buffer>& held, Say& say) {
    std::vector<std::uint64_t> mine;
    std::string damage;
    for (auto const& [key, holders] : inv.items) {
      if (key.v != v || key.k != kind::parity || !std::ranges::binary_search(holders, s_.rank)) continue;
      parity_check checked;
      try {
        held.emplace(key.rank, byte_buffer::map_file(s_.file_path(v, key.rank, kind::parity)));
        checked = check_parity_file(held.at(key.rank).span(), v, key.rank, e);
      } catch (error const& x) {
        checked.why = x.what();
      }
      append_parity_fact(mine, key.rank, s_.rank, checked);
      if (!checked.why.empty())
        damage += (damage.empty() ? "" : "\n") + s_.host + ":" + s_.file_path(v, key.rank, kind::parity).string() + ": " +
                  checked.why;
    }
    auto facts = all_gatherv(*s_.comm, mine);
    // Damaged parity is never used; rank 0 says which.
    for (auto const& t : all_gatherv_text(*s_.comm, damage))
      for (std::size_t a = 0; a < t.size();) {
        auto const b = std::min(t.find('\n', a), t.size());
        if (s_.rank == 0) say("version " + std::to_string(v) + ": damaged parity (L3), not used: " + t.substr(a, b - a), true);
        a = b + 1;
      }
    return facts;
  }

  /// This rank's shard of v decoded from its stripes' chunks (`blocks`: k + m slots per stripe) and
  /// written, if it matches the commit record; whether it was.
  bool decode_own(std::uint64_t v, version_expectation const& e, parity_group const& grp,
                  std::map<std::size_t, std::vector<std::vector<std::byte>>>& blocks) {
    try {
      std::size_t const g = grp.ranks.size(), m = grp.m, k = g - m, c = grp.chunk;
      auto const i = static_cast<std::size_t>(std::ranges::find(grp.ranks, s_.rank) - grp.ranks.begin());
      erasure_code const code(static_cast<int>(k), static_cast<int>(m),
                              grp.code == 1 ? erasure_code::family::xor_parity : erasure_code::family::cauchy);
      std::vector<std::byte> shard(k * c);
      for (std::size_t st = 0; st < g; ++st) {
        if ((i + g - st) % g < m) continue;
        int const d = static_cast<int>((i + g - st) % g - m);  // my chunk d is data chunk d of stripe st
        auto& slots = blocks[st];
        slots.resize(g);
        std::vector<std::byte const*> in(g, nullptr);
        for (std::size_t b = 0; b < g; ++b)
          if (!slots[b].empty()) in[b] = slots[b].data();
        std::byte* out[1] = {shard.data() + static_cast<std::size_t>(d) * c};
        code.decode(in, c, std::span(&d, 1), out);
      }
      auto const r = static_cast<std::size_t>(s_.rank);
      if (e.bytes[r] > shard.size()) return false;
      shard.resize(static_cast<std::size_t>(e.bytes[r]));
      if (strata::detail::xxh3(shard) != e.xxh3[r]) return false;
      s_.write_file(v, s_.rank, kind::own, shard);
      return true;
    } catch (std::exception const&) {
      return false;  // not rebuilt: the version is not usable from node-local copies
    }
  }

  /// L3: ranks still without a valid shard of v after L1 and L2 are rebuilt from their groups'
  /// surviving data chunks and valid parity chunks. Every rank decides from the same gathered facts,
  /// so all agree; returns whether every rank now holds its shard.
  template <class Say>
  bool rebuild_from_parity(std::uint64_t v, version_expectation const& e, inventory const& inv,
                           std::vector<std::uint64_t>& here, std::vector<std::string>& served, Say& say) {
    auto const warn = [&](std::string const& text) {
      if (s_.rank == 0) say("version " + std::to_string(v) + ": " + text, true);
    };
    // 1. Every node's first rank checks the parity files its disk holds for v, and tells everyone.
    std::map<int, byte_buffer> held;  // parity files this rank has mapped, by whose they are
    auto const groups = parity_groups(gather_parity_facts(v, e, inv, held, say));
    // 2. The plan: for each lost member, the chunks that rebuild it.
    auto const rebuild = plan_parity_rebuild(groups, here);
    if (!rebuild.refused.empty()) {
      warn(rebuild.refused);
      return false;
    }
    auto const& plan = rebuild.plan;
    auto const& what = rebuild.what;
    auto const& label = rebuild.label;
    // 3. The transfers, then the decode on each rebuilt rank.
    std::optional<byte_buffer> own;
    std::map<std::size_t, std::vector<std::vector<std::byte>>> blocks;  // my stripes: k + m slots each
    exchange(
        *s_.comm, s_.who(), plan,
        [&](transfer const& t) -> std::span<const std::byte> {
          auto const& x = what[static_cast<std::size_t>(&t - plan.data())];
          auto const& grp = groups[x.group];
          std::size_t const k = grp.ranks.size() - grp.m, c = grp.chunk;
          try {
            if (x.index < k) {
              if (!own) own = byte_buffer::map_file(s_.file_path(v, s_.rank, kind::own));
              auto const b = own->span();
              auto const off = x.index * c;
              return off >= b.size() ? std::span<const std::byte>{} : b.subspan(off, std::min(c, b.size() - off));
            }
            auto it = held.find(x.of);
            if (it == held.end()) it = held.emplace(x.of, byte_buffer::map_file(s_.file_path(v, x.of, kind::parity))).first;
            auto const b = it->second.span();
            std::size_t const off = parity_header::chunk_offset(grp.ranks.size(), grp.m, c, x.index - k);
            return off + c > b.size() ? std::span<const std::byte>{} : b.subspan(off, c);
          } catch (error const&) {
            return {};  // vanished: the receiver's rebuild fails its checksum
          }
        },
        [&](transfer const& t, std::vector<std::byte>&& b) {
          auto const& x = what[static_cast<std::size_t>(&t - plan.data())];
          auto const& grp = groups[x.group];
          auto& slots = blocks[x.stripe];
          slots.resize(grp.ranks.size());
          if (x.index >= grp.ranks.size() - grp.m && b.size() != grp.chunk) return;  // a parity chunk that went missing
          if (b.size() > grp.chunk) return;
          b.resize(grp.chunk);  // data chunks travel without the zero padding
          slots[x.index] = std::move(b);
        });
    auto const r = static_cast<std::size_t>(s_.rank);
    std::uint64_t const got = !here[r] && !label[r].empty() && decode_own(v, e, groups[group_of(groups, s_.rank)], blocks);
    mark_served(got, here, served, &label);
    for (std::size_t q = 0; q < here.size(); ++q)
      if (!here[q]) {
        warn("rank " + std::to_string(q) + "'s shard rebuilt from parity (" + label[q] +
             ") does not match the commit record's size and checksum");
        return false;
      }
    return true;
  }

  node_state& s_;
};

}  // namespace strata::storage::detail
