/* heat_c: the 2-D heat equation of examples/heat2d, written in C against strata's C API
 * (strata/c/strata.h). Rows are split over the MPI ranks, halos exchanged with MPI_Sendrecv; the
 * field and the step counter are protected, checkpointed when the trigger says (configuration file,
 * STRATA_* environment). Kill it (--crash-at-step) and run the same command again: it resumes from
 * the last committed version and prints the checksum of an uninterrupted run.
 *
 * usage: heat_c [--n N] [--steps S] [--dir DIR] [--config FILE] [--crash-at-step K] [--crash-rank R] */
#include <strata/c/strata.h>

#include <mpi.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct params {
  long n, steps, crash_at_step, crash_rank;
  const char* dir;
  const char* config;
};

static int parse(int argc, char** argv, struct params* p) {
  int i;
  p->n = 96, p->steps = 60, p->crash_at_step = -1, p->crash_rank = 0, p->dir = "heat_c_ckpt", p->config = NULL;
  for (i = 1; i < argc; ++i) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return -1;
    if (!strcmp(a, "--n")) p->n = atol(v);
    else if (!strcmp(a, "--steps")) p->steps = atol(v);
    else if (!strcmp(a, "--crash-at-step")) p->crash_at_step = atol(v);
    else if (!strcmp(a, "--crash-rank")) p->crash_rank = atol(v);
    else if (!strcmp(a, "--dir")) p->dir = v;
    else if (!strcmp(a, "--config")) p->config = v;
    else return -1;
    ++i;
  }
  return p->n >= 4 && p->steps >= 0 ? 0 : -1;
}

static double initial_value(long gi, long j, long n) {
  if (gi == 0) return 1.0; /* hot top edge */
  double const x = (double)j / (double)n;
  return 0.25 * (double)((gi * 7 + j * 13) % 17) / 17.0 * x;
}

/* FNV-1a over the bytes of the field: any deterministic hash will do. */
static uint64_t fnv1a(const void* data, size_t bytes) {
  const unsigned char* p = data;
  uint64_t h = 1469598103934665603ULL;
  size_t i;
  for (i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

/* Reports a failed strata call and ends the job (strata's errors are agreed by every rank). */
static void check(int code, strata_ckpt* h, int rank) {
  if (code == STRATA_OK) return;
  fprintf(stderr, "heat_c: rank %d: %s: %s\n", rank, strata_code_name(code), strata_last_error(h));
  MPI_Abort(MPI_COMM_WORLD, 1);
}

int main(int argc, char** argv) {
  int rank, size;
  struct params p;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (parse(argc, argv, &p) != 0 || p.n < size) {
    if (rank == 0) fprintf(stderr, "usage: heat_c [--n N >= ranks] [--steps S] [--dir DIR] [--config FILE] [--crash-at-step K] [--crash-rank R]\n");
    MPI_Finalize();
    return 2;
  }
  long const n = p.n, base = n / size, extra = n % size;
  long const rows = base + (rank < extra ? 1 : 0);
  long const first_row = rank * base + (rank < extra ? rank : extra);
  size_t const cells = (size_t)((rows + 2) * n);
  double* u = calloc(cells, sizeof(double));
  double* next = calloc(cells, sizeof(double));
  long i, j;
  int64_t step = 0;
  for (i = 0; i < rows; ++i)
    for (j = 0; j < n; ++j) u[(i + 1) * n + j] = initial_value(first_row + i, j, n);

  strata_ckpt* ckpt = NULL;
  check(strata_init(&ckpt, MPI_COMM_WORLD, p.config, p.dir), NULL, rank);
  check(strata_protect(ckpt, "u", u, STRATA_DOUBLE, (int64_t)cells), ckpt, rank);
  check(strata_protect(ckpt, "step", &step, STRATA_INT64, 1), ckpt, rank);
  uint64_t version = 0;
  int const code = strata_restore_latest(ckpt, &version);
  int const resumed = code == STRATA_OK;
  if (code != STRATA_ENONE) check(code, ckpt, rank);
  if (resumed && rank == 0) printf("resumed from version %llu at step %lld\n", (unsigned long long)version, (long long)step);

  int const up = rank > 0 ? rank - 1 : MPI_PROC_NULL, down = rank < size - 1 ? rank + 1 : MPI_PROC_NULL;
  while (step < p.steps) {
    MPI_Sendrecv(u + n, (int)n, MPI_DOUBLE, up, 0, u + (rows + 1) * n, (int)n, MPI_DOUBLE, down, 0, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    MPI_Sendrecv(u + rows * n, (int)n, MPI_DOUBLE, down, 1, u, (int)n, MPI_DOUBLE, up, 1, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    memcpy(next, u, cells * sizeof(double));
    for (i = 1; i <= rows; ++i) {
      long const gi = first_row + i - 1;
      if (gi == 0 || gi == n - 1) continue; /* fixed boundary rows */
      for (j = 1; j < n - 1; ++j) {
        double const c = u[i * n + j];
        next[i * n + j] = c + 0.2 * (u[(i - 1) * n + j] + u[(i + 1) * n + j] + u[i * n + j - 1] + u[i * n + j + 1] - 4.0 * c);
      }
    }
    memcpy(u, next, cells * sizeof(double)); /* u stays the protected buffer */
    ++step;
    if (!resumed && step == p.crash_at_step && rank == p.crash_rank) {
      fprintf(stderr, "heat_c: rank %d killing itself with SIGKILL at step %lld\n", rank, (long long)step);
      fflush(stderr);
      raise(SIGKILL);
    }
    int taken = 0, stop = 0;
    check(strata_step(ckpt, (uint64_t)step, &taken), ckpt, rank);
    check(strata_stop_requested(ckpt, &stop), ckpt, rank);
    if (stop) {
      if (rank == 0) printf("heat_c: stopped for pre-emption at step %lld; run the same command to resume\n", (long long)step);
      strata_finalize(&ckpt);
      MPI_Finalize();
      return 0;
    }
  }
  check(strata_finalize(&ckpt), NULL, rank);

  /* Gather the interior rows to rank 0 and hash the global field. */
  int my_count = (int)(rows * n);
  int* counts = rank == 0 ? malloc((size_t)size * sizeof(int)) : NULL;
  int* displs = rank == 0 ? malloc((size_t)size * sizeof(int)) : NULL;
  double* global = rank == 0 ? malloc((size_t)(n * n) * sizeof(double)) : NULL;
  MPI_Gather(&my_count, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    int r;
    displs[0] = 0;
    for (r = 1; r < size; ++r) displs[r] = displs[r - 1] + counts[r - 1];
  }
  MPI_Gatherv(u + n, my_count, MPI_DOUBLE, global, counts, displs, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  if (rank == 0) printf("checksum %016llx\n", (unsigned long long)fnv1a(global, (size_t)(n * n) * sizeof(double)));
  free(counts);
  free(displs);
  free(global);
  free(u);
  free(next);
  MPI_Finalize();
  return 0;
}
