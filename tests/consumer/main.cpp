// Uses strata through find_package(strata): checkpoint, then restore in a second checkpointer.
#include <strata/strata.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  if (argc < 2) return 2;
  std::vector<int> data(100, strata::comm::mpi{}.rank() + 1);
  {
    strata::checkpointer<> ckpt{MPI_COMM_WORLD, {.directory = argv[1]}};
    ckpt.protect("data", data);
    ckpt.checkpoint();
  }
  std::vector<int> back;
  strata::checkpointer<> ckpt{MPI_COMM_WORLD, {.directory = argv[1]}};
  ckpt.protect("data", back);
  auto v = ckpt.restore_latest();
  bool const ok = v && back == data;
  if (strata::comm::mpi{}.rank() == 0) std::printf("consumer %s, strata %s\n", ok ? "ok" : "FAILED", strata::version_string);
  return ok ? 0 : 1;
}
