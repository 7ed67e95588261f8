#pragma once
/// @file
/// Module header of plugen's plugin: the trained plugin and its maps between latents and target space.

#include "plugen/core.hpp"
#include "plugen/plugin/file.hpp"
#include "plugen/plugin/plugin.hpp"
