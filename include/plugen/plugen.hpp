#pragma once
/// @file
/// Umbrella header: everything plugen offers.

#include "plugen/core.hpp"
#include "plugen/data.hpp"
#include "plugen/flow.hpp"
