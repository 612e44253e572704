// Uses strata::separate (STRATA_SEPARATE_COMPILATION) through find_package(strata): this file
// includes only <strata/checkpoint.hpp> and parses the checkpointer's declarations; the package
// builds the definitions once, in a static library of this project. Checkpoint, then restore.
#include <strata/checkpoint.hpp>

#include <cstdio>
#include <vector>

#ifndef STRATA_SEPARATE_COMPILATION
#error "strata::separate did not define STRATA_SEPARATE_COMPILATION"
#endif

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  if (argc < 2) return 2;
  int const rank = strata::comm::mpi{}.rank();
  std::vector<double> data(64, rank + 0.5);
  {
    strata::checkpointer<> ckpt{MPI_COMM_WORLD, {.directory = argv[1]}};
    ckpt.protect("data", data);
    ckpt.checkpoint();
  }
  std::vector<double> back;
  strata::checkpointer<> ckpt{MPI_COMM_WORLD, {.directory = argv[1]}};
  ckpt.protect("data", back);
  auto v = ckpt.restore_latest();
  bool const ok = v && back == data;
  if (rank == 0) std::printf("consumer_separate %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
