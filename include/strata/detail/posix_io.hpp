#pragma once
/// \file
/// \brief POSIX file I/O shared by the storage drivers, the write-ahead log and the directory lock:
/// whole writes and reads that retry on EINTR and short transfers, directory fsync, and the durable
/// replacement of a file (temporary name, fsync, rename, fsync of the directory), so that a crash at
/// any instant leaves the old or the new file, never a torn one.
///
/// Throwing functions report an `io_error<Error>`: the `strata::error` subclass the caller's layer
/// reports (`checkpoint_error` for a checkpoint's files, plain `error` for reads), naming the path,
/// what failed and `strerror`, with those parts also as fields (`io_failure`). The non-throwing
/// primitives (`open_for_writing`, `write_all`, `try_fsync_directory`, `read_text`, `try_read_file`)
/// return errno or nullopt instead, for callers that word their own errors (the directory lock's
/// `usage_error`s) or that go on regardless (best-effort syncs).

#include <strata/error.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strata::detail {

/// \brief `strerror(e)` as a string.
inline std::string errno_text(int e) { return std::strerror(e); }

/// \brief What a failed file operation was, beside the message: the path, the operation, errno.
struct io_failure {
  std::filesystem::path path;
  std::string operation;  ///< "write", "fsync", "rename", "read", ...
  int errno_value = 0;    ///< 0: no system call failed (e.g. the file is shorter than asked)
};

/// \brief A failed file operation, thrown as `Base` (a `strata::error`) so that each layer keeps
/// its own error class; `catch (detail::io_failure const&)` reads the parts whatever the base.
template <class Base = error>
class io_error : public Base, public io_failure {
 public:
  io_error(std::string const& message, io_failure f) : Base(message), io_failure(std::move(f)) {}
};

/// \brief Who reports a failed file operation, and as what: `who` starts the message ("rank 3"),
/// `note` ends it ("(the last committed version is intact)"), `Error` is the class thrown.
///
/// \code
/// strata::detail::io_context<strata::checkpoint_error> ctx{"rank 3", "(the last committed version is intact)"};
/// strata::detail::write_file_durable(path, pieces, ctx);
/// // on failure: "rank 3: PATH.tmp: fsync failed: Input/output error (the last committed version is intact)"
/// \endcode
template <class Error = error>
struct io_context {
  std::string who;
  std::string note;

  /// \brief Throws "[who: ]PATH: what[ failed: strerror][ note]" (an `errno_value` of 0 adds no "failed").
  [[noreturn]] void fail(std::string_view what, std::filesystem::path const& path, int errno_value) const {
    std::string m = who.empty() ? std::string{} : who + ": ";
    m += path.string() + ": " + std::string(what);
    if (errno_value != 0) m += " failed: " + errno_text(errno_value);
    if (!note.empty()) m += " " + note;
    throw io_error<Error>(m, {path, std::string(what), errno_value});
  }
  /// \brief The same reporter without the note (for what happens after the point the note speaks of).
  [[nodiscard]] io_context without_note() const { return {who, {}}; }
};

/// \brief Move-only owner of a file descriptor.
class unique_fd {
 public:
  explicit unique_fd(int f = -1) noexcept : f_(f) {}
  unique_fd(unique_fd&& o) noexcept : f_(std::exchange(o.f_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    reset();
    f_ = std::exchange(o.f_, -1);
    return *this;
  }
  unique_fd(unique_fd const&) = delete;
  unique_fd& operator=(unique_fd const&) = delete;
  ~unique_fd() { reset(); }
  [[nodiscard]] int get() const noexcept { return f_; }
  explicit operator bool() const noexcept { return f_ >= 0; }
  /// \brief Closes now and returns `close`'s result (a write error may show only here).
  int release_close() noexcept {
    int const rc = ::close(f_);
    f_ = -1;
    return rc;
  }
  void reset() noexcept {
    if (f_ >= 0) ::close(f_);
    f_ = -1;
  }

 private:
  int f_;
};

/// \brief Creates `path` (or truncates it) for writing, mode 0644; check the result (errno says why not).
inline unique_fd open_for_writing(std::filesystem::path const& path) noexcept {
  return unique_fd{::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
}

/// \brief Writes all of `bytes` to `fd`, retrying on EINTR and short writes; 0 or the errno.
inline int write_all(int fd, std::span<const std::byte> bytes) noexcept {
  while (!bytes.empty()) {
    ssize_t const n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // never for a regular file; not a reason to spin
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return 0;
}

/// \brief fsyncs directory `dir`, so that a create, rename or unlink in it is durable; 0 or the
/// errno of the open or fsync that failed. EINVAL (a file system that cannot fsync a directory) is 0.
/// An empty path is the working directory (the parent of a bare file name).
inline int try_fsync_directory(std::filesystem::path const& dir) noexcept {
  unique_fd d{::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!d) return errno;
  if (::fsync(d.get()) != 0 && errno != EINVAL) return errno;
  return 0;
}

/// \brief `try_fsync_directory`, throwing `ctx`'s error on failure.
template <class Error>
void fsync_directory(std::filesystem::path const& dir, io_context<Error> const& ctx) {
  if (int const e = try_fsync_directory(dir)) ctx.fail("fsync of the directory", dir, e);
}

/// \brief Renames `from` over `to`, then fsyncs `to`'s directory: the new name is durable when it returns.
template <class Error>
void rename_durable(std::filesystem::path const& from, std::filesystem::path const& to, io_context<Error> const& ctx) {
  if (::rename(from.c_str(), to.c_str()) != 0) ctx.fail("rename to " + to.filename().string(), from, errno);
  fsync_directory(to.parent_path(), ctx);
}

/// \brief Opens `path` read-only; "PATH: missing" when it does not exist.
template <class Error = error>
unique_fd open_for_reading(std::filesystem::path const& path, io_context<Error> const& ctx = {}) {
  unique_fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!f) ctx.fail(errno == ENOENT ? "missing" : "open", path, errno == ENOENT ? 0 : errno);
  return f;
}

/// \brief Reads `out.size()` bytes of the open file `fd` (at `path`) from `offset` (pread: nothing else is
/// read); a file that ends before is "truncated", with where it ends and what was asked.
template <class Error = error>
void read_exactly_at(int fd, std::filesystem::path const& path, std::uint64_t offset,
                     std::span<std::byte> out, io_context<Error> const& ctx = {}) {
  constexpr std::size_t most = std::size_t{1} << 30;  // per call: below what one read may return
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t const n = ::pread(fd, out.data() + got, out.size() - got < most ? out.size() - got : most, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      ctx.fail("read", path, errno);
    }
    if (n == 0)
      ctx.fail("ends at byte " + std::to_string(offset + got) + ", bytes [" + std::to_string(offset) + ", +" +
                   std::to_string(out.size()) + ") asked (truncated)",
               path, 0);
    got += static_cast<std::size_t>(n);
  }
}

/// \brief What `read_to_end` does when the file ends before the size it had when reading began.
enum class on_shrink { fail, keep };

/// \brief The whole open file `fd` (at `path`), from byte 0 to the size `fstat` gives.
template <class Error = error>
std::vector<std::byte> read_to_end(int fd, std::filesystem::path const& path, on_shrink shrink = on_shrink::fail,
                                   io_context<Error> const& ctx = {}) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) ctx.fail("stat", path, errno);
  std::vector<std::byte> out(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t const n = ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      ctx.fail("read", path, errno);
    }
    if (n == 0) {
      if (shrink == on_shrink::keep) break;
      ctx.fail("file shrank while reading", path, 0);
    }
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

/// \brief The whole file at `path`.
template <class Error = error>
std::vector<std::byte> read_file(std::filesystem::path const& path, io_context<Error> const& ctx = {}) {
  auto const f = open_for_reading(path, ctx);
  return read_to_end(f.get(), path, on_shrink::fail, ctx);
}

/// \brief Bytes `[offset, offset + out.size())` of the file at `path`, without the rest of it.
template <class Error = error>
void read_file_part(std::filesystem::path const& path, std::uint64_t offset, std::span<std::byte> out,
                    io_context<Error> const& ctx = {}) {
  auto const f = open_for_reading(path, ctx);
  read_exactly_at(f.get(), path, offset, out, ctx);
}

/// \brief Up to `limit` bytes (about: whole 4 KiB reads) of the open file from byte 0, as text;
/// stops quietly at the end or at an error.
inline std::string read_text(int fd, std::size_t limit = std::size_t{1} << 20) {
  std::string out;
  char buf[4096];
  for (off_t off = 0; out.size() < limit;) {
    ssize_t const n = ::pread(fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  return out;
}

/// \brief `read_text` of the file at `path`; nullopt when it cannot be opened.
inline std::optional<std::string> try_read_file(std::filesystem::path const& path, std::size_t limit = std::size_t{1} << 20) {
  unique_fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!f) return std::nullopt;
  return read_text(f.get(), limit);
}

/// \brief A callable that does nothing (the default `halfway` of the writes below).
struct no_callback {
  void operator()() const noexcept {}
};

/// \brief Writes the pieces to `PATH.tmp`, fsyncs it and renames it over `path`: a crash leaves
/// the old file or the new one. The directory is not fsync'ed (`write_file_durable` does that).
/// `halfway()` is called once half of the bytes are written (fault injection: at most 64 MiB go
/// per `write`, so that the point falls inside large pieces). On failure the temporary file is
/// removed and `ctx`'s error names it.
template <class Error = error, class Halfway = no_callback>
void replace_file(std::filesystem::path const& path, std::span<const std::span<const std::byte>> pieces,
                  io_context<Error> const& ctx = {}, Halfway&& halfway = {}) {
  auto const tmp = std::filesystem::path(path.string() + ".tmp");
  auto const fail = [&](std::string_view what, int e) {
    ::unlink(tmp.c_str());
    ctx.fail(what, tmp, e);
  };
  auto f = open_for_writing(tmp);
  if (!f) fail("create", errno);
  std::uint64_t total = 0;
  for (auto p : pieces) total += p.size();
  std::uint64_t written = 0;
  bool half_called = false;
  constexpr std::size_t most = std::size_t{64} << 20;
  for (auto p : pieces)
    for (std::size_t at = 0; at < p.size();) {
      auto const part = p.subspan(at, p.size() - at < most ? p.size() - at : most);
      if (int const e = write_all(f.get(), part)) fail("write", e);
      at += part.size();
      written += part.size();
      if (!half_called && 2 * written >= total) {
        half_called = true;
        halfway();
      }
    }
  if (!half_called) halfway();
  if (::fsync(f.get()) != 0) fail("fsync", errno);
  if (f.release_close() != 0) fail("close", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename to " + path.filename().string(), errno);
}

/// \brief `replace_file`, then the directory fsync'ed: when it returns, the new file is durable
/// under its final name.
template <class Error = error, class Halfway = no_callback>
void write_file_durable(std::filesystem::path const& path, std::span<const std::span<const std::byte>> pieces,
                        io_context<Error> const& ctx = {}, Halfway&& halfway = {}) {
  replace_file(path, pieces, ctx, std::forward<Halfway>(halfway));
  fsync_directory(path.parent_path(), ctx.without_note());
}

/// \brief `write_file_durable` of one piece.
template <class Error = error>
void write_file_durable(std::filesystem::path const& path, std::span<const std::byte> bytes, io_context<Error> const& ctx = {}) {
  write_file_durable(path, std::span(&bytes, 1), ctx);
}

}  // namespace strata::detail
