#pragma once
/// @file
/// Module header of plugen's plugin: the trained plugin, its maps between latents and target space, and
/// requests by attribute name.

#include "plugen/core.hpp"
#include "plugen/plugin/conditions.hpp"
#include "plugen/plugin/plugin.hpp"
