#pragma once
/// \file
/// \brief `storage::posix_dir`: shards and commit records as files in a directory.
///
/// Layout: `DIR/v00000042/r00003.shard` (rank 3's shard of version 42) and
/// `DIR/v00000042.manifest.json` (the commit record). Every file is written to a
/// temporary name, fsync'ed, renamed over its final name, and the directory
/// fsync'ed, so a crash at any instant leaves the old or the new file, never a torn one
/// (`strata::detail::write_file_durable`).

#include <strata/config.hpp>
#include <strata/detail/posix_io.hpp>
#include <strata/error.hpp>
#include <strata/storage/concepts.hpp>
#include <strata/storage/fault_points.hpp>

#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>

namespace strata::storage {

namespace detail {

inline char const* version_format() noexcept { return "v%08llu"; }

inline std::optional<std::uint64_t> parse_version(std::string const& name, std::string_view suffix) {
  if (name.size() != 9 + suffix.size() || name[0] != 'v' || name.substr(9) != suffix) return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 1; i < 9; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(name[i] - '0');
  }
  return v;
}

}  // namespace detail

/// \brief Checkpoint files in a POSIX directory (node-local disk or a shared file system).
///
/// \code
/// strata::checkpointer<strata::comm::mpi, strata::snapshot::full, strata::storage::posix_dir> ckpt{
///     MPI_COMM_WORLD, {.directory = "/scratch/job42/ckpt"}};
/// \endcode
class posix_dir {
 public:
  static constexpr std::string_view name = "posix_dir";
  /// `write_shard` uses no communicator: it may run on a thread of its own (storage::multilevel's
  /// background flush).
  static constexpr bool independent_writes = true;

  /// \brief Creates `dir` if needed and checks that this rank can write in it.
  template <comm::communicator Comm>
  void attach(Comm const& comm, std::filesystem::path const& dir) {
    std::string why;
    try {
      attach_here(comm.rank(), dir);
    } catch (std::exception const& e) {
      why = e.what();
    }
    if (comm.size() > 1) {
      auto seen = check_shared(comm, why.empty());  // collective: every rank takes part
      if (why.empty()) why = std::move(seen);
    }
    if (!why.empty()) throw usage_error(why);
  }

  /// \brief Prepares `dir` for this rank only (no collective; no check that other ranks share it).
  void attach_here(int rank, std::filesystem::path const& dir) {
    rank_ = rank;
    dir_ = dir;
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec)
      throw usage_error(who() + ": cannot create checkpoint directory " + dir_.string() + ": " + ec.message());
    if (!std::filesystem::is_directory(dir_, ec))
      throw usage_error(who() + ": checkpoint path " + dir_.string() + " exists but is not a directory");
    auto const probe = dir_ / (".probe.r" + std::to_string(rank_));
    auto f = strata::detail::open_for_writing(probe);
    if (!f)
      throw usage_error(who() + ": checkpoint directory " + dir_.string() + " is not writable: " +
                        strata::detail::errno_text(errno));
    f.reset();
    ::unlink(probe.c_str());
  }

  void write_shard(std::uint64_t v, snapshot::encoded_shard const& shard) {
    write_in_version(v, shard_path(v, rank_), shard.segments,
                     [&] { fault::point(fault_points::writing_shard, rank_, v); });
  }
  /// \brief Writes `pieces` durably as `path`, a file in version `v`'s directory (created if needed):
  /// for drivers that keep more files per version beside the shards (`node_local`'s copies and parity).
  template <class Halfway = strata::detail::no_callback>
  void write_in_version(std::uint64_t v, std::filesystem::path const& path,
                        std::span<const std::span<const std::byte>> pieces, Halfway&& halfway = {}) {
    auto const vdir = version_dir(v);
    std::error_code ec;
    if (std::filesystem::create_directory(vdir, ec)) strata::detail::fsync_directory(dir_, reporter());
    if (ec) throw checkpoint_error(who() + ": cannot create " + vdir.string() + ": " + ec.message());
    strata::detail::write_file_durable(path, pieces, writer(), std::forward<Halfway>(halfway));
  }
  /// \brief The shard mapped read-only from its file (no copy).
  [[nodiscard]] byte_buffer read_shard(std::uint64_t v, int rank) const {
    return byte_buffer::map_file(shard_path(v, rank));
  }
  /// \brief Bytes `[offset, offset + out.size())` of the shard, read without the rest of it.
  void read_shard_part(std::uint64_t v, int rank, std::uint64_t offset, std::span<std::byte> out) const {
    strata::detail::read_file_part(shard_path(v, rank), offset, out);
  }
  void remove_shard(std::uint64_t v, int rank) {
    std::error_code ec;
    auto const p = shard_path(v, rank);
    std::filesystem::remove(p, ec);
    std::filesystem::remove(p.string() + ".tmp", ec);  // a write that crashed before its rename
  }

  void write_commit(std::uint64_t v, std::string_view text) {
    strata::detail::write_file_durable(commit_path(v), std::as_bytes(std::span(text)), writer());
  }
  [[nodiscard]] std::optional<std::string> read_commit(std::uint64_t v) const {
    auto const p = commit_path(v);
    std::error_code ec;
    if (!std::filesystem::exists(p, ec)) return std::nullopt;
    auto const bytes = strata::detail::read_file(p);
    return std::string(reinterpret_cast<char const*>(bytes.data()), bytes.size());
  }
  void remove_commit(std::uint64_t v) {
    std::error_code ec;
    if (std::filesystem::remove(commit_path(v), ec)) strata::detail::fsync_directory(dir_, reporter());
  }
  /// \brief Removes the version's folder once it is empty (any rank may call; the last one succeeds).
  /// \brief Removes the version's directory once its shards are gone, with whatever temporary files
  /// crashed writes left in it (of any rank: none is written to an old version any more), and a
  /// commit record's temporary file.
  void remove_version(std::uint64_t v) {
    std::error_code ec;
    std::filesystem::remove(commit_path(v).string() + ".tmp", ec);
    auto const d = version_dir(v);
    for (auto const& e : std::filesystem::directory_iterator(d, ec))
      if (e.path().extension() == ".tmp") std::filesystem::remove(e.path(), ec);
    std::filesystem::remove(d, ec);  // fails harmlessly while other ranks' shards remain
  }

  /// \brief The versions in the directory (committed, any trace) and the entries it does not recognise.
  [[nodiscard]] STRATA_INLINE listing list() const;
  [[nodiscard]] std::optional<std::uint64_t> free_bytes() const {
    struct statvfs s{};
    if (::statvfs(dir_.c_str(), &s) != 0) return std::nullopt;
    return static_cast<std::uint64_t>(s.f_bavail) * s.f_frsize;
  }
  [[nodiscard]] std::string shard_location(std::uint64_t v, int rank) const { return shard_path(v, rank).string(); }
  [[nodiscard]] std::string commit_location(std::uint64_t v) const { return commit_path(v).string(); }
  [[nodiscard]] std::filesystem::path const& directory() const noexcept { return dir_; }

  friend bool operator==(posix_dir const& a, posix_dir const& b) noexcept { return a.dir_ == b.dir_; }

 private:
  [[nodiscard]] std::string who() const { return "rank " + std::to_string(rank_); }
  /// How a failed file operation is reported: as this rank's checkpoint_error ...
  [[nodiscard]] strata::detail::io_context<checkpoint_error> reporter() const { return {who(), {}}; }
  /// ... and, while a version is being written, saying that the last committed one is intact.
  [[nodiscard]] strata::detail::io_context<checkpoint_error> writer() const {
    return {who(), "(the last committed version is intact)"};
  }

  /// Rank 0 leaves a file with a fresh name; a rank that cannot see it is not sharing the directory.
  template <comm::communicator Comm>
  std::string check_shared(Comm const& comm, bool usable) {
    std::uint64_t token = 0;
    if (comm.rank() == 0) {
      token = static_cast<std::uint64_t>(::getpid()) << 32 ^
              static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
      if (usable) (void)strata::detail::open_for_writing(token_path(token));  // created, closed at once
    }
    comm.broadcast(std::as_writable_bytes(std::span(&token, 1)), 0);
    std::error_code ec;
    std::string why;
    if (usable && !std::filesystem::exists(token_path(token), ec)) {
      char host[256] = {};
      ::gethostname(host, sizeof host - 1);
      why = who() + " on " + host + ": checkpoint directory " + dir_.string() +
            " is not the one rank 0 uses (it does not see rank 0's files there): posix_dir needs a directory "
            "every rank shares; for node-local storage use strata::storage::node_local";
    }
    (void)comm.all_reduce(std::uint64_t{!why.empty()}, comm::reduce_op::max);  // every rank has looked
    if (comm.rank() == 0 && usable) ::unlink(token_path(token).c_str());
    return why;  // only the ranks that did not see it fail; the checkpointer tells every rank their reason
  }
  [[nodiscard]] std::filesystem::path token_path(std::uint64_t token) const {
    return dir_ / (".probe.shared." + std::to_string(token));
  }
  [[nodiscard]] std::filesystem::path version_dir(std::uint64_t v) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, detail::version_format(), static_cast<unsigned long long>(v));
    return dir_ / buf;
  }
  [[nodiscard]] std::filesystem::path shard_path(std::uint64_t v, int rank) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "r%05d.shard", rank);
    return version_dir(v) / buf;
  }
  [[nodiscard]] std::filesystem::path commit_path(std::uint64_t v) const {
    return std::filesystem::path(version_dir(v).string() + ".manifest.json");
  }

  std::filesystem::path dir_;
  int rank_ = 0;
};

}  // namespace strata::storage

#if !defined(STRATA_SEPARATE_COMPILATION)
#include <strata/storage/impl/posix_dir.ipp>
#endif
