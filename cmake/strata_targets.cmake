# Helpers for strata's own programs and tests.

# Tests may abort a rank on purpose (fault injection), and Open MPI refuses to
# run as root without these; --oversubscribe lets 4 ranks share 2 cores.
set(STRATA_MPIEXEC_FLAGS --oversubscribe CACHE STRING "Extra flags for mpiexec in tests")
set(STRATA_TEST_ENV OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none)

# strata_add_program(<name> SOURCES <src...> [LIBS <libs...>])
# A program built against strata; sources are marked CUDA in CUDA mode.
function(strata_add_program name)
  cmake_parse_arguments(arg "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${arg_SOURCES})
  target_link_libraries(${name} PRIVATE strata::strata ${arg_LIBS})
  target_compile_definitions(${name} PRIVATE STRATA_ENABLE_FAULT_INJECTION=1)
  if(NOT MSVC)
    # designated initializers that leave members at their defaults are the house style for policies
    target_compile_options(${name} PRIVATE -Wall -Wextra -Wno-missing-field-initializers)
  endif()
  if(STRATA_THRUST_DEVICE_SYSTEM STREQUAL "CUDA")
    set_source_files_properties(${arg_SOURCES} PROPERTIES LANGUAGE CUDA)
    set_target_properties(${name} PROPERTIES CUDA_STANDARD 20)
    target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--extended-lambda --expt-relaxed-constexpr>)
  endif()
endfunction()

# The prefix that makes a test command pass only when it exits with 0 and prints a line matching a
# regular expression: ${STRATA_EXPECT_OUTPUT} "<regex>" <command> [args...] (cmake/expect_output.sh).
set(STRATA_EXPECT_OUTPUT bash ${CMAKE_CURRENT_LIST_DIR}/expect_output.sh)

# strata_add_mpi_test(<name> COMMAND <exe> [args...] [NP 1 2 4] [TIMEOUT s] [PASS_REGEX r] [LABELS l])
# Registers one CTest test per process count, run under the real mpiexec.
function(strata_add_mpi_test name)
  cmake_parse_arguments(arg "" "TIMEOUT;PASS_REGEX" "COMMAND;NP;LABELS" ${ARGN})
  if(NOT arg_NP)
    set(arg_NP 1 2 4)
  endif()
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 180)
  endif()
  list(POP_FRONT arg_COMMAND exe)
  if(TARGET ${exe})
    set(exe $<TARGET_FILE:${exe}>)
  endif()
  # With PASS_REGEX: the output must match and the exit status be 0 (strata_expect_output).
  set(expect "")
  if(arg_PASS_REGEX)
    set(expect ${STRATA_EXPECT_OUTPUT} "${arg_PASS_REGEX}")
  endif()
  foreach(np IN LISTS arg_NP)
    add_test(NAME ${name}.np${np}
      COMMAND ${expect} ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} ${STRATA_MPIEXEC_FLAGS}
              ${exe} ${arg_COMMAND})
    set_tests_properties(${name}.np${np} PROPERTIES
      TIMEOUT ${arg_TIMEOUT} ENVIRONMENT "${STRATA_TEST_ENV}" PROCESSORS ${np}
      LABELS "mpi;${arg_LABELS}")
  endforeach()
endfunction()

# strata_add_script_test(<name> SCRIPT <file> [ARGS ...] [TIMEOUT s] [LABELS l])
# A bash driver (fault tests, kill-and-resume) that receives MPIEXEC and flags in its environment.
function(strata_add_script_test name)
  cmake_parse_arguments(arg "" "SCRIPT;TIMEOUT" "ARGS;LABELS" ${ARGN})
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND bash ${arg_SCRIPT} ${arg_ARGS})
  string(REPLACE ";" " " flags "${STRATA_MPIEXEC_FLAGS}")
  set_tests_properties(${name} PROPERTIES TIMEOUT ${arg_TIMEOUT}
    ENVIRONMENT "${STRATA_TEST_ENV};MPIEXEC=${MPIEXEC_EXECUTABLE};MPIEXEC_FLAGS=${flags}"
    LABELS "script;${arg_LABELS}")
endfunction()

# strata_add_subdirectories(): add every sub-folder of the current source
# folder that has a CMakeLists.txt (examples, benchmarks, tools: one folder each).
function(strata_add_subdirectories)
  file(GLOB dirs LIST_DIRECTORIES true ${CMAKE_CURRENT_SOURCE_DIR}/*)
  foreach(dir IN LISTS dirs)
    if(IS_DIRECTORY ${dir} AND EXISTS ${dir}/CMakeLists.txt)
      add_subdirectory(${dir})
    endif()
  endforeach()
endfunction()
