#pragma once
/// @file
/// Module header of plugen's flows: couplings, partitions, conditioners, LU layers, standardization.

#include "plugen/core.hpp"
#include "plugen/flow/conditioner.hpp"
#include "plugen/flow/coupling.hpp"
#include "plugen/flow/flow.hpp"
#include "plugen/flow/linear.hpp"
#include "plugen/flow/monotone.hpp"
#include "plugen/flow/options.hpp"
#include "plugen/flow/partition.hpp"
#include "plugen/flow/standardize.hpp"
