/* The C API's error paths (include/strata/c/strata.h): every misuse returns its code and a message
 * naming the call, the rank and the buffer; a refused restore leaves the buffers as they were.
 * usage: test_c_api WORKDIR   (run under mpiexec at any number of ranks; C_API_VERBOSE=1 prints
 * each message checked) */
#include <strata/c/strata.h>

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank = 0, size = 1, checks = 0, failures = 0;
static char rank_text[32];

#define CHECK(cond, ...)                                                  \
  do {                                                                    \
    ++checks;                                                             \
    if (!(cond)) {                                                        \
      ++failures;                                                         \
      fprintf(stderr, "rank %d: FAIL %s:%d: %s: ", rank, __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                       \
      fprintf(stderr, "\n");                                              \
    }                                                                     \
  } while (0)

/* `code` is `want` and the last error names every one of the (NULL-terminated) words. */
static void expect(int line, int code, int want, const strata_ckpt* h, const char* w1, const char* w2) {
  const char* msg = strata_last_error(h);
  ++checks;
  if (getenv("C_API_VERBOSE") && rank == 0) printf("line %d: %s: %s\n", line, strata_code_name(code), msg);
  if (code != want || !strstr(msg, rank_text) || (w1 && !strstr(msg, w1)) || (w2 && !strstr(msg, w2))) {
    ++failures;
    fprintf(stderr, "rank %d: FAIL line %d: got %s, want %s; message \"%s\" should name \"%s\", \"%s\", \"%s\"\n",
            rank, line, strata_code_name(code), strata_code_name(want), msg, rank_text, w1 ? w1 : "", w2 ? w2 : "");
  }
}
#define EXPECT(code, want, h, w1, w2) expect(__LINE__, (code), (want), (h), (w1), (w2))

static char base[4096];
static const char* path(const char* leaf) {
  static char buf[8][4200];
  static int next = 0;
  char* p = buf[next++ % 8];
  snprintf(p, 4200, "%s/%s", base, leaf);
  return p;
}

static int resize_calls = 0;
static void* counting_resize(void* old, int64_t count, size_t elem, void* user) {
  ++resize_calls;
  *(int64_t*)user = count;
  return realloc(old, (size_t)count * elem);
}

static void null_handle_and_init(void) {
  strata_ckpt* h = NULL;
  double x[4] = {0};
  uint64_t v = 0;
  int flag = 0;
  /* Calling before init: a NULL handle. */
  EXPECT(strata_protect(NULL, "x", x, STRATA_DOUBLE, 4), STRATA_EUSAGE, NULL, "strata_protect", "handle is NULL");
  EXPECT(strata_checkpoint(NULL, &v), STRATA_EUSAGE, NULL, "strata_checkpoint", "handle is NULL");
  EXPECT(strata_step(NULL, 1, &flag), STRATA_EUSAGE, NULL, "strata_step", "handle is NULL");
  EXPECT(strata_restore_latest(NULL, &v), STRATA_EUSAGE, NULL, "strata_restore_latest", "handle is NULL");
  EXPECT(strata_restore(NULL, 1), STRATA_EUSAGE, NULL, "strata_restore", "handle is NULL");
  EXPECT(strata_current_version(NULL, &v), STRATA_EUSAGE, NULL, "strata_current_version", "handle is NULL");
  EXPECT(strata_stop_requested(NULL, &flag), STRATA_EUSAGE, NULL, "strata_stop_requested", "handle is NULL");
  EXPECT(strata_wait(NULL), STRATA_EUSAGE, NULL, "strata_wait", "handle is NULL");
  EXPECT(strata_finalize(&h), STRATA_EUSAGE, NULL, "strata_finalize", "never initialised");
  EXPECT(strata_finalize(NULL), STRATA_EUSAGE, NULL, "strata_finalize", "h is NULL");
  EXPECT(strata_init(NULL, MPI_COMM_WORLD, NULL, path("d0")), STRATA_EUSAGE, NULL, "strata_init", "out is NULL");
  /* init twice on the same handle variable. */
  CHECK(strata_init(&h, MPI_COMM_WORLD, NULL, path("d0")) == STRATA_OK, "%s", strata_last_error(NULL));
  strata_ckpt* const first = h;
  EXPECT(strata_init(&h, MPI_COMM_WORLD, NULL, path("d0")), STRATA_EUSAGE, NULL, "strata_init", "initialised already");
  CHECK(h == first, "a refused init changed the handle");
  CHECK(strata_finalize(&h) == STRATA_OK && h == NULL, "%s", strata_last_error(NULL));
  /* A directory that cannot be made: under a regular file. The handle stays NULL. */
  if (rank == 0) {
    FILE* f = fopen(path("a_file"), "w");
    CHECK(f != NULL, "cannot create %s", path("a_file"));
    if (f) fclose(f);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  int code = strata_init(&h, MPI_COMM_WORLD, NULL, path("a_file/ckpt"));
  CHECK(code != STRATA_OK && h == NULL, "init into a directory under a file: %s", strata_code_name(code));
  if (getenv("C_API_VERBOSE") && rank == 0) printf("line %d: %s: %s\n", __LINE__, strata_code_name(code), strata_last_error(NULL));
  CHECK(strstr(strata_last_error(NULL), "a_file") != NULL, "message does not name the directory: %s", strata_last_error(NULL));
  /* A configuration file that does not exist. */
  EXPECT(strata_init(&h, MPI_COMM_WORLD, path("no_such.toml"), path("d0")), STRATA_EUSAGE, NULL, "strata_init", "no_such.toml");
  CHECK(h == NULL, "a failed init set the handle");
}

static void protect_misuse(void) {
  strata_ckpt* h = NULL;
  double x[4] = {1, 2, 3, 4};
  double* p = NULL;
  int64_t n = 0;
  uint64_t v = 0, v2 = 0;
  int taken = -1, stop = -1;
  CHECK(strata_init(&h, MPI_COMM_WORLD, NULL, path("d1")) == STRATA_OK, "%s", strata_last_error(NULL));
  if (!h) return;
  EXPECT(strata_protect(h, "a", NULL, STRATA_DOUBLE, 10), STRATA_EUSAGE, h, "buffer 'a'", "NULL with count 10");
  EXPECT(strata_protect(h, "b", x, STRATA_DOUBLE, -3), STRATA_EUSAGE, h, "buffer 'b'", "negative count -3");
  EXPECT(strata_protect(h, "c", x, 99, 4), STRATA_EUSAGE, h, "buffer 'c'", "unknown element type 99");
  EXPECT(strata_protect(h, NULL, x, STRATA_DOUBLE, 4), STRATA_EUSAGE, h, "strata_protect", "name is NULL");
  EXPECT(strata_protect_resizable(h, "r", NULL, &n, STRATA_DOUBLE, NULL, NULL), STRATA_EUSAGE, h, "buffer 'r'", "data is NULL");
  n = -1;
  EXPECT(strata_protect_resizable(h, "r", (void**)&p, &n, STRATA_DOUBLE, NULL, NULL), STRATA_EUSAGE, h, "buffer 'r'", "negative count");
  n = 5;
  EXPECT(strata_protect_resizable(h, "r", (void**)&p, &n, STRATA_DOUBLE, NULL, NULL), STRATA_EUSAGE, h, "buffer 'r'", "NULL with count 5");
  CHECK(strata_protect(h, "x", x, STRATA_DOUBLE, 4) == STRATA_OK, "%s", strata_last_error(h));
  EXPECT(strata_protect(h, "x", x, STRATA_INT32, 1), STRATA_EUSAGE, h, "'x'", "already protected");
  /* A NULL buffer with no elements is fine. */
  CHECK(strata_protect(h, "empty", NULL, STRATA_INT64, 0) == STRATA_OK, "%s", strata_last_error(h));
  /* No checkpoint yet: "none", buffers untouched. */
  EXPECT(strata_restore_latest(h, &v), STRATA_ENONE, h, "strata_restore_latest", "no checkpoint");
  CHECK(x[0] == 1 && x[3] == 4, "a restore of nothing changed the buffer");
  EXPECT(strata_current_version(h, &v), STRATA_ENONE, h, "strata_current_version", "no version");
  EXPECT(strata_restore(h, 7), STRATA_ERESTORE, h, "strata_restore", "7");
  CHECK(strata_checkpoint(h, &v) == STRATA_OK, "%s", strata_last_error(h));
  CHECK(strata_current_version(h, &v2) == STRATA_OK && v2 == v, "current version %llu, checkpoint %llu", (unsigned long long)v2, (unsigned long long)v);
  /* The C++ checkpointer accepts protect after a checkpoint: the next version holds the buffer. */
  double y = 42;
  CHECK(strata_protect(h, "y", &y, STRATA_DOUBLE, 1) == STRATA_OK, "%s", strata_last_error(h));
  CHECK(strata_step(h, 1, &taken) == STRATA_OK && (taken == 0 || taken == 1), "%s", strata_last_error(h));
  CHECK(strata_stop_requested(h, &stop) == STRATA_OK && stop == 0, "stop %d", stop);
  EXPECT(strata_stop_requested(h, NULL), STRATA_EUSAGE, h, "strata_stop_requested", "stop is NULL");
  CHECK(strata_checkpoint(h, &v2) == STRATA_OK && v2 > v, "%s", strata_last_error(h));
  x[0] = 100, y = 0;
  CHECK(strata_restore(h, v2) == STRATA_OK && x[0] == 1 && y == 42, "restore(v2): %s", strata_last_error(h));
  CHECK(strata_finalize(&h) == STRATA_OK && h == NULL, "%s", strata_last_error(NULL));
  /* Double finalise: a code, nothing freed twice; calls after it see a NULL handle. */
  EXPECT(strata_finalize(&h), STRATA_EUSAGE, NULL, "strata_finalize", "finalised already");
  EXPECT(strata_checkpoint(h, &v), STRATA_EUSAGE, NULL, "strata_checkpoint", "handle is NULL");
}

static void restore_mismatch(void) {
  strata_ckpt* h = NULL;
  double u[10], big[20];
  int32_t small[10];
  int64_t extra = 7, rn = 3;
  uint64_t v = 0;
  int i;
  for (i = 0; i < 10; ++i) u[i] = i + 1 + 100 * rank;
  CHECK(strata_init(&h, MPI_COMM_WORLD, NULL, path("d2")) == STRATA_OK, "%s", strata_last_error(NULL));
  if (!h) return;
  strata_protect(h, "u", u, STRATA_DOUBLE, 10);
  strata_protect(h, "n", &rn, STRATA_INT64, 1);
  CHECK(strata_checkpoint(h, &v) == STRATA_OK, "%s", strata_last_error(h));
  strata_finalize(&h);

  /* Wrong size: 20 doubles in a fixed buffer where 10 were saved. */
  for (i = 0; i < 20; ++i) big[i] = -1;
  CHECK(strata_init(&h, MPI_COMM_WORLD, NULL, path("d2")) == STRATA_OK, "%s", strata_last_error(NULL));
  strata_protect(h, "u", big, STRATA_DOUBLE, 20);
  EXPECT(strata_restore_latest(h, &v), STRATA_ERESTORE, h, "'u'", "20");
  for (i = 0; i < 20; ++i) CHECK(big[i] == -1, "big[%d] = %g after a refused restore", i, big[i]);
  strata_finalize(&h);

  /* Wrong type: int32 where doubles were saved. */
  for (i = 0; i < 10; ++i) small[i] = -1;
  CHECK(strata_init(&h, MPI_COMM_WORLD, NULL, path("d2")) == STRATA_OK, "%s", strata_last_error(NULL));
  strata_protect(h, "u", small, STRATA_INT32, 10);
  EXPECT(strata_restore_latest(h, &v), STRATA_ERESTORE, h, "'u'", "element type");
  for (i = 0; i < 10; ++i) CHECK(small[i] == -1, "small[%d] = %d after a refused restore", i, (int)small[i]);
  strata_finalize(&h);

  /* A protected name the checkpoint does not hold. */
  for (i = 0; i < 10; ++i) u[i] = -1;
  CHECK(strata_init(&h, MPI_COMM_WORLD, NULL, path("d2")) == STRATA_OK, "%s", strata_last_error(NULL));
  strata_protect(h, "u", u, STRATA_DOUBLE, 10);
  strata_protect(h, "not_saved", &extra, STRATA_INT64, 1);
  EXPECT(strata_restore_latest(h, &v), STRATA_ERESTORE, h, "'not_saved'", "not in version");
  CHECK(u[0] == -1 && extra == 7, "a refused restore changed the buffers");
  strata_finalize(&h);

  /* A saved name no longer protected ("n"): restored without it (strata warns). */
  CHECK(strata_init(&h, MPI_COMM_WORLD, NULL, path("d2")) == STRATA_OK, "%s", strata_last_error(NULL));
  strata_protect(h, "u", u, STRATA_DOUBLE, 10);
  CHECK(strata_restore_latest(h, &v) == STRATA_OK && v == 1, "%s", strata_last_error(h));
  for (i = 0; i < 10; ++i) CHECK(u[i] == i + 1 + 100 * rank, "u[%d] = %g after restore", i, u[i]);
  strata_finalize(&h);
}

static void resizable(void) {
  strata_ckpt* h = NULL;
  double* p = malloc(5 * sizeof(double));
  double* q = NULL;
  int64_t n = 5, m = 0, told = 0;
  uint64_t v = 0;
  int i;
  for (i = 0; i < 5; ++i) p[i] = 0.5 * i + rank;
  CHECK(strata_init(&h, MPI_COMM_WORLD, NULL, path("d3")) == STRATA_OK, "%s", strata_last_error(NULL));
  if (!h) return;
  strata_protect_resizable(h, "p", (void**)&p, &n, STRATA_DOUBLE, NULL, NULL);
  CHECK(strata_checkpoint(h, &v) == STRATA_OK, "%s", strata_last_error(h));
  /* Grown between checkpoints: the next version saves 8. */
  p = realloc(p, 8 * sizeof(double));
  for (i = 5; i < 8; ++i) p[i] = 10 + i;
  n = 8;
  CHECK(strata_checkpoint(h, &v) == STRATA_OK && v == 2, "%s", strata_last_error(h));
  strata_finalize(&h);

  /* Restored into an empty buffer through the program's resize function. */
  CHECK(strata_init(&h, MPI_COMM_WORLD, NULL, path("d3")) == STRATA_OK, "%s", strata_last_error(NULL));
  strata_protect_resizable(h, "p", (void**)&q, &m, STRATA_DOUBLE, counting_resize, &told);
  CHECK(strata_restore_latest(h, &v) == STRATA_OK && v == 2, "%s", strata_last_error(h));
  CHECK(m == 8 && told == 8 && resize_calls == 1 && q != NULL, "m %lld told %lld calls %d", (long long)m, (long long)told, resize_calls);
  for (i = 0; q && i < 8; ++i) CHECK(q[i] == p[i], "q[%d] = %g, saved %g", i, q[i], p[i]);
  /* Rolled back to version 1 (5 elements), default realloc path not taken: the callback shrinks it. */
  CHECK(strata_restore(h, 1) == STRATA_OK && m == 5 && resize_calls == 2, "%s", strata_last_error(h));
  for (i = 0; q && i < 5; ++i) CHECK(q[i] == 0.5 * i + rank, "q[%d] = %g after restore(1)", i, q[i]);
  strata_finalize(&h);
  free(p);
  free(q);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  snprintf(rank_text, sizeof rank_text, "rank %d", rank);
  if (argc < 2) {
    if (rank == 0) fprintf(stderr, "usage: test_c_api WORKDIR\n");
    MPI_Finalize();
    return 2;
  }
  snprintf(base, sizeof base, "%s/np%d", argv[1], size);
  if (rank == 0) {
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", base, base);
    if (system(cmd) != 0) fprintf(stderr, "cannot prepare %s\n", base);
  }
  MPI_Barrier(MPI_COMM_WORLD);

  null_handle_and_init();
  protect_misuse();
  restore_mismatch();
  resizable();

  int all = 0;
  MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) {
    if (all == 0) printf("c_api: all %d checks passed on %d ranks\n", checks, size);
    else printf("c_api: %d failures\n", all);
  }
  MPI_Finalize();
  return all == 0 ? 0 : 1;
}
