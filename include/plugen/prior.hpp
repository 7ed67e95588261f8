#pragma once
/// @file
/// Module header of plugen's prior: the attribute schema and the target-space prior.

#include "plugen/core.hpp"
#include "plugen/prior/prior.hpp"
#include "plugen/prior/schema.hpp"
