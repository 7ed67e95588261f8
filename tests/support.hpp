#pragma once
// Shared helpers for the plugen tests: a seeding fixture, random tensors, parameter perturbation.

#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <string>

#include "plugen/core/error.hpp"

namespace plugen_test {

/// Seeds torch's global generator for the duration of a test so results do not depend on test order.
struct Seeded {
  explicit Seeded(uint64_t seed = 1234) { torch::manual_seed(seed); }
};

/// Perturbs every parameter of `module` so a fresh (identity) flow becomes a generic, well-conditioned
/// invertible map: vectors get N(0, scale^2) noise, matrices N(0, scale^2 / fan_in) so every layer's
/// output moves by O(scale) whatever the width.
inline void randomize(torch::nn::Module& module, double scale) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    const double s = p.dim() == 2 ? scale / std::sqrt(static_cast<double>(p.size(1))) : scale;
    p.add_(torch::randn_like(p) * s);
  }
}

/// Runs `fn` and returns the message of the plugen error of kind `Kind` it throws; fails if none.
template <class Kind, class Fn>
std::string error_message(Fn&& fn) {
  try {
    fn();
  } catch (const Kind& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("expected a different exception kind, got: " << e.what());
  }
  FAIL("expected an exception, none was thrown");
  return {};
}

}  // namespace plugen_test
