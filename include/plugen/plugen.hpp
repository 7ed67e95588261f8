#pragma once
/// @file
/// Umbrella header: everything plugen offers.

#include "plugen/backbone.hpp"
#include "plugen/core.hpp"
#include "plugen/flow.hpp"
