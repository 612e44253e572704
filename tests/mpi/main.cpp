// Catch2 runner for tests launched under mpiexec: MPI is initialised once for
// the whole program, and the exit status is non-zero if any rank failed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <strata/comm/mpi.hpp>

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  // Outlives MPI_Finalize (destroyed after main returns): its destructor must not free the
  // communicator then, or Open MPI aborts and this test program fails.
  static strata::comm::mpi const outlives_mpi{MPI_COMM_WORLD};
  int const failed = Catch::Session().run(argc, argv);
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return any_failed != 0 ? 1 : 0;
}
