# Installs plugen's build tree into a fresh PREFIX and checks the package files are there
# (cmake -DBUILD_DIR=... -DPREFIX=... -P install.cmake; run by the CTest fixture package_install).
file(REMOVE_RECURSE ${PREFIX})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} --prefix ${PREFIX} failed: ${rc}")
endif()
foreach(f
    include/plugen/plugen.hpp
    lib/cmake/plugen/plugenConfig.cmake
    lib/cmake/plugen/plugenConfigVersion.cmake
    lib/cmake/plugen/plugenTargets.cmake
    lib/cmake/plugen/PlugenDependencies.cmake
    share/pkgconfig/plugen.pc)
  if(NOT EXISTS ${PREFIX}/${f})
    message(FATAL_ERROR "the install into ${PREFIX} lacks ${f}")
  endif()
endforeach()
message(STATUS "plugen installed into ${PREFIX}")
