#pragma once
/// @file
/// Module header of plugen's evaluation: scorers (modules that measure attributes of decoded outputs), the
/// metric arithmetic (accuracy, Pearson r, MAE, calibration, pixel distances, label alignment), and the
/// evaluations of a plugin (or of the linear-direction baseline) through a backbone (conditional generation,
/// edits; round trip and held-out NLL for plugins).

#include "plugen/backbone.hpp"
#include "plugen/eval/evaluate.hpp"
#include "plugen/eval/metrics.hpp"
#include "plugen/eval/scorer.hpp"
#include "plugen/plugin.hpp"
