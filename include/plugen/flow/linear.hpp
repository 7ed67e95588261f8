#pragma once
/// @file
/// LU-parametrized invertible linear layer (Glow-style: fixed row permutation and pivot signs).

#include <torch/torch.h>

#include <tuple>
#include <vector>

#include "plugen/core/check.hpp"
#include "plugen/core/tensor.hpp"
#include "plugen/flow/detail/permutation.hpp"

namespace plugen {

/// Invertible linear map y = x W^T with W = P L (U + diag(sign * exp(log_s))): L unit lower triangular and
/// U strictly upper triangular, both packed in one trainable (dim, dim) parameter `lu` (its diagonal is
/// unused), trainable `log_s`, and two fixed tensors set by `set_weight`: the row permutation P (stored as
/// `perm`: output coordinate i is row perm[i] of L U') and the pivot signs `sign` (+-1). log|det W| =
/// sum(log_s). Starts as the identity (perm = 0..dim-1, sign = +1). Attribute directions in generator
/// latents are often close to linear, which one such layer in front of the couplings captures cheaply;
/// `set_weight` starts it at a given matrix (e.g. directions fitted to the labels).
class InvertibleLinearImpl : public torch::nn::Module {
 public:
  /// Builds an identity map over `dim` coordinates.
  explicit InvertibleLinearImpl(int64_t dim) : dim_(dim) {
    PLUGEN_CHECK(dim >= 1, ConfigError, "InvertibleLinear: expected dim >= 1, got {}", dim);
    lu_ = register_parameter("lu", torch::zeros({dim, dim}));
    log_s_ = register_parameter("log_s", torch::zeros({dim}));
    sign_ = register_buffer("sign", torch::ones({dim}));
    perm_ = torch::arange(dim, torch::kInt64);
    inverse_perm_ = perm_;
    identity_perm_ = true;
  }

  /// The matrices (L, U + diag(sign * exp(log_s))) of the unpermuted factorization.
  std::tuple<torch::Tensor, torch::Tensor> factors() const {
    auto eye = torch::eye(dim_, lu_.options());
    auto lower = torch::tril(lu_, -1) + eye;
    auto upper = torch::triu(lu_, 1) + torch::diag(sign_ * torch::exp(log_s_));
    return {lower, upper};
  }

  /// The full matrix W = P L U'.
  torch::Tensor weight() const {
    auto [lower, upper] = factors();
    auto w = torch::matmul(lower, upper);
    return identity_perm_ ? w : w.index_select(0, perm_);
  }

  /// Maps x (batch, dim) to (x W^T, log|det W| per row).
  std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x) {
    auto y = torch::matmul(x, weight().t());
    return {y, log_s_.sum().expand({x.size(0)})};
  }

  /// Solves y = x W^T for x: undoes the permutation, then two triangular solves.
  torch::Tensor inverse(const torch::Tensor& y) {
    auto [lower, upper] = factors();
    auto yp = identity_perm_ ? y : y.index_select(1, inverse_perm_);
    // x U'^T L^T = yp: first v L^T = yp, then x U'^T = v.
    auto v = at::linalg_solve_triangular(lower.t(), yp, /*upper=*/true, /*left=*/false, /*unitriangular=*/true);
    return at::linalg_solve_triangular(upper.t(), v, /*upper=*/false, /*left=*/false, /*unitriangular=*/false);
  }

  /// Sets the layer to the invertible matrix `w` (dim, dim) by LU factorization with partial pivoting
  /// (computed in float64): perm and sign become fixed, lu and log_s stay trainable. Throws NumericError
  /// for a singular or non-finite `w`.
  void set_weight(const torch::Tensor& w) {
    check_batch(w, dim_, w.scalar_type(), "InvertibleLinear::set_weight");
    PLUGEN_CHECK(w.size(0) == dim_, ShapeError, "InvertibleLinear::set_weight: expected a ({}, {}) matrix, got {}",
                 dim_, dim_, shape_string(w.sizes()));
    auto w64 = w.detach().to(torch::kCPU, torch::kFloat64);
    PLUGEN_CHECK(torch::isfinite(w64).all().item<bool>(), NumericError,
                 "InvertibleLinear::set_weight: the matrix has NaN or inf entries");
    // w = P_t L U with P_t a permutation matrix: row i of w is row perm[i] of L U.
    auto [p_mat, lower, upper] = at::linalg_lu(w64, /*pivot=*/true);
    auto diag = upper.diagonal();
    const double scale = w64.abs().max().item<double>();
    PLUGEN_CHECK(scale > 0 && (diag.abs() > 1e-12 * scale).all().item<bool>(), NumericError,
                 "InvertibleLinear::set_weight: the matrix is singular");
    auto perm = p_mat.argmax(1);  // w = P_t (L U): row i of w is row argmax_j P_t[i, j] of L U
    auto packed = torch::tril(lower, -1) + torch::triu(upper, 1);
    torch::NoGradGuard no_grad;
    lu_.copy_(packed.to(lu_.options()));
    log_s_.copy_(diag.abs().log().to(log_s_.options()));
    sign_.copy_(diag.sign().to(sign_.options()));
    set_permutation(std::vector<int64_t>(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + dim_));
  }

  /// Sets the fixed row permutation (output coordinate i is row perm[i] of L U'); ConfigError unless
  /// `perm` is a permutation of 0..dim-1.
  void set_permutation(const std::vector<int64_t>& perm) {
    const auto inv = detail::inverse_permutation(perm, dim_, "InvertibleLinear");
    bool identity = true;
    for (size_t i = 0; i < perm.size(); ++i) identity = identity && perm[i] == static_cast<int64_t>(i);
    const auto device = lu_.device();
    perm_ = torch::tensor(perm, torch::kInt64).to(device);
    inverse_perm_ = torch::tensor(inv, torch::kInt64).to(device);
    identity_perm_ = identity;
  }

  /// The fixed row permutation (int64, (dim,)).
  const torch::Tensor& permutation() const { return perm_; }
  /// Its inverse (int64, (dim,)): row i of L U' is output coordinate inverse_permutation()[i].
  const torch::Tensor& inverse_permutation() const { return inverse_perm_; }
  /// The fixed pivot signs (+-1, (dim,)).
  const torch::Tensor& sign() const { return sign_; }

  /// Moves the module and its permutation to `device` (the permutation stays int64 under dtype casts).
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override {
    torch::nn::Module::to(device, dtype, non_blocking);
    move_indices(device);
  }
  /// Casts the parameters and signs to `dtype`.
  void to(torch::Dtype dtype, bool non_blocking = false) override { torch::nn::Module::to(dtype, non_blocking); }
  /// Moves the module and its permutation to `device`.
  void to(torch::Device device, bool non_blocking = false) override {
    torch::nn::Module::to(device, non_blocking);
    move_indices(device);
  }

  /// Width of the map.
  int64_t dim() const { return dim_; }
  /// Number of trainable scalars: dim^2 + dim (the packed LU matrix and log_s).
  static int64_t parameter_count(int64_t dim) { return dim * dim + dim; }

 private:
  void move_indices(torch::Device device) {
    perm_ = perm_.to(device);
    inverse_perm_ = inverse_perm_.to(device);
  }

  int64_t dim_;
  torch::Tensor lu_, log_s_, sign_;
  torch::Tensor perm_, inverse_perm_;
  bool identity_perm_ = true;
};

/// Module holder of InvertibleLinearImpl.
TORCH_MODULE(InvertibleLinear);

}  // namespace plugen
