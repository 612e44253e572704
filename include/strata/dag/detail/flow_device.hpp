#pragma once
/// \file
/// \brief The device side of a `dag::task_flow` run (SPEC S9, G1): one copy of each handle a device task
/// uses in the memory of the build's Thrust device system, per device worker, kept valid between tasks.
///
/// Protocol (write-back, lazy): a device task copies in the handles it reads unless the device's copy
/// is valid, runs, and leaves what it wrote on the device: the host buffer of that handle is stale
/// until something on the host needs it. The newest value is copied back (`host_current`) only before
/// a host task reads the handle, a send to another rank, a steal offer, a read by another device, and,
/// for what is still newest on a device, when the device's worker ends (`flush`), so that the buffers
/// hold every value when the run returns. Any write on the host (a host task, a receive, a stolen
/// task's result) makes every device copy stale; a device task's write the other devices' copies and
/// the host's. Task dependencies order the writers against everything else; each handle's flags and
/// its copy back are under that handle's lock, since readers (two host tasks, a send) may run at once.

#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/system_error.h>

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
#include <cuda_runtime.h>
#endif

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace strata::dag::detail {

/// Devices of the Thrust device system this process sees: CUDA's count; for a host system (OMP,
/// CPP: device memory is host memory, useful to test device tasks without a GPU) no limit.
inline int visible_devices() {
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
#else
  return std::numeric_limits<int>::max();
#endif
}

/// Makes device `d` current on the calling thread (a device worker, at its start).
inline void use_device(int d) {
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  if (auto const e = cudaSetDevice(d); e != cudaSuccess)
    throw std::runtime_error("cudaSetDevice(" + std::to_string(d) + "): " + cudaGetErrorString(e));
#else
  (void)d;
#endif
}

/// Waits for the work a device task queued (its kernels may be asynchronous) and reports its error.
inline void finish_device_work() {
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  if (auto const e = cudaDeviceSynchronize(); e != cudaSuccess)
    throw std::runtime_error(std::string("device task failed (cudaDeviceSynchronize): ") + cudaGetErrorString(e));
#endif
}

/// Device `d` current on the calling thread while it lives (a host thread copying a device's value
/// back); the previous device current again after. Nothing to do for a host device system.
class device_scope {
 public:
  explicit device_scope(int d) {
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
    if (cudaGetDevice(&prev_) != cudaSuccess) prev_ = -1;
    if (prev_ != d) use_device(d);
    else prev_ = -1;
#else
    (void)d;
#endif
  }
  ~device_scope() {
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
    if (prev_ >= 0) (void)cudaSetDevice(prev_);
#endif
  }
  device_scope(device_scope const&) = delete;
  device_scope& operator=(device_scope const&) = delete;

 private:
  int prev_ = -1;
};

/// The handles' copies on each device worker of one rank, and where each handle's newest value is.
class device_copies {
 public:
  device_copies(std::size_t handles, int devices)
      : mem_(static_cast<std::size_t>(devices)), valid_(static_cast<std::size_t>(devices), std::vector<char>(handles, 0)),
        newest_(handles, on_host), locks_(std::make_unique<std::mutex[]>(handles)), in_(static_cast<std::size_t>(devices), 0) {
    for (auto& m : mem_) m.resize(handles);
  }

  /// Device worker `d`: handle `h`'s device bytes (raw device addresses), copied in when the task reads
  /// it and the device copy is stale (from the host, after bringing the host up to date when another
  /// device holds the newest value).
  std::span<std::byte> acquire(int d, std::size_t h, std::span<std::byte> host, bool reads) {
    auto& v = mem_[idx(d)][h];
    if (v.size() != host.size()) v.resize(host.size()), valid_[idx(d)][h] = 0;
    if (reads && !valid_[idx(d)][h]) {
      host_current(h, host);
      thrust::copy(host.begin(), host.end(), v.begin());
      in_[idx(d)] += host.size();
      valid_[idx(d)][h] = 1;
    }
    return {thrust::raw_pointer_cast(v.data()), v.size()};
  }
  /// Before anything on the host reads `host` (handle `h`): its newest value copied back from the
  /// device that holds it, if the host's copy is stale. Any thread; the device's copy stays valid.
  void host_current(std::size_t h, std::span<std::byte> host) {
    std::lock_guard lk(locks_[h]);
    auto const d = newest_[h];
    if (d == on_host) return;
    copy_back(d, h, host);
    newest_[h] = on_host;
  }
  /// The operation that wrote `h` completed; it ran on device `d` (-1: not on a device): the newest
  /// value is there, every other copy stale.
  void wrote(std::size_t h, int d) {
    std::lock_guard lk(locks_[h]);
    for (std::size_t k = 0; k < valid_.size(); ++k) valid_[k][h] = static_cast<int>(k) == d ? 1 : 0;
    newest_[h] = d < 0 ? on_host : d;
  }
  /// Device worker `d` at its end: every value still newest on `d` back into its host buffer.
  void flush(int d, std::vector<std::span<std::byte>> const& host) {
    for (std::size_t h = 0; h < newest_.size(); ++h) {
      std::lock_guard lk(locks_[h]);
      if (newest_[h] != d) continue;
      copy_back(d, h, host[h]);
      newest_[h] = on_host;
    }
  }
  /// Frees device `d`'s copies (on its worker's thread, with its device current).
  void release(int d) { mem_[idx(d)].clear(); }

  /// Bytes copied to and from the devices (read once the device workers are joined).
  [[nodiscard]] std::uint64_t bytes_in() const noexcept {
    std::uint64_t s = 0;
    for (auto x : in_) s += x;
    return s;
  }
  [[nodiscard]] std::uint64_t bytes_out() const noexcept { return out_.load(); }

 private:
  static constexpr int on_host = -1;
  static std::size_t idx(int d) { return static_cast<std::size_t>(d); }
  // Under locks_[h]: device d's copy of h into host.
  void copy_back(int d, std::size_t h, std::span<std::byte> host) {
    device_scope on(d);
    auto const& v = mem_[idx(d)][h];
    thrust::copy(v.begin(), v.end(), host.begin());
    out_ += host.size();
  }
  std::vector<std::vector<thrust::device_vector<std::byte>>> mem_;
  std::vector<std::vector<char>> valid_;  // [device][handle]: that device's copy holds the newest value
  std::vector<int> newest_;                // [handle]: the device holding the only newest value, or on_host
  std::unique_ptr<std::mutex[]> locks_;    // [handle]
  std::vector<std::uint64_t> in_;          // [device], each changed by its worker only
  std::atomic<std::uint64_t> out_{0};      // copied back, by any thread
};

}  // namespace strata::dag::detail
