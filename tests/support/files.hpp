#pragma once
// Test helpers: scratch directories and deliberate damage to checkpoint files.
#include <strata/comm/concepts.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace strata::test {

/// A fresh directory under the system temp dir, removed on scope exit (by rank 0).
/// Collective for a communicator: rank 0 picks the name and every rank gets it.
class scratch_dir {
 public:
  template <comm::communicator Comm>
  scratch_dir(Comm const& comm, std::string const& tag)
      : remove_(comm.rank() == 0), barrier_([comm] { comm.barrier(); }) {
    std::uint64_t id = comm.rank() == 0 ? static_cast<std::uint64_t>(::getpid()) * 1000003u + counter()++ : 0;
    comm.broadcast(std::as_writable_bytes(std::span(&id, 1)), 0);
    path_ = std::filesystem::temp_directory_path() / ("strata-test-" + tag + "-" + std::to_string(id));
    if (comm.rank() == 0) std::filesystem::remove_all(path_);
    comm.barrier();
  }
  scratch_dir(scratch_dir const&) = delete;
  ~scratch_dir() {
    barrier_();  // no rank may still be looking at the files
    std::error_code ec;
    if (remove_) std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] std::filesystem::path const& path() const noexcept { return path_; }
  operator std::filesystem::path const&() const noexcept { return path_; }

 private:
  static std::uint64_t& counter() {
    static std::uint64_t c = 0;
    return c;
  }
  std::filesystem::path path_;
  bool remove_;
  std::function<void()> barrier_;
};

/// Flips one bit of the file at `offset` (negative: from the end).
inline void flip_bit(std::filesystem::path const& p, long long offset, int bit = 0) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  if (!f) throw std::runtime_error("flip_bit: cannot open " + p.string());
  auto const size = static_cast<long long>(std::filesystem::file_size(p));
  auto const at = offset < 0 ? size + offset : offset;
  f.seekg(at);
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ (1 << bit));
  f.seekp(at);
  f.write(&c, 1);
}

/// Cuts the file to `keep` bytes.
inline void truncate_to(std::filesystem::path const& p, std::uintmax_t keep) { std::filesystem::resize_file(p, keep); }

/// Path of rank r's shard of version v in a posix_dir.
inline std::filesystem::path shard_path(std::filesystem::path const& dir, std::uint64_t v, int r) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "v%08llu/r%05d.shard", static_cast<unsigned long long>(v), r);
  return dir / buf;
}
/// Path of the commit record (manifest) of version v in a posix_dir.
inline std::filesystem::path manifest_path(std::filesystem::path const& dir, std::uint64_t v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "v%08llu.manifest.json", static_cast<unsigned long long>(v));
  return dir / buf;
}

}  // namespace strata::test
