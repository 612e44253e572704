#pragma once
/// \file
/// \brief `storage::node_local`: shards on each node's own disk (L1), optionally a partner copy of each
/// shard on the disk of another node (L2) or erasure-coded parity across a group of ranks on distinct
/// nodes (L3), commit records on every node, and repair at restart.
///
/// Layout in each node's directory: `DIR/v00000042/r00003.shard` (rank 3's own shard, L1),
/// `DIR/v00000042/r00001.partner` (the copy of rank 1's shard this node keeps for it, L2),
/// `DIR/v00000042/r00003.parity` (rank 3's parity chunks for its group, L3) and
/// `DIR/v00000042.manifest.json` (the commit record, one per node, written by the node's first rank).
/// Every file is written to a temporary name, fsync'ed and renamed, as in `posix_dir`.
///
/// At restart (`recover`, collective) the nodes' first ranks exchange what their disks hold; a
/// commit record missing on a node is copied there; a rank whose own shard is missing or damaged
/// (its node was lost and replaced by a spare, or ranks were remapped) gets it from wherever it
/// survives — its own shard on another node, else a partner copy, else rebuilt from its group's
/// parity — checked against the checksum in the commit record before it is written to the rank's
/// new node-local directory. The log names the level that served each rank.
///
/// **L3 layout** (`redundancy::xor_group`: m = 1 parity chunk per stripe; `redundancy::reed_solomon`:
/// m = `parity`). Ranks, ordered by (index within their node, node), are cut into
/// ceil(n / group_size) consecutive groups of near-equal size g <= group_size; a group's members are
/// on distinct nodes. Member i's shard, zero-padded to k = g - m chunks of c bytes (c: the group's
/// largest shard / k, rounded up to 64 bytes), is spread over the group's g stripes, RAID-5/6 style:
/// in stripe s the parity chunks 0..m-1 are held by members s, s+1, ..., s+m-1 (mod g), and data chunk
/// d (0 <= d < k) is chunk d of member s+m+d (mod g). So every member takes part in every stripe
/// exactly once — as a data chunk in g - m stripes (each of its chunks once), as a parity holder in m
/// (stripes i, i-1, ..., i-m+1: its file's chunk j is parity j of stripe i-j) — and losing any m
/// members loses at most m of each stripe's g chunks, which the code (ISA-L: XOR, or Reed-Solomon
/// over a Cauchy matrix) rebuilds. Cost per checkpoint: each rank sends each of its k chunks to the m
/// parity holders of its stripe (m x its padded shard over the network), receives as much, encodes
/// m chunks and stores them: m / (g - m) of the padded shard on its own disk.
///
/// Parity file: a header of 64-bit words (native byte order): the magic `0x5354524154414c33`,
/// format 1, version, code (1 XOR, 2 Reed-Solomon), group, g, m, member, c, padded length k x c; the
/// g members' ranks, shard sizes and xxh3; per parity chunk j its stripe and xxh3; the xxh3 of all the
/// words before it. Then the m chunks. At restore a parity file is used only if its header checks
/// and names the shard sizes and checksums the commit record has, and a chunk only if its checksum
/// matches; a rebuilt shard is written only if its size and xxh3 are the record's. The parity of a
/// rebuilt rank is not rebuilt: the group is whole again at the next checkpoint.

#include <strata/checkpoint/fault.hpp>
#include <strata/comm/agree.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/detail/hash.hpp>
#include <strata/error.hpp>
#include <strata/storage/concepts.hpp>
#include <strata/storage/detail/erasure.hpp>
#include <strata/storage/posix_dir.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace strata::storage {

/// \brief Which copy of a shard beyond the node-local one `node_local` keeps.
enum class redundancy : std::uint8_t {
  none,          ///< L1 only: a lost node loses its ranks' shards (a shared level must serve them)
  partner,       ///< L2: a copy of each shard on the node-local disk of a rank on another node
  xor_group,     ///< L3: XOR parity across a group of ranks on distinct nodes; one lost member per group
  reed_solomon,  ///< L3: Reed-Solomon parity across a group; `parity` lost members per group (needs ISA-L)
};

/// \brief The name of a redundancy as options and logs spell it.
inline std::string_view to_string(redundancy r) noexcept {
  switch (r) {
    case redundancy::none: return "none";
    case redundancy::partner: return "partner";
    case redundancy::xor_group: return "xor_group";
    case redundancy::reed_solomon: return "reed_solomon";
  }
  return "?";
}

/// \brief Node-local checkpoint storage across the nodes of a cluster, with an optional partner copy.
///
/// \code
/// using store = strata::storage::node_local;
/// strata::checkpointer<strata::comm::mpi, strata::snapshot::full, store> ckpt{
///     MPI_COMM_WORLD, {.directory = "/local/job42", .storage = {.copies = strata::storage::redundancy::partner}}};
/// \endcode
///
/// The partner of rank r is the rank with the same index on the next node (nodes in the order of
/// their first rank), so it is never on r's node; partner copies need ranks on at least two nodes.
/// Erasure groups (`xor_group`, `reed_solomon`; layout in the file's description) need ranks on at
/// least group_size nodes, and at least parity + 1 members in every group.
/// The directory must be node-local: one that is visible from two nodes is refused at attach.
///
/// \code
/// strata::storage::node_local l3{.path = "/local/job42", .copies = strata::storage::redundancy::reed_solomon,
///                                .group_size = 6, .parity = 2};  // any 2 of 6 nodes may be lost
/// \endcode
struct node_local {
  static constexpr std::string_view name = "node_local";

  std::filesystem::path path{};         ///< node-local directory (empty: the checkpointer's directory)
  redundancy copies = redundancy::none; ///< what else keeps each shard: partner copies (L2) or parity (L3)
  std::uint32_t group_size = 0;         ///< L3: members per group at most (0: the number of nodes, capped at 8)
  std::uint32_t parity = 2;             ///< L3 reed_solomon: parity chunks per stripe = members a group may lose

  template <comm::communicator Comm>
  void attach(Comm const& comm, std::filesystem::path const& dir) {
    st_ = std::make_shared<state>();
    auto& s = *st_;
    s.rank = comm.rank();
    s.size = comm.size();
    s.dir = path.empty() ? dir : path;
    s.copies = copies;
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    s.host = host;
    s.hosts.assign(static_cast<std::size_t>(s.size), s.host);
    std::string why;
    try {
      s.files.attach_here(s.rank, s.dir);
    } catch (std::exception const& e) {
      why = e.what();
    }
    if constexpr (std::same_as<Comm, comm::mpi>) {
      s.comm.emplace(comm::mpi::duplicate(comm.native()));
      auto node = s.comm->split_shared();
      int const first = static_cast<int>(node.all_reduce(std::uint64_t(s.rank), comm::reduce_op::min));
      s.leader = node.rank() == 0;
      auto const firsts = s.comm->all_gather(std::uint64_t(first));
      s.node_of.assign(firsts.begin(), firsts.end());
      if (erasure()) {  // every rank's host, for the messages that refuse a grouping
        constexpr int len = 64;
        std::vector<char> names(static_cast<std::size_t>(s.size) * len);
        host[len - 1] = '\0';
        MPI_Allgather(host, len, MPI_CHAR, names.data(), len, MPI_CHAR, s.comm->native());
        for (int r = 0; r < s.size; ++r) s.hosts[static_cast<std::size_t>(r)] = names.data() + r * len;
      }
      auto shared = check_not_shared(why.empty());  // collective: every rank takes part
      if (why.empty()) why = std::move(shared);
    } else {
      s.leader = true;
      s.node_of.assign(static_cast<std::size_t>(s.size), 0);
    }
    if (why.empty() && s.copies == redundancy::partner) why = plan_partners();
    if (why.empty() && erasure()) {
      if constexpr (!detail::have_isal)
        why = "rank " + std::to_string(s.rank) + " on " + s.host + ": " +
              detail::isal_missing("storage::node_local with redundancy " + std::string(to_string(s.copies)));
      else
        why = plan_groups();
    }
    if (auto a = comm::agree(comm, why.empty() ? 0 : 1, why); !a) throw usage_error(a.reason);
  }

  /// \brief Collective: the own shard to L1, then (with partner copies) each shard to its partner's
  /// node, or (with erasure groups) each rank's parity chunks for its group to its own L1.
  void write_shard(std::uint64_t v, snapshot::encoded_shard const& shard) {
    auto& s = *st_;
    std::string why;
    try {
      s.files.write_shard(v, shard);
    } catch (std::exception const& e) {
      why = e.what();
    }
    if (s.copies == redundancy::none || !s.comm) {
      if (!why.empty()) throw checkpoint_error(why);
      return;
    }
    if (auto a = comm::agree(*s.comm, why.empty() ? 0 : 1, why); !a) throw checkpoint_error(a.reason);
    fault::point(fault::phase::sending_partner, s.rank, v);  // also before the parity exchange (L3)
    std::vector<std::byte> flat;
    flat.reserve(static_cast<std::size_t>(shard.bytes()));
    for (auto seg : shard.segments) flat.insert(flat.end(), seg.begin(), seg.end());
    if (erasure()) {
      try {
        write_parity(v, flat);
      } catch (std::exception const& e) {
        why = "rank " + std::to_string(s.rank) + " on " + s.host + ": parity (L3): " + e.what();
      }
      if (auto a = comm::agree(*s.comm, why.empty() ? 0 : 1, why); !a) throw checkpoint_error(a.reason);
      return;
    }
    // My shard to my partner; my wards' shards to me.
    std::vector<std::vector<std::byte>> got(s.wards.size());
    {
      std::vector<transfer> plan;
      plan.push_back({s.rank, s.partner[static_cast<std::size_t>(s.rank)], 0});
      for (std::size_t i = 0; i < s.wards.size(); ++i) plan.push_back({s.wards[i], s.rank, 0});
      exchange(plan, [&](transfer const&) { return std::span<const std::byte>(flat); },
               [&](transfer const& t, std::vector<std::byte>&& b) {
                 auto const i = static_cast<std::size_t>(std::ranges::find(s.wards, t.from) - s.wards.begin());
                 got[i] = std::move(b);
               });
    }
    try {
      for (std::size_t i = 0; i < s.wards.size(); ++i) write_file(v, s.wards[i], kind::partner, got[i]);
    } catch (std::exception const& e) {
      why = "rank " + std::to_string(s.rank) + " on " + s.host + ": partner copy: " + e.what();
    }
    if (auto a = comm::agree(*s.comm, why.empty() ? 0 : 1, why); !a) throw checkpoint_error(a.reason);
  }

  /// \brief The shard, from this node's disk: the rank's own copy, else a partner copy held here.
  [[nodiscard]] byte_buffer read_shard(std::uint64_t v, int rank) const { return byte_buffer::map_file(held_copy(v, rank)); }
  /// \brief Bytes `[offset, offset + out.size())` of the shard (the copy `read_shard` would read), without the rest.
  void read_shard_part(std::uint64_t v, int rank, std::uint64_t offset, std::span<std::byte> out) const {
    detail::read_file_part(held_copy(v, rank), offset, out);
  }
  /// \brief Removes the rank's own shard, its parity and the partner copies it keeps for its wards;
  /// a node's first rank also removes parity files there of ranks that now run on other nodes.
  void remove_shard(std::uint64_t v, int rank) {
    auto& s = *st_;
    s.files.remove_shard(v, rank);
    std::error_code ec;
    auto const parity_file = file_path(v, rank, kind::parity);
    std::filesystem::remove(parity_file, ec);
    std::filesystem::remove(parity_file.string() + ".tmp", ec);
    if (rank != s.rank) return;
    for (int w : s.wards) std::filesystem::remove(file_path(v, w, kind::partner), ec);
    if (s.leader && s.comm)
      for (auto const& f : std::filesystem::directory_iterator(parity_file.parent_path(), ec)) {
        int q = -1;
        char ext[16] = {};
        if (std::sscanf(f.path().filename().c_str(), "r%d.%15s", &q, ext) == 2 && std::string_view(ext) == "parity" &&
            q >= 0 && q < s.size && s.node_of[static_cast<std::size_t>(q)] != s.node_of[static_cast<std::size_t>(s.rank)])
          std::filesystem::remove(f.path(), ec);
      }
  }
  void write_commit(std::uint64_t v, std::string_view text) { st_->files.write_commit(v, text); }
  /// \brief The commit record on every node: the checkpointer hands it to every rank after a commit;
  /// the first rank of each node other than rank 0's writes it there.
  void replicate_commit(std::uint64_t v, std::string_view text) {
    auto& s = *st_;
    if (s.leader && s.node_of[static_cast<std::size_t>(s.rank)] != s.node_of[0]) s.files.write_commit(v, text);
  }
  [[nodiscard]] std::optional<std::string> read_commit(std::uint64_t v) const { return st_->files.read_commit(v); }
  /// \brief Every node's first rank removes its copy (the checkpointer calls this on every rank).
  void remove_commit(std::uint64_t v) {
    if (st_->leader) st_->files.remove_commit(v);
  }
  void remove_version(std::uint64_t v) { st_->files.remove_version(v); }
  [[nodiscard]] listing list() const {
    auto l = st_->files.list();
    std::erase_if(l.foreign, [](std::string const& f) { return f.find("/.node.") != std::string::npos; });
    return l;
  }
  /// \brief Free space, divided among what this rank writes: own shard + wards' copies, or own shard +
  /// parity (m / (g - m) of a shard, if the group's shards are of one size).
  [[nodiscard]] std::optional<std::uint64_t> free_bytes() const {
    auto const& s = *st_;
    auto f = s.files.free_bytes();
    if (f && !s.group.empty()) *f = *f / s.group.size() * (s.group.size() - s.parity_chunks);
    else if (f) *f /= 1 + s.wards.size();
    return f;
  }
  [[nodiscard]] std::string shard_location(std::uint64_t v, int rank) const {
    return st_->host + ":" + st_->files.shard_location(v, rank);
  }
  [[nodiscard]] std::string commit_location(std::uint64_t v) const { return st_->files.commit_location(v); }

  /// \brief The rank that keeps `rank`'s partner copy (partner redundancy only).
  [[nodiscard]] int partner_of(int rank) const { return st_->partner.at(static_cast<std::size_t>(rank)); }
  /// \brief The ranks of this rank's erasure group, in member order (erasure redundancy only).
  [[nodiscard]] std::vector<int> const& group() const noexcept { return st_->group; }
  /// \brief How each rank's shard was found by the last `recover` ("L1", "L1 of rank N", "L2 partner on
  /// rank N", "L3 xor group G", "L3 rs group G").
  [[nodiscard]] std::vector<std::string> const& served_by() const noexcept { return st_->served; }

  /// \brief Collective, at restore: commit records copied to every node; for the newest version whose
  /// record says it was written by this rank count, every rank's missing shards (of it and of the
  /// versions it depends on) fetched from another node's L1 or a partner copy, or rebuilt from its
  /// group's parity, and checked against the record. `expect(v)` reads version v's record;
  /// `say(text, warning)` logs.
  template <comm::communicator Comm, class Expect, class Say>
  void recover(Comm const&, Expect&& expect, Say&& say) {
    auto& s = *st_;
    s.served.clear();
    if (!s.comm || s.size == 1) return;
    auto const inv = gather_inventory();
    share_commit_records(inv);
    std::vector<std::uint64_t> versions;
    for (auto const& [key, holders] : inv.items)
      if (key.k == kind::record) versions.push_back(key.v);
    std::ranges::sort(versions, std::greater<>());
    versions.erase(std::unique(versions.begin(), versions.end()), versions.end());
    std::vector<std::string> served(static_cast<std::size_t>(s.size));
    for (auto v : versions) {
      std::optional<version_expectation> e;
      try {
        e = expect(v);
      } catch (std::exception const&) {
      }
      // Same decision on every rank: a record that no rank can read, or another rank count, is not repaired here.
      std::uint64_t const usable = e && e->ranks == static_cast<std::uint32_t>(s.size) && e->bytes.size() == e->ranks;
      if (s.comm->all_reduce(usable, comm::reduce_op::min) == 0) continue;
      std::vector<std::uint64_t> chain = e->depends_on;
      chain.push_back(v);
      bool ok = true;
      for (auto d : chain) {
        std::optional<version_expectation> ed = e;
        if (d != v) {
          try {
            ed = expect(d);
          } catch (std::exception const&) {
            ed.reset();
          }
        }
        std::uint64_t const have = ed && ed->ranks == e->ranks;
        if (s.comm->all_reduce(have, comm::reduce_op::min) == 0 || !repair(d, *ed, inv, served, say)) {
          ok = false;
          break;
        }
      }
      if (ok) {
        if (s.rank == 0) {
          std::string text = "version " + std::to_string(v) + ": shards served by";
          bool degraded = false;
          for (int r = 0; r < s.size; ++r) {
            text += " r" + std::to_string(r) + "=" + served[static_cast<std::size_t>(r)];
            degraded |= served[static_cast<std::size_t>(r)] != "L1";
          }
          // A shard rebuilt from another node is worth a warning: that node's copy is gone until the next checkpoint.
          say(text + (degraded ? " (copies lost with a node were rebuilt; redundancy is restored at the next checkpoint)" : ""),
              degraded);
        }
        s.served = std::move(served);
        return;
      }
      if (s.rank == 0) say("version " + std::to_string(v) + " cannot be rebuilt on every rank from node-local copies", true);
    }
  }

  friend bool operator==(node_local const& a, node_local const& b) noexcept {
    return a.path == b.path && a.copies == b.copies && a.group_size == b.group_size && a.parity == b.parity &&
           a.st_ == b.st_;
  }

 private:
  enum class kind : std::uint8_t { record = 0, own = 1, partner = 2, parity = 3 };
  struct key {
    std::uint64_t v;
    kind k;
    int rank;  // whose shard (-1 for records)
    auto operator<=>(key const&) const = default;
  };
  struct inventory {
    std::map<key, std::vector<int>> items;  // what exists -> the node leaders holding it, ascending
    std::vector<int> leaders;
  };
  struct transfer {
    int from, to;
    std::uint64_t tag;
  };
  struct state {
    int rank = 0, size = 1;
    bool leader = true;
    redundancy copies = redundancy::none;
    std::filesystem::path dir;
    std::string host;
    posix_dir files;
    std::optional<comm::mpi> comm;
    std::vector<std::uint64_t> node_of;  // per rank: the first rank of its node
    std::vector<int> partner;             // per rank
    std::vector<int> wards;               // ranks whose partner copy this rank keeps
    std::vector<std::string> hosts;       // per rank
    std::vector<int> group;               // L3: my group's ranks, in member order
    std::size_t group_id = 0, member = 0, parity_chunks = 0;
    std::vector<std::string> served;
  };

  [[nodiscard]] bool erasure() const noexcept {
    return st_->copies == redundancy::xor_group || st_->copies == redundancy::reed_solomon;
  }

  /// The file that holds `rank`'s shard of `v` here: its own copy, else a partner copy (else the own path, which is missing).
  [[nodiscard]] std::filesystem::path held_copy(std::uint64_t v, int rank) const {
    std::error_code ec;
    auto const own = file_path(v, rank, kind::own);
    if (std::filesystem::exists(own, ec)) return own;
    auto const copy = file_path(v, rank, kind::partner);
    if (std::filesystem::exists(copy, ec)) return copy;
    return own;
  }
  [[nodiscard]] std::filesystem::path file_path(std::uint64_t v, int rank, kind k) const {
    auto p = std::filesystem::path(st_->files.shard_location(v, rank));
    if (k == kind::partner) p.replace_extension(".partner");
    if (k == kind::parity) p.replace_extension(".parity");
    return p;
  }
  void write_file(std::uint64_t v, int rank, kind k, std::span<const std::byte> bytes) const {
    write_file(v, rank, k, std::span(&bytes, 1));
  }
  void write_file(std::uint64_t v, int rank, kind k, std::span<const std::span<const std::byte>> pieces) const {
    auto const p = file_path(v, rank, k);
    std::error_code ec;
    if (std::filesystem::create_directory(p.parent_path(), ec)) detail::fsync_dir(st_->dir, "rank " + std::to_string(st_->rank));
    if (ec) throw checkpoint_error("cannot create " + p.parent_path().string() + ": " + ec.message());
    detail::atomic_write(p, pieces, "rank " + std::to_string(st_->rank), [] {});
  }

  /// Each node's first rank leaves a marker; a marker of another node seen here means the directory is shared.
  std::string check_not_shared(bool usable) {
    auto& s = *st_;
    auto const marker = s.dir / (".node." + std::to_string(s.rank));
    if (s.leader && usable) {
      detail::fd f{::open(marker.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
      if (f) (void)::write(f.get(), s.host.data(), s.host.size());
    }
    MPI_Barrier(s.comm->native());
    std::string why;
    if (s.leader && usable)
      for (std::size_t r = 0; r < s.node_of.size(); ++r)
        if (s.node_of[r] == r && static_cast<int>(r) != s.rank &&
            std::filesystem::exists(s.dir / (".node." + std::to_string(r)))) {
          why = "rank " + std::to_string(s.rank) + " on " + s.host + ": node-local directory " + s.dir.string() +
                " is also the directory of rank " + std::to_string(r) + " on another node: it is shared, not "
                "node-local (use storage::posix_dir for a shared directory, or give each node its own)";
          break;
        }
    MPI_Barrier(s.comm->native());
    if (s.leader && usable) ::unlink(marker.c_str());
    return why;
  }

  /// Partner of r: the rank with r's index on the next node (cyclic), never r's own node.
  std::string plan_partners() {
    auto& s = *st_;
    std::vector<std::uint64_t> nodes(s.node_of.begin(), s.node_of.end());
    std::ranges::sort(nodes);
    nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
    if (nodes.size() < 2)
      return "rank " + std::to_string(s.rank) + " on " + s.host + ": partner copies need ranks on at least two nodes; all " +
             std::to_string(s.size) + " ranks run on " + s.host;
    std::map<std::uint64_t, std::vector<int>> members;
    for (int r = 0; r < s.size; ++r) members[s.node_of[static_cast<std::size_t>(r)]].push_back(r);
    s.partner.assign(static_cast<std::size_t>(s.size), -1);
    for (std::size_t n = 0; n < nodes.size(); ++n) {
      auto const& mine = members[nodes[n]];
      auto const& next = members[nodes[(n + 1) % nodes.size()]];
      for (std::size_t i = 0; i < mine.size(); ++i) s.partner[static_cast<std::size_t>(mine[i])] = next[i % next.size()];
    }
    s.wards.clear();
    for (int r = 0; r < s.size; ++r)
      if (s.partner[static_cast<std::size_t>(r)] == s.rank) s.wards.push_back(r);
    return {};
  }

  [[nodiscard]] std::string hosts_of(std::vector<int> const& ranks) const {
    std::string out;
    for (std::size_t i = 0; i < ranks.size(); ++i) {
      if (i == 8) return out + ", ...";
      out += (i ? ", " : "") + std::string("rank ") + std::to_string(ranks[i]) + " on " +
             st_->hosts[static_cast<std::size_t>(ranks[i])];
    }
    return out;
  }

  /// Erasure groups: ranks ordered by (index within node, node), cut into ceil(n / group_size)
  /// consecutive groups of near-equal size; every group on distinct nodes, with room for the parity.
  std::string plan_groups() {
    auto& s = *st_;
    bool const rs = s.copies == redundancy::reed_solomon;
    std::size_t const m = rs ? parity : 1;
    std::string const what = "rank " + std::to_string(s.rank) + " on " + s.host + ": node_local " +
                             std::string(to_string(s.copies)) + " redundancy";
    if (m < 1) return what + ": parity must be at least 1 (it is the number of members a group may lose)";
    std::map<std::uint64_t, std::vector<int>> members;  // node (its first rank) -> its ranks, ascending
    for (int r = 0; r < s.size; ++r) members[s.node_of[static_cast<std::size_t>(r)]].push_back(r);
    std::vector<int> firsts;
    std::size_t widest = 0;
    for (auto const& [node, ranks] : members) {
      firsts.push_back(ranks.front());
      widest = std::max(widest, ranks.size());
    }
    std::size_t const nodes = members.size();
    std::string const spread = nodes == 1 ? "all " + std::to_string(s.size) + " ranks run on " + s.hosts[0]
                                          : "the " + std::to_string(s.size) + " ranks run on " +
                                                std::to_string(nodes) + " nodes (first ranks: " + hosts_of(firsts) + ")";
    if (nodes < m + 1)
      return what + " needs ranks on at least " + std::to_string(m + 1) + " nodes (a group's members are on distinct "
             "nodes, and " + std::to_string(m) + " parity chunk(s) per stripe need at least " + std::to_string(m + 1) +
             " members); " + spread;
    std::size_t const g = group_size ? group_size : std::min<std::size_t>(nodes, 8);
    if (g < m + 1)
      return what + ": group_size " + std::to_string(g) + " leaves no data chunk beside " + std::to_string(m) +
             " parity chunk(s) per stripe; it must be at least " + std::to_string(m + 1);
    if (g > 256) return what + ": group_size " + std::to_string(g) + " is above 256 (the code works over GF(2^8))";
    if (g > nodes)
      return what + ": group_size " + std::to_string(g) + " needs ranks on at least " + std::to_string(g) +
             " nodes (a group's members are on distinct nodes); " + spread;
    std::vector<int> order;
    for (std::size_t i = 0; i < widest; ++i)
      for (auto const& [node, ranks] : members)
        if (i < ranks.size()) order.push_back(ranks[i]);
    std::size_t const n = order.size(), groups = (n + g - 1) / g, base = n / groups, extra = n % groups;
    for (std::size_t gi = 0, at = 0; gi < groups; ++gi) {
      std::size_t const len = base + (gi < extra ? 1 : 0);
      std::vector<int> grp(order.begin() + static_cast<std::ptrdiff_t>(at), order.begin() + static_cast<std::ptrdiff_t>(at + len));
      at += len;
      if (len < m + 1)
        return what + ": group " + std::to_string(gi) + " would have " + std::to_string(len) + " member(s) (" +
               hosts_of(grp) + "), fewer than the " + std::to_string(m + 1) + " that " + std::to_string(m) +
               " parity chunk(s) per stripe need; use a smaller group_size or more ranks";
      for (std::size_t a = 0; a < grp.size(); ++a)
        for (std::size_t b = a + 1; b < grp.size(); ++b)
          if (s.node_of[static_cast<std::size_t>(grp[a])] == s.node_of[static_cast<std::size_t>(grp[b])])
            return what + ": ranks " + std::to_string(grp[a]) + " and " + std::to_string(grp[b]) + " (both on " +
                   s.hosts[static_cast<std::size_t>(grp[a])] + ") would be in group " + std::to_string(gi) +
                   " of " + std::to_string(len) + ", whose members must be on distinct nodes: the ranks are spread "
                   "unevenly over the nodes (" + spread + "); use a smaller group_size or as many ranks on every node";
      if (auto it = std::ranges::find(grp, s.rank); it != grp.end()) {
        s.group = grp;
        s.group_id = gi;
        s.member = static_cast<std::size_t>(it - grp.begin());
        s.parity_chunks = m;
      }
    }
    return {};
  }

  /// The header of a parity file (layout in the file's description), as 64-bit words.
  struct parity_header {
    static constexpr std::uint64_t magic = 0x5354524154414c33, format = 1;
    std::uint64_t version = 0, code = 0, group = 0, g = 0, m = 0, member = 0, chunk = 0, padded = 0;
    std::vector<std::uint64_t> ranks, bytes, xxh3;  // per member
    std::vector<std::uint64_t> stripe, chunk_xxh3;  // per parity chunk j
    static std::size_t words(std::uint64_t g, std::uint64_t m) { return 11 + 3 * g + 2 * m; }
    [[nodiscard]] std::size_t size() const { return 8 * words(g, m); }
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

  /// Collective (L3 write): members exchange shard sizes; every data chunk goes to the m parity
  /// holders of its stripe; each rank encodes its m parity chunks and writes its parity file.
  void write_parity(std::uint64_t v, std::span<const std::byte> mine) const {
    auto const& s = *st_;
    auto const all_bytes = s.comm->all_gather(std::uint64_t(mine.size()));
    auto const all_xxh3 = s.comm->all_gather(strata::detail::xxh3(mine));
    std::size_t const g = s.group.size(), m = s.parity_chunks, k = g - m, i = s.member;
    parity_header h;
    h.version = v, h.code = s.copies == redundancy::xor_group ? 1 : 2, h.group = s.group_id, h.g = g, h.m = m, h.member = i;
    std::uint64_t widest = 0;
    for (int r : s.group) {
      h.ranks.push_back(static_cast<std::uint64_t>(r));
      h.bytes.push_back(all_bytes[static_cast<std::size_t>(r)]);
      h.xxh3.push_back(all_xxh3[static_cast<std::size_t>(r)]);
      widest = std::max(widest, h.bytes.back());
    }
    h.chunk = std::max<std::uint64_t>(64, (widest + k - 1) / k + 63) / 64 * 64;
    h.padded = k * h.chunk;
    auto const c = static_cast<std::size_t>(h.chunk);
    // Stripe s, parity p (held by member s+p), data chunk d (chunk d of member s+m+d).
    struct piece {
      std::size_t stripe, p, d;
    };
    std::vector<transfer> plan;
    std::vector<piece> what;
    for (std::size_t st = 0; st < g; ++st)
      for (std::size_t p = 0; p < m; ++p)
        for (std::size_t d = 0; d < k; ++d) {
          plan.push_back({s.group[(st + m + d) % g], s.group[(st + p) % g], 0});
          what.push_back({st, p, d});
        }
    std::vector<std::vector<std::byte>> got(m * k);  // [j * k + d]: data chunk d of my parity chunk j
    exchange(
        plan,
        [&](transfer const& t) {
          auto const off = what[static_cast<std::size_t>(&t - plan.data())].d * c;
          return off >= mine.size() ? std::span<const std::byte>{} : mine.subspan(off, std::min(c, mine.size() - off));
        },
        [&](transfer const& t, std::vector<std::byte>&& b) {
          auto const& w = what[static_cast<std::size_t>(&t - plan.data())];
          got[w.p * k + w.d] = std::move(b);  // parity chunk j = p of my stripe i - p
        });
    detail::erasure_code const code(static_cast<int>(k), static_cast<int>(m),
                                    h.code == 1 ? detail::erasure_code::family::xor_parity
                                                                             : detail::erasure_code::family::cauchy);
    std::vector<std::byte> chunks(m * c);
    for (std::size_t j = 0; j < m; ++j) {
      std::vector<std::byte const*> data(k);
      for (std::size_t d = 0; d < k; ++d) {
        auto& b = got[j * k + d];
        if (b.size() > c) throw checkpoint_error("a data chunk of " + std::to_string(b.size()) + " bytes, more than " + std::to_string(c));
        b.resize(c);  // the shard's zero padding
        data[d] = b.data();
      }
      code.encode_one(static_cast<int>(j), data, c, chunks.data() + j * c);
      h.stripe.push_back((i + g - j) % g);
      h.chunk_xxh3.push_back(strata::detail::xxh3(std::span(chunks).subspan(j * c, c)));
    }
    auto const words = h.encode();
    std::span<const std::byte> const pieces[] = {std::as_bytes(std::span(words)), chunks};
    write_file(v, s.rank, kind::parity, pieces);
  }

  /// Collective (L3 restore): ranks still without a valid shard of v after L1 and L2 are rebuilt from
  /// their groups' surviving data chunks and valid parity chunks. Every rank decides from the same
  /// gathered facts, so all agree; returns whether every rank now holds its shard.
  template <class Say>
  bool rebuild_from_parity(std::uint64_t v, version_expectation const& e, inventory const& inv,
                           std::vector<std::uint64_t>& here, std::vector<std::string>& served, Say& say) const {
    auto const& s = *st_;
    auto const warn = [&](std::string const& text) {
      if (s.rank == 0) say("version " + std::to_string(v) + ": " + text, true);
    };
    // 1. Every node's first rank checks the parity files its disk holds for v, and tells everyone.
    //    Per file: rank, holder, status (0 usable), code, group, g, m, member, chunk, g ranks, m chunk flags.
    std::vector<std::uint64_t> mine;
    std::map<int, byte_buffer> held;  // parity files this rank has mapped, by whose they are
    std::vector<std::string> damage;
    for (auto const& [key, holders] : inv.items) {
      if (key.v != v || key.k != kind::parity || !std::ranges::binary_search(holders, s.rank)) continue;
      std::string why;
      std::optional<parity_header> h;
      std::vector<std::uint64_t> flags;
      try {
        held.emplace(key.rank, byte_buffer::map_file(file_path(v, key.rank, kind::parity)));
        auto const file = held.at(key.rank).span();
        h = parity_header::decode(file, why);
        if (h && (h->version != v || h->ranks[h->member] != static_cast<std::uint64_t>(key.rank))) {
          why = "written for another version or rank";
          h.reset();
        }
        for (std::size_t q = 0; h && q < h->g; ++q)
          if (h->ranks[q] >= e.ranks || h->bytes[q] != e.bytes[h->ranks[q]] || h->xxh3[q] != e.xxh3[h->ranks[q]]) {
            why = "its header names other shards than the commit record (rank " + std::to_string(h->ranks[q]) + ")";
            h.reset();
          }
        for (std::size_t j = 0; h && j < h->m; ++j) {
          auto const chunk = file.subspan(h->size() + j * h->chunk, h->chunk);
          flags.push_back(strata::detail::xxh3(chunk) == h->chunk_xxh3[j]);
          if (!flags.back())
            why += (why.empty() ? "" : "; ") + std::string("parity chunk ") + std::to_string(j) + " (stripe " +
                   std::to_string(h->stripe[j]) + ") fails its checksum";
        }
      } catch (error const& x) {
        why = x.what();
      }
      mine.insert(mine.end(), {std::uint64_t(key.rank), std::uint64_t(s.rank), h ? 0u : 1u});
      if (h) {
        mine.insert(mine.end(), {h->code, h->group, h->g, h->m, h->member, h->chunk});
        mine.insert(mine.end(), h->ranks.begin(), h->ranks.end());
        mine.insert(mine.end(), flags.begin(), flags.end());
      }
      if (!why.empty())
        damage.push_back(s.host + ":" + file_path(v, key.rank, kind::parity).string() + ": " + why);
    }
    auto const facts = all_gatherv(mine);
    {
      // Damaged parity is never used; rank 0 says which.
      std::string text;
      for (auto const& d : damage) text += (text.empty() ? "" : "\n") + d;
      for (auto const& t : all_gatherv_text(text))
        for (std::size_t a = 0; a < t.size();) {
          auto const b = std::min(t.find('\n', a), t.size());
          warn("damaged parity (L3), not used: " + t.substr(a, b - a));
          a = b + 1;
        }
    }
    struct group_view {
      std::uint64_t code = 0, id = 0, m = 0, chunk = 0;
      std::vector<int> ranks;
      std::vector<std::vector<int>> source;  // [member][j]: the rank that holds a valid parity chunk j, or -1
    };
    std::vector<group_view> groups;
    for (std::size_t at = 0; at < facts.size();) {
      auto const status = facts[at + 2];
      if (status != 0) {
        at += 3;
        continue;
      }
      int const holder = static_cast<int>(facts[at + 1]);
      auto const code = facts[at + 3], id = facts[at + 4], g = facts[at + 5], m = facts[at + 6], member = facts[at + 7],
                 chunk = facts[at + 8];
      std::vector<int> ranks;
      for (std::size_t q = 0; q < g; ++q) ranks.push_back(static_cast<int>(facts[at + 9 + q]));
      auto it = std::ranges::find_if(groups, [&](group_view const& x) { return x.ranks == ranks; });
      if (it == groups.end()) {
        groups.push_back({code, id, m, chunk, ranks, std::vector<std::vector<int>>(g, std::vector<int>(m, -1))});
        it = groups.end() - 1;
      }
      if (it->code == code && it->m == m && it->chunk == chunk)  // same write (the record's sizes matched too)
        for (std::size_t j = 0; j < m; ++j)
          if (facts[at + 9 + g + j] && it->source[member][j] < 0) it->source[member][j] = holder;
      at += 9 + g + m;
    }
    // 2. The plan: for each lost member of each group, each stripe holding one of its chunks, the
    //    first k surviving blocks (data chunks of members with valid shards first, then parity).
    struct block {
      int to;
      std::size_t group, stripe, index;  // index: 0..k-1 data chunk, k.. parity chunk
      int of;                            // rank whose shard (data) or parity file (parity) it comes from
    };
    std::vector<transfer> plan;
    std::vector<block> what;
    std::vector<std::string> label(static_cast<std::size_t>(s.size));
    for (int q = 0; q < s.size; ++q) {
      if (here[static_cast<std::size_t>(q)]) continue;
      auto const gi = static_cast<std::size_t>(
          std::ranges::find_if(groups, [&](group_view const& x) { return std::ranges::find(x.ranks, q) != x.ranks.end(); }) -
          groups.begin());
      if (gi == groups.size()) {
        warn("rank " + std::to_string(q) + " cannot be rebuilt from parity (L3): no usable parity file of its group survives");
        return false;
      }
      auto const& grp = groups[gi];
      std::size_t const g = grp.ranks.size(), m = grp.m, k = g - m;
      std::string const name = std::string(grp.code == 1 ? "xor" : "rs") + " group " + std::to_string(grp.id);
      std::vector<int> lost;
      for (int r : grp.ranks)
        if (!here[static_cast<std::size_t>(r)]) lost.push_back(r);
      if (lost.size() > m) {
        std::string list;
        for (int r : lost) list += (list.empty() ? "" : ", ") + std::to_string(r);
        warn(name + " lost " + std::to_string(lost.size()) + " of its " + std::to_string(g) + " members (ranks " + list +
             "), more than the " + std::to_string(m) + " its parity can rebuild");
        return false;
      }
      auto const i = static_cast<std::size_t>(std::ranges::find(grp.ranks, q) - grp.ranks.begin());
      for (std::size_t st = 0; st < g; ++st) {
        if ((i + g - st) % g < m) continue;  // q holds parity in this stripe, no data of its own
        std::vector<block> have;
        for (std::size_t d = 0; d < k; ++d)
          if (int const r = grp.ranks[(st + m + d) % g]; here[static_cast<std::size_t>(r)]) have.push_back({q, gi, st, d, r});
        for (std::size_t p = 0; p < m; ++p)
          if (int const h = grp.source[(st + p) % g][p]; h >= 0) have.push_back({q, gi, st, k + p, grp.ranks[(st + p) % g]});
        if (have.size() < k) {
          warn(name + " cannot rebuild rank " + std::to_string(q) + ": stripe " + std::to_string(st) + " has " +
               std::to_string(have.size()) + " of the " + std::to_string(k) + " chunks it needs (members lost, or parity damaged)");
          return false;
        }
        for (std::size_t b = 0; b < k; ++b) {
          auto const& x = have[b];
          int const from = x.index < k ? x.of : grp.source[(st + x.index - k) % g][x.index - k];
          plan.push_back({from, q, 0});
          what.push_back(x);
        }
      }
      label[static_cast<std::size_t>(q)] = "L3 " + name;
    }
    // 3. The transfers, then the decode on each rebuilt rank.
    std::optional<byte_buffer> own;
    std::map<std::size_t, std::vector<std::vector<std::byte>>> blocks;  // my stripes: k + m slots each
    exchange(
        plan,
        [&](transfer const& t) -> std::span<const std::byte> {
          auto const& x = what[static_cast<std::size_t>(&t - plan.data())];
          auto const& grp = groups[x.group];
          std::size_t const k = grp.ranks.size() - grp.m, c = grp.chunk;
          try {
            if (x.index < k) {
              if (!own) own = byte_buffer::map_file(file_path(v, s.rank, kind::own));
              auto const b = own->span();
              auto const off = x.index * c;
              return off >= b.size() ? std::span<const std::byte>{} : b.subspan(off, std::min(c, b.size() - off));
            }
            auto it = held.find(x.of);
            if (it == held.end()) it = held.emplace(x.of, byte_buffer::map_file(file_path(v, x.of, kind::parity))).first;
            auto const b = it->second.span();
            std::size_t const off = parity_header::words(grp.ranks.size(), grp.m) * 8 + (x.index - k) * c;
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
    std::uint64_t got = 0;
    auto const r = static_cast<std::size_t>(s.rank);
    if (!here[r] && !label[r].empty()) {
      try {
        auto const& grp = *std::ranges::find_if(groups, [&](group_view const& x) { return std::ranges::find(x.ranks, s.rank) != x.ranks.end(); });
        std::size_t const g = grp.ranks.size(), m = grp.m, k = g - m, c = grp.chunk;
        auto const i = static_cast<std::size_t>(std::ranges::find(grp.ranks, s.rank) - grp.ranks.begin());
        detail::erasure_code const code(static_cast<int>(k), static_cast<int>(m),
                                        grp.code == 1 ? detail::erasure_code::family::xor_parity
                                                      : detail::erasure_code::family::cauchy);
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
        if (e.bytes[r] <= shard.size()) {
          shard.resize(static_cast<std::size_t>(e.bytes[r]));
          if (strata::detail::xxh3(shard) == e.xxh3[r]) {
            write_file(v, s.rank, kind::own, shard);
            got = 1;
          }
        }
      } catch (std::exception const&) {
        got = 0;  // not rebuilt: the version is not usable from node-local copies
      }
    }
    auto const gots = s.comm->all_gather(got);
    for (int q = 0; q < s.size; ++q)
      if (gots[static_cast<std::size_t>(q)]) {
        here[static_cast<std::size_t>(q)] = 1;
        served[static_cast<std::size_t>(q)] = label[static_cast<std::size_t>(q)];
      }
    for (int q = 0; q < s.size; ++q)
      if (!here[static_cast<std::size_t>(q)]) {
        warn("rank " + std::to_string(q) + "'s shard rebuilt from parity (" + label[static_cast<std::size_t>(q)] +
             ") does not match the commit record's size and checksum");
        return false;
      }
    return true;
  }

  /// Every rank's words, concatenated in rank order, on every rank (and, if asked, how many each sent).
  std::vector<std::uint64_t> all_gatherv(std::vector<std::uint64_t> const& mine, std::vector<int>* counts_out = nullptr) const {
    auto const& s = *st_;
    int const n = static_cast<int>(mine.size());
    std::vector<int> counts(static_cast<std::size_t>(s.size)), displs(static_cast<std::size_t>(s.size));
    MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, s.comm->native());
    int total = 0;
    for (int q = 0; q < s.size; ++q) {
      displs[static_cast<std::size_t>(q)] = total;
      total += counts[static_cast<std::size_t>(q)];
    }
    std::vector<std::uint64_t> all(static_cast<std::size_t>(total));
    MPI_Allgatherv(mine.data(), n, MPI_UINT64_T, all.data(), counts.data(), displs.data(), MPI_UINT64_T, s.comm->native());
    if (counts_out) *counts_out = std::move(counts);
    return all;
  }
  /// Every rank's text, on every rank.
  std::vector<std::string> all_gatherv_text(std::string const& mine) const {
    auto const& s = *st_;
    int const n = static_cast<int>(mine.size());
    std::vector<int> counts(static_cast<std::size_t>(s.size)), displs(static_cast<std::size_t>(s.size));
    MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, s.comm->native());
    int total = 0;
    for (int q = 0; q < s.size; ++q) {
      displs[static_cast<std::size_t>(q)] = total;
      total += counts[static_cast<std::size_t>(q)];
    }
    std::string all(static_cast<std::size_t>(total), '\0');
    MPI_Allgatherv(mine.data(), n, MPI_CHAR, all.data(), counts.data(), displs.data(), MPI_CHAR, s.comm->native());
    std::vector<std::string> out;
    for (int q = 0; q < s.size; ++q)
      out.push_back(all.substr(static_cast<std::size_t>(displs[static_cast<std::size_t>(q)]),
                               static_cast<std::size_t>(counts[static_cast<std::size_t>(q)])));
    return out;
  }

  /// Point-to-point transfers on the storage's communicator, all posted at once (sizes first).
  template <class Source, class Sink>
  void exchange(std::vector<transfer> const& plan, Source&& source, Sink&& sink) const {
    auto& s = *st_;
    MPI_Comm c = s.comm->native();
    constexpr int tag_size = 7401, tag_data = 7402;
    std::vector<MPI_Request> reqs;
    std::vector<std::uint64_t> out_sizes, in_sizes;
    out_sizes.reserve(plan.size());
    in_sizes.assign(plan.size(), 0);
    std::vector<std::span<const std::byte>> outs;
    for (std::size_t i = 0; i < plan.size(); ++i) {
      auto const& t = plan[i];
      if (t.from == s.rank && t.to == s.rank) {
        auto const b = source(t);
        sink(t, std::vector<std::byte>(b.begin(), b.end()));
        continue;
      }
      if (t.from == s.rank) {
        outs.push_back(source(t));
        out_sizes.push_back(outs.back().size());
        reqs.emplace_back();
        MPI_Isend(&out_sizes.back(), 1, MPI_UINT64_T, t.to, tag_size, c, &reqs.back());
      } else if (t.to == s.rank) {
        reqs.emplace_back();
        MPI_Irecv(&in_sizes[i], 1, MPI_UINT64_T, t.from, tag_size, c, &reqs.back());
      }
    }
    MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE);
    reqs.clear();
    std::vector<std::vector<std::byte>> ins(plan.size());
    constexpr std::size_t chunk = std::size_t{1} << 30;
    std::size_t o = 0;
    for (std::size_t i = 0; i < plan.size(); ++i) {
      auto const& t = plan[i];
      if (t.from == s.rank && t.to == s.rank) continue;
      if (t.from == s.rank) {
        auto const b = outs[o++];
        for (std::size_t off = 0; off < b.size(); off += chunk) {
          reqs.emplace_back();
          MPI_Isend(b.data() + off, static_cast<int>(std::min(chunk, b.size() - off)), MPI_BYTE, t.to, tag_data, c,
                    &reqs.back());
        }
      } else if (t.to == s.rank) {
        ins[i].resize(static_cast<std::size_t>(in_sizes[i]));
        for (std::size_t off = 0; off < ins[i].size(); off += chunk) {
          reqs.emplace_back();
          MPI_Irecv(ins[i].data() + off, static_cast<int>(std::min(chunk, ins[i].size() - off)), MPI_BYTE, t.from,
                    tag_data, c, &reqs.back());
        }
      }
    }
    if (MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE) != MPI_SUCCESS)
      throw checkpoint_error("rank " + std::to_string(s.rank) + " on " + s.host + ": node-local level transfer failed");
    for (std::size_t i = 0; i < plan.size(); ++i)
      if (plan[i].to == s.rank && plan[i].from != s.rank) sink(plan[i], std::move(ins[i]));
  }

  /// What every node's disk holds, known to every rank (the first rank of each node lists it).
  inventory gather_inventory() const {
    auto& s = *st_;
    std::vector<std::uint64_t> mine;  // triples: version, kind, rank
    if (s.leader) {
      std::error_code ec;
      for (auto const& e : std::filesystem::directory_iterator(s.dir, ec)) {
        auto const n = e.path().filename().string();
        if (auto v = detail::parse_version(n, ".manifest.json")) mine.insert(mine.end(), {*v, 0, ~std::uint64_t{0}});
        else if (auto d = detail::parse_version(n, ""); d && e.is_directory())
          for (auto const& f : std::filesystem::directory_iterator(e.path(), ec)) {
            auto const fn = f.path().filename().string();
            int r = -1;
            char ext[16] = {};
            if (std::sscanf(fn.c_str(), "r%d.%15s", &r, ext) == 2 && r >= 0) {
              std::string const x = ext;
              if (x == "shard") mine.insert(mine.end(), {*d, 1, std::uint64_t(r)});
              else if (x == "partner") mine.insert(mine.end(), {*d, 2, std::uint64_t(r)});
              else if (x == "parity") mine.insert(mine.end(), {*d, 3, std::uint64_t(r)});
            }
          }
      }
    }
    std::vector<int> counts;
    auto const all = all_gatherv(mine, &counts);
    inventory out;
    std::size_t at = 0;
    for (int r = 0; r < s.size; ++r) {
      if (s.node_of[static_cast<std::size_t>(r)] == static_cast<std::uint64_t>(r)) out.leaders.push_back(r);
      for (auto const end = at + static_cast<std::size_t>(counts[static_cast<std::size_t>(r)]); at < end; at += 3) {
        auto const k = static_cast<kind>(all[at + 1]);
        int const who = k == kind::record ? -1 : static_cast<int>(all[at + 2]);
        out.items[{all[at], k, who}].push_back(r);
      }
    }
    return out;
  }

  /// Every node's first rank gets the commit records some other node holds and it lacks.
  void share_commit_records(inventory const& inv) const {
    auto& s = *st_;
    for (auto const& [k, holders] : inv.items) {
      if (k.k != kind::record || holders.size() == inv.leaders.size()) continue;
      int const root = holders.front();
      std::string text;
      if (s.rank == root) text = s.files.read_commit(k.v).value_or(std::string{});
      std::uint64_t len = text.size();
      MPI_Bcast(&len, 1, MPI_UINT64_T, root, s.comm->native());
      text.resize(static_cast<std::size_t>(len));
      MPI_Bcast(text.data(), static_cast<int>(len), MPI_BYTE, root, s.comm->native());
      if (s.leader && !std::ranges::binary_search(holders, s.rank) && len > 0) st_->files.write_commit(k.v, text);
    }
    // The other ranks of a node read the records their first rank has just written.
    MPI_Barrier(s.comm->native());
  }

  /// Collective: every rank ends with a valid own shard of version v in its node-local directory,
  /// fetched from the cheapest surviving copy; false (on every rank) if some rank cannot.
  template <class Say>
  bool repair(std::uint64_t v, version_expectation const& e, inventory const& inv, std::vector<std::string>& served,
              Say& say) const {
    auto& s = *st_;
    auto const r = static_cast<std::size_t>(s.rank);
    auto valid = [&](std::span<const std::byte> b) { return b.size() == e.bytes[r] && strata::detail::xxh3(b) == e.xxh3[r]; };
    std::uint64_t have = 0;
    try {
      auto const b = byte_buffer::map_file(file_path(v, s.rank, kind::own));
      have = valid(b.span());
    } catch (error const&) {
    }
    auto const haves = s.comm->all_gather(have);
    std::vector<std::uint64_t> here(haves.begin(), haves.end());
    for (int q = 0; q < s.size; ++q)
      if (here[static_cast<std::size_t>(q)]) served[static_cast<std::size_t>(q)] = "L1";
    // Sources for each rank, cheapest first: its own shard on another node, then partner copies
    // (then, when none is left, a rebuild from its group's parity).
    auto sources = [&](int q) {
      std::vector<std::pair<int, kind>> out;
      for (auto k : {kind::own, kind::partner}) {
        auto it = inv.items.find({v, k, q});
        if (it == inv.items.end()) continue;
        for (int h : it->second)
          if (s.node_of[static_cast<std::size_t>(h)] != s.node_of[static_cast<std::size_t>(q)] || k == kind::partner)
            out.emplace_back(h, k);
      }
      return out;
    };
    for (std::size_t round = 0;; ++round) {
      std::vector<transfer> plan;
      std::vector<kind> what;
      for (int q = 0; q < s.size; ++q) {
        if (here[static_cast<std::size_t>(q)]) continue;
        auto const src = sources(q);
        if (round >= src.size()) continue;
        plan.push_back({src[round].first, q, 0});
        what.push_back(src[round].second);
      }
      if (s.comm->all_reduce(std::uint64_t(std::ranges::count(here, 0)), comm::reduce_op::max) == 0) return true;
      if (plan.empty()) return erasure() && rebuild_from_parity(v, e, inv, here, served, say);  // L3, the last resort here
      std::uint64_t got = 0;
      std::vector<byte_buffer> held;
      exchange(
          plan,
          [&](transfer const& t) {
            auto const i = static_cast<std::size_t>(&t - plan.data());
            try {
              held.push_back(byte_buffer::map_file(file_path(v, t.to, what[i])));
            } catch (error const&) {
              return std::span<const std::byte>{};  // vanished: the receiver sees a bad copy and moves on
            }
            return held.back().span();
          },
          [&](transfer const& t, std::vector<std::byte>&& b) {
            auto const i = static_cast<std::size_t>(&t - plan.data());
            if (!valid(b)) return;  // damaged copy: never used, the next source is tried
            write_file(v, s.rank, kind::own, b);
            got = 1;
            char const* level = what[i] == kind::own ? "L1 of" : "L2 partner on";
            served[r] = std::string(level) + " rank " + std::to_string(t.from);
          });
      auto const gots = s.comm->all_gather(got);
      for (int q = 0; q < s.size; ++q)
        if (gots[static_cast<std::size_t>(q)]) {
          here[static_cast<std::size_t>(q)] = 1;
          if (q != s.rank) served[static_cast<std::size_t>(q)] = "rebuilt";
        }
      // Everyone learns the level that served each rank (for rank 0's log line).
      for (int q = 0; q < s.size; ++q) {
        if (!gots[static_cast<std::size_t>(q)]) continue;
        std::uint64_t len = q == s.rank ? served[r].size() : 0;
        MPI_Bcast(&len, 1, MPI_UINT64_T, q, s.comm->native());
        served[static_cast<std::size_t>(q)].resize(static_cast<std::size_t>(len));
        MPI_Bcast(served[static_cast<std::size_t>(q)].data(), static_cast<int>(len), MPI_CHAR, q, s.comm->native());
      }
    }
  }

  std::shared_ptr<state> st_ = std::make_shared<state>();
};

}  // namespace strata::storage
