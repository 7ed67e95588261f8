include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS plugen plugen_eigen EXPORT plugenTargets)
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

# pkg-config file for non-CMake builds (Torch has no .pc of its own: its flags are spelled out).
set(PLUGEN_PC_TORCH_CFLAGS "")
foreach(_dir ${TORCH_INCLUDE_DIRS})
  string(APPEND PLUGEN_PC_TORCH_CFLAGS " -I${_dir}")
endforeach()
string(APPEND PLUGEN_PC_TORCH_CFLAGS " ${TORCH_CXX_FLAGS}")
string(STRIP "${PLUGEN_PC_TORCH_CFLAGS}" PLUGEN_PC_TORCH_CFLAGS)
set(PLUGEN_PC_TORCH_LIBS "")
foreach(_lib torch torch_cpu c10)
  find_library(PLUGEN_PC_${_lib}_LIBRARY ${_lib} HINTS ${TORCH_INSTALL_PREFIX}/lib)
  if(PLUGEN_PC_${_lib}_LIBRARY)
    get_filename_component(_libdir ${PLUGEN_PC_${_lib}_LIBRARY} DIRECTORY)
    string(APPEND PLUGEN_PC_TORCH_LIBS " -L${_libdir} -l${_lib}")
  endif()
endforeach()
string(STRIP "${PLUGEN_PC_TORCH_LIBS}" PLUGEN_PC_TORCH_LIBS)
configure_file(cmake/plugen.pc.in ${CMAKE_CURRENT_BINARY_DIR}/plugen.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/plugen.pc DESTINATION ${CMAKE_INSTALL_DATADIR}/pkgconfig)
