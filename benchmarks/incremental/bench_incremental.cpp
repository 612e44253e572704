// bench_incremental: for 1, 5 and 25 % dirty blocks, bytes written by snapshot::incremental over
// the dirty bytes (goal <= 1.1 at 5 %), and block-hash throughput over memcpy throughput, measured
// side by side in one run. JSON on stdout. Data: a thrust::device_vector (device system of the build).
#include <strata/comm/solo.hpp>
#include <strata/snapshot/incremental.hpp>
#include <strata/config.hpp>

#include <thrust/device_vector.h>
#include <thrust/fill.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

int main(int argc, char** argv) {
  std::size_t const mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 256;
  constexpr std::size_t block = 64 * 1024;
  std::size_t const n = mib * (1 << 20) / sizeof(double);
  thrust::device_vector<double> u(n, 1.0);
  strata::state::registry reg;
  strata::snapshot::attach_device_blocks(reg.protect("u", u), u);
  using clk = std::chrono::steady_clock;
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  std::printf("{\n  \"machine_device_system\": \"%s\", \"bytes\": %zu, \"block_bytes\": %zu,\n  \"dirty\": [\n",
              STRATA_DEVICE_SYSTEM_NAME, n * sizeof(double), block);
  std::mt19937_64 rng(42);
  std::size_t const blocks = n * sizeof(double) / block;
  bool first = true;
  for (double pct : {1.0, 5.0, 25.0}) {
    strata::snapshot::incremental<block> s{.max_chain = 1000};
    (void)s.encode(reg, {1, 0, 1});
    auto const k = static_cast<std::size_t>(static_cast<double>(blocks) * pct / 100.0);
    std::vector<std::size_t> idx(blocks);
    for (std::size_t i = 0; i < blocks; ++i) idx[i] = i;
    std::shuffle(idx.begin(), idx.end(), rng);
    for (std::size_t i = 0; i < k; ++i) u[idx[i] * (block / sizeof(double)) + 3] = static_cast<double>(pct + static_cast<double>(i)) + 0.5;
    auto shard = s.encode(reg, {2, 0, 1});
    double const dirty = static_cast<double>(k * block);
    std::printf("%s    {\"dirty_percent\": %.0f, \"dirty_bytes\": %.0f, \"written_bytes\": %llu, \"ratio\": %.4f}",
                first ? "" : ",\n", pct, dirty, static_cast<unsigned long long>(shard.bytes()), static_cast<double>(shard.bytes()) / dirty);
    first = false;
  }
  // Hash throughput vs memcpy throughput on the same bytes (best of 5).
  auto const* p = reinterpret_cast<std::byte const*>(thrust::raw_pointer_cast(u.data()));
  std::size_t const bytes = n * sizeof(double);
  std::vector<std::byte> dst(bytes);
  std::memcpy(dst.data(), p, bytes);
  double best_hash = 1e9, best_copy = 1e9;
  for (int r = 0; r < 5; ++r) {
    auto t0 = clk::now();
    auto h = reg.find("u")->device()->hash(block);
    auto t1 = clk::now();
    std::memcpy(dst.data(), p, bytes);
    auto t2 = clk::now();
    best_hash = std::min(best_hash, secs(t0, t1));
    best_copy = std::min(best_copy, secs(t1, t2));
    if (h.empty()) return 1;
  }
  std::printf("\n  ],\n  \"hash_gib_s\": %.2f, \"memcpy_gib_s\": %.2f, \"hash_over_memcpy\": %.3f\n}\n",
              bytes / best_hash / (1 << 30), bytes / best_copy / (1 << 30), best_copy / best_hash);
}
