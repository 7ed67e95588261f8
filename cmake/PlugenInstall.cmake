include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS plugen EXPORT plugenTargets)
install(DIRECTORY include/plugen DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT plugenTargets NAMESPACE plugen:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/plugen)

configure_package_config_file(cmake/plugenConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/plugenConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/plugen)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/plugenConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/plugenConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/plugenConfigVersion.cmake
  cmake/PlugenDependencies.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/plugen)
