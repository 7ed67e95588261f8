#pragma once
/// @file
/// Module header of plugen's training: the trainer, its report and callbacks.

#include "plugen/core.hpp"
#include "plugen/flow.hpp"
#include "plugen/prior.hpp"
#include "plugen/train/callbacks.hpp"
#include "plugen/train/report.hpp"
#include "plugen/train/train_plugin.hpp"
#include "plugen/train/trainer.hpp"
