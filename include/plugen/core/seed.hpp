#pragma once
/// @file
/// Seeding: reproducible torch generators and counter-based per-sample seeds.

#include <torch/torch.h>

#include <cstdint>

namespace plugen {

/// SplitMix64 finalizer: a bijective mixing of 64 bits (Steele, Lea, Flood 2014).
inline constexpr uint64_t mix64(uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// Counter-based seed for item `index` of stream `seed`: depends only on (seed, index), so item i
/// gets the same randomness whatever the batch size, chunking, thread count or resume history.
inline constexpr uint64_t derive_seed(uint64_t seed, uint64_t index) noexcept {
  return mix64(mix64(seed) ^ mix64(index + 0x632BE59BD9B4E019ULL));
}

/// A CPU torch generator seeded with `seed` (independent of the global generator).
inline at::Generator make_generator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

/// Seeds torch's global generator (and, where present, CUDA's), for code that uses it implicitly.
inline void manual_seed(uint64_t seed) {
  torch::manual_seed(seed);
}

}  // namespace plugen
