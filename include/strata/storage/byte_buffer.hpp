#pragma once
/// \file
/// \brief `storage::byte_buffer`: read-only bytes of a shard, owned or mapped from its file.

#include <strata/error.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <span>
#include <utility>
#include <vector>

namespace strata::storage {

/// \brief Read-only bytes: either a vector it owns or a private read-only mapping of a file,
/// so that a restore reads a shard through the page cache without an extra copy (SPEC R7).
class byte_buffer {
 public:
  byte_buffer() = default;
  /// \brief Owns `v` (implicit: drivers that build shards in memory just return a vector).
  byte_buffer(std::vector<std::byte> v) noexcept : owned_(std::move(v)), data_(owned_.data()), size_(owned_.size()) {}
  byte_buffer(byte_buffer&& o) noexcept { *this = std::move(o); }
  byte_buffer& operator=(byte_buffer&& o) noexcept {
    if (this != &o) {
      release();
      owned_ = std::move(o.owned_);
      map_ = std::exchange(o.map_, nullptr);
      size_ = std::exchange(o.size_, 0);
      data_ = map_ ? static_cast<std::byte const*>(map_) : owned_.data();
      o.data_ = nullptr;
    }
    return *this;
  }
  byte_buffer(byte_buffer const&) = delete;
  byte_buffer& operator=(byte_buffer const&) = delete;
  ~byte_buffer() { release(); }

  /// \brief Maps `path` read-only (read-ahead requested, pages fault in as they are used);
  /// throws `error` naming the file.
  static byte_buffer map_file(std::filesystem::path const& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw error(path.string() + ": " + (errno == ENOENT ? std::string("missing") : std::string(std::strerror(errno))));
    struct stat st{};
    if (::fstat(fd, &st) != 0) {
      int const e = errno;
      ::close(fd);
      throw error(path.string() + ": stat failed: " + std::strerror(e));
    }
    byte_buffer b;
    b.size_ = static_cast<std::size_t>(st.st_size);
    if (b.size_ > 0) {
      void* p = ::mmap(nullptr, b.size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int const e = errno;
        ::close(fd);
        throw error(path.string() + ": mmap failed: " + std::strerror(e));
      }
      ::madvise(p, b.size_, MADV_SEQUENTIAL | MADV_WILLNEED);
      b.map_ = p;
      b.data_ = static_cast<std::byte const*>(p);
    }
    ::close(fd);
    return b;
  }

  [[nodiscard]] std::byte const* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] std::span<const std::byte> span() const noexcept { return {data_, size_}; }
  operator std::span<const std::byte>() const noexcept { return span(); }  // NOLINT: reads as bytes
  [[nodiscard]] std::byte const* begin() const noexcept { return data_; }
  [[nodiscard]] std::byte const* end() const noexcept { return data_ + size_; }
  friend bool operator==(byte_buffer const& a, std::vector<std::byte> const& b) noexcept {
    return a.size() == b.size() && (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size()) == 0);
  }

 private:
  void release() noexcept {
    if (map_) ::munmap(map_, size_);
    map_ = nullptr;
  }
  std::vector<std::byte> owned_;
  void* map_ = nullptr;
  std::byte const* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace strata::storage
