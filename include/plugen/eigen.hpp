#pragma once
/// @file
/// Umbrella header of plugen's torch-free inference path: a trained plugin file loaded and run with Eigen
/// (`plugen::eigen::Plugin<float>` or `<double>`). Needs Eigen, {fmt} and nlohmann_json; never LibTorch.
/// CMake: link `plugen::eigen` instead of `plugen::plugen`.

#include "plugen/eigen/flow.hpp"
#include "plugen/eigen/plugin.hpp"
