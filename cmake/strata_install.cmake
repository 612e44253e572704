# Install rules: headers, the exported INTERFACE target and a package config
# so that consumers write find_package(strata CONFIG REQUIRED). The exported
# target holds only the (prefix-relative) include directory and C++20; the
# package config finds the dependencies and applies the device system the
# consumer picks (cmake/strataConfig.cmake.in), so the prefix is relocatable.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(strata_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/strata)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/strata DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS strata EXPORT strataTargets)
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
