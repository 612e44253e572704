# Finds strata's dependencies and picks the Thrust device system.
# Used both in the build tree and by the installed strataConfig.cmake.
include(GNUInstallDirs)
include(CMakeFindDependencyMacro)

find_package(MPI REQUIRED COMPONENTS CXX)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3 REQUIRED)

# xxHash is used header-only (XXH_INLINE_ALL): only its header is needed.
find_path(STRATA_XXHASH_INCLUDE_DIR xxhash.h REQUIRED)
# zstd for snapshot::compressed.
find_path(STRATA_ZSTD_INCLUDE_DIR zstd.h)
find_library(STRATA_ZSTD_LIBRARY zstd)
# ISA-L (libisal-dev) for the erasure-coded level of storage::node_local (L3: XOR and Reed-Solomon).
# Optional: without it (or with -DSTRATA_USE_ISAL=OFF), choosing those levels is a usage error
# that names the package.
option(STRATA_USE_ISAL "Use ISA-L for node_local's erasure-coded level when it is found" ON)
if(STRATA_USE_ISAL)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(STRATA_ISAL_PC QUIET libisal)
  endif()
  find_path(STRATA_ISAL_INCLUDE_DIR isa-l.h HINTS ${STRATA_ISAL_PC_INCLUDE_DIRS})
  find_library(STRATA_ISAL_LIBRARY NAMES isal HINTS ${STRATA_ISAL_PC_LIBRARY_DIRS})
endif()
if(STRATA_USE_ISAL AND STRATA_ISAL_INCLUDE_DIR AND STRATA_ISAL_LIBRARY)
  message(STATUS "strata: ISA-L from ${STRATA_ISAL_LIBRARY} (node_local erasure codes)")
else()
  message(STATUS "strata: no ISA-L (libisal-dev): node_local's xor_group / reed_solomon levels are unavailable")
endif()

# Thrust/CUB: the CUDA toolkit's CCCL when present, else the system's (Debian libthrust-dev).
find_path(STRATA_THRUST_INCLUDE_DIR thrust/version.h
  HINTS /usr/local/cuda/include/cccl ${CUDAToolkit_ROOT}/include/cccl /usr/include
  NO_DEFAULT_PATH)
if(NOT STRATA_THRUST_INCLUDE_DIR)
  find_path(STRATA_THRUST_INCLUDE_DIR thrust/version.h REQUIRED)
endif()

# Thrust device system: CUDA when nvcc and a GPU are usable, else OMP.
if(NOT DEFINED STRATA_THRUST_DEVICE_SYSTEM)
  set(_strata_system OMP)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    execute_process(COMMAND nvidia-smi -L RESULT_VARIABLE _gpu_rc OUTPUT_QUIET ERROR_QUIET)
    if(_gpu_rc EQUAL 0)
      set(_strata_system CUDA)
    endif()
  endif()
  set(STRATA_THRUST_DEVICE_SYSTEM ${_strata_system} CACHE STRING "Thrust device system: CUDA, OMP or CPP")
endif()
set_property(CACHE STRATA_THRUST_DEVICE_SYSTEM PROPERTY STRINGS CUDA OMP CPP)
if(NOT STRATA_THRUST_DEVICE_SYSTEM MATCHES "^(CUDA|OMP|CPP)$")
  message(FATAL_ERROR "STRATA_THRUST_DEVICE_SYSTEM must be CUDA, OMP or CPP (got '${STRATA_THRUST_DEVICE_SYSTEM}')")
endif()
if(STRATA_THRUST_DEVICE_SYSTEM STREQUAL "OMP")
  find_package(OpenMP REQUIRED COMPONENTS CXX)
endif()
if(STRATA_THRUST_DEVICE_SYSTEM STREQUAL "CUDA")
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES native)  # the GPU of this machine; presets set 90 for compile-only checks
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
endif()
message(STATUS "strata: Thrust from ${STRATA_THRUST_INCLUDE_DIR}, device system ${STRATA_THRUST_DEVICE_SYSTEM}")

function(strata_link_dependencies target)
  target_link_libraries(${target} INTERFACE MPI::MPI_CXX Threads::Threads nlohmann_json::nlohmann_json)
  target_include_directories(${target} SYSTEM INTERFACE ${STRATA_THRUST_INCLUDE_DIR} ${STRATA_XXHASH_INCLUDE_DIR})
  target_compile_definitions(${target} INTERFACE
    THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_${STRATA_THRUST_DEVICE_SYSTEM}
    STRATA_THRUST_DEVICE_SYSTEM_${STRATA_THRUST_DEVICE_SYSTEM}=1)
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
  if(STRATA_THRUST_DEVICE_SYSTEM STREQUAL "OMP")
    target_link_libraries(${target} INTERFACE OpenMP::OpenMP_CXX)
  elseif(STRATA_THRUST_DEVICE_SYSTEM STREQUAL "CUDA")
    target_link_libraries(${target} INTERFACE CUDA::cudart)
    # CMake 3.25 does not know nvcc 13 dialects and may omit the flag: say it explicitly.
    target_compile_options(${target} INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>)
  endif()
endfunction()
