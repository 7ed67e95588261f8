#pragma once
/// @file
/// Counter-based uniform and normal numbers without LibTorch: value `counter` of stream `key` depends only on
/// (key, counter). Shared by the torch (noise.hpp) and Eigen sampling paths, so both draw the same numbers.

#include <cmath>
#include <cstdint>

#include "plugen/core/detail/splitmix.hpp"

namespace plugen::detail {

/// Uniform in [0, 1) from output `counter` of the SplitMix64 stream starting at `key` (53 random bits).
inline double counter_uniform(uint64_t key, uint64_t counter) noexcept {
  return static_cast<double>(mix64(key + counter * 0x9E3779B97F4A7C15ULL) >> 11) * 0x1.0p-53;
}

/// Standard normal number `index` of stream `key`: Box-Muller on outputs 2 index and 2 index + 1.
inline double counter_normal(uint64_t key, uint64_t index) noexcept {
  const double u1 = 1.0 - counter_uniform(key, 2 * index);  // (0, 1]: log stays finite
  const double u2 = counter_uniform(key, 2 * index + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
}

}  // namespace plugen::detail
