#pragma once
/// \file
/// \brief The definitions strata compiles once under STRATA_SEPARATE_COMPILATION: include this header
/// in exactly one translation unit of the program (CMake's `strata::separate` target adds such a
/// file itself). Header-only builds (the default) need no such file.
///
/// It holds the non-template code (the manifest's JSON encoding) and the two default checkpointers,
/// `checkpointer<comm::mpi>` and `checkpointer<comm::solo>`; a program that uses another checkpointer
/// type includes `<strata/checkpoint/definitions.hpp>` in the files that do.

#if !defined(STRATA_SEPARATE_COMPILATION)
#error "strata/src.hpp is for STRATA_SEPARATE_COMPILATION builds: define it for every file of the program (CMake: link strata::separate), or drop this file (header-only)"
#endif

#include <strata/detail/impl/hash.ipp>
#include <strata/checkpoint/impl/manifest.ipp>
#include <strata/checkpoint/impl/retention.ipp>
#include <strata/storage/impl/posix_dir.ipp>
#include <strata/checkpoint/impl/checkpointer.ipp>

namespace strata {
template class checkpointer<comm::mpi>;
template class checkpointer<comm::solo>;
}  // namespace strata
