// The counterpart of separate_other_type.cpp: with <strata/checkpoint/definitions.hpp> the same
// program compiles under STRATA_SEPARATE_COMPILATION (built by the main build: an object library).
#include <strata/checkpoint.hpp>
#include <strata/checkpoint/definitions.hpp>
#include <strata/snapshot/incremental.hpp>

int main() {
  strata::checkpointer<strata::comm::solo, strata::snapshot::incremental<>> ckpt{strata::comm::solo{}, {}};
  return 0;
}
