#pragma once
/// \file
/// \brief Portability macros shared by strata's headers and examples.

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
