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
/// This header writes; recovering is `node_repair.hpp`. The parts, each in `strata/storage/detail/`:
/// `node_state.hpp` (what attach sets up, shared by writing and recovering, and the files' names),
/// `node_topology.hpp` (nodes, partners, groups), `parity_file.hpp` (the parity file's format and
/// checks), `exchange.hpp` (the collectives that move copies), `inventory.hpp` (what every node holds,
/// gathered at restart), `repair_plan.hpp` (which source serves each rank) and `node_repair.hpp`
/// (the restart: records shared, shards repaired as the plans say).

#include <strata/comm/agree.hpp>
#include <strata/comm/mailbox.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/detail/hash.hpp>
#include <strata/detail/posix_io.hpp>
#include <strata/error.hpp>
#include <strata/storage/alone.hpp>
#include <strata/storage/concepts.hpp>
#include <strata/storage/detail/erasure.hpp>
#include <strata/storage/detail/exchange.hpp>
#include <strata/storage/detail/inventory.hpp>
#include <strata/storage/detail/node_repair.hpp>
#include <strata/storage/detail/node_state.hpp>
#include <strata/storage/detail/node_topology.hpp>
#include <strata/storage/detail/parity_file.hpp>
#include <strata/storage/fault_points.hpp>
#include <strata/storage/posix_dir.hpp>
#include <strata/storage/redundancy.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace strata::storage {

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
      if (s.erasure()) {  // every rank's host, for the messages that refuse a grouping
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
    detail::node_topology const nodes{s.rank, s.host, s.node_of, s.hosts};
    if (why.empty() && s.copies == redundancy::partner) {
      auto p = detail::plan_partners(nodes);
      why = std::move(p.refused);
      s.partner = std::move(p.partner);
      s.wards = std::move(p.wards);
    }
    if (why.empty() && s.erasure()) {
      if constexpr (!detail::have_isal) {
        why = nodes.who() + ": " +
              detail::isal_missing("storage::node_local with redundancy " + std::string(to_string(s.copies)));
      } else {
        auto g = detail::plan_groups(nodes, to_string(s.copies), s.copies == redundancy::reed_solomon ? parity : 1, group_size);
        why = std::move(g.refused);
        s.group = std::move(g.ranks);
        s.group_id = g.id;
        s.member = g.member;
        s.parity_chunks = g.parity_chunks;
      }
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
    fault::point(fault_points::sending_partner, s.rank, v);  // also before the parity exchange (L3)
    std::vector<std::byte> flat;
    flat.reserve(static_cast<std::size_t>(shard.bytes()));
    for (auto seg : shard.segments) flat.insert(flat.end(), seg.begin(), seg.end());
    if (s.erasure()) {
      try {
        write_parity(v, flat);
      } catch (std::exception const& e) {
        why = s.who() + ": parity (L3): " + e.what();
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
      detail::exchange(*s.comm, s.who(), plan, [&](transfer const&) { return std::span<const std::byte>(flat); },
                       [&](transfer const& t, std::vector<std::byte>&& b) {
                         auto const i = static_cast<std::size_t>(std::ranges::find(s.wards, t.from) - s.wards.begin());
                         got[i] = std::move(b);
                       });
    }
    try {
      for (std::size_t i = 0; i < s.wards.size(); ++i) s.write_file(v, s.wards[i], kind::partner, got[i]);
    } catch (std::exception const& e) {
      why = s.who() + ": partner copy: " + e.what();
    }
    if (auto a = comm::agree(*s.comm, why.empty() ? 0 : 1, why); !a) throw checkpoint_error(a.reason);
  }

  /// \brief Why this configuration cannot write a shard without the other ranks (consistency::eventual):
  /// parity is encoded by a whole group at once; L1 alone and partner copies can.
  [[nodiscard]] std::string why_not_alone() const {
    if (copies == redundancy::xor_group || copies == redundancy::reed_solomon)
      return "storage::node_local with redundancy " + std::string(to_string(copies)) +
             " encodes parity across a group of ranks at the same version, a collective; use redundancy partner "
             "(copies sent without waiting) or none with consistency::eventual, or consistency::coordinated";
    return {};
  }
  /// \brief Collective, once after `attach`, if this storage is to be written alone (consistency::eventual):
  /// with partner copies, opens the mailbox they travel in (a duplicate communicator; never opened under
  /// consistency::coordinated, whose copies go through `write_shard`'s collectives).
  void open_alone() {
    auto& s = *st_;
    if (s.copies == redundancy::partner && s.comm && !s.mail) s.mail = std::make_shared<comm::mailbox>(*s.comm);
  }
  /// \brief The own shard to L1 (durable when this returns); with partner copies, the copy is sent to
  /// the partner without waiting: the partner writes it when it next takes in what arrived
  /// (`progress`, at its next step or checkpoint) or at the next `drain`.
  void write_own_shard(std::uint64_t v, snapshot::encoded_shard const& shard) {
    auto& s = *st_;
    bool const copy = s.copies == redundancy::partner && s.comm;
    if (copy && !s.mail)
      throw usage_error(s.who() + ": storage::node_local with partner copies writes alone only after "
                                  "storage::alone::open (collective, once, after attach)");
    s.files.write_shard(v, shard);
    if (!copy) return;
    fault::point(fault_points::sending_partner, s.rank, v);
    std::vector<std::byte> msg(sizeof v);
    std::memcpy(msg.data(), &v, sizeof v);
    msg.reserve(sizeof v + static_cast<std::size_t>(shard.bytes()));
    for (auto seg : shard.segments) msg.insert(msg.end(), seg.begin(), seg.end());
    s.mail->post(s.partner[static_cast<std::size_t>(s.rank)], partner_tag, std::move(msg));
  }
  /// \brief Writes the partner copies the wards sent that have arrived; never waits.
  void progress(alone::sayer const& say) {
    if (st_->mail) st_->mail->poll([&](comm::letter&& l) { take_partner_copy(std::move(l), say); });
  }
  /// \brief Collective: every partner copy sent before the call is written on its partner's node.
  void drain(alone::sayer const& say) {
    if (st_->mail) st_->mail->drain([&](comm::letter&& l) { take_partner_copy(std::move(l), say); });
  }
  /// \brief The first rank of each node other than rank 0's: each keeps the commit records on its node.
  [[nodiscard]] std::vector<int> commit_replicas() const {
    std::vector<int> out;
    auto const& s = *st_;
    for (std::size_t r = 1; r < s.node_of.size(); ++r)
      if (s.node_of[r] == r && s.node_of[r] != s.node_of[0]) out.push_back(static_cast<int>(r));
    return out;
  }

  /// \brief The shard, from this node's disk: the rank's own copy, else a partner copy held here.
  [[nodiscard]] byte_buffer read_shard(std::uint64_t v, int rank) const { return byte_buffer::map_file(st_->held_copy(v, rank)); }
  /// \brief Bytes `[offset, offset + out.size())` of the shard (the copy `read_shard` would read), without the rest.
  void read_shard_part(std::uint64_t v, int rank, std::uint64_t offset, std::span<std::byte> out) const {
    strata::detail::read_file_part(st_->held_copy(v, rank), offset, out);
  }
  /// \brief Removes the rank's own shard, its parity and the partner copies it keeps for its wards;
  /// a node's first rank also removes parity files there of ranks that now run on other nodes.
  void remove_shard(std::uint64_t v, int rank) {
    auto& s = *st_;
    s.files.remove_shard(v, rank);
    std::error_code ec;
    auto const parity_file = s.file_path(v, rank, kind::parity);
    std::filesystem::remove(parity_file, ec);
    std::filesystem::remove(parity_file.string() + ".tmp", ec);
    if (rank != s.rank) return;
    for (int w : s.wards) std::filesystem::remove(s.file_path(v, w, kind::partner), ec);
    if (s.leader && s.comm)
      for (auto const& f : std::filesystem::directory_iterator(parity_file.parent_path(), ec)) {
        auto const rf = detail::parse_rank_file(f.path().filename().string());
        if (rf && rf->kind == kind::parity && rf->rank < s.size &&
            s.node_of[static_cast<std::size_t>(rf->rank)] != s.node_of[static_cast<std::size_t>(s.rank)])
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
    detail::node_repair{*st_}.recover(expect, say);
  }

  friend bool operator==(node_local const& a, node_local const& b) noexcept {
    return a.path == b.path && a.copies == b.copies && a.group_size == b.group_size && a.parity == b.parity &&
           a.st_ == b.st_;
  }

 private:
  using kind = detail::file_kind;
  using transfer = detail::transfer;
  using state = detail::node_state;
  static constexpr int partner_tag = 1;

  /// A ward's shard of a version, received: written as its partner copy here (a copy that cannot be
  /// written is a warning: the ward's own copy is intact, only its redundancy is missing).
  void take_partner_copy(comm::letter&& l, alone::sayer const& say) const {
    std::uint64_t v = 0;
    if (l.tag != partner_tag || l.bytes.size() < sizeof v) return;
    std::memcpy(&v, l.bytes.data(), sizeof v);
    try {
      st_->write_file(v, l.from, kind::partner, std::span<const std::byte>(l.bytes).subspan(sizeof v));
    } catch (std::exception const& e) {
      if (say) say(st_->who() + ": partner copy of rank " + std::to_string(l.from) + "'s shard of version " + std::to_string(v) +
                   " not written: " + e.what(), true);
    }
  }

  /// Each node's first rank leaves a marker; a marker of another node seen here means the directory is shared.
  std::string check_not_shared(bool usable) {
    auto& s = *st_;
    auto const marker = s.dir / (".node." + std::to_string(s.rank));
    if (s.leader && usable) {
      if (auto const f = strata::detail::open_for_writing(marker))
        (void)strata::detail::write_all(f.get(), std::as_bytes(std::span(s.host)));
    }
    MPI_Barrier(s.comm->native());
    std::string why;
    if (s.leader && usable)
      for (std::size_t r = 0; r < s.node_of.size(); ++r)
        if (s.node_of[r] == r && static_cast<int>(r) != s.rank &&
            std::filesystem::exists(s.dir / (".node." + std::to_string(r)))) {
          why = s.who() + ": node-local directory " + s.dir.string() + " is also the directory of rank " +
                std::to_string(r) + " on another node: it is shared, not node-local (use storage::posix_dir for a "
                "shared directory, or give each node its own)";
          break;
        }
    MPI_Barrier(s.comm->native());
    if (s.leader && usable) ::unlink(marker.c_str());
    return why;
  }

  /// Collective (L3 write): members exchange shard sizes; every data chunk goes to the m parity
  /// holders of its stripe; each rank encodes its m parity chunks and writes its parity file.
  void write_parity(std::uint64_t v, std::span<const std::byte> mine) const {
    auto& s = *st_;
    auto const all_bytes = s.comm->all_gather(std::uint64_t(mine.size()));
    auto const all_xxh3 = s.comm->all_gather(strata::detail::xxh3(mine));
    std::size_t const g = s.group.size(), m = s.parity_chunks, k = g - m, i = s.member;
    auto h = detail::parity_header::for_member(v, s.copies == redundancy::xor_group ? 1 : 2, s.group_id, s.group, i, m,
                                               all_bytes, all_xxh3);
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
    detail::exchange(
        *s.comm, s.who(), plan,
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
    s.write_file(v, s.rank, kind::parity, pieces);
  }

  std::shared_ptr<state> st_ = std::make_shared<state>();
};

}  // namespace strata::storage
