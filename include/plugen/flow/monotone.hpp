#pragma once
/// @file
/// A learned per-coordinate monotone map y = x + a * tanh((x - m) / s), the flow's last step.

#include <torch/torch.h>

#include <tuple>

#include "plugen/core/check.hpp"

namespace plugen {

/// Per-coordinate monotone bijection y_i = x_i + a_i tanh((x_i - m_i) / s_i) with s_i = softplus(r_i) + 1e-3
/// and a_i = s_i (exp(b_i) - 1), so dy/dx = 1 + (exp(b_i) - 1) sech^2(...) > 0 always, and b = 0 is the
/// identity. It can open a gap around m_i (b > 0): the 1-d step that turns a Gaussian projection of the
/// latent into the two modes of a binary label coordinate, which couplings (affine in the changed
/// coordinate) can only approximate through long chains. Inverse by bisection on [y - |a|, y + |a|].
class MonotoneStepImpl : public torch::nn::Module {
 public:
  /// An identity map over `dim` coordinates.
  explicit MonotoneStepImpl(int64_t dim) : dim_(dim) {
    PLUGEN_CHECK(dim >= 1, ConfigError, "MonotoneStep: expected dim >= 1, got {}", dim);
    b_ = register_parameter("b", torch::zeros({dim}));
    m_ = register_parameter("m", torch::zeros({dim}));
    r_ = register_parameter("r", torch::full({dim}, 0.5413));  // softplus(0.5413) + 1e-3 ~= 1
  }

  /// Scale s and amplitude a of every coordinate.
  std::tuple<torch::Tensor, torch::Tensor> scales() const {
    auto s = torch::nn::functional::softplus(r_) + 1e-3;
    return {s, s * torch::expm1(b_)};
  }

  /// Maps x (batch, dim) to (y, log|det| per row).
  std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x) {
    auto [s, a] = scales();
    auto t = torch::tanh((x - m_) / s);
    auto y = x + a * t;
    auto log_det = torch::log1p(torch::expm1(b_) * (1 - t * t)).sum(1);
    return {y, log_det};
  }

  /// Solves y = x + a tanh((x - m) / s) for x by bisection (to the dtype's precision), then one Newton step.
  torch::Tensor inverse(const torch::Tensor& y) {
    torch::NoGradGuard no_grad;
    auto [s, a] = scales();
    auto lo = y - a.abs();
    auto hi = y + a.abs();
    const int iterations = y.scalar_type() == torch::kFloat64 ? 64 : 32;
    for (int i = 0; i < iterations; ++i) {
      auto mid = 0.5 * (lo + hi);
      auto above = (mid + a * torch::tanh((mid - m_) / s)) > y;
      hi = torch::where(above, mid, hi);
      lo = torch::where(above, lo, mid);
    }
    auto x = 0.5 * (lo + hi);
    auto t = torch::tanh((x - m_) / s);
    auto g = x + a * t - y;
    auto dg = 1 + torch::expm1(b_) * (1 - t * t);
    return x - g / dg;
  }

  /// Width of the map.
  int64_t dim() const { return dim_; }
  /// Number of trainable scalars: 3 * dim.
  static int64_t parameter_count(int64_t dim) { return 3 * dim; }

 private:
  int64_t dim_;
  torch::Tensor b_, m_, r_;
};

/// Module holder of MonotoneStepImpl.
TORCH_MODULE(MonotoneStep);

}  // namespace plugen
