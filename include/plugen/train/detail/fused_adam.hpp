#pragma once
/// @file
/// Adam with gradient-norm clipping in one pass over the weights: the update of `torch::optim::Adam`
/// (bias-corrected moments, L2 weight decay added to the gradient) applied element by element, with the clipping
/// factor folded in; gradients are dropped rather than zeroed between steps. LibTorch's Adam runs about seven
/// tensor-wide operations per parameter and clipping two more, each streaming the weights, gradients or moments
/// through memory: for the 3 M weights of the official preset that memory traffic, not the matrix products, was
/// the largest cost of a training step at batch 32.

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "plugen/core/check.hpp"

namespace plugen::detail {

/// Adam (betas 0.9, 0.999, eps 1e-8, as `torch::optim::AdamOptions`) over a fixed list of parameters, with
/// optional gradient-norm clipping (the norm and factor of `torch::nn::utils::clip_grad_norm_`).
class FusedAdam {
 public:
  /// Optimizes `parameters` (contiguous floating-point tensors, as a module's parameters are).
  FusedAdam(std::vector<torch::Tensor> parameters, double lr, double weight_decay)
      : params_(std::move(parameters)), lr_(lr), weight_decay_(weight_decay) {
    for (const auto& p : params_) {
      PLUGEN_CHECK(p.is_contiguous() && p.is_floating_point(), ConfigError,
                   "FusedAdam: expected contiguous floating-point parameters");
      exp_avg_.push_back(torch::zeros_like(p));
      exp_avg_sq_.push_back(torch::zeros_like(p));
    }
  }

  /// Sets the learning rate of the next steps.
  void set_lr(double lr) { lr_ = lr; }

  /// Drops the gradients (LibTorch's `zero_grad(set_to_none)`): the next backward pass then stores its
  /// gradients directly instead of adding them to zeroed buffers, which saves three passes over them.
  void zero_grad() {
    for (auto& p : params_) p.mutable_grad().reset();
  }

  /// The 2-norm of all gradients together, as `clip_grad_norm_` computes it (per-parameter norms, then the
  /// norm of those), as a 0-d tensor.
  torch::Tensor grad_norm() const {
    std::vector<torch::Tensor> norms;
    for (const auto& p : params_)
      if (p.grad().defined()) norms.push_back(p.grad().norm(2));
    if (norms.empty()) return torch::zeros({});
    return norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2);
  }

  /// One Adam step on the gradients scaled by min(1, max_norm / (norm + 1e-6)) (no scaling when max_norm <= 0).
  /// The gradients themselves are left as they are.
  void step(const torch::Tensor& norm, double max_norm) {
    torch::NoGradGuard no_grad;
    ++steps_;
    const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(steps_));
    const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(steps_));
    torch::Tensor coef;
    if (max_norm > 0) coef = torch::clamp(max_norm / (norm + 1e-6), c10::nullopt, 1.0);
    for (size_t i = 0; i < params_.size(); ++i) {
      auto& p = params_[i];
      if (!p.grad().defined()) continue;
      auto& g = p.mutable_grad();
      if (!g.is_contiguous()) g = g.contiguous();
      AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "FusedAdam::step", [&] {
        const scalar_t scale = coef.defined() ? coef.to(p.scalar_type()).template item<scalar_t>() : scalar_t(1);
        update<scalar_t>(p.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(), exp_avg_[i].data_ptr<scalar_t>(),
                         exp_avg_sq_[i].data_ptr<scalar_t>(), p.numel(), scale, coef.defined(), bias_correction1,
                         bias_correction2);
      });
    }
  }

 private:
  static constexpr double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;

  // The arithmetic of torch::optim::Adam (1.13) per element, in the parameter's dtype: g' = g * scale (the
  // clipping), g' += wd * p, m = m * b1 + (1 - b1) g', v = v * b2 + (1 - b2) g'^2,
  // p += -(lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps).
  template <class T>
  void update(T* p, T* g, T* m, T* v, int64_t n, T scale, bool scaled, double bc1, double bc2) const {
    const T b1 = static_cast<T>(beta1), one_minus_b1 = static_cast<T>(1 - beta1);
    const T b2 = static_cast<T>(beta2), one_minus_b2 = static_cast<T>(1 - beta2);
    const T wd = static_cast<T>(weight_decay_), e = static_cast<T>(eps);
    const T sqrt_bc2 = static_cast<T>(std::sqrt(bc2));
    const T neg_step = static_cast<T>(-(lr_ / bc1));
    const bool decay = weight_decay_ != 0;
    at::parallel_for(0, n, 16384, [&](int64_t begin, int64_t end) {
      int64_t j = begin;
#if defined(__SSE2__)
      // Four floats at a time, the same operations in the same order as the scalar loop below (compilers do not
      // vectorize that loop: std::sqrt may set errno).
      if constexpr (std::is_same_v<T, float>) {
        const __m128 vscale = _mm_set1_ps(scale), vwd = _mm_set1_ps(wd), vb1 = _mm_set1_ps(b1),
                     vomb1 = _mm_set1_ps(one_minus_b1), vb2 = _mm_set1_ps(b2), vomb2 = _mm_set1_ps(one_minus_b2),
                     vsqrt_bc2 = _mm_set1_ps(sqrt_bc2), ve = _mm_set1_ps(e), vneg_step = _mm_set1_ps(neg_step);
        for (; j + 4 <= end; j += 4) {
          __m128 grad = _mm_loadu_ps(g + j);
          if (scaled) grad = _mm_mul_ps(grad, vscale);
          const __m128 pj = _mm_loadu_ps(p + j);
          if (decay) grad = _mm_add_ps(grad, _mm_mul_ps(vwd, pj));
          const __m128 mj = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(m + j), vb1), _mm_mul_ps(vomb1, grad));
          const __m128 vj = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(v + j), vb2), _mm_mul_ps(_mm_mul_ps(vomb2, grad), grad));
          _mm_storeu_ps(m + j, mj);
          _mm_storeu_ps(v + j, vj);
          const __m128 denom = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(vj), vsqrt_bc2), ve);
          _mm_storeu_ps(p + j, _mm_add_ps(pj, _mm_mul_ps(vneg_step, _mm_div_ps(mj, denom))));
        }
      }
#endif
      for (; j < end; ++j) {
        T grad = scaled ? g[j] * scale : g[j];
        if (decay) grad = grad + wd * p[j];
        const T mj = m[j] * b1 + one_minus_b1 * grad;
        const T vj = v[j] * b2 + one_minus_b2 * grad * grad;
        m[j] = mj;
        v[j] = vj;
        p[j] = p[j] + neg_step * (mj / (std::sqrt(vj) / sqrt_bc2 + e));
      }
    });
  }

  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;
  double lr_, weight_decay_;
  int64_t steps_ = 0;
};

}  // namespace plugen::detail
