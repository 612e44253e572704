// The same program as ten_lines.cpp with plain MPI and stdio: a vector and a counter, written to a
// file per rank every 10 steps and read back at start. The baseline of benchmarks/compile_time.
#include <mpi.h>
#include <cstdio>
#include <cstdlib>
#include <vector>
int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::vector<double> u(1000, 1.0);
  long step = 0;
  char name[4096];
  std::snprintf(name, sizeof name, "%s.%d", argc > 1 ? argv[1] : "ckpt", rank);
  bool resumed = false;
  if (FILE* f = std::fopen(name, "rb")) {
    resumed = std::fread(u.data(), sizeof(double), u.size(), f) == u.size() && std::fread(&step, sizeof step, 1, f) == 1;
    std::fclose(f);
  }
  for (; step < (argc > 2 ? std::atol(argv[2]) : 100); ++step)
    if ((step + 1) % 10 == 0)
      if (FILE* f = std::fopen(name, "wb")) {
        long const next = step + 1;
        std::fwrite(u.data(), sizeof(double), u.size(), f);
        std::fwrite(&next, sizeof next, 1, f);
        std::fclose(f);
      }
  if (rank == 0) std::printf("plain_mpi: %s, step %ld\n", resumed ? "resumed" : "fresh", step);
  MPI_Finalize();
}
