#pragma once
/// \file
/// \brief `storage::node_local`: shards on each node's own disk (L1), optionally a partner copy of each
/// shard on the disk of another node (L2), commit records on every node, and repair at restart.
///
/// Layout in each node's directory: `DIR/v00000042/r00003.shard` (rank 3's own shard, L1),
/// `DIR/v00000042/r00001.partner` (the copy of rank 1's shard this node keeps for it, L2) and
/// `DIR/v00000042.manifest.json` (the commit record, one per node, written by the node's first rank).
/// Every file is written to a temporary name, fsync'ed and renamed, as in `posix_dir`.
///
/// At restart (`recover`, collective) the nodes' first ranks exchange what their disks hold; a
/// commit record missing on a node is copied there; a rank whose own shard is missing or damaged
/// (its node was lost and replaced by a spare, or ranks were remapped) gets it from wherever it
/// survives — its own shard on another node, else a partner copy — checked against the checksum
/// in the commit record before it is written to the rank's new node-local directory. The log
/// names the level that served each rank.

#include <strata/checkpoint/fault.hpp>
#include <strata/comm/agree.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/detail/hash.hpp>
#include <strata/error.hpp>
#include <strata/storage/concepts.hpp>
#include <strata/storage/posix_dir.hpp>

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace strata::storage {

/// \brief Which copy of a shard beyond the node-local one `node_local` keeps.
enum class redundancy : std::uint8_t {
  none,     ///< L1 only: a lost node loses its ranks' shards (a shared level must serve them)
  partner,  ///< L2: a copy of each shard on the node-local disk of a rank on another node
};

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
/// The directory must be node-local: one that is visible from two nodes is refused at attach.
struct node_local {
  static constexpr std::string_view name = "node_local";

  std::filesystem::path path{};         ///< node-local directory (empty: the checkpointer's directory)
  redundancy copies = redundancy::none; ///< partner copies on another node (L2)

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
      auto shared = check_not_shared(why.empty());  // collective: every rank takes part
      if (why.empty()) why = std::move(shared);
    } else {
      s.leader = true;
      s.node_of.assign(static_cast<std::size_t>(s.size), 0);
    }
    if (why.empty() && s.copies == redundancy::partner) why = plan_partners();
    if (auto a = comm::agree(comm, why.empty() ? 0 : 1, why); !a) throw usage_error(a.reason);
  }

  /// \brief Collective: the own shard to L1, then (with partner copies) each shard to its partner's node.
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
    fault::point(fault::phase::sending_partner, s.rank, v);
    // My shard to my partner; my wards' shards to me.
    std::vector<std::vector<std::byte>> got(s.wards.size());
    {
      std::vector<std::byte> flat;
      flat.reserve(static_cast<std::size_t>(shard.bytes()));
      for (auto seg : shard.segments) flat.insert(flat.end(), seg.begin(), seg.end());
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
  [[nodiscard]] byte_buffer read_shard(std::uint64_t v, int rank) const {
    std::error_code ec;
    auto const own = file_path(v, rank, kind::own);
    if (std::filesystem::exists(own, ec)) return byte_buffer::map_file(own);
    auto const copy = file_path(v, rank, kind::partner);
    if (std::filesystem::exists(copy, ec)) return byte_buffer::map_file(copy);
    return byte_buffer::map_file(own);  // throws "missing", naming the own path
  }
  /// \brief Removes the rank's own shard and the partner copies it keeps for its wards.
  void remove_shard(std::uint64_t v, int rank) {
    auto& s = *st_;
    s.files.remove_shard(v, rank);
    std::error_code ec;
    if (rank == s.rank)
      for (int w : s.wards) std::filesystem::remove(file_path(v, w, kind::partner), ec);
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
  /// \brief Free space, divided among the copies this rank writes (own shard + wards' copies).
  [[nodiscard]] std::optional<std::uint64_t> free_bytes() const {
    auto f = st_->files.free_bytes();
    if (f) *f /= 1 + st_->wards.size();
    return f;
  }
  [[nodiscard]] std::string shard_location(std::uint64_t v, int rank) const {
    return st_->host + ":" + st_->files.shard_location(v, rank);
  }
  [[nodiscard]] std::string commit_location(std::uint64_t v) const { return st_->files.commit_location(v); }

  /// \brief The rank that keeps `rank`'s partner copy (partner redundancy only).
  [[nodiscard]] int partner_of(int rank) const { return st_->partner.at(static_cast<std::size_t>(rank)); }
  /// \brief How each rank's shard was found by the last `recover` ("L1", "L1 on host", "L2 partner on host").
  [[nodiscard]] std::vector<std::string> const& served_by() const noexcept { return st_->served; }

  /// \brief Collective, at restore: commit records copied to every node; for the newest version whose
  /// record says it was written by this rank count, every rank's missing shards (of it and of the
  /// versions it depends on) fetched from another node's L1 or a partner copy and checked against the
  /// record. `expect(v)` reads version v's record; `say(text, warning)` logs.
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
        if (s.comm->all_reduce(have, comm::reduce_op::min) == 0 || !repair(d, *ed, inv, served)) {
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
    return a.path == b.path && a.copies == b.copies && a.st_ == b.st_;
  }

 private:
  enum class kind : std::uint8_t { record = 0, own = 1, partner = 2 };
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
    std::vector<std::string> served;
  };

  [[nodiscard]] std::filesystem::path file_path(std::uint64_t v, int rank, kind k) const {
    auto p = std::filesystem::path(st_->files.shard_location(v, rank));
    if (k == kind::partner) p.replace_extension(".partner");
    return p;
  }
  void write_file(std::uint64_t v, int rank, kind k, std::span<const std::byte> bytes) const {
    auto const p = file_path(v, rank, k);
    std::error_code ec;
    if (std::filesystem::create_directory(p.parent_path(), ec)) detail::fsync_dir(st_->dir, "rank " + std::to_string(st_->rank));
    if (ec) throw checkpoint_error("cannot create " + p.parent_path().string() + ": " + ec.message());
    detail::atomic_write(p, std::span(&bytes, 1), "rank " + std::to_string(st_->rank), [] {});
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
            }
          }
      }
    }
    int const n = static_cast<int>(mine.size());
    std::vector<int> counts(static_cast<std::size_t>(s.size)), displs(static_cast<std::size_t>(s.size));
    MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, s.comm->native());
    int total = 0;
    for (int r = 0; r < s.size; ++r) {
      displs[static_cast<std::size_t>(r)] = total;
      total += counts[static_cast<std::size_t>(r)];
    }
    std::vector<std::uint64_t> all(static_cast<std::size_t>(total));
    MPI_Allgatherv(mine.data(), n, MPI_UINT64_T, all.data(), counts.data(), displs.data(), MPI_UINT64_T,
                   s.comm->native());
    inventory out;
    for (int r = 0; r < s.size; ++r) {
      if (s.node_of[static_cast<std::size_t>(r)] == static_cast<std::uint64_t>(r)) out.leaders.push_back(r);
      for (int i = displs[static_cast<std::size_t>(r)]; i < displs[static_cast<std::size_t>(r)] + counts[static_cast<std::size_t>(r)]; i += 3) {
        auto const k = static_cast<kind>(all[static_cast<std::size_t>(i + 1)]);
        int const who = k == kind::record ? -1 : static_cast<int>(all[static_cast<std::size_t>(i + 2)]);
        out.items[{all[static_cast<std::size_t>(i)], k, who}].push_back(r);
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
  }

  /// Collective: every rank ends with a valid own shard of version v in its node-local directory,
  /// fetched from the cheapest surviving copy; false (on every rank) if some rank cannot.
  bool repair(std::uint64_t v, version_expectation const& e, inventory const& inv, std::vector<std::string>& served) const {
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
    // Sources for each rank, cheapest first: its own shard on another node, then partner copies.
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
      if (plan.empty()) return false;
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
