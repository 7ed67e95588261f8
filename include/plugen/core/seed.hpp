#pragma once
/// @file
/// Seeding: reproducible torch generators and counter-based per-sample seeds.

#include <torch/torch.h>

#include <cstdint>

#include "plugen/core/detail/splitmix.hpp"

namespace plugen {

/// A CPU torch generator seeded with `seed` (independent of the global generator).
inline at::Generator make_generator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

/// Seeds torch's global generator (and, where present, CUDA's), for code that uses it implicitly.
inline void manual_seed(uint64_t seed) {
  torch::manual_seed(seed);
}

}  // namespace plugen
