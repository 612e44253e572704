// Tiled Cholesky as a strata::dag graph: tasks POTRF, TRSM, SYRK, GEMM on b x b tiles.
// Shared by examples/cholesky and benchmarks/dag_cholesky.
#pragma once

#include <strata/comm/mpi.hpp>
#include <strata/dag/executor.hpp>
#include <strata/dag/graph.hpp>
#include <strata/dag/placement.hpp>

#include <cstring>
#include <span>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace tiled {

using strata::dag::task_id;
inline constexpr task_id none = std::numeric_limits<task_id>::max();

enum class kernel { potrf, trsm, syrk, gemm };

/// Measured seconds of one call of each kernel on one b x b tile.
struct kernel_costs {
  double potrf = 1, trsm = 1, syrk = 1, gemm = 1;
};

/// One task: which kernel, on which tile (i, j) at step k, and the tasks producing its inputs.
struct op {
  kernel k;
  int i, j, step;
  task_id prev = none;  // previous version of the output tile (none: generate it from A)
  task_id a = none;     // L(i,k) (TRSM: L(k,k))
  task_id b = none;     // L(j,k) (GEMM only)
};

struct problem {
  int tiles = 0, b = 0;
  std::vector<op> ops;
  strata::dag::graph graph;
  std::vector<task_id> final_writer;  // per tile (i, j), i >= j: the task that writes L(i, j)
  [[nodiscard]] int n() const { return tiles * b; }
};

/// The SPD matrix: diagonally dominant, with a pseudo-random symmetric part.
inline double a_entry(int r, int c, int n) {
  auto const lo = static_cast<std::uint64_t>(std::min(r, c)), hi = static_cast<std::uint64_t>(std::max(r, c));
  std::uint64_t h = (lo * 0x9e3779b97f4a7c15ull) ^ (hi + 0x632be59bd9b4e019ull);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 29;
  double const noise = static_cast<double>(h % 1000000) / 1e6 - 0.5;
  return (r == c ? n : 0.0) + 1.0 / (1.0 + std::abs(r - c)) + 0.5 * noise;
}

inline problem build(int tiles, int b, kernel_costs const& c) {
  problem p;
  p.tiles = tiles;
  p.b = b;
  auto const tile_bytes = static_cast<std::uint64_t>(b) * static_cast<std::uint64_t>(b) * sizeof(double);
  std::vector<task_id> last(static_cast<std::size_t>(tiles * tiles), none);  // latest writer of each tile
  auto at = [&](int i, int j) -> task_id& { return last[static_cast<std::size_t>(i * tiles + j)]; };
  auto add = [&](op o, std::string name, double cost) {
    auto const t = p.graph.add_task(std::move(name), {{"cpu", cost}}, tile_bytes);
    for (task_id in : {o.prev, o.a, o.b})
      if (in != none) p.graph.add_edge(in, t, tile_bytes);
    p.ops.push_back(o);
    return t;
  };
  auto const s = [](int v) { return std::to_string(v); };
  for (int k = 0; k < tiles; ++k) {
    at(k, k) = add({kernel::potrf, k, k, k, at(k, k)}, "potrf(" + s(k) + ")", c.potrf);
    task_id const lkk = at(k, k);
    for (int i = k + 1; i < tiles; ++i)
      at(i, k) = add({kernel::trsm, i, k, k, at(i, k), lkk}, "trsm(" + s(i) + "," + s(k) + ")", c.trsm);
    for (int i = k + 1; i < tiles; ++i) {
      at(i, i) = add({kernel::syrk, i, i, k, at(i, i), at(i, k)}, "syrk(" + s(i) + "," + s(k) + ")", c.syrk);
      for (int j = k + 1; j < i; ++j)
        at(i, j) = add({kernel::gemm, i, j, k, at(i, j), at(i, k), at(j, k)},
                       "gemm(" + s(i) + "," + s(j) + "," + s(k) + ")", c.gemm);
    }
  }
  p.final_writer = last;
  return p;
}

inline std::vector<double> initial_tile(int i, int j, int b, int n) {
  std::vector<double> t(static_cast<std::size_t>(b * b));
  for (int r = 0; r < b; ++r)
    for (int c = 0; c < b; ++c) t[static_cast<std::size_t>(r * b + c)] = a_entry(i * b + r, j * b + c, n);
  return t;
}

// Row-major b x b kernels.
inline void potrf(double* a, int b) {
  for (int j = 0; j < b; ++j) {
    double d = a[j * b + j];
    for (int k = 0; k < j; ++k) d -= a[j * b + k] * a[j * b + k];
    d = std::sqrt(d);
    a[j * b + j] = d;
    for (int i = j + 1; i < b; ++i) {
      double v = a[i * b + j];
      for (int k = 0; k < j; ++k) v -= a[i * b + k] * a[j * b + k];
      a[i * b + j] = v / d;
    }
    for (int c = j + 1; c < b; ++c) a[j * b + c] = 0.0;
  }
}
// X L^T = A, X overwrites A.
inline void trsm(double const* l, double* a, int b) {
  for (int r = 0; r < b; ++r)
    for (int c = 0; c < b; ++c) {
      double v = a[r * b + c];
      for (int k = 0; k < c; ++k) v -= a[r * b + k] * l[c * b + k];
      a[r * b + c] = v / l[c * b + c];
    }
}
// C -= A B^T
inline void gemm_nt(double const* x, double const* y, double* c, int b) {
  for (int r = 0; r < b; ++r)
    for (int q = 0; q < b; ++q) {
      double v = 0.0;
      for (int k = 0; k < b; ++k) v += x[r * b + k] * y[q * b + k];
      c[r * b + q] -= v;
    }
}

/// Runs task `t`'s kernel; `input(id)` returns a predecessor's output tile.
template <class Input>
std::vector<double> run_op(problem const& p, task_id t, Input input) {
  op const& o = p.ops[t];
  std::vector<double> out = o.prev == none ? initial_tile(o.i, o.j, p.b, p.n()) : input(o.prev);
  switch (o.k) {
    case kernel::potrf: potrf(out.data(), p.b); break;
    case kernel::trsm: trsm(input(o.a).data(), out.data(), p.b); break;
    case kernel::syrk: {
      auto const l = input(o.a);
      gemm_nt(l.data(), l.data(), out.data(), p.b);
      break;
    }
    case kernel::gemm: gemm_nt(input(o.a).data(), input(o.b).data(), out.data(), p.b); break;
  }
  return out;
}

/// Best of `reps` timings of each kernel on one tile.
inline kernel_costs calibrate(int b, int reps = 5) {
  int const n = 4 * b;
  auto time = [&](auto&& f) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
      auto const t0 = std::chrono::steady_clock::now();
      f();
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
  };
  auto d = initial_tile(0, 0, b, n), o = initial_tile(1, 0, b, n), x = initial_tile(1, 1, b, n);
  potrf(d.data(), b);
  kernel_costs c;
  c.potrf = time([&] { auto t = initial_tile(0, 0, b, n); potrf(t.data(), b); });
  c.trsm = time([&] { auto t = o; trsm(d.data(), t.data(), b); });
  c.syrk = time([&] { auto t = x; gemm_nt(o.data(), o.data(), t.data(), b); });
  c.gemm = time([&] { auto t = x; gemm_nt(o.data(), d.data(), t.data(), b); });
  return c;
}

/// max |A - L L^T| / max |A| for the assembled lower factor `l` (n x n row-major).
inline double residual(std::vector<double> const& l, int n) {
  double worst = 0.0, amax = 0.0;
  for (int r = 0; r < n; ++r)
    for (int c = 0; c <= r; ++c) {
      double v = 0.0;
      for (int k = 0; k <= c; ++k) v += l[static_cast<std::size_t>(r * n + k)] * l[static_cast<std::size_t>(c * n + k)];
      double const a = a_entry(r, c, n);
      worst = std::max(worst, std::abs(a - v));
      amax = std::max(amax, std::abs(a));
    }
  return worst / amax;
}

/// A tile's bytes (as the executor passes them) as doubles.
inline std::vector<double> to_doubles(std::span<const std::byte> b) {
  std::vector<double> v(b.size() / sizeof(double));
  if (!v.empty()) std::memcpy(v.data(), b.data(), v.size() * sizeof(double));
  return v;
}

/// Rank 0: max |A - L L^T| / max |A| of the factor left by a strata run, its final tiles gathered
/// from the ranks that own them (other ranks return 0).
inline double gathered_residual(strata::comm::mpi const& world, problem const& prob, strata::dag::schedule const& plan,
                                strata::dag::execution_result const& res) {
  int const me = world.rank(), n = prob.n(), b = prob.b, tiles = prob.tiles;
  std::vector<double> l(me == 0 ? static_cast<std::size_t>(n) * static_cast<std::size_t>(n) : 0, 0.0);
  for (int i = 0; i < tiles; ++i)
    for (int j = 0; j <= i; ++j) {
      auto const t = prob.final_writer[static_cast<std::size_t>(i * tiles + j)];
      int const owner = plan.tasks[t].rank;
      std::vector<double> tile;
      if (owner == me) tile = to_doubles(res.outputs.at(t));
      if (owner == me && me != 0) MPI_Send(tile.data(), b * b, MPI_DOUBLE, 0, static_cast<int>(t), world.native());
      if (me != 0) continue;
      if (owner != 0) {
        tile.resize(static_cast<std::size_t>(b * b));
        MPI_Recv(tile.data(), b * b, MPI_DOUBLE, owner, static_cast<int>(t), world.native(), MPI_STATUS_IGNORE);
      }
      for (int r = 0; r < b; ++r)
        for (int c = 0; c < b; ++c)
          l[static_cast<std::size_t>((i * b + r) * n + j * b + c)] = tile[static_cast<std::size_t>(r * b + c)];
    }
  return me == 0 ? residual(l, n) : 0.0;
}

}  // namespace tiled
