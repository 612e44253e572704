#pragma once
/// \file
/// \brief Copies between device and host memory for staging (Thrust's CUDA system): on a stream of
/// strata's own, asynchronous, completed together by one event. On the host systems device memory
/// is host memory and a copy is a memcpy.
///
/// The stream is created blocking with respect to the legacy default stream, so a copy starts only
/// after the work the application queued there (Thrust's algorithms, kernels launched on stream 0);
/// data written on a non-blocking stream of the application's must be synchronised by it first, as
/// for any copy.

#include <strata/config.hpp>
#include <strata/error.hpp>

#include <cstddef>
#include <cstring>
#include <string>

#if STRATA_SEPARATE_DEVICE_MEMORY && __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#define STRATA_DEVICE_COPY_STREAM 1
#else
#define STRATA_DEVICE_COPY_STREAM 0
#endif

namespace strata::detail {

#if STRATA_DEVICE_COPY_STREAM
/// \brief strata's copy stream and its completion event (one per process, created at first use,
/// never destroyed: the CUDA runtime may be gone before static destructors run).
class copy_stream {
 public:
  static copy_stream& get() {
    static copy_stream* s = new copy_stream;  // NOLINT: intentionally never deleted
    return *s;
  }
  void to_host(void* dst, void const* src, std::size_t n) {
    if (n) check(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync (device to host)");
  }
  void to_device(void* dst, void const* src, std::size_t n) {
    if (n) check(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (host to device)");
  }
  /// \brief Waits for every copy queued so far (one event).
  void finish() {
    check(cudaEventRecord(done_, stream_), "cudaEventRecord");
    check(cudaEventSynchronize(done_), "cudaEventSynchronize");
  }

 private:
  copy_stream() {
    check(cudaStreamCreate(&stream_), "cudaStreamCreate");
    check(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreate");
  }
  static void check(cudaError_t e, char const* what) {
    if (e != cudaSuccess) throw error(std::string(what) + " failed: " + cudaGetErrorString(e));
  }
  cudaStream_t stream_{};
  cudaEvent_t done_{};
};
#endif

/// \brief Starts copying `n` bytes of device memory at `src` to host memory at `dst`.
inline void device_to_host(void* dst, void const* src, std::size_t n) {
#if STRATA_DEVICE_COPY_STREAM
  copy_stream::get().to_host(dst, src, n);
#else
  if (n) std::memcpy(dst, src, n);
#endif
}
/// \brief Starts copying `n` bytes of host memory at `src` to device memory at `dst`.
inline void host_to_device(void* dst, void const* src, std::size_t n) {
#if STRATA_DEVICE_COPY_STREAM
  copy_stream::get().to_device(dst, src, n);
#else
  if (n) std::memcpy(dst, src, n);
#endif
}
/// \brief Waits until every copy started by the two above is complete.
inline void device_copies_done() {
#if STRATA_DEVICE_COPY_STREAM
  copy_stream::get().finish();
#endif
}

}  // namespace strata::detail
