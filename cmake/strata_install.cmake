# Install rules: headers, the exported INTERFACE target and a package config
# so that consumers write find_package(strata CONFIG REQUIRED). The exported
# target holds only the (prefix-relative) include directory and C++20; the
# package config finds the dependencies and applies the device system the
# consumer picks (cmake/strataConfig.cmake.in), so the prefix is relocatable.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(strata_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/strata)
set(_strata_header_filter)
if(NOT TARGET strata_c)  # strata/c/strata.h only with the library that implements it
  set(_strata_header_filter REGEX "/include/strata/c$" EXCLUDE)
endif()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/strata DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} ${_strata_header_filter})
install(TARGETS strata EXPORT strataTargets)
# strata::c (the C API, a static library) when it is built: its header is under include/strata/c.
if(TARGET strata_c)
  install(TARGETS strata_c EXPORT strataTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  set(STRATA_PACKAGE_HAS_C_API ON)
  set(STRATA_PACKAGE_C_API_TOML ${STRATA_C_API_WITH_TOML})
  # strata::fortran: the library and the module file (compiler-specific: the Fortran compiler strata was built with).
  if(TARGET strata_fortran)
    install(TARGETS strata_fortran EXPORT strataTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
    install(FILES $<TARGET_PROPERTY:strata_fortran,Fortran_MODULE_DIRECTORY>/strata_f.mod
            DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/strata/fortran)
    set(STRATA_PACKAGE_HAS_FORTRAN ON)
  else()
    set(STRATA_PACKAGE_HAS_FORTRAN OFF)
  endif()
else()
  set(STRATA_PACKAGE_HAS_FORTRAN OFF)
  set(STRATA_PACKAGE_HAS_C_API OFF)
  set(STRATA_PACKAGE_C_API_TOML OFF)
endif()
install(EXPORT strataTargets NAMESPACE strata:: DESTINATION ${strata_cmake_dir})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/strataConfig.cmake.in
  ${PROJECT_BINARY_DIR}/strataConfig.cmake
  INSTALL_DESTINATION ${strata_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/strataConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/strataConfig.cmake ${PROJECT_BINARY_DIR}/strataConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/strata_find_dependencies.cmake
  ${PROJECT_SOURCE_DIR}/cmake/strata_separate.cmake
  ${PROJECT_SOURCE_DIR}/cmake/strata_separate.cpp
  DESTINATION ${strata_cmake_dir})
