// The tiled Cholesky of examples/cholesky run by StarPU (optional part of bench_dag_cholesky).
// Compiled only when CMake finds StarPU (STRATA_BENCH_HAVE_STARPU=1); this header has no StarPU type.
#pragma once

#include "../../examples/cholesky/tiled_cholesky.hpp"

#include <mpi.h>

#include <string>

namespace starpu_chol {

/// One StarPU run of the tiled Cholesky.
struct result {
  double makespan_s = 0.0;  ///< first task submitted to starpu_task_wait_for_all() returned
  double busy_s = 0.0;      ///< summed time inside the tile kernels, all workers
  double init_s = 0.0;      ///< starpu_init (not part of the makespan)
  double residual = -1.0;   ///< max |A - L L^T| / max |A| (only when asked; -1 otherwise)
  std::size_t tasks = 0;
  int workers = 0;          ///< CPU workers StarPU actually started
};

/// Runs the same task graph as `tiled::build(tiles, b, costs)` with StarPU: one data handle per
/// lower tile, one task per POTRF / TRSM / SYRK / GEMM with the kernels of tiled_cholesky.hpp
/// (a tile's first task generates it from A, as in strata's run_op), dependencies inferred by
/// StarPU from the access modes. `sched` is the StarPU scheduler (set as STARPU_SCHED), `ncpu` the
/// number of CPU workers (set as STARPU_NCPU). The performance model of every codelet is the
/// calibrated `costs` (a STARPU_COMMON cost function), so dmda sees the same costs as strata's HEFT.
/// starpu_init / starpu_shutdown around each call: no StarPU thread outlives the run.
result run(int tiles, int b, tiled::kernel_costs const& costs, std::string const& sched, int ncpu, bool check);

#if STRATA_BENCH_HAVE_STARPU_MPI
/// The same with StarPU-MPI over `comm` (collective): each rank `ncpu` CPU workers plus StarPU-MPI's
/// communication thread, every tile registered on every rank with its owner `tiled::tile_home` (the
/// homes of strata's flow) and tag = its index, tasks inserted on every rank with
/// `starpu_mpi_task_insert` (owner computes: the rank owning the updated tile runs the task; the
/// inputs travel as StarPU-MPI sends them). Makespan: first insertion to `starpu_task_wait_for_all`,
/// this rank (the caller takes the maximum); busy: this rank's workers. Afterwards each tile's value
/// is in `store` on its owner (for `tiled::gathered_residual`). starpu_mpi_init_conf /
/// starpu_mpi_shutdown around each call (MPI itself stays initialised).
result run_mpi(tiled::tile_store& store, tiled::kernel_costs const& costs, std::string const& sched, int ncpu, MPI_Comm comm);
#endif

/// "StarPU x.y.z" of the library linked in.
std::string version();

}  // namespace starpu_chol
