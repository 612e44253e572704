// StarPU version of the tiled Cholesky (see starpu_cholesky.hpp). Written for this benchmark: the
// codelets call the kernels of examples/cholesky/tiled_cholesky.hpp on row-major b x b tiles.
#include "starpu_cholesky.hpp"

#include <starpu.h>
#if STRATA_BENCH_HAVE_STARPU_MPI
#include <starpu_mpi.h>
#endif

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <stdexcept>
#include <vector>

namespace starpu_chol {
namespace {

using steady = std::chrono::steady_clock;

/// What a task needs besides its tiles: where its output tile sits in A, and whether it is the
/// tile's first task (then it generates the tile from A first, like strata's run_op).
struct tile_arg {
  int i = 0, j = 0, b = 0, n = 0;
  bool generate = false;
};

// Per-run state read by the codelets and the cost functions (one run at a time).
tiled::kernel_costs g_costs;
std::array<double, STARPU_NMAXWORKERS> g_busy{};

double* tile_ptr(void* buffer) { return reinterpret_cast<double*>(STARPU_MATRIX_GET_PTR(buffer)); }

// The output tile is always the last buffer.
void prepare(void* out_buffer, tile_arg const& a) {
  if (!a.generate) return;
  auto const t = tiled::initial_tile(a.i, a.j, a.b, a.n);
  std::copy(t.begin(), t.end(), tile_ptr(out_buffer));
}

template <class Body>
void timed(Body&& body) {
  auto const t0 = steady::now();
  body();
  g_busy[static_cast<std::size_t>(starpu_worker_get_id())] += std::chrono::duration<double>(steady::now() - t0).count();
}

void potrf_cpu(void* buffers[], void* cl_arg) {
  auto const& a = *static_cast<tile_arg const*>(cl_arg);
  timed([&] {
    prepare(buffers[0], a);
    tiled::potrf(tile_ptr(buffers[0]), a.b);
  });
}
void trsm_cpu(void* buffers[], void* cl_arg) {  // buffers: L(k,k) R, A(i,k) RW
  auto const& a = *static_cast<tile_arg const*>(cl_arg);
  timed([&] {
    prepare(buffers[1], a);
    tiled::trsm(tile_ptr(buffers[0]), tile_ptr(buffers[1]), a.b);
  });
}
void syrk_cpu(void* buffers[], void* cl_arg) {  // buffers: L(i,k) R, A(i,i) RW
  auto const& a = *static_cast<tile_arg const*>(cl_arg);
  timed([&] {
    prepare(buffers[1], a);
    tiled::gemm_nt(tile_ptr(buffers[0]), tile_ptr(buffers[0]), tile_ptr(buffers[1]), a.b);
  });
}
void gemm_cpu(void* buffers[], void* cl_arg) {  // buffers: L(i,k) R, L(j,k) R, A(i,j) RW
  auto const& a = *static_cast<tile_arg const*>(cl_arg);
  timed([&] {
    prepare(buffers[2], a);
    tiled::gemm_nt(tile_ptr(buffers[0]), tile_ptr(buffers[1]), tile_ptr(buffers[2]), a.b);
  });
}

// STARPU_COMMON cost functions, in microseconds: the calibrated costs strata's HEFT plans with.
double potrf_cost(starpu_task*, unsigned) { return g_costs.potrf * 1e6; }
double trsm_cost(starpu_task*, unsigned) { return g_costs.trsm * 1e6; }
double syrk_cost(starpu_task*, unsigned) { return g_costs.syrk * 1e6; }
double gemm_cost(starpu_task*, unsigned) { return g_costs.gemm * 1e6; }

/// Codelets and models, rebuilt for every starpu_init (StarPU keeps per-init state in them).
struct codelets {
  starpu_perfmodel model[4]{};
  starpu_codelet cl[4]{};
  codelets() {
    using cpu_fn = void (*)(void**, void*);
    using cost_fn = double (*)(starpu_task*, unsigned);
    static constexpr char const* names[4] = {"strata_potrf", "strata_trsm", "strata_syrk", "strata_gemm"};
    static constexpr cpu_fn fns[4] = {potrf_cpu, trsm_cpu, syrk_cpu, gemm_cpu};
    static constexpr cost_fn costs[4] = {potrf_cost, trsm_cost, syrk_cost, gemm_cost};
    static constexpr int nbuf[4] = {1, 2, 2, 3};
    for (int k = 0; k < 4; ++k) {
      model[k].type = STARPU_COMMON;
      model[k].cost_function = costs[k];
      model[k].symbol = names[k];
      cl[k].where = STARPU_CPU;
      cl[k].cpu_funcs[0] = fns[k];
      cl[k].cpu_funcs_name[0] = names[k];
      cl[k].nbuffers = nbuf[k];
      for (int m = 0; m < nbuf[k]; ++m) cl[k].modes[m] = m + 1 == nbuf[k] ? STARPU_RW : STARPU_R;
      cl[k].model = &model[k];
      cl[k].name = names[k];
    }
  }
};

// Per-run state reset, and the configuration: exactly what `STARPU_SCHED=<sched> STARPU_NCPU=<ncpu>` on
// the command line would do, no CUDA / OpenCL workers.
starpu_conf prepare(tiled::kernel_costs const& costs, std::string const& sched, int ncpu) {
  g_costs = costs;
  g_busy.fill(0.0);
  setenv("STARPU_SCHED", sched.c_str(), 1);
  setenv("STARPU_NCPU", std::to_string(ncpu).c_str(), 1);
  starpu_conf conf;
  starpu_conf_init(&conf);
  conf.ncuda = 0;
  conf.nopencl = 0;
  return conf;
}

// The tasks in tiled::build's loop order (so StarPU receives them in strata's graph order):
// submit(codelet, i, j, input handles) for the task updating tile (i, j); `h` indexed i * tiles + j.
template <class Submit>
void for_each_task(int tiles, std::vector<starpu_data_handle_t> const& h, Submit&& submit) {
  auto at = [&](int i, int j) { return h[static_cast<std::size_t>(i * tiles + j)]; };
  for (int k = 0; k < tiles; ++k) {
    submit(0, k, k, std::vector<starpu_data_handle_t>{});
    for (int i = k + 1; i < tiles; ++i) submit(1, i, k, std::vector{at(k, k)});
    for (int i = k + 1; i < tiles; ++i) {
      submit(2, i, i, std::vector{at(i, k)});
      for (int j = k + 1; j < i; ++j) submit(3, i, j, std::vector{at(i, k), at(j, k)});
    }
  }
}

// After the tasks: every handle unregistered (an owner's value back in its memory), the busy time summed.
void finish(std::vector<starpu_data_handle_t>& h, result& r) {
  for (auto& x : h)
    if (x != nullptr) starpu_data_unregister(x);
  for (double v : g_busy) r.busy_s += v;
}

}  // namespace

std::string version() {
  int major = 0, minor = 0, release = 0;
  starpu_get_version(&major, &minor, &release);
  return "StarPU " + std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

result run(int tiles, int b, tiled::kernel_costs const& costs, std::string const& sched, int ncpu, bool check) {
  result r;
  auto conf = prepare(costs, sched, ncpu);
  auto const i0 = steady::now();
  if (int const rc = starpu_init(&conf); rc != 0) throw std::runtime_error("starpu_init failed: " + std::to_string(rc));
  r.init_s = std::chrono::duration<double>(steady::now() - i0).count();
  r.workers = static_cast<int>(starpu_cpu_worker_get_count());

  int const n = tiles * b;
  codelets cls;
  // One b x b tile (row-major, ld = b) and one data handle per lower tile (i >= j).
  std::vector<std::vector<double>> tile(static_cast<std::size_t>(tiles * tiles));
  std::vector<starpu_data_handle_t> h(static_cast<std::size_t>(tiles * tiles), nullptr);
  std::vector<bool> touched(static_cast<std::size_t>(tiles * tiles), false);
  auto idx = [&](int i, int j) { return static_cast<std::size_t>(i * tiles + j); };
  for (int i = 0; i < tiles; ++i)
    for (int j = 0; j <= i; ++j) {
      tile[idx(i, j)].assign(static_cast<std::size_t>(b * b), 0.0);
      starpu_matrix_data_register(&h[idx(i, j)], STARPU_MAIN_RAM, reinterpret_cast<uintptr_t>(tile[idx(i, j)].data()),
                                  static_cast<uint32_t>(b), static_cast<uint32_t>(b), static_cast<uint32_t>(b), sizeof(double));
    }
  // Task arguments live until the end of the run (cl_arg is not copied; a deque never moves them).
  std::deque<tile_arg> args;
  auto submit = [&](int kind, int i, int j, std::vector<starpu_data_handle_t> const& in) {
    args.push_back({i, j, b, n, !touched[idx(i, j)]});
    touched[idx(i, j)] = true;
    starpu_task* t = starpu_task_create();
    t->cl = &cls.cl[kind];
    for (std::size_t m = 0; m < in.size(); ++m) t->handles[m] = in[m];
    t->handles[in.size()] = h[idx(i, j)];
    t->cl_arg = &args.back();
    t->cl_arg_size = sizeof(tile_arg);
    if (int const rc = starpu_task_submit(t); rc != 0) throw std::runtime_error("starpu_task_submit failed: " + std::to_string(rc));
    ++r.tasks;
  };

  auto const t0 = steady::now();
  for_each_task(tiles, h, submit);
  starpu_task_wait_for_all();
  r.makespan_s = std::chrono::duration<double>(steady::now() - t0).count();
  finish(h, r);
  starpu_shutdown();

  if (check) {
    std::vector<double> l(static_cast<std::size_t>(n) * static_cast<std::size_t>(n), 0.0);
    for (int i = 0; i < tiles; ++i)
      for (int j = 0; j <= i; ++j)
        for (int rr = 0; rr < b; ++rr)
          for (int c = 0; c < b; ++c)
            l[static_cast<std::size_t>((i * b + rr) * n + j * b + c)] = tile[idx(i, j)][static_cast<std::size_t>(rr * b + c)];
    r.residual = tiled::residual(l, n);
  }
  return r;
}

#if STRATA_BENCH_HAVE_STARPU_MPI
result run_mpi(tiled::tile_store& store, tiled::kernel_costs const& costs, std::string const& sched, int ncpu, MPI_Comm comm) {
  result r;
  auto conf = prepare(costs, sched, ncpu);
  auto const i0 = steady::now();
  if (int const rc = starpu_mpi_init_conf(nullptr, nullptr, 0, comm, &conf); rc != 0)
    throw std::runtime_error("starpu_mpi_init_conf failed: " + std::to_string(rc));
  r.init_s = std::chrono::duration<double>(steady::now() - i0).count();
  r.workers = static_cast<int>(starpu_cpu_worker_get_count());
  int me = 0, ranks = 1;
  MPI_Comm_rank(comm, &me);
  MPI_Comm_size(comm, &ranks);

  int const tiles = store.tiles, b = store.b, n = tiles * b;
  codelets cls;
  std::vector<starpu_data_handle_t> h(static_cast<std::size_t>(tiles * tiles), nullptr);
  std::vector<bool> touched(h.size(), false);
  auto idx = [&](int i, int j) { return static_cast<std::size_t>(i * tiles + j); };
  for (int i = 0; i < tiles; ++i)
    for (int j = 0; j <= i; ++j) {
      int const owner = tiled::tile_home(i, j, ranks);
      auto* home = owner == me ? store.at(i, j).data() : nullptr;  // elsewhere StarPU allocates on arrival
      starpu_matrix_data_register(&h[idx(i, j)], home ? STARPU_MAIN_RAM : -1, reinterpret_cast<uintptr_t>(home), static_cast<uint32_t>(b),
                                  static_cast<uint32_t>(b), static_cast<uint32_t>(b), sizeof(double));
      starpu_mpi_data_register_comm(h[idx(i, j)], static_cast<starpu_mpi_tag_t>(idx(i, j)), owner, comm);
    }
  std::deque<tile_arg> args;  // live until the end of the run (STARPU_CL_ARGS_NFREE)
  auto insert = [&](int kind, int i, int j, std::vector<starpu_data_handle_t> const& in) {
    args.push_back({i, j, b, n, !touched[idx(i, j)]});
    touched[idx(i, j)] = true;
    auto* arg = &args.back();
    int rc = 0;
    auto const out = h[idx(i, j)];
    if (in.empty())
      rc = starpu_mpi_task_insert(comm, &cls.cl[kind], STARPU_RW, out, STARPU_CL_ARGS_NFREE, arg, sizeof(tile_arg), 0);
    else if (in.size() == 1)
      rc = starpu_mpi_task_insert(comm, &cls.cl[kind], STARPU_R, in[0], STARPU_RW, out, STARPU_CL_ARGS_NFREE, arg, sizeof(tile_arg), 0);
    else
      rc = starpu_mpi_task_insert(comm, &cls.cl[kind], STARPU_R, in[0], STARPU_R, in[1], STARPU_RW, out, STARPU_CL_ARGS_NFREE, arg,
                                  sizeof(tile_arg), 0);
    if (rc != 0) throw std::runtime_error("starpu_mpi_task_insert failed: " + std::to_string(rc));
    r.tasks += tiled::tile_home(i, j, ranks) == me ? 1 : 0;
  };
  starpu_mpi_barrier(comm);
  auto const t0 = steady::now();
  for_each_task(tiles, h, insert);
  starpu_task_wait_for_all();
  r.makespan_s = std::chrono::duration<double>(steady::now() - t0).count();
  starpu_mpi_wait_for_all(comm);  // every rank's sends done before the handles go
  finish(h, r);                   // an owner's value back in its tile of `store`
  starpu_mpi_shutdown();
  return r;
}
#endif

}  // namespace starpu_chol
