#pragma once
/// @file
/// Module header of plugen's plugin: the trained plugin, its maps between latents and target space,
/// conditioning (requests by attribute name, conditional sampling, editing, traversal, interpolation and
/// out-of-distribution checks), the plugin file, official-checkpoint import and the TorchScript export.

#include "plugen/core.hpp"
#include "plugen/plugin/conditions.hpp"
#include "plugen/plugin/edit.hpp"
#include "plugen/plugin/export.hpp"
#include "plugen/plugin/file.hpp"
#include "plugen/plugin/official.hpp"
#include "plugen/plugin/ood.hpp"
#include "plugen/plugin/options.hpp"
#include "plugen/plugin/plugin.hpp"
#include "plugen/plugin/sample.hpp"
