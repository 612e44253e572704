// Tiled Cholesky as a strata::dag task flow: tasks POTRF, TRSM, SYRK, GEMM on b x b tiles, dependencies
// inferred by the flow from the tiles each task reads and updates.
// Shared by examples/cholesky and benchmarks/dag_cholesky.
#pragma once

#include <strata/comm/mpi.hpp>
#include <strata/dag/executor.hpp>
#include <strata/dag/graph.hpp>
#include <strata/dag/placement.hpp>
#include <strata/dag/task_flow.hpp>

#include <cstring>
#include <span>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
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

inline std::vector<double> initial_tile(int i, int j, int b, int n) {
  std::vector<double> t(static_cast<std::size_t>(b * b));
  for (int r = 0; r < b; ++r)
    for (int c = 0; c < b; ++c) t[static_cast<std::size_t>(r * b + c)] = a_entry(i * b + r, j * b + c, n);
  return t;
}

// Row-major b x b kernels. Not inlined: every caller (strata's task bodies, StarPU's codelets in
// benchmarks/dag_cholesky, the calibration) runs the same machine code, so a comparison times the runtimes.
[[gnu::noinline]] inline void potrf(double* a, int b) {
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
[[gnu::noinline]] inline void trsm(double const* l, double* a, int b) {
  for (int r = 0; r < b; ++r)
    for (int c = 0; c < b; ++c) {
      double v = a[r * b + c];
      for (int k = 0; k < c; ++k) v -= a[r * b + k] * l[c * b + k];
      a[r * b + c] = v / l[c * b + c];
    }
}
// C -= A B^T
[[gnu::noinline]] inline void gemm_nt(double const* x, double const* y, double* c, int b) {
  for (int r = 0; r < b; ++r)
    for (int q = 0; q < b; ++q) {
      double v = 0.0;
      for (int k = 0; k < b; ++k) v += x[r * b + k] * y[q * b + k];
      c[r * b + q] -= v;
    }
}

/// One b x b buffer per lower tile (i >= j), row-major; every rank holds them all (a tile's value is at
/// its home rank, the other ranks' buffers receive copies when a task runs there).
struct tile_store {
  int tiles = 0, b = 0;
  std::vector<std::vector<double>> tile;  // index i * tiles + j
  tile_store(int t, int bs) : tiles(t), b(bs), tile(static_cast<std::size_t>(t * t)) {
    for (int i = 0; i < t; ++i)
      for (int j = 0; j <= i; ++j) tile[static_cast<std::size_t>(i * t + j)].assign(static_cast<std::size_t>(bs * bs), 0.0);
  }
  std::vector<double>& at(int i, int j) { return tile[static_cast<std::size_t>(i * tiles + j)]; }
};

/// Home rank of tile (i, j): 2D block-cyclic over a pr x pc grid of the ranks (pr the largest divisor of
/// `ranks` not above its square root).
inline int tile_home(int i, int j, int ranks) {
  int pr = 1;
  for (int d = 1; d * d <= ranks; ++d)
    if (ranks % d == 0) pr = d;
  int const pc = ranks / pr;
  return (i % pr) * pc + j % pc;
}

/// Submits the tiled Cholesky of the n x n matrix (n = tiles x b) to `flow` over the tiles of `store`,
/// in the loop order of the algorithm, each task with the tiles it reads and the one it updates; the
/// flow infers the dependencies. A tile's first task writes it (generating it from A), later ones
/// update it. Returns the tasks' descriptions (the producers of their inputs as the flow inferred them).
/// `on_task`, if set, is called with a task's program-order index as its body starts (counting, crash tests).
template <class Flow>
std::vector<op> submit(Flow& flow, tile_store& store, kernel_costs const& c, int ranks,
                       std::function<void(std::size_t)> const& on_task = {}) {
  int const tiles = store.tiles, b = store.b, n = tiles * b;
  std::vector<strata::dag::data_handle<double>> h(static_cast<std::size_t>(tiles * tiles));
  std::vector<bool> touched(h.size(), false);
  auto idx = [&](int i, int j) { return static_cast<std::size_t>(i * tiles + j); };
  for (int i = 0; i < tiles; ++i)
    for (int j = 0; j <= i; ++j)
      h[idx(i, j)] = flow.register_data("A(" + std::to_string(i) + "," + std::to_string(j) + ")", store.at(i, j),
                                        {.home = tile_home(i, j, ranks), .initialized = false});
  std::vector<op> ops;
  auto const s = [](int v) { return std::to_string(v); };
  // The output tile is the last access: its first task writes it from A, later tasks update it.
  auto task = [&](kernel k, int i, int j, int step, std::string name, double cost, auto body, auto... inputs) {
    bool const first = !touched[idx(i, j)];
    touched[idx(i, j)] = true;
    strata::dag::task_id t = 0;
    auto gen = [=](std::span<double> out) {
      if (!first) return;
      auto const a = initial_tile(i, j, b, n);
      std::copy(a.begin(), a.end(), out.begin());
    };
    auto run = [=, id = ops.size()](auto... spans) {  // inputs (const spans), then the output span
      if (on_task) on_task(id);
      auto const args = std::tuple{spans...};
      gen(std::get<sizeof...(spans) - 1>(args));
      std::apply(body, args);
    };
    if (first)
      t = flow.submit({.name = std::move(name), .cost = cost}, run, strata::dag::read(h[idx(inputs.first, inputs.second)])...,
                      strata::dag::write(h[idx(i, j)]));
    else
      t = flow.submit({.name = std::move(name), .cost = cost}, run, strata::dag::read(h[idx(inputs.first, inputs.second)])...,
                      strata::dag::readwrite(h[idx(i, j)]));
    constexpr std::size_t nin = sizeof...(inputs);
    auto const prod = [&](std::size_t k2) { return flow.producer(t, k2).value_or(none); };
    op o{k, i, j, step, prod(nin)};
    if constexpr (nin >= 1) o.a = prod(0);
    if constexpr (nin >= 2) o.b = prod(1);
    ops.push_back(o);
  };
  using cspan = std::span<double const>;
  using span = std::span<double>;
  for (int k = 0; k < tiles; ++k) {
    task(kernel::potrf, k, k, k, "potrf(" + s(k) + ")", c.potrf, [b](span a) { potrf(a.data(), b); });
    for (int i = k + 1; i < tiles; ++i)
      task(kernel::trsm, i, k, k, "trsm(" + s(i) + "," + s(k) + ")", c.trsm,
           [b](cspan l, span a) { trsm(l.data(), a.data(), b); }, std::pair{k, k});
    for (int i = k + 1; i < tiles; ++i) {
      task(kernel::syrk, i, i, k, "syrk(" + s(i) + "," + s(k) + ")", c.syrk,
           [b](cspan l, span a) { gemm_nt(l.data(), l.data(), a.data(), b); }, std::pair{i, k});
      for (int j = k + 1; j < i; ++j)
        task(kernel::gemm, i, j, k, "gemm(" + s(i) + "," + s(j) + "," + s(k) + ")", c.gemm,
             [b](cspan x, cspan y, span a) { gemm_nt(x.data(), y.data(), a.data(), b); }, std::pair{i, k}, std::pair{j, k});
    }
  }
  return ops;
}

/// The problem as a graph for the static executor: the tasks submitted to a task flow (which infers the
/// dependencies), its inferred graph, and for each tile the task that writes its final value.
inline problem build(int tiles, int b, kernel_costs const& c) {
  problem p;
  p.tiles = tiles;
  p.b = b;
  tile_store scratch(tiles, b);
  strata::dag::task_flow<> flow;
  p.ops = submit(flow, scratch, c, 1);
  p.graph = flow.inferred_graph();
  p.final_writer.assign(static_cast<std::size_t>(tiles * tiles), none);
  for (task_id t = 0; t < p.ops.size(); ++t) p.final_writer[static_cast<std::size_t>(p.ops[t].i * tiles + p.ops[t].j)] = t;
  return p;
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

/// Rank 0: max |A - L L^T| / max |A| of the factor left in `store` by a task flow run (each tile's value
/// at its home rank, `tile_home`), gathered on rank 0 (other ranks return 0).
inline double gathered_residual(strata::comm::mpi const& world, tile_store& store) {
  int const me = world.rank(), P = world.size(), tiles = store.tiles, b = store.b, n = tiles * b;
  std::vector<double> l(me == 0 ? static_cast<std::size_t>(n) * static_cast<std::size_t>(n) : 0, 0.0);
  for (int i = 0; i < tiles; ++i)
    for (int j = 0; j <= i; ++j) {
      int const home = tile_home(i, j, P), tag = i * tiles + j;
      auto& tile = store.at(i, j);
      if (home == me && me != 0) MPI_Send(tile.data(), b * b, MPI_DOUBLE, 0, tag, world.native());
      if (me != 0) continue;
      if (home != 0) MPI_Recv(tile.data(), b * b, MPI_DOUBLE, home, tag, world.native(), MPI_STATUS_IGNORE);
      for (int r = 0; r < b; ++r)
        for (int c = 0; c < b; ++c)
          l[static_cast<std::size_t>((i * b + r) * n + j * b + c)] = tile[static_cast<std::size_t>(r * b + c)];
    }
  return me == 0 ? residual(l, n) : 0.0;
}

}  // namespace tiled
