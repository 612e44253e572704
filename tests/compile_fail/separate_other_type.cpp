// With STRATA_SEPARATE_COMPILATION, a checkpointer type other than the two that strata/src.hpp
// compiles (here: incremental snapshots) needs <strata/checkpoint/definitions.hpp>; without it
// the program must not compile (rather than fail to link with a page of mangled names).
#include <strata/checkpoint.hpp>
#include <strata/snapshot/incremental.hpp>

int main() {
  strata::checkpointer<strata::comm::solo, strata::snapshot::incremental<>> ckpt{strata::comm::solo{}, {}};
  return 0;
}
