#pragma once
/// @file
/// `PLUGEN_CHECK`: throw a typed plugen error with a formatted message when a condition fails.

#include <fmt/format.h>

#include "plugen/core/error.hpp"

/// Throws `ErrorType(fmt::format(...))` when `cond` is false. The message should say who checks,
/// what was expected and what was found, e.g.
/// `PLUGEN_CHECK(x.dim() == 2, ShapeError, "Flow::forward: expected a 2-d tensor, got {}-d", x.dim())`.
#define PLUGEN_CHECK(cond, ErrorType, ...)                   \
  do {                                                       \
    if (!(cond)) {                                           \
      throw ::plugen::ErrorType(::fmt::format(__VA_ARGS__)); \
    }                                                        \
  } while (false)
