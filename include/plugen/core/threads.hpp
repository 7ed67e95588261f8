#pragma once
/// @file
/// Thread settings. LibTorch 1.13 on x86 starts with half the cores as intra-op threads; plugen's
/// binaries call `set_num_threads()` so all cores are used unless the user asks otherwise.

#include <ATen/Parallel.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "plugen/core/check.hpp"

namespace plugen {

/// Sets LibTorch's intra-op thread count. `n <= 0` means: `PLUGEN_NUM_THREADS` from the environment
/// when set, otherwise the number of hardware threads. Returns the count in effect.
inline int set_num_threads(int n = 0) {
  if (n <= 0) {
    if (const char* env = std::getenv("PLUGEN_NUM_THREADS"); env && *env) {
      char* end = nullptr;
      const long v = std::strtol(env, &end, 10);
      PLUGEN_CHECK(end && *end == '\0' && v > 0 && v < 4096, ConfigError,
                   "PLUGEN_NUM_THREADS: expected a positive integer, got '{}'", env);
      n = static_cast<int>(v);
    } else {
      n = static_cast<int>(std::thread::hardware_concurrency());
      if (n <= 0) n = 1;
    }
  }
  at::set_num_threads(n);
  return at::get_num_threads();
}

/// LibTorch's current intra-op thread count.
inline int num_threads() {
  return at::get_num_threads();
}

}  // namespace plugen
