#pragma once
/// @file
/// Module header of plugen's plugin: the trained plugin, its maps between latents and target space, and
/// conditioning: requests by attribute name, conditional sampling, editing, traversal, interpolation and
/// out-of-distribution checks.

#include "plugen/core.hpp"
#include "plugen/plugin/conditions.hpp"
#include "plugen/plugin/edit.hpp"
#include "plugen/plugin/file.hpp"
#include "plugen/plugin/official.hpp"
#include "plugen/plugin/ood.hpp"
#include "plugen/plugin/options.hpp"
#include "plugen/plugin/plugin.hpp"
#include "plugen/plugin/sample.hpp"
