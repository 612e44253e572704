#pragma once
/// \file
/// \brief `parallel_for(n, f)`: f(i) for every i < n over the host's cores: OpenMP threads where the
/// build has OpenMP (Thrust's OMP system), else a few std::threads (CUDA and CPP builds, where
/// host-side block hashing would otherwise run on one core).

#include <cstddef>

#if !defined(_OPENMP)  // the threads of our own (OpenMP builds keep <thread> off the checkpointing path)
#include <thread>
#include <vector>
#endif

namespace strata::detail {

/// \brief Calls `f(i)` for each `i` in [0, n), in parallel when there are more than `min_per_thread`
/// items (each thread gets at least that many); `f` must be safe to call concurrently for different `i`.
template <class F>
void parallel_for(std::size_t n, std::size_t min_per_thread, F const& f) {
#if defined(_OPENMP)
  auto const m = static_cast<std::ptrdiff_t>(n);
#pragma omp parallel for schedule(static) if (n > min_per_thread)
  for (std::ptrdiff_t i = 0; i < m; ++i) f(static_cast<std::size_t>(i));
#else
  // (No <algorithm>: this header is on the checkpointing path, see docs/compile-time.md.)
  std::size_t threads = std::thread::hardware_concurrency();
  if (threads > 16) threads = 16;
  if (std::size_t const most = n / (min_per_thread ? min_per_thread : 1); threads > most) threads = most;
  if (threads <= 1) {
    for (std::size_t i = 0; i < n; ++i) f(i);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  auto run = [&](std::size_t t) {
    for (std::size_t i = n * t / threads, e = n * (t + 1) / threads; i < e; ++i) f(i);
  };
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(run, t);
  run(0);
  for (auto& th : pool) th.join();
#endif
}

}  // namespace strata::detail
