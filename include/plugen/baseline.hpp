#pragma once
/// @file
/// Module header of plugen's baselines: the alternatives a plugin is measured against on the same latents
/// (linear attribute directions, InterFaceGAN-style).

#include "plugen/baseline/linear.hpp"
