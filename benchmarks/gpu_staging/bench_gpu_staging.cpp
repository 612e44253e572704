// bench_gpu_staging: what an asynchronous checkpoint of device state costs the application, against
// the raw copies the hardware allows, measured side by side in one run (issue 14, SPEC G1-G3).
//
//   bench_gpu_staging --sizes-mib 1024,2048,4096,8192 --reps 5 --dir /local/tmp/gpu_staging
//
// Per size (one thrust::device_vector<double> of the build's device system):
//   raw_d2h_pinned_s    one cudaMemcpy device -> page-locked host (the copy engine's limit);
//                       host systems: one memcpy
//   raw_d2h_pageable_s  one cudaMemcpy device -> ordinary host memory (what a naive staging does)
//   raw_d2d_s           one device -> device copy: device memory bandwidth (read + write)
//   hash_s              snapshot::incremental's block hashes on the device (lane_hash, 64 KiB blocks)
//   full_async_blocked_s, incremental_async_blocked_s
//                       the application blocked in ckpt.checkpoint() with .async = true (median of
//                       the reps after the first: warm staging buffers), 5 % of the blocks changed
//                       before each checkpoint by a device kernel
//   incremental_sync_s  a synchronous incremental checkpoint (hash and gather on the device, write)
// Ratios: blocked / raw_d2h_pinned (goal <= 1.2), D2H bandwidth reached vs the pinned copy, hashing
// throughput vs device memory bandwidth (bytes read per second by each). JSON on stdout.
#include "../stats.hpp"
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/solo.hpp>
#include <strata/config.hpp>
#include <strata/detail/staging_buffer.hpp>
#include <strata/snapshot/device_blocks.hpp>
#include <strata/snapshot/incremental.hpp>
#include <strata/trigger/never.hpp>

#include <CLI/CLI.hpp>
#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#if STRATA_SEPARATE_DEVICE_MEMORY
#include <cuda_runtime_api.h>
#endif

namespace {
using clk = std::chrono::steady_clock;
double secs(clk::time_point a, clk::time_point b) { return std::chrono::duration<double>(b - a).count(); }
using strata_bench::median;

void sync_device() {
#if STRATA_SEPARATE_DEVICE_MEMORY
  cudaDeviceSynchronize();
#endif
}
void d2h(void* dst, void const* src, std::size_t n) {
#if STRATA_SEPARATE_DEVICE_MEMORY
  cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost);
#else
  std::memcpy(dst, src, n);
#endif
}
void d2d(void* dst, void const* src, std::size_t n) {
#if STRATA_SEPARATE_DEVICE_MEMORY
  cudaMemcpy(dst, src, n, cudaMemcpyDeviceToDevice);
  cudaDeviceSynchronize();
#else
  std::memcpy(dst, src, n);
#endif
}

/// One element in every 20th block of 64 KiB rewritten: 5 % of the blocks dirty.
struct touch {
  double* u;
  std::size_t per_block;
  double value;
  STRATA_HOST_DEVICE void operator()(std::size_t b) const { u[b * 20 * per_block + 1] = value; }
};
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"device state: blocked time per async checkpoint vs raw copies, in one run"};
  std::vector<std::size_t> sizes{1024, 2048, 4096, 8192};
  int reps = 5;
  std::string dir = "gpu_staging_ckpt";
  app.add_option("--sizes-mib", sizes, "MiB of device state")->delimiter(',');
  app.add_option("--reps", reps, "timed repetitions per figure (>= 2)");
  app.add_option("--dir", dir, "checkpoint directory (node-local disk; removed after each mode)");
  CLI11_PARSE(app, argc, argv);
  reps = std::max(reps, 2);
  std::string device = STRATA_DEVICE_SYSTEM_NAME;
#if STRATA_SEPARATE_DEVICE_MEMORY
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) device = prop.name;
#endif
  std::printf("{\n  \"benchmark\": \"gpu_staging\", \"device_system\": \"%s\", \"device\": \"%s\", \"reps\": %d,\n  \"results\": [\n",
              STRATA_DEVICE_SYSTEM_NAME, device.c_str(), reps);
  constexpr std::size_t block = 64 * 1024, per_block = block / sizeof(double);
  bool first = true;
  for (std::size_t mib : sizes) {
    std::size_t const bytes = mib << 20, n = bytes / sizeof(double), blocks = n / per_block;
    thrust::device_vector<double> u(n, 1.0), copy(n);
    auto const* src = thrust::raw_pointer_cast(u.data());
    strata::detail::staging_buffer pinned;
    pinned.resize(bytes);
    std::vector<std::byte> pageable(bytes);
    std::vector<double> t_pinned, t_pageable, t_d2d, t_hash;
    auto blocks_work = strata::snapshot::make_device_blocks(u);
    for (int r = 0; r < reps + 1; ++r) {  // the first round warms up (page faults, first-touch)
      sync_device();
      auto t0 = clk::now();
      d2h(pinned.data(), src, bytes);
      auto t1 = clk::now();
      d2h(pageable.data(), src, bytes);
      auto t2 = clk::now();
      d2d(thrust::raw_pointer_cast(copy.data()), src, bytes);
      auto t3 = clk::now();
      auto h = blocks_work->hash(block);
      auto t4 = clk::now();
      if (h.empty()) return 1;
      if (r == 0) continue;
      t_pinned.push_back(secs(t0, t1));
      t_pageable.push_back(secs(t1, t2));
      t_d2d.push_back(secs(t2, t3));
      t_hash.push_back(secs(t3, t4));
    }
    copy.clear();
    copy.shrink_to_fit();
    double step = 1;
    auto blocked = [&]<class Snapshot>(Snapshot, bool async, std::string const& tag) {
      auto const d = dir + "/" + tag + "_" + std::to_string(mib);
      std::filesystem::remove_all(d);
      using ck_t = strata::checkpointer<strata::comm::solo, Snapshot, strata::storage::posix_dir,
                                        strata::consistency::coordinated, strata::trigger::never>;
      typename ck_t::options o;
      o.directory = d;
      o.async = async;
      o.retention = {.count = 2};
      o.log = nullptr;
      if constexpr (requires { o.snapshot.max_chain; }) o.snapshot.max_chain = 1000, o.snapshot.rebase_fraction = 2;
      ck_t ck{strata::comm::solo{}, o};
      ck.protect("u", u);
      std::vector<double> t;
      for (int r = 0; r < reps + 1; ++r) {
        thrust::for_each(thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(blocks / 20),
                         touch{thrust::raw_pointer_cast(u.data()), per_block, step++});
        sync_device();
        auto const t0 = clk::now();
        ck.checkpoint();
        auto const t1 = clk::now();
        ck.wait();  // stands for computation that hides the background write
        if (r > 0) t.push_back(secs(t0, t1));
      }
      std::filesystem::remove_all(d);
      return median(t);
    };
    double const full_async = blocked(strata::snapshot::full{}, true, "full_async");
    double const inc_async = blocked(strata::snapshot::incremental<block>{}, true, "inc_async");
    double const inc_sync = blocked(strata::snapshot::incremental<block>{}, false, "inc_sync");
    double const pin = median(t_pinned), page = median(t_pageable), dd = median(t_d2d), hs = median(t_hash);
    double const gbs = static_cast<double>(bytes) / 1e9;
    std::printf("%s    {\"mib\": %zu, \"pinned_staging\": %s, \"raw_d2h_pinned_s\": %.6f, \"raw_d2h_pageable_s\": %.6f, "
                "\"raw_d2d_s\": %.6f, \"hash_s\": %.6f, \"full_async_blocked_s\": %.6f, "
                "\"incremental_async_blocked_s\": %.6f, \"incremental_sync_s\": %.6f,\n"
                "     \"d2h_pinned_gb_s\": %.2f, \"d2h_pageable_gb_s\": %.2f, \"device_bandwidth_gb_s\": %.2f, "
                "\"hash_gb_s\": %.2f, \"full_async_over_d2h\": %.3f, \"incremental_async_over_d2h\": %.3f, "
                "\"hash_over_device_bandwidth\": %.3f}",
                first ? "" : ",\n", mib, pinned.pinned() ? "true" : "false", pin, page, dd, hs, full_async, inc_async,
                inc_sync, gbs / pin, gbs / page, 2 * gbs / dd, gbs / hs, full_async / pin, inc_async / pin,
                (gbs / hs) / (2 * gbs / dd));
    std::fflush(stdout);
    first = false;
  }
  std::printf("\n  ]\n}\n");
  return 0;
}
