#pragma once
/// \file
/// \brief The device side of a `dag::task_flow` run (SPEC S9, G1): one copy of each handle a device task
/// uses in the memory of the build's Thrust device system, per device worker, kept valid between tasks.
///
/// Protocol (write-through): the host buffer of a handle always holds its newest value once the task
/// that wrote it completes. A device task copies in the handles it reads unless the device's copy is
/// still valid, runs, and copies what it wrote back to the host before it completes; its device copy
/// stays valid. Any other write of the handle on this rank (a host task, a receive from another rank, a
/// stolen task's result) makes every device copy stale, and a device task writing it makes the other
/// devices' copies stale. Every flag is changed by the thread that completes the writing operation or
/// by the device's own worker, ordered by the task dependencies (no two writers, no reader beside a
/// writer), so no flag is touched by two threads at once.

#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/system_error.h>

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
#include <cuda_runtime.h>
#endif

#include <cstddef>
#include <cstdint>
#include <limits>
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

/// The handles' copies on each device worker of one rank.
class device_copies {
 public:
  device_copies(std::size_t handles, int devices)
      : mem_(static_cast<std::size_t>(devices)), valid_(static_cast<std::size_t>(devices), std::vector<char>(handles, 0)),
        in_(static_cast<std::size_t>(devices), 0), out_(static_cast<std::size_t>(devices), 0) {
    for (auto& m : mem_) m.resize(handles);
  }

  /// Device worker `d`: handle `h`'s device bytes (raw device addresses), copied in from `host` when the
  /// task reads it and the device copy is stale.
  std::span<std::byte> acquire(int d, std::size_t h, std::span<std::byte> host, bool reads) {
    auto& v = mem_[idx(d)][h];
    if (v.size() != host.size()) v.resize(host.size()), valid_[idx(d)][h] = 0;
    if (reads && !valid_[idx(d)][h]) {
      thrust::copy(host.begin(), host.end(), v.begin());
      in_[idx(d)] += host.size();
      valid_[idx(d)][h] = 1;
    }
    return {thrust::raw_pointer_cast(v.data()), v.size()};
  }
  /// Device worker `d` after its task wrote `h`: the value back into `host`; the copy on `d` stays valid.
  void write_back(int d, std::size_t h, std::span<std::byte> host) {
    auto const& v = mem_[idx(d)][h];
    thrust::copy(v.begin(), v.end(), host.begin());
    out_[idx(d)] += host.size();
  }
  /// The operation that wrote `h` completed; it ran on device `d` (-1: not on a device).
  void wrote(std::size_t h, int d) {
    for (std::size_t k = 0; k < valid_.size(); ++k) valid_[k][h] = static_cast<int>(k) == d ? 1 : 0;
  }
  /// Frees device `d`'s copies (on its worker's thread, with its device current).
  void release(int d) { mem_[idx(d)].clear(); }

  /// Bytes copied to and from the devices (read once the device workers are joined).
  [[nodiscard]] std::uint64_t bytes_in() const noexcept { return sum(in_); }
  [[nodiscard]] std::uint64_t bytes_out() const noexcept { return sum(out_); }

 private:
  static std::size_t idx(int d) { return static_cast<std::size_t>(d); }
  static std::uint64_t sum(std::vector<std::uint64_t> const& v) {
    std::uint64_t s = 0;
    for (auto x : v) s += x;
    return s;
  }
  std::vector<std::vector<thrust::device_vector<std::byte>>> mem_;
  std::vector<std::vector<char>> valid_;  // [device][handle]
  std::vector<std::uint64_t> in_, out_;   // [device], each changed by its worker only
};

}  // namespace strata::dag::detail
