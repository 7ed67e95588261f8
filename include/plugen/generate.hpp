#pragma once
/// @file
/// Module header of plugen's dataset generation: job specs, quotas over attribute combinations, the
/// sharded, resumable, verified generation pipeline (`generate`) and its manifests.

#include "plugen/core.hpp"
#include "plugen/generate/job.hpp"
#include "plugen/generate/manifest.hpp"
#include "plugen/generate/quota.hpp"
#include "plugen/generate/spec.hpp"
