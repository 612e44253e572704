#pragma once
// The raw I/O that benchmarks compare strata against: a write+fsync of the same bytes, a read, and
// dropping a file's pages from the cache before a timed read. Shared by the benchmark programs.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace strata_bench {

/// Flushes the file and drops its pages from the page cache (a later read comes from the disk).
inline void drop_cache(std::filesystem::path const& p) {
  int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

/// `drop_cache` for every regular file under `root`.
inline void drop_cache_tree(std::filesystem::path const& root) {
  std::error_code ec;
  for (auto const& e : std::filesystem::recursive_directory_iterator(root, ec))
    if (e.is_regular_file()) drop_cache(e.path());
}

/// Writes `n` bytes to `p` (created or truncated) and fsyncs it: what a checkpoint must at least do.
inline void raw_write(std::filesystem::path const& p, std::byte const* data, std::size_t n) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw std::runtime_error("open " + p.string() + ": " + std::strerror(errno));
  for (std::size_t off = 0; off < n;) {
    auto w = ::write(fd, data + off, std::min<std::size_t>(n - off, std::size_t{64} << 20));
    if (w < 0) throw std::runtime_error("write " + p.string() + ": " + std::strerror(errno));
    off += static_cast<std::size_t>(w);
  }
  ::fsync(fd);
  ::close(fd);
}

/// Reads `n` bytes of `p` into `data`.
inline void raw_read(std::filesystem::path const& p, std::byte* data, std::size_t n) {
  int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("open " + p.string() + ": " + std::strerror(errno));
  for (std::size_t off = 0; off < n;) {
    auto r = ::read(fd, data + off, n - off);
    if (r <= 0) {
      ::close(fd);
      throw std::runtime_error("short read " + p.string());
    }
    off += static_cast<std::size_t>(r);
  }
  ::close(fd);
}

}  // namespace strata_bench
