#pragma once
/// \file
/// \brief `storage::byte_buffer`: read-only bytes of a shard, owned or mapped from its file.

#include <strata/detail/posix_io.hpp>
#include <strata/error.hpp>

#include <sys/mman.h>
#include <sys/stat.h>

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
    strata::detail::io_context<> const report{};
    auto const f = strata::detail::open_for_reading(path, report);
    struct stat st{};
    if (::fstat(f.get(), &st) != 0) report.fail("stat", path, errno);
    byte_buffer b;
    b.size_ = static_cast<std::size_t>(st.st_size);
    if (b.size_ > 0) {
      void* p = ::mmap(nullptr, b.size_, PROT_READ, MAP_PRIVATE, f.get(), 0);
      if (p == MAP_FAILED) report.fail("mmap", path, errno);
      ::madvise(p, b.size_, MADV_SEQUENTIAL | MADV_WILLNEED);
      b.map_ = p;
      b.data_ = static_cast<std::byte const*>(p);
    }
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
