#pragma once
/// @file
/// Module header of plugen's data files: NumPy .npy arrays.

#include "plugen/core.hpp"
#include "plugen/data/npy.hpp"
