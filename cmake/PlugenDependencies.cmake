# Finds plugen's dependencies. Shared by the build tree and the installed package config,
# so a consumer re-finds exactly what plugen was built against.
include(CMakeFindDependencyMacro)
find_dependency(Torch)
find_dependency(Eigen3 3.3 NO_MODULE)
find_dependency(fmt)
find_dependency(nlohmann_json 3)
# zlib (Debian: zlib1g-dev): deflate for the PNGs of plugen/backbone/image.hpp.
find_dependency(ZLIB)
# stb_image_write (header-only; Debian: libstb-dev), used by plugen/backbone/image.hpp to write PNGs.
find_path(PLUGEN_STB_INCLUDE_DIR stb/stb_image_write.h)
if(NOT PLUGEN_STB_INCLUDE_DIR)
  message(FATAL_ERROR "plugen: stb/stb_image_write.h not found (Debian: apt-get install libstb-dev)")
endif()
