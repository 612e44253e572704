// The one translation unit of a STRATA_SEPARATE_COMPILATION program that compiles strata's
// definitions (the default checkpointers, the manifest's JSON, checksums): the `strata::separate`
// CMake target builds it; without CMake, compile this file (or any file that includes
// <strata/src.hpp>) once with -DSTRATA_SEPARATE_COMPILATION, like every other file of the program.
#include <strata/src.hpp>
