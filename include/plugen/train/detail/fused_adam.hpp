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

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

#include "plugen/core/check.hpp"
#include "plugen/core/detail/cpu.hpp"

namespace plugen::detail {

/// The constants of one Adam step in float (see `FusedAdam::update`).
struct AdamConstants {
  float scale, wd, b1, one_minus_b1, b2, one_minus_b2, inv_sqrt_bc2, eps, neg_step;
};

// The element loop of FusedAdam::update for floats, eight at a time, with the same operations in the same order
// as its scalar loop (compilers do not vectorize that loop: std::sqrt may set errno), so both give the same bits.
// Returns the first index it did not process. The loop is bound by its division and square root, which AVX2
// does eight at a time; CPUs without AVX2 take the scalar loop.
#if defined(PLUGEN_HAVE_AVX2_KERNELS)
// Compiled for AVX2 only, not FMA: a fused multiply-add would round differently from the scalar loop.
__attribute__((target("avx2"))) inline int64_t adam_avx2(float* p, const float* g, float* m, float* v, int64_t j,
                                                         int64_t end, const AdamConstants& c, bool scaled,
                                                         bool decay) {
  const __m256 vscale = _mm256_set1_ps(c.scale), vwd = _mm256_set1_ps(c.wd), vb1 = _mm256_set1_ps(c.b1),
               vomb1 = _mm256_set1_ps(c.one_minus_b1), vb2 = _mm256_set1_ps(c.b2),
               vomb2 = _mm256_set1_ps(c.one_minus_b2), vinv_sqrt_bc2 = _mm256_set1_ps(c.inv_sqrt_bc2),
               ve = _mm256_set1_ps(c.eps), vneg_step = _mm256_set1_ps(c.neg_step);
  for (; j + 8 <= end; j += 8) {
    __m256 grad = _mm256_loadu_ps(g + j);
    if (scaled) grad = _mm256_mul_ps(grad, vscale);
    const __m256 pj = _mm256_loadu_ps(p + j);
    if (decay) grad = _mm256_add_ps(grad, _mm256_mul_ps(vwd, pj));
    const __m256 mj = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(m + j), vb1), _mm256_mul_ps(vomb1, grad));
    const __m256 vj =
        _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + j), vb2), _mm256_mul_ps(_mm256_mul_ps(vomb2, grad), grad));
    _mm256_storeu_ps(m + j, mj);
    _mm256_storeu_ps(v + j, vj);
    const __m256 denom = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vj), vinv_sqrt_bc2), ve);
    _mm256_storeu_ps(p + j, _mm256_add_ps(pj, _mm256_mul_ps(vneg_step, _mm256_div_ps(mj, denom))));
  }
  return j;
}
#endif

// The sum of squares of n floats: 32 float partial sums per block of 4096 elements, blocks added in double.
// The same code compiled for AVX2 (without FMA, so every path gives the same bits) runs the 32 sums in four
// registers: four independent chains of additions, where one register (eight sums) waited on the latency of each
// addition and ran at a third of the speed.
__attribute__((always_inline)) inline double sum_of_squares_body(const float* x, int64_t n) {
  constexpr int64_t block = 4096, lanes = 32;
  double total = 0;
  for (int64_t begin = 0; begin < n; begin += block) {
    const int64_t end = std::min(n, begin + block);
    float acc[lanes] = {};
    int64_t i = begin;
    for (; i + lanes <= end; i += lanes)
      for (int64_t k = 0; k < lanes; ++k) acc[k] += x[i + k] * x[i + k];
    for (; i < end; ++i) total += static_cast<double>(x[i]) * x[i];
    double block_sum = 0;
    for (int64_t k = 0; k < lanes; ++k) block_sum += acc[k];
    total += block_sum;
  }
  return total;
}

inline double sum_of_squares_generic(const float* x, int64_t n) { return sum_of_squares_body(x, n); }

#if defined(PLUGEN_HAVE_AVX2_KERNELS)
__attribute__((target("avx2"))) inline double sum_of_squares_avx2(const float* x, int64_t n) {
  return sum_of_squares_body(x, n);
}
#endif

/// The sum of squares of n floats (for the gradient norm: one pass, no temporaries).
inline double sum_of_squares(const float* x, int64_t n) {
#if defined(PLUGEN_HAVE_AVX2_KERNELS)
  if (cpu_has_avx2_fma()) return sum_of_squares_avx2(x, n);
#endif
  return sum_of_squares_generic(x, n);
}

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
    // Each gradient's sum of squares is taken when the backward pass delivers it, while it is still in cache
    // (a separate pass over the 12.6 MB of gradients of the official preset cost 0.3 ms per step).
    sum_sq_.assign(params_.size(), 0.0);
    deliveries_.assign(params_.size(), 0);
    for (size_t i = 0; i < params_.size(); ++i)
      hooks_.push_back(params_[i].requires_grad()
                           ? static_cast<int64_t>(params_[i].register_hook([this, i](const torch::Tensor& g) {
                               // Only a first delivery onto no gradient is the gradient grad_norm will see.
                               if (++deliveries_[i] == 1 && !params_[i].grad().defined() && is_cpu_float(g))
                                 sum_sq_[i] = sum_of_squares(g.data_ptr<float>(), g.numel());
                               else
                                 deliveries_[i] = 2;
                             }))
                           : -1);
  }

  /// Removes the gradient hooks from the parameters.
  ~FusedAdam() {
    for (size_t i = 0; i < params_.size(); ++i)
      if (hooks_[i] >= 0) params_[i].remove_hook(static_cast<unsigned>(hooks_[i]));
  }

  FusedAdam(const FusedAdam&) = delete;
  FusedAdam& operator=(const FusedAdam&) = delete;

  /// Sets the learning rate of the next steps.
  void set_lr(double lr) { lr_ = lr; }

  /// Drops the gradients (LibTorch's `zero_grad(set_to_none)`): the next backward pass then stores its
  /// gradients directly instead of adding them to zeroed buffers, which saves three passes over them.
  void zero_grad() {
    for (auto& p : params_) p.mutable_grad().reset();
    std::fill(deliveries_.begin(), deliveries_.end(), 0);
  }

  /// The 2-norm of all gradients together, as `clip_grad_norm_` computes it, as a 0-d tensor. Float gradients on
  /// the CPU are summed in one pass each (`sum_of_squares`, accumulated in double) - when the backward pass
  /// delivered them, if it delivered each once since `zero_grad` - others by LibTorch's norm.
  torch::Tensor grad_norm() const {
    double sum_sq = 0;
    std::vector<torch::Tensor> norms;
    for (size_t i = 0; i < params_.size(); ++i) {
      const auto& g = params_[i].grad();
      if (!g.defined()) continue;
      if (is_cpu_float(g))
        sum_sq += deliveries_[i] == 1 ? sum_sq_[i] : sum_of_squares(g.data_ptr<float>(), g.numel());
      else
        norms.push_back(g.norm(2));
    }
    if (norms.empty()) return torch::tensor(std::sqrt(sum_sq), torch::kFloat64);
    return (torch::stack(norms).to(torch::kFloat64).pow(2).sum() + sum_sq).sqrt();
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
    double scale = -1;  // the clipping factor as a number, read once (below) when a CPU loop needs it
    for (size_t i = 0; i < params_.size(); ++i) {
      auto& p = params_[i];
      if (!p.grad().defined()) continue;
      auto& g = p.mutable_grad();
      if (!p.is_cpu() || (p.scalar_type() != torch::kFloat32 && p.scalar_type() != torch::kFloat64)) {
        update_tensors(i, coef, bias_correction1, bias_correction2);
        continue;
      }
      if (!g.is_contiguous()) g = g.contiguous();
      if (scale < 0) scale = coef.defined() ? coef.template item<double>() : 1.0;
      AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "FusedAdam::step", [&] {
        update<scalar_t>(p.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(), exp_avg_[i].data_ptr<scalar_t>(),
                         exp_avg_sq_[i].data_ptr<scalar_t>(), p.numel(), static_cast<scalar_t>(scale),
                         coef.defined(), bias_correction1, bias_correction2);
      });
    }
  }

 private:
  static constexpr double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;

  static bool is_cpu_float(const torch::Tensor& g) {
    return g.is_cpu() && g.scalar_type() == torch::kFloat32 && g.is_contiguous();
  }

  // The update below by tensor operations, for parameters on other devices or of other floating-point types.
  void update_tensors(size_t i, const torch::Tensor& coef, double bc1, double bc2) {
    auto& p = params_[i];
    auto grad = p.grad();
    if (coef.defined()) grad = grad * coef.to(grad.device(), grad.scalar_type());
    if (weight_decay_ != 0) grad = grad + weight_decay_ * p;
    exp_avg_[i].mul_(beta1).add_(grad, 1 - beta1);
    exp_avg_sq_[i].mul_(beta2).addcmul_(grad, grad, 1 - beta2);
    const auto denom = exp_avg_sq_[i].sqrt().mul_(1 / std::sqrt(bc2)).add_(eps);
    p.addcdiv_(exp_avg_[i], denom, -lr_ / bc1);
  }

  // The arithmetic of torch::optim::Adam (1.13) per element, in the parameter's dtype: g' = g * scale (the
  // clipping), g' += wd * p, m = m * b1 + (1 - b1) g', v = v * b2 + (1 - b2) g'^2,
  // p += -(lr / bc1) * m / (sqrt(v) * (1 / sqrt(bc2)) + eps): LibTorch divides by sqrt(bc2), a multiplication by
  // its inverse (one rounding apart) saves one of the three divisions and square roots that bound this loop.
  template <class T>
  void update(T* p, T* g, T* m, T* v, int64_t n, T scale, bool scaled, double bc1, double bc2) const {
    const T b1 = static_cast<T>(beta1), one_minus_b1 = static_cast<T>(1 - beta1);
    const T b2 = static_cast<T>(beta2), one_minus_b2 = static_cast<T>(1 - beta2);
    const T wd = static_cast<T>(weight_decay_), e = static_cast<T>(eps);
    const T inv_sqrt_bc2 = static_cast<T>(1 / std::sqrt(bc2));
    const T neg_step = static_cast<T>(-(lr_ / bc1));
    const bool decay = weight_decay_ != 0;
    at::parallel_for(0, n, 16384, [&](int64_t begin, int64_t end) {
      int64_t j = begin;
#if defined(PLUGEN_HAVE_AVX2_KERNELS)
      if constexpr (std::is_same_v<T, float>) {
        const AdamConstants c{scale, wd, b1, one_minus_b1, b2, one_minus_b2, inv_sqrt_bc2, e, neg_step};
        if (cpu_has_avx2_fma()) j = adam_avx2(p, g, m, v, j, end, c, scaled, decay);
      }
#endif
      for (; j < end; ++j) {
        T grad = scaled ? g[j] * scale : g[j];
        if (decay) grad = grad + wd * p[j];
        const T mj = m[j] * b1 + one_minus_b1 * grad;
        const T vj = v[j] * b2 + one_minus_b2 * grad * grad;
        m[j] = mj;
        v[j] = vj;
        p[j] = p[j] + neg_step * (mj / (std::sqrt(vj) * inv_sqrt_bc2 + e));
      }
    });
  }

  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;
  std::vector<double> sum_sq_;        // per parameter, taken by its hook
  std::vector<int> deliveries_;       // hook calls since zero_grad (a second one means accumulation: recompute)
  std::vector<int64_t> hooks_;        // hook handles, -1 for parameters without gradients
  double lr_, weight_decay_;
  int64_t steps_ = 0;
};

}  // namespace plugen::detail
