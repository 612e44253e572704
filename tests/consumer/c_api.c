/* Uses strata's C API through find_package(strata) (strata::c), or built by hand with mpicc
 * (tests/consumer_test/consumer_test.sh): checkpoint, then restore with a second handle. */
#include <strata/c/strata.h>

#include <stdio.h>

int main(int argc, char** argv) {
  int rank, i, ok = 1;
  int32_t data[100], back[100];
  uint64_t v = 0;
  strata_ckpt* h = NULL;
  MPI_Init(&argc, &argv);
  if (argc < 2) return 2;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  for (i = 0; i < 100; ++i) data[i] = rank + i, back[i] = -1;
  if (strata_init(&h, MPI_COMM_WORLD, NULL, argv[1]) != STRATA_OK || strata_protect(h, "data", data, STRATA_INT32, 100) != STRATA_OK ||
      strata_checkpoint(h, &v) != STRATA_OK || strata_finalize(&h) != STRATA_OK)
    ok = 0;
  if (ok && (strata_init(&h, MPI_COMM_WORLD, NULL, argv[1]) != STRATA_OK ||
             strata_protect(h, "data", back, STRATA_INT32, 100) != STRATA_OK || strata_restore_latest(h, &v) != STRATA_OK ||
             strata_finalize(&h) != STRATA_OK))
    ok = 0;
  for (i = 0; ok && i < 100; ++i) ok = back[i] == data[i];
  if (!ok) fprintf(stderr, "consumer_c: rank %d: %s\n", rank, strata_last_error(NULL));
  if (rank == 0) printf("consumer_c %s, version %llu\n", ok ? "ok" : "FAILED", (unsigned long long)v);
  MPI_Finalize();
  return ok ? 0 : 1;
}
