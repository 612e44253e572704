# Build tree: picks the Thrust device system, finds strata's dependencies
# (cmake/strata_find_dependencies.cmake, which the installed package runs again
# at the consumer's configure time) and attaches them to the internal target
# strata_dependencies, which strata::strata links only in the build tree.
include(GNUInstallDirs)

find_package(MPI REQUIRED COMPONENTS CXX)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
option(STRATA_USE_ISAL "Use ISA-L for node_local's erasure-coded level when it is found" ON)

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

include(strata_find_dependencies)
if(_strata_missing)
  list(JOIN _strata_missing ", " _strata_missing)
  message(FATAL_ERROR "strata: not found: ${_strata_missing}")
endif()
if(STRATA_USE_ISAL AND STRATA_ISAL_INCLUDE_DIR AND STRATA_ISAL_LIBRARY)
  message(STATUS "strata: ISA-L from ${STRATA_ISAL_LIBRARY} (node_local erasure codes)")
else()
  message(STATUS "strata: no ISA-L (libisal-dev): node_local's xor_group / reed_solomon levels are unavailable")
endif()
message(STATUS "strata: Thrust from ${STRATA_THRUST_INCLUDE_DIR}, device system ${STRATA_THRUST_DEVICE_SYSTEM}")

# Not exported: the installed package finds these again for the consumer's choice of system.
add_library(strata_dependencies INTERFACE)
strata_link_dependencies(strata_dependencies)
