#pragma once
/// @file
/// Umbrella header: everything plugen offers.

#include "plugen/backbone.hpp"
#include "plugen/baseline.hpp"
#include "plugen/core.hpp"
#include "plugen/data.hpp"
#include "plugen/eval.hpp"
#include "plugen/flow.hpp"
#include "plugen/generate.hpp"
#include "plugen/prior.hpp"
#include "plugen/plugin.hpp"
#include "plugen/train.hpp"
