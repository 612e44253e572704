# strata::separate: strata with STRATA_SEPARATE_COMPILATION (see include/strata/config.hpp). A
# static library built in the consumer's own build tree from one file (cmake/strata_separate.cpp),
# with the consumer's compiler and device system; linking it defines STRATA_SEPARATE_COMPILATION
# for the consumer's files, which then parse the checkpointer's declarations only. Shared by the
# build tree (CMakeLists.txt) and the installed package (strataConfig.cmake).
#
# Before including: strata::strata exists; _strata_separate_source names the file to compile.
if(NOT TARGET strata_separate)
  add_library(strata_separate STATIC EXCLUDE_FROM_ALL ${_strata_separate_source})
  target_link_libraries(strata_separate PUBLIC strata::strata)
  target_compile_definitions(strata_separate PUBLIC STRATA_SEPARATE_COMPILATION=1)
  target_compile_features(strata_separate PUBLIC cxx_std_20)
  if(STRATA_THRUST_DEVICE_SYSTEM STREQUAL "CUDA")
    set_source_files_properties(${_strata_separate_source} TARGET_DIRECTORY strata_separate PROPERTIES LANGUAGE CUDA)
    set_target_properties(strata_separate PROPERTIES CUDA_STANDARD 20)
  endif()
  add_library(strata::separate ALIAS strata_separate)
endif()
