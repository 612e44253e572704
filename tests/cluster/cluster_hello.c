/* cluster_hello: reports where each rank of a simulated-cluster run lives and
 * checks MPI across the nodes (tests/cluster/check_cluster.sh reads the lines).
 *
 *   cluster_hello          rank 0 prints one line per rank, in rank order:
 *     rank= size= host= pid= netns= markers= token= shared_rw= allreduce= ring=
 *     node_size= node_rank= host_count= node_same= probe= unforwarded=
 *   cluster_hello hang     prints "ready rank= host= pid=" per rank, then blocks
 *                          in MPI_Recv forever (for the kill test)
 */
#include <mpi.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { HOST = 64, LINE = 1024 };

/* names in /strata/local starting "marker.", joined by '+', or "none" */
static void local_markers(char *out, size_t n) {
  DIR *d = opendir("/strata/local");
  struct dirent *e;
  out[0] = '\0';
  while (d && (e = readdir(d))) {
    if (strncmp(e->d_name, "marker.", 7) != 0) continue;
    if (out[0]) strncat(out, "+", n - strlen(out) - 1);
    strncat(out, e->d_name, n - strlen(out) - 1);
  }
  if (d) closedir(d);
  if (!out[0]) snprintf(out, n, "none");
}

/* first word of a file, or "none" */
static void first_word(const char *path, char *out, size_t n) {
  FILE *f = fopen(path, "r");
  if (!f || fscanf(f, "%63s", out) != 1) snprintf(out, n, "none");
  if (f) fclose(f);
}

/* rank 0 writes a file in /strata/shared, every rank reads it back */
static const char *shared_rw(int rank) {
  char path[128], want[32], got[64];
  int pid0 = (int)getpid();
  MPI_Bcast(&pid0, 1, MPI_INT, 0, MPI_COMM_WORLD);
  snprintf(path, sizeof path, "/strata/shared/hello.%d", pid0);
  snprintf(want, sizeof want, "written-by-%d", pid0);
  if (rank == 0) {
    FILE *f = fopen(path, "w");
    if (f) { fprintf(f, "%s\n", want); fclose(f); }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  first_word(path, got, sizeof got);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) unlink(path);
  return strcmp(got, want) == 0 ? "ok" : "fail";
}

/* rank 0 prints every rank's line in rank order */
static void print_lines(const char *line, int rank, int size) {
  char *all = rank == 0 ? malloc((size_t)size * LINE) : NULL;
  MPI_Gather(line, LINE, MPI_CHAR, all, LINE, MPI_CHAR, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    for (int r = 0; r < size; ++r) printf("%s\n", all + (size_t)r * LINE);
    fflush(stdout);
    free(all);
  }
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  char host[HOST] = {0}, line[LINE] = {0};
  gethostname(host, sizeof host - 1);

  if (argc > 1 && strcmp(argv[1], "hang") == 0) {
    snprintf(line, sizeof line, "ready rank=%d host=%s pid=%d", rank, host, (int)getpid());
    print_lines(line, rank, size);
    int dummy;
    MPI_Recv(&dummy, 1, MPI_INT, MPI_ANY_SOURCE, 99, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Finalize();
    return 0;
  }

  char netns[64] = "none", markers[256], token[64];
  ssize_t len = readlink("/proc/self/ns/net", netns, sizeof netns - 1);
  if (len > 0) netns[len] = '\0';
  local_markers(markers, sizeof markers);
  first_word("/strata/shared/token", token, sizeof token);
  const char *rw = shared_rw(rank);

  /* collective: sum of rank+1 over the world */
  long mine = rank + 1, sum = 0;
  MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  const char *allreduce = sum == (long)size * (size + 1) / 2 ? "ok" : "fail";

  /* point to point around a ring: each rank sends its hostname to the next */
  char *hosts = malloc((size_t)size * HOST), from_left[HOST] = {0};
  MPI_Allgather(host, HOST, MPI_CHAR, hosts, HOST, MPI_CHAR, MPI_COMM_WORLD);
  int right = (rank + 1) % size, left = (rank + size - 1) % size;
  MPI_Sendrecv(host, HOST, MPI_CHAR, right, 7, from_left, HOST, MPI_CHAR, left, 7, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
  const char *ring = strcmp(from_left, hosts + (size_t)left * HOST) == 0 ? "ok" : "fail";
  int host_count = 0;
  for (int r = 0; r < size; ++r) host_count += strcmp(hosts + (size_t)r * HOST, host) == 0;

  /* the ranks Open MPI considers on this node: must be exactly those with this hostname */
  MPI_Comm node;
  int node_size, node_rank, node_same = 1;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &node_size);
  MPI_Comm_rank(node, &node_rank);
  char *node_hosts = malloc((size_t)node_size * HOST);
  MPI_Allgather(host, HOST, MPI_CHAR, node_hosts, HOST, MPI_CHAR, node);
  for (int r = 0; r < node_size; ++r) node_same &= strcmp(node_hosts + (size_t)r * HOST, host) == 0;

  const char *probe = getenv("STRATA_CLUSTER_PROBE"), *unfwd = getenv("CLUSTER_UNFORWARDED");
  snprintf(line, sizeof line,
           "rank=%d size=%d host=%s pid=%d netns=%s markers=%s token=%s shared_rw=%s allreduce=%s ring=%s "
           "node_size=%d node_rank=%d host_count=%d node_same=%d probe=%s unforwarded=%s",
           rank, size, host, (int)getpid(), netns, markers, token, rw, allreduce, ring, node_size, node_rank,
           host_count, node_same, probe ? probe : "unset", unfwd ? unfwd : "unset");
  print_lines(line, rank, size);

  free(node_hosts);
  free(hosts);
  MPI_Comm_free(&node);
  MPI_Finalize();
  return 0;
}
