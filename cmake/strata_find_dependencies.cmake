# Finds what strata's headers need and attaches it to a target, for one Thrust
# device system. Shared by the build tree (cmake/strata_dependencies.cmake) and
# the installed package (strataConfig.cmake), so that an installed strata
# records no absolute path: everything below is looked up again where the
# package is used, on the consumer's machine and at its configure time.
#
# Before including: STRATA_THRUST_DEVICE_SYSTEM is CUDA, OMP or CPP, and
# MPI::MPI_CXX, Threads::Threads, nlohmann_json::nlohmann_json (and OpenMP::OpenMP_CXX
# for OMP, CUDA::cudart for CUDA) exist. After: _strata_missing lists what
# was not found (empty when all is well) and strata_link_dependencies(<target>)
# is defined. Every path found is a cache variable that can be set by hand.

set(_strata_missing "")

# xxHash is used header-only (XXH_INLINE_ALL): only its header is needed.
find_path(STRATA_XXHASH_INCLUDE_DIR xxhash.h)
if(NOT STRATA_XXHASH_INCLUDE_DIR)
  list(APPEND _strata_missing "xxhash.h (libxxhash-dev; or set STRATA_XXHASH_INCLUDE_DIR)")
endif()

# zstd for snapshot::compressed: optional, without it that snapshot says so at run time.
find_path(STRATA_ZSTD_INCLUDE_DIR zstd.h)
find_library(STRATA_ZSTD_LIBRARY zstd)

# ISA-L (libisal-dev) for the erasure-coded level of storage::node_local (L3: XOR and Reed-Solomon).
# Optional: without it (or with STRATA_USE_ISAL=OFF), choosing those levels is a usage error
# that names the package.
if(NOT DEFINED STRATA_USE_ISAL)
  set(STRATA_USE_ISAL ON)
endif()
if(STRATA_USE_ISAL)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(STRATA_ISAL_PC QUIET libisal)
  endif()
  find_path(STRATA_ISAL_INCLUDE_DIR isa-l.h HINTS ${STRATA_ISAL_PC_INCLUDE_DIRS})
  find_library(STRATA_ISAL_LIBRARY NAMES isal HINTS ${STRATA_ISAL_PC_LIBRARY_DIRS})
endif()

# toml++ (libtomlplusplus-dev) for configuration files (strata/checkpoint/configuration_file.hpp).
# Optional: without it (or with STRATA_USE_TOMLPLUSPLUS=OFF), reading a configuration file is a usage
# error that names the package; STRATA_* environment variables still work.
if(NOT DEFINED STRATA_USE_TOMLPLUSPLUS)
  set(STRATA_USE_TOMLPLUSPLUS ON)
endif()
if(STRATA_USE_TOMLPLUSPLUS AND NOT TARGET tomlplusplus::tomlplusplus)
  find_package(tomlplusplus 3 QUIET)
endif()

# Thrust/CUB/libcu++ (CCCL): the CUDA toolkit's when there is one (FindCUDAToolkit knows
# where toolkits live: nvcc on PATH, CUDAToolkit_ROOT, CUDA_PATH, the usual prefix), else
# the system's (Debian libthrust-dev). With the CUDA system the toolkit's copy is required:
# it must match nvcc.
if(NOT STRATA_THRUST_INCLUDE_DIR)
  if(NOT CUDAToolkit_FOUND)
    find_package(CUDAToolkit QUIET)
  endif()
  set(_strata_cccl_hints "")
  foreach(_dir IN LISTS CUDAToolkit_INCLUDE_DIRS)
    list(APPEND _strata_cccl_hints ${_dir}/cccl ${_dir})
  endforeach()
  if(_strata_cccl_hints)
    find_path(STRATA_THRUST_INCLUDE_DIR thrust/version.h HINTS ${_strata_cccl_hints} NO_DEFAULT_PATH)
  endif()
  if(NOT STRATA_THRUST_INCLUDE_DIR AND NOT STRATA_THRUST_DEVICE_SYSTEM STREQUAL "CUDA")
    find_path(STRATA_THRUST_INCLUDE_DIR thrust/version.h)
  endif()
endif()
if(NOT STRATA_THRUST_INCLUDE_DIR)
  list(APPEND _strata_missing "thrust/version.h (the CUDA toolkit's CCCL, or libthrust-dev; or set STRATA_THRUST_INCLUDE_DIR)")
endif()

function(strata_link_dependencies target)
  set(sys ${STRATA_THRUST_DEVICE_SYSTEM})
  target_link_libraries(${target} INTERFACE MPI::MPI_CXX Threads::Threads nlohmann_json::nlohmann_json)
  target_include_directories(${target} SYSTEM INTERFACE ${STRATA_THRUST_INCLUDE_DIR} ${STRATA_XXHASH_INCLUDE_DIR})
  target_compile_definitions(${target} INTERFACE
    THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_${sys} STRATA_THRUST_DEVICE_SYSTEM_${sys}=1)
  if(STRATA_ZSTD_INCLUDE_DIR AND STRATA_ZSTD_LIBRARY)
    target_include_directories(${target} SYSTEM INTERFACE ${STRATA_ZSTD_INCLUDE_DIR})
    target_link_libraries(${target} INTERFACE ${STRATA_ZSTD_LIBRARY})
    target_compile_definitions(${target} INTERFACE STRATA_HAVE_ZSTD=1)
  endif()
  if(STRATA_USE_ISAL AND STRATA_ISAL_INCLUDE_DIR AND STRATA_ISAL_LIBRARY)
    target_include_directories(${target} SYSTEM INTERFACE ${STRATA_ISAL_INCLUDE_DIR})
    target_link_libraries(${target} INTERFACE ${STRATA_ISAL_LIBRARY})
    target_compile_definitions(${target} INTERFACE STRATA_HAVE_ISAL=1)
  endif()
  if(STRATA_USE_TOMLPLUSPLUS AND TARGET tomlplusplus::tomlplusplus)
    target_link_libraries(${target} INTERFACE tomlplusplus::tomlplusplus)
    target_compile_definitions(${target} INTERFACE STRATA_HAVE_TOMLPLUSPLUS=1)
  endif()
  if(sys STREQUAL "OMP")
    target_link_libraries(${target} INTERFACE OpenMP::OpenMP_CXX)
  elseif(sys STREQUAL "CUDA")
    # Targets linked as CUDA get the runtime CMAKE_CUDA_RUNTIME_LIBRARY names (static by
    # default); adding the shared one there would load two runtimes.
    target_link_libraries(${target} INTERFACE $<$<NOT:$<LINK_LANGUAGE:CUDA>>:CUDA::cudart>)
    # CMake 3.25 does not know nvcc 13 dialects and may omit the flag: say it explicitly.
    target_compile_options(${target} INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>)
  endif()
endfunction()
