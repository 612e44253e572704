#pragma once
/// \file
/// \brief Portability macros shared by strata's headers and examples.

/// \brief How strata's compiled code reaches a program.
///
/// By default strata is header-only: every definition is in the headers (`inline`), and each
/// translation unit that uses the checkpointer compiles it. With `STRATA_SEPARATE_COMPILATION`
/// defined for the whole program (CMake: link `strata::separate` instead of `strata::strata`), the
/// headers declare and the definitions are compiled once, in the one translation unit that includes
/// `<strata/src.hpp>` (`strata::separate` adds it): the default checkpointers
/// (`checkpointer<comm::mpi>`, `checkpointer<comm::solo>`) and the non-template code (the manifest's
/// JSON, ...) are then not parsed, instantiated or optimised again in the program's own files.
/// `STRATA_INLINE` marks those definitions: `inline` in header-only builds, nothing otherwise.
#if defined(STRATA_SEPARATE_COMPILATION)
#define STRATA_INLINE
#else
#define STRATA_INLINE inline
#endif

/// \brief Marks a function callable from host and device code (CUDA), a no-op elsewhere.
#if defined(__CUDACC__)
#define STRATA_HOST_DEVICE __host__ __device__
#else
#define STRATA_HOST_DEVICE
#endif

/// \brief The Thrust device system strata was built for, as a string.
#if defined(STRATA_THRUST_DEVICE_SYSTEM_CUDA)
#define STRATA_DEVICE_SYSTEM_NAME "CUDA"
#elif defined(STRATA_THRUST_DEVICE_SYSTEM_OMP)
#define STRATA_DEVICE_SYSTEM_NAME "OMP"
#elif defined(STRATA_THRUST_DEVICE_SYSTEM_CPP)
#define STRATA_DEVICE_SYSTEM_NAME "CPP"
#else
#define STRATA_DEVICE_SYSTEM_NAME "unknown"
#endif

/// \brief 1 when Thrust's device system keeps its memory apart from the host's (CUDA): device data
/// is then staged through host buffers; 0 for the host-side systems (OMP, CPP), whose device
/// memory strata reads in place. Decided from strata's own macros, so that it holds before any
/// Thrust header is included (strata includes Thrust only where device memory is separate, or
/// where a header works on Thrust containers itself).
#if defined(STRATA_THRUST_DEVICE_SYSTEM_CUDA) || \
    (defined(__CUDACC__) && !defined(STRATA_THRUST_DEVICE_SYSTEM_OMP) && !defined(STRATA_THRUST_DEVICE_SYSTEM_CPP))
#define STRATA_SEPARATE_DEVICE_MEMORY 1
#else
#define STRATA_SEPARATE_DEVICE_MEMORY 0
#endif
