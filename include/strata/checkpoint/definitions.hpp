#pragma once
/// \file
/// \brief The checkpointer's member definitions, for a STRATA_SEPARATE_COMPILATION program that uses
/// a checkpointer type other than the two compiled in `strata/src.hpp` (`checkpointer<comm::mpi>`,
/// `checkpointer<comm::solo>`): include it in the files that use that type. In header-only builds
/// (the default) `strata/checkpoint/checkpointer.hpp` includes it already.

#include <strata/checkpoint/impl/checkpointer.ipp>
