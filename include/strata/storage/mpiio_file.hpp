#pragma once
/// \file
/// \brief `storage::mpiio_file`: one shared file per version, every rank's shard written collectively
/// with MPI-IO at an offset from an exclusive prefix sum of the shard sizes.

#include <strata/comm/agree.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/detail/posix_io.hpp>
#include <strata/error.hpp>
#include <strata/storage/concepts.hpp>
#include <strata/storage/fault_points.hpp>
#include <strata/storage/posix_dir.hpp>

#include <mpi.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>
#include <memory>
#include <string>
#include <vector>

namespace strata::storage {

/// \brief Checkpoint storage as one shared file per version, written with collective MPI-IO.
///
/// Layout of `DIR/v00000042.mpiio`: a header (magic, rank count, then `offset, bytes` of every
/// rank's shard, little-endian `uint64`), then the shards back to back; rank r's shard starts at
/// `header + sum of the sizes of ranks < r` (`MPI_Exscan`). `write_shard` is collective over the
/// communicator given to `attach` (the checkpointer calls it on every rank for every version): the
/// file is written under a temporary name with `MPI_File_write_at_all`, made durable with
/// `MPI_File_sync`, closed, and renamed into place by rank 0 (then the directory is fsync'ed),
/// all before the commit vote. A failure on any rank throws on every rank. Shards are read back
/// independently (no collective), so each rank can verify and restore its own. Commit records
/// remain small atomic files (`DIR/v00000042.manifest.json`, as `posix_dir` writes them).
///
/// Needs `strata::comm::mpi` (a private duplicate is used, so the background writer's collectives
/// never mix with the application's).
///
/// \code
/// strata::checkpointer<strata::comm::mpi, strata::snapshot::full, strata::storage::mpiio_file> ckpt{
///     MPI_COMM_WORLD, {.directory = "/lustre/job42/ckpt"}};
/// \endcode
class mpiio_file {
 public:
  static constexpr std::string_view name = "mpiio_file";
  /// \brief Bytes before the first shard for `ranks` ranks.
  [[nodiscard]] static constexpr std::uint64_t header_bytes(std::uint64_t ranks) noexcept { return 16 + 16 * ranks; }

  template <comm::communicator Comm>
  void attach(Comm const& comm, std::filesystem::path const& dir) {
    static_assert(std::same_as<Comm, comm::mpi>, "storage::mpiio_file: needs strata::comm::mpi (collective MPI-IO)");
    st_ = std::make_shared<state>();
    st_->records.attach(comm, dir);  // creates and probes the directory; commit records live there
    st_->dir = dir;
    st_->comm.emplace(comm::mpi::duplicate(comm.native()));
  }

  /// \brief Collective: writes this rank's part of version `v`'s shared file; returns once durable.
  void write_shard(std::uint64_t v, snapshot::encoded_shard const& shard) {
    auto const& c = *st_->comm;
    int const rank = c.rank(), size = c.size();
    std::uint64_t const mine = shard.bytes();
    std::uint64_t before = 0;
    MPI_Exscan(&mine, &before, 1, MPI_UINT64_T, MPI_SUM, c.native());
    if (rank == 0) before = 0;  // MPI_Exscan leaves rank 0's result undefined
    auto const sizes = c.all_gather(mine);
    std::uint64_t const head = header_bytes(static_cast<std::uint64_t>(size));
    auto const tmp = file_path(v).string() + ".tmp";
    std::string why;

    MPI_File fh = MPI_FILE_NULL;
    ::unlink(tmp.c_str());  // a leftover of a crashed attempt (every rank: harmless)
    c.barrier();
    int rc = MPI_File_open(c.native(), tmp.c_str(), MPI_MODE_WRONLY | MPI_MODE_CREATE, MPI_INFO_NULL, &fh);
    if (rc != MPI_SUCCESS) why = who() + ": MPI_File_open(" + tmp + ") failed: " + mpi_error(rc);
    bool const opened = c.all_reduce(std::uint64_t{rc == MPI_SUCCESS}, comm::reduce_op::min) != 0;
    if (opened) {
      // Header (rank 0): magic, rank count, then offset and size of every shard.
      std::vector<std::uint64_t> header;
      if (rank == 0) {
        header = {magic, static_cast<std::uint64_t>(size)};
        std::uint64_t off = head;
        for (auto s : sizes) {
          header.push_back(off);
          header.push_back(s);
          off += s;
        }
      }
      // The shard's pieces, cut to int counts; every rank makes the same number of collective calls.
      struct piece {
        std::byte const* data;
        std::uint64_t bytes;
      };
      std::vector<piece> pieces;
      if (!header.empty()) pieces.push_back({reinterpret_cast<std::byte const*>(header.data()), header.size() * 8});
      for (auto s : shard.segments)
        for (std::uint64_t o = 0; o < s.size(); o += chunk) pieces.push_back({s.data() + o, std::min<std::uint64_t>(chunk, s.size() - o)});
      auto const calls = c.all_reduce(std::uint64_t{pieces.size()}, comm::reduce_op::max);
      std::uint64_t at = head + before;
      for (std::uint64_t k = 0; k < calls; ++k) {
        std::byte const* p = nullptr;
        std::uint64_t n = 0, where = 0;
        if (k < pieces.size()) {
          p = pieces[k].data;
          n = pieces[k].bytes;
          bool const is_header = rank == 0 && k == 0;
          where = is_header ? 0 : at;
          if (!is_header) at += n;
        }
        if (k == calls / 2) fault::point(fault_points::writing_shard, rank, v);
        MPI_Status st;
        rc = MPI_File_write_at_all(fh, static_cast<MPI_Offset>(where), p, static_cast<int>(n), MPI_BYTE, &st);
        if (rc != MPI_SUCCESS && why.empty()) why = who() + ": MPI_File_write_at_all to " + tmp + " failed: " + mpi_error(rc);
        int count = 0;
        if (rc == MPI_SUCCESS) MPI_Get_count(&st, MPI_BYTE, &count);
        if (rc == MPI_SUCCESS && static_cast<std::uint64_t>(count) != n && why.empty())
          why = who() + ": short write to " + tmp + " (" + std::to_string(count) + " of " + std::to_string(n) + " bytes)";
      }
      rc = MPI_File_sync(fh);  // durable before anyone votes
      if (rc != MPI_SUCCESS && why.empty()) why = who() + ": MPI_File_sync of " + tmp + " failed: " + mpi_error(rc);
      rc = MPI_File_close(&fh);
      if (rc != MPI_SUCCESS && why.empty()) why = who() + ": MPI_File_close of " + tmp + " failed: " + mpi_error(rc);
    }
    if (auto a = comm::agree(c, why.empty() ? 0 : 1, why); !a) {
      if (rank == 0) ::unlink(tmp.c_str());
      throw checkpoint_error("version " + std::to_string(v) + ": the shared MPI-IO file was not written: " + a.reason +
                             " (the last committed version is intact)");
    }
    std::string moved;
    if (rank == 0) {
      try {
        strata::detail::rename_durable(tmp, file_path(v), strata::detail::io_context<checkpoint_error>{who(), {}});
      } catch (std::exception const& e) {
        moved = e.what();
      }
    }
    if (auto a = comm::agree(c, moved.empty() ? 0 : 1, moved); !a)
      throw checkpoint_error("version " + std::to_string(v) + ": " + a.reason + " (the last committed version is intact)");
  }

  /// \brief Rank `rank`'s shard of version `v`, read independently (no collective).
  [[nodiscard]] byte_buffer read_shard(std::uint64_t v, int rank) const {
    auto const path = file_path(v);
    auto const f = strata::detail::open_for_reading(path);
    auto const [at, bytes] = locate(f, path, v, rank);
    std::vector<std::byte> out(static_cast<std::size_t>(bytes));
    strata::detail::read_exactly_at(f.get(), path, at, out);
    return byte_buffer(std::move(out));
  }
  /// \brief Bytes `[offset, offset + out.size())` of the shard, read without the rest of it.
  void read_shard_part(std::uint64_t v, int rank, std::uint64_t offset, std::span<std::byte> out) const {
    auto const path = file_path(v);
    auto const f = strata::detail::open_for_reading(path);
    auto const [at, bytes] = locate(f, path, v, rank);
    if (offset > bytes || out.size() > bytes - offset)
      throw error(shard_location(v, rank) + ": " + std::to_string(bytes) + " bytes, bytes [" + std::to_string(offset) + ", +" +
                  std::to_string(out.size()) + ") asked (truncated)");
    strata::detail::read_exactly_at(f.get(), path, at + offset, out);
  }
  /// \brief A shard cannot be cut out of a shared file: the file goes with `remove_version`.
  void remove_shard(std::uint64_t, int) {}
  void write_commit(std::uint64_t v, std::string_view text) { st_->records.write_commit(v, text); }
  [[nodiscard]] std::optional<std::string> read_commit(std::uint64_t v) const { return st_->records.read_commit(v); }
  void remove_commit(std::uint64_t v) { st_->records.remove_commit(v); }
  /// \brief Removes the version's shared file (any rank may call; the first succeeds).
  void remove_version(std::uint64_t v) {
    std::error_code ec;
    std::filesystem::remove(file_path(v), ec);
    std::filesystem::remove(file_path(v).string() + ".tmp", ec);
  }

  [[nodiscard]] listing list() const {
    listing out;
    std::error_code ec;
    for (auto const& e : std::filesystem::directory_iterator(st_->dir, ec)) {
      auto const n = e.path().filename().string();
      if (auto v = detail::parse_version(n, ".manifest.json")) {
        out.committed.push_back(*v);
        out.all.push_back(*v);
      } else if (auto f = detail::parse_version(n, ".mpiio")) {
        out.all.push_back(*f);
      } else if (auto t = detail::parse_version(n, ".mpiio.tmp")) {
        out.all.push_back(*t);
      } else if (n.rfind(".probe.r", 0) != 0 && n != ".strata.log" && !n.ends_with(".tmp")) {
        out.foreign.push_back((st_->dir / n).string());
      }
    }
    std::ranges::sort(out.committed);
    std::ranges::sort(out.all);
    out.all.erase(std::unique(out.all.begin(), out.all.end()), out.all.end());
    return out;
  }
  [[nodiscard]] std::optional<std::uint64_t> free_bytes() const { return st_->records.free_bytes(); }
  [[nodiscard]] std::string shard_location(std::uint64_t v, int rank) const {
    return file_path(v).string() + "[rank " + std::to_string(rank) + "]";
  }
  [[nodiscard]] std::string commit_location(std::uint64_t v) const { return st_->records.commit_location(v); }
  /// \brief The shared file of version `v`.
  [[nodiscard]] std::filesystem::path file_path(std::uint64_t v) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "v%08llu.mpiio", static_cast<unsigned long long>(v));
    return st_->dir / buf;
  }

  friend bool operator==(mpiio_file const& a, mpiio_file const& b) noexcept { return a.st_ == b.st_; }

 private:
  static constexpr std::uint64_t magic = 0x314F4949504D5453ULL;  // "STMPIIO1" little-endian
  static constexpr std::uint64_t chunk = std::uint64_t{1} << 30;  // MPI counts are int
  struct state {
    posix_dir records;
    std::filesystem::path dir;
    std::optional<comm::mpi> comm;
  };
  [[nodiscard]] std::string who() const { return "rank " + std::to_string(st_->comm ? st_->comm->rank() : 0); }
  static std::string mpi_error(int rc) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    return std::string(text, static_cast<std::size_t>(len));
  }
  /// Where rank `rank`'s shard lies in the file (offset, bytes), from the file's header.
  std::pair<std::uint64_t, std::uint64_t> locate(strata::detail::unique_fd const& f, std::filesystem::path const& path,
                                                 std::uint64_t v, int rank) const {
    std::array<std::uint64_t, 2> head{};
    strata::detail::read_exactly_at(f.get(), path, 0, std::as_writable_bytes(std::span(head)));
    if (head[0] != magic) throw error(path.string() + ": not a strata MPI-IO checkpoint file (bad magic)");
    if (rank < 0 || static_cast<std::uint64_t>(rank) >= head[1])
      throw error(path.string() + ": holds " + std::to_string(head[1]) + " ranks, rank " + std::to_string(rank) + " asked");
    std::array<std::uint64_t, 2> entry{};
    strata::detail::read_exactly_at(f.get(), path, 16 + 16 * static_cast<std::uint64_t>(rank), std::as_writable_bytes(std::span(entry)));
    auto const end = static_cast<std::uint64_t>(::lseek(f.get(), 0, SEEK_END));
    if (entry[0] < header_bytes(head[1]) || entry[0] + entry[1] > end || entry[0] + entry[1] < entry[0])
      throw error(shard_location(v, rank) + ": the header places it outside the file (truncated or corrupt)");
    return {entry[0], entry[1]};
  }

  std::shared_ptr<state> st_ = std::make_shared<state>();
};

}  // namespace strata::storage
