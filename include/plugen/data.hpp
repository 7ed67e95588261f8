#pragma once
/// @file
/// Module header of plugen's data files: NumPy .npy arrays, CSV label tables, safetensors tensor files.

#include "plugen/core.hpp"
#include "plugen/data/csv.hpp"
#include "plugen/data/dataset.hpp"
#include "plugen/data/labels.hpp"
#include "plugen/data/npy.hpp"
#include "plugen/data/safetensors.hpp"
