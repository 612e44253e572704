#pragma once
/// \file
/// \brief `storage::multilevel<Fast, Slow, K>`: every version to a fast level, every K-th also to a slow one.

#include <strata/error.hpp>
#include <strata/storage/concepts.hpp>

#include <algorithm>
#include <filesystem>
#include <string>

namespace strata::storage {

/// \brief Writes every version to `Fast` (node-local disk, partner memory) and every version
/// divisible by `K` also to `Slow` (the shared file system). Reads take the fast copy and fall back
/// to the slow one; listings are the union, so restore takes the newest version valid on any level.
/// `Fast` lives in `DIR/fast` (when it uses a directory), `Slow` in `DIR`.
///
/// \code
/// using store = strata::storage::multilevel<strata::storage::partner_memory, strata::storage::posix_dir, 4>;
/// strata::checkpointer<strata::comm::mpi, strata::snapshot::full, store> ckpt{MPI_COMM_WORLD};
/// \endcode
template <class Fast, class Slow, std::uint64_t K = 4>
struct multilevel {
  static_assert(K >= 1, "storage::multilevel<Fast, Slow, K>: K (flush every K-th version to Slow) must be at least 1");
  static constexpr std::string_view name = "multilevel";
  Fast fast{};
  Slow slow{};

  template <comm::communicator Comm>
  void attach(Comm const& comm, std::filesystem::path const& dir) {
    static_assert(driver<Fast, Comm> && driver<Slow, Comm>,
                  "storage::multilevel<Fast, Slow, K>: both levels must model strata::storage::driver");
    fast.attach(comm, dir / "fast");
    slow.attach(comm, dir);
  }
  [[nodiscard]] static constexpr bool flushed(std::uint64_t v) noexcept { return v % K == 0; }

  void write_shard(std::uint64_t v, snapshot::encoded_shard const& shard) {
    fast.write_shard(v, shard);
    if (flushed(v)) slow.write_shard(v, shard);
  }
  [[nodiscard]] byte_buffer read_shard(std::uint64_t v, int rank) const {
    try {
      return fast.read_shard(v, rank);
    } catch (error const& e) {
      if (!flushed(v)) throw;
      return slow.read_shard(v, rank);
    }
  }
  /// \brief Part of the shard, from the level `read_shard` would read it from.
  void read_shard_part(std::uint64_t v, int rank, std::uint64_t offset, std::span<std::byte> out) const
    requires partial_reader<Fast> && partial_reader<Slow>
  {
    try {
      fast.read_shard_part(v, rank, offset, out);
    } catch (error const&) {
      if (!flushed(v)) throw;
      slow.read_shard_part(v, rank, offset, out);
    }
  }
  void remove_shard(std::uint64_t v, int rank) {
    fast.remove_shard(v, rank);
    slow.remove_shard(v, rank);
  }
  void write_commit(std::uint64_t v, std::string_view text) {
    fast.write_commit(v, text);
    if (flushed(v)) slow.write_commit(v, text);
  }
  void replicate_commit(std::uint64_t v, std::string_view text)
    requires requires(Fast& f) { f.replicate_commit(v, text); }
  {
    fast.replicate_commit(v, text);
  }
  template <comm::communicator Comm, class... Args>
  void recover(Comm const& c, Args&&... args)
    requires requires(Fast& f) { f.recover(c, std::forward<Args>(args)...); }
  {
    fast.recover(c, std::forward<Args>(args)...);
  }
  [[nodiscard]] std::optional<std::string> read_commit(std::uint64_t v) const {
    std::optional<std::string> t;
    try {
      t = fast.read_commit(v);
    } catch (error const&) {
    }
    return t ? t : slow.read_commit(v);
  }
  void remove_commit(std::uint64_t v) {
    fast.remove_commit(v);
    slow.remove_commit(v);
  }
  void remove_version(std::uint64_t v) {
    fast.remove_version(v);
    slow.remove_version(v);
  }
  [[nodiscard]] listing list() const {
    auto a = fast.list();
    auto b = slow.list();
    listing out;
    auto merge = [](std::vector<std::uint64_t> x, std::vector<std::uint64_t> const& y) {
      x.insert(x.end(), y.begin(), y.end());
      std::ranges::sort(x);
      x.erase(std::unique(x.begin(), x.end()), x.end());
      return x;
    };
    out.committed = merge(a.committed, b.committed);
    out.all = merge(a.all, b.all);
    for (auto& f : b.foreign)
      if (!f.ends_with("/fast")) out.foreign.push_back(f);
    out.foreign.insert(out.foreign.end(), a.foreign.begin(), a.foreign.end());
    return out;
  }
  [[nodiscard]] std::optional<std::uint64_t> free_bytes() const {
    auto a = fast.free_bytes(), b = slow.free_bytes();
    if (a && b) return std::min(*a, *b);
    return a ? a : b;
  }
  [[nodiscard]] std::string shard_location(std::uint64_t v, int rank) const {
    return fast.shard_location(v, rank);
  }
  [[nodiscard]] std::string commit_location(std::uint64_t v) const { return fast.commit_location(v); }
  friend bool operator==(multilevel const& a, multilevel const& b) noexcept { return a.fast == b.fast && a.slow == b.slow; }
};

}  // namespace strata::storage
