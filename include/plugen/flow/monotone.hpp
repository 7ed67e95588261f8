#pragma once
/// @file
/// A learned per-coordinate monotone map y = x + a * tanh((x - m) / s), the flow's last step.

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <tuple>

#include "plugen/core/check.hpp"
#include "plugen/flow/detail/monotone_solve.hpp"

namespace plugen {

/// Per-coordinate monotone bijection y_i = x_i + a_i tanh((x_i - m_i) / s_i) with s_i = softplus(r_i) + 1e-3
/// and a_i = s_i (exp(b_i) - 1), so dy/dx = 1 + (exp(b_i) - 1) sech^2(...) > 0 always, and b = 0 is the
/// identity. It can open a gap around m_i (b > 0): the 1-d step that turns a Gaussian projection of the
/// latent into the two modes of a binary label coordinate, which couplings (affine in the changed
/// coordinate) can only approximate through long chains. Inverse: per element, Newton steps safeguarded by
/// bisection on [y - |a|, y + |a|] (`detail::monotone_solve`) for float and double tensors on the CPU; on other
/// devices and types, bisection as tensor operations.
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

  /// Solves y (batch, dim) = x + a tanh((x - m) / s) for x, to the dtype's precision.
  torch::Tensor inverse(const torch::Tensor& y) {
    torch::NoGradGuard no_grad;
    auto [s, a] = scales();
    if (y.device().is_cpu() && y.dim() == 2 && y.size(1) == dim_ &&
        (y.scalar_type() == torch::kFloat32 || y.scalar_type() == torch::kFloat64)) {
      if (y.scalar_type() == torch::kFloat32) return solve<float>(y, s, a);
      return solve<double>(y, s, a);
    }
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
  // The CPU inverse: detail::monotone_solve for every element, rows split over the intra-op threads.
  template <class T>
  torch::Tensor solve(const torch::Tensor& y, const torch::Tensor& s, const torch::Tensor& a) const {
    const auto type = y.scalar_type();
    const auto yc = y.contiguous();
    const auto sc = s.to(type).contiguous(), ac = a.to(type).contiguous(), mc = m_.detach().to(type).contiguous(),
               kc = torch::expm1(b_.detach()).to(type).contiguous();
    auto x = torch::empty_like(yc);
    const T *py = yc.data_ptr<T>(), *ps = sc.data_ptr<T>(), *pa = ac.data_ptr<T>(), *pm = mc.data_ptr<T>(),
            *pk = kc.data_ptr<T>();
    T* px = x.data_ptr<T>();
    const int64_t d = dim_;
    at::parallel_for(0, yc.size(0), std::max<int64_t>(1, 4096 / d), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r)
        for (int64_t j = 0; j < d; ++j)
          px[r * d + j] = detail::monotone_solve(py[r * d + j], pa[j], pm[j], ps[j], pk[j]);
    });
    return x;
  }

  int64_t dim_;
  torch::Tensor b_, m_, r_;
};

/// Module holder of MonotoneStepImpl.
TORCH_MODULE(MonotoneStep);

}  // namespace plugen
