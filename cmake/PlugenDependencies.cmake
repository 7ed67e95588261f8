# Finds plugen's dependencies. Shared by the build tree and the installed package config,
# so a consumer re-finds exactly what plugen was built against.
include(CMakeFindDependencyMacro)
find_dependency(Torch)
find_dependency(Eigen3 3.3 NO_MODULE)
find_dependency(fmt)
find_dependency(nlohmann_json 3)
