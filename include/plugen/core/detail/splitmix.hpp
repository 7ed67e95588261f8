#pragma once
/// @file
/// SplitMix64 mixing and counter-based seeds, without LibTorch (shared by the torch and Eigen paths).

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

}  // namespace plugen
