#pragma once
/// \file
/// \brief `staging_buffer`: host memory an asynchronous checkpoint copies the state into, kept and
/// reused between checkpoints (the writer keeps two: double buffering). With Thrust's CUDA system it
/// is page-locked (`cudaHostAlloc`), so device-to-host copies run at the copy engine's rate and
/// asynchronously; elsewhere, or if pinning fails, ordinary memory.

#include <strata/config.hpp>

#include <cstddef>
#include <cstring>
#include <new>
#include <utility>

#if STRATA_SEPARATE_DEVICE_MEMORY && __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#define STRATA_PINNED_STAGING 1
#else
#define STRATA_PINNED_STAGING 0
#endif

namespace strata::detail {

/// \brief Uninitialised bytes, grown only when too small (a warm buffer costs no allocation and no
/// page faults), never shrunk; move-only.
class staging_buffer {
 public:
  staging_buffer() noexcept = default;
  staging_buffer(staging_buffer&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), size_(std::exchange(o.size_, 0)), cap_(std::exchange(o.cap_, 0)),
        pinned_(std::exchange(o.pinned_, false)) {}
  staging_buffer& operator=(staging_buffer&& o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      size_ = std::exchange(o.size_, 0);
      cap_ = std::exchange(o.cap_, 0);
      pinned_ = std::exchange(o.pinned_, false);
    }
    return *this;
  }
  staging_buffer(staging_buffer const&) = delete;
  staging_buffer& operator=(staging_buffer const&) = delete;
  ~staging_buffer() { release(); }

  /// \brief `n` bytes usable; their contents are unspecified after a growth.
  void resize(std::size_t n) {
    if (n > cap_) {
      release();
      allocate(n);
    }
    size_ = n;
  }
  /// \brief `resize(n)`, then every page written once, so that the first copy into it pays no page
  /// fault (page-locked memory is resident already).
  void prefault(std::size_t n) {
    resize(n);
    if (pinned_) return;
    constexpr std::size_t page = 4096;
    for (std::size_t i = 0; i < n; i += page) p_[i] = std::byte{0};
  }
  [[nodiscard]] std::byte* data() noexcept { return p_; }
  [[nodiscard]] std::byte const* data() const noexcept { return p_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  /// \brief Whether the memory is page-locked (CUDA builds).
  [[nodiscard]] bool pinned() const noexcept { return pinned_; }

 private:
  void allocate(std::size_t n) {
#if STRATA_PINNED_STAGING
    void* p = nullptr;
    if (cudaHostAlloc(&p, n, cudaHostAllocDefault) == cudaSuccess) {
      p_ = static_cast<std::byte*>(p);
      cap_ = n;
      pinned_ = true;
      return;
    }
    (void)cudaGetLastError();  // no device, or out of pinned memory: ordinary memory serves
#endif
    p_ = static_cast<std::byte*>(::operator new(n, std::align_val_t{64}));
    cap_ = n;
    pinned_ = false;
  }
  void release() noexcept {
    if (!p_) return;
#if STRATA_PINNED_STAGING
    if (pinned_) {
      cudaFreeHost(p_);
      p_ = nullptr;
      cap_ = size_ = 0;
      return;
    }
#endif
    ::operator delete(p_, std::align_val_t{64});
    p_ = nullptr;
    cap_ = size_ = 0;
  }

  std::byte* p_ = nullptr;
  std::size_t size_ = 0, cap_ = 0;
  bool pinned_ = false;
};

}  // namespace strata::detail
