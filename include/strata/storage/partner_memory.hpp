#pragma once
/// \file
/// \brief `storage::partner_memory`: shards kept in memory, each also copied to a partner rank on
/// another node, so that the loss of one rank or node is repaired without touching a disk.

#include <strata/comm/mpi.hpp>
#include <strata/error.hpp>
#include <strata/state/serializer.hpp>
#include <strata/storage/concepts.hpp>
#include <strata/storage/fault_points.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace strata::storage {

/// \brief In-memory checkpoint storage with one partner copy per shard.
///
/// Rank r keeps its own shards and those of its *ward* (the rank whose partner it is). The partner of
/// r is r + s (mod size), where s is the number of ranks on r's node (`MPI_Comm_split_type`), so that
/// with ranks placed node by node the copy lands on the next node; with one node, s is 1. Commit
/// records are replicated on every rank. `recover` (called collectively at restore) gives a rank that
/// lost its memory its shards and commit records back from its partner. Memory does not survive the
/// process: combine with a durable level (`multilevel<partner_memory, posix_dir, K>`) to restart a job.
///
/// \code
/// strata::checkpointer<strata::comm::mpi, strata::snapshot::full, strata::storage::partner_memory> ckpt{MPI_COMM_WORLD};
/// \endcode
class partner_memory {
 public:
  static constexpr std::string_view name = "partner_memory";

  template <comm::communicator Comm>
  void attach(Comm const& comm, std::filesystem::path const& dir) {
    st_ = std::make_shared<state>();
    st_->rank = comm.rank();
    st_->size = comm.size();
    st_->label = dir.string();
    if constexpr (std::same_as<Comm, comm::mpi>) {
      st_->comm.emplace(comm::mpi::duplicate(comm.native()));  // its own: traffic never mixes with the caller's
      MPI_Comm node = MPI_COMM_NULL;
      MPI_Comm_split_type(comm.native(), MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &node);
      int per_node = 1;
      MPI_Comm_size(node, &per_node);
      MPI_Comm_free(&node);
      auto const s = comm.all_reduce(std::uint64_t(per_node), comm::reduce_op::min);
      st_->shift = (s < static_cast<std::uint64_t>(comm.size())) ? static_cast<int>(s) : 1;
    } else {
      static_assert(std::same_as<Comm, comm::mpi> || requires { comm.size(); },
                    "storage::partner_memory: needs strata::comm::mpi (or a one-rank communicator)");
      st_->shift = 1;
    }
  }
  /// \brief The rank holding this rank's copy, and the rank whose copy this rank holds.
  [[nodiscard]] int partner() const noexcept { return (st_->rank + st_->shift) % st_->size; }
  [[nodiscard]] int ward() const noexcept { return (st_->rank - st_->shift % st_->size + st_->size) % st_->size; }

  void write_shard(std::uint64_t v, snapshot::encoded_shard const& shard) {
    std::vector<std::byte> flat;
    flat.reserve(static_cast<std::size_t>(shard.bytes()));
    for (auto s : shard.segments) flat.insert(flat.end(), s.begin(), s.end());
    std::vector<std::byte> theirs;
    fault::point(fault_points::sending_partner, st_->rank, v);
    if (st_->size > 1) exchange(flat, partner(), theirs, ward(), 7301);
    else theirs = flat;
    std::lock_guard g{st_->m};
    st_->shards[{v, st_->rank}] = std::move(flat);
    st_->shards[{v, ward()}] = std::move(theirs);
  }
  [[nodiscard]] byte_buffer read_shard(std::uint64_t v, int rank) const {
    std::lock_guard g{st_->m};
    auto it = st_->shards.find({v, rank});
    if (it == st_->shards.end()) throw error(shard_location(v, rank) + ": missing");
    return byte_buffer(it->second);
  }
  /// \brief Bytes `[offset, offset + out.size())` of a shard held in memory.
  void read_shard_part(std::uint64_t v, int rank, std::uint64_t offset, std::span<std::byte> out) const {
    std::lock_guard g{st_->m};
    auto it = st_->shards.find({v, rank});
    if (it == st_->shards.end()) throw error(shard_location(v, rank) + ": missing");
    if (offset > it->second.size() || out.size() > it->second.size() - offset)
      throw error(shard_location(v, rank) + ": " + std::to_string(it->second.size()) + " bytes, bytes [" +
                  std::to_string(offset) + ", +" + std::to_string(out.size()) + ") asked");
    if (!out.empty()) std::memcpy(out.data(), it->second.data() + offset, out.size());
  }
  void remove_shard(std::uint64_t v, int rank) {
    std::lock_guard g{st_->m};
    st_->shards.erase({v, rank});
    if (rank == st_->rank) st_->shards.erase({v, ward()});
  }
  void write_commit(std::uint64_t v, std::string_view text) {
    std::lock_guard g{st_->m};
    st_->commits[v] = std::string(text);
  }
  /// \brief Every rank keeps the commit records (the checkpointer hands them over after each commit).
  void replicate_commit(std::uint64_t v, std::string_view text) { write_commit(v, text); }
  [[nodiscard]] std::optional<std::string> read_commit(std::uint64_t v) const {
    std::lock_guard g{st_->m};
    auto it = st_->commits.find(v);
    return it == st_->commits.end() ? std::nullopt : std::optional(it->second);
  }
  void remove_commit(std::uint64_t v) {
    std::lock_guard g{st_->m};
    st_->commits.erase(v);
  }
  void remove_version(std::uint64_t) {}
  [[nodiscard]] listing list() const {
    std::lock_guard g{st_->m};
    listing out;
    for (auto const& [v, t] : st_->commits) out.committed.push_back(v);
    for (auto const& [k, b] : st_->shards) out.all.push_back(k.first);
    out.all.insert(out.all.end(), out.committed.begin(), out.committed.end());
    std::ranges::sort(out.all);
    out.all.erase(std::unique(out.all.begin(), out.all.end()), out.all.end());
    return out;
  }
  [[nodiscard]] std::optional<std::uint64_t> free_bytes() const { return std::nullopt; }
  [[nodiscard]] std::string shard_location(std::uint64_t v, int rank) const {
    return "memory:" + st_->label + "/v" + std::to_string(v) + "/r" + std::to_string(rank);
  }
  [[nodiscard]] std::string commit_location(std::uint64_t v) const {
    return "memory:" + st_->label + "/v" + std::to_string(v) + ".manifest";
  }

  /// \brief Collective: a rank that lost its own shards or commit records gets them back from its partner.
  template <comm::communicator Comm>
  void recover(Comm const&) {
    if (st_->size == 1 || !st_->comm) return;
    // 1. Tell my partner which of my own versions I hold; learn which of my ward's I must resend.
    std::vector<std::uint64_t> have_own, ward_has;
    std::vector<std::uint64_t> commits_have, ward_commits;
    {
      std::lock_guard g{st_->m};
      for (auto const& [k, b] : st_->shards)
        if (k.second == st_->rank) have_own.push_back(k.first);
      for (auto const& [v, t] : st_->commits) commits_have.push_back(v);
    }
    exchange_u64(have_own, partner(), ward_has, ward(), 7302);
    exchange_u64(commits_have, partner(), ward_commits, ward(), 7303);
    // 2. Send my ward what it lacks: its shards I hold and the commit records it misses.
    std::vector<std::byte> out, in;
    {
      std::lock_guard g{st_->m};
      byte_writer w{out};
      std::vector<std::pair<std::uint64_t, std::vector<std::byte> const*>> shards;
      for (auto const& [k, b] : st_->shards)
        if (k.second == ward() && k.second != st_->rank && std::ranges::find(ward_has, k.first) == ward_has.end())
          shards.emplace_back(k.first, &b);
      w.value(static_cast<std::uint64_t>(shards.size()));
      for (auto const& [v, b] : shards) {
        w.value(v);
        w.value(static_cast<std::uint64_t>(b->size()));
        w.bytes(*b);
      }
      std::vector<std::pair<std::uint64_t, std::string const*>> commits;
      for (auto const& [v, t] : st_->commits)
        if (std::ranges::find(ward_commits, v) == ward_commits.end()) commits.emplace_back(v, &t);
      w.value(static_cast<std::uint64_t>(commits.size()));
      for (auto const& [v, t] : commits) {
        w.value(v);
        w.value(static_cast<std::uint64_t>(t->size()));
        w.bytes(std::as_bytes(std::span(t->data(), t->size())));
      }
    }
    exchange(out, ward(), in, partner(), 7304);
    byte_reader r{in};
    std::lock_guard g{st_->m};
    for (auto n = r.value<std::uint64_t>(); n > 0; --n) {
      auto const v = r.value<std::uint64_t>();
      auto b = r.bytes(r.value<std::uint64_t>());
      st_->shards[{v, st_->rank}].assign(b.begin(), b.end());
      ++st_->rebuilt;
    }
    for (auto n = r.value<std::uint64_t>(); n > 0; --n) {
      auto const v = r.value<std::uint64_t>();
      auto b = r.bytes(r.value<std::uint64_t>());
      st_->commits[v].assign(reinterpret_cast<char const*>(b.data()), b.size());
    }
  }

  /// \brief Simulates the loss of this rank's memory (node failure): own shards, ward copies, commit records.
  void lose_memory() {
    std::lock_guard g{st_->m};
    st_->shards.clear();
    st_->commits.clear();
  }
  /// \brief Shards this rank got back from its partner in `recover`.
  [[nodiscard]] std::uint64_t rebuilt() const {
    std::lock_guard g{st_->m};
    return st_->rebuilt;
  }
  friend bool operator==(partner_memory const& a, partner_memory const& b) noexcept { return a.st_ == b.st_; }

 private:
  struct state {
    int rank = 0, size = 1, shift = 1;
    std::string label;
    std::optional<comm::mpi> comm;
    mutable std::mutex m;
    std::map<std::pair<std::uint64_t, int>, std::vector<std::byte>> shards;
    std::map<std::uint64_t, std::string> commits;
    std::uint64_t rebuilt = 0;
  };

  void exchange(std::vector<std::byte> const& out, int to, std::vector<std::byte>& in, int from, int tag) const {
    MPI_Comm c = st_->comm->native();
    std::uint64_t n_out = out.size(), n_in = 0;
    MPI_Sendrecv(&n_out, 1, MPI_UINT64_T, to, tag, &n_in, 1, MPI_UINT64_T, from, tag, c, MPI_STATUS_IGNORE);
    in.resize(static_cast<std::size_t>(n_in));
    constexpr std::uint64_t chunk = std::uint64_t{1} << 30;
    for (std::uint64_t off = 0; off < std::max(n_out, n_in); off += chunk) {
      int const so = static_cast<int>(off < n_out ? std::min(chunk, n_out - off) : 0);
      int const si = static_cast<int>(off < n_in ? std::min(chunk, n_in - off) : 0);
      int rc = MPI_Sendrecv(out.data() + (so ? off : 0), so, MPI_BYTE, to, tag + 1, in.data() + (si ? off : 0), si,
                            MPI_BYTE, from, tag + 1, c, MPI_STATUS_IGNORE);
      if (rc != MPI_SUCCESS) throw checkpoint_error("rank " + std::to_string(st_->rank) + ": partner copy exchange failed");
    }
  }
  void exchange_u64(std::vector<std::uint64_t> const& out, int to, std::vector<std::uint64_t>& in, int from, int tag) const {
    std::vector<std::byte> o(reinterpret_cast<std::byte const*>(out.data()),
                             reinterpret_cast<std::byte const*>(out.data()) + out.size() * 8), i;
    exchange(o, to, i, from, tag);
    in.resize(i.size() / 8);
    if (!in.empty()) std::memcpy(in.data(), i.data(), in.size() * 8);
  }

  std::shared_ptr<state> st_ = std::make_shared<state>();
};

}  // namespace strata::storage
