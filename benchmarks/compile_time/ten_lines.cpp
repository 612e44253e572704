// The 10-line program of SPEC O4: a vector and a counter, checkpointed with strata::checkpointer<>.
// benchmarks/compile_time compiles it (header-only, and with STRATA_SEPARATE_COMPILATION) side by
// side with plain_mpi.cpp, the same program written with plain MPI and stdio.
#include <strata/checkpoint.hpp>
#include <cstdio>
#include <cstdlib>
#include <vector>
int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  std::vector<double> u(1000, 1.0);
  long step = 0;
  strata::checkpointer<> ckpt{MPI_COMM_WORLD, {.directory = argc > 1 ? argv[1] : "ckpt", .trigger = {.n = 10}}};
  ckpt.protect("u", u);
  ckpt.protect("step", step);
  auto const resumed = ckpt.restore_latest();
  for (long const end = argc > 2 ? std::atol(argv[2]) : 100; step < end;) ckpt.step(static_cast<std::uint64_t>(++step));
  if (ckpt.communicator().rank() == 0) std::printf("ten_lines: %s, step %ld\n", resumed ? "resumed" : "fresh", step);
}
