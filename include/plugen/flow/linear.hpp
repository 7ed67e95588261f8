#pragma once
/// @file
/// LU-parametrized invertible linear layer (Glow-style, without pivoting).

#include <torch/torch.h>

#include <tuple>

#include "plugen/core/check.hpp"

namespace plugen {

/// Invertible linear map y = x W^T with W = L (U + diag(exp(log_s))): L unit lower triangular,
/// U strictly upper triangular, both packed in one (dim, dim) parameter `lu` (its diagonal is unused);
/// log|det W| = sum(log_s). Starts as the identity. Attribute directions in generator latents are often
/// close to linear, which one such layer in front of the couplings captures cheaply.
class InvertibleLinearImpl : public torch::nn::Module {
 public:
  /// Builds an identity map over `dim` coordinates.
  explicit InvertibleLinearImpl(int64_t dim) : dim_(dim) {
    PLUGEN_CHECK(dim >= 1, ConfigError, "InvertibleLinear: expected dim >= 1, got {}", dim);
    lu_ = register_parameter("lu", torch::zeros({dim, dim}));
    log_s_ = register_parameter("log_s", torch::zeros({dim}));
  }

  /// The matrices (L, U + diag(exp(log_s))).
  std::tuple<torch::Tensor, torch::Tensor> factors() const {
    auto eye = torch::eye(dim_, lu_.options());
    auto lower = torch::tril(lu_, -1) + eye;
    auto upper = torch::triu(lu_, 1) + torch::diag(torch::exp(log_s_));
    return {lower, upper};
  }

  /// The full matrix W.
  torch::Tensor weight() const {
    auto [lower, upper] = factors();
    return torch::matmul(lower, upper);
  }

  /// Maps x (batch, dim) to (x W^T, log|det W| per row).
  std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x) {
    auto y = torch::matmul(x, weight().t());
    return {y, log_s_.sum().expand({x.size(0)})};
  }

  /// Solves y = x W^T for x with two triangular solves.
  torch::Tensor inverse(const torch::Tensor& y) {
    auto [lower, upper] = factors();
    // x U'^T L^T = y: first v L^T = y, then x U'^T = v.
    auto v = at::linalg_solve_triangular(lower.t(), y, /*upper=*/true, /*left=*/false, /*unitriangular=*/true);
    return at::linalg_solve_triangular(upper.t(), v, /*upper=*/false, /*left=*/false, /*unitriangular=*/false);
  }

  /// Width of the map.
  int64_t dim() const { return dim_; }
  /// Number of trainable scalars: dim^2 + dim (the packed LU matrix and log_s).
  static int64_t parameter_count(int64_t dim) { return dim * dim + dim; }

 private:
  int64_t dim_;
  torch::Tensor lu_, log_s_;
};

/// Module holder of InvertibleLinearImpl.
TORCH_MODULE(InvertibleLinear);

}  // namespace plugen
