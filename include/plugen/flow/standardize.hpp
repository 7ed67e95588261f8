#pragma once
/// @file
/// Fixed per-dimension standardization u = (w - mean) / std, put in front of a plugin's flow.

#include <torch/torch.h>

#include <algorithm>
#include <string>
#include <tuple>

#include "plugen/core/tensor.hpp"

namespace plugen {

/// Fixed affine map u = (w - mean) / std with log-det -sum(log std). The statistics are buffers
/// (saved with the module, not trained). Dimensions whose std is below `min_std` (constant latent
/// dimensions) use `min_std`, so the map stays invertible.
class StandardizeImpl : public torch::nn::Module {
 public:
  /// The identity over `dim` coordinates.
  explicit StandardizeImpl(int64_t dim)
      : StandardizeImpl(torch::zeros({dim}, torch::kFloat32), torch::ones({dim}, torch::kFloat32)) {}

  /// A map with the given (dim,) mean and std; std must be positive and everything finite.
  StandardizeImpl(torch::Tensor mean, torch::Tensor std) {
    PLUGEN_CHECK(mean.dim() == 1 && std.dim() == 1 && mean.size(0) == std.size(0) && mean.size(0) >= 1, ShapeError,
                 "Standardize: expected mean and std of equal shape (dim,), got {} and {}", shape_string(mean.sizes()),
                 shape_string(std.sizes()));
    check_finite(mean.reshape({1, -1}), "Standardize mean");
    check_finite(std.reshape({1, -1}), "Standardize std");
    PLUGEN_CHECK((std > 0).all().item<bool>(), NumericError, "Standardize: expected std > 0 in every dimension");
    mean_ = register_buffer("mean", mean.detach().clone());
    std_ = register_buffer("std", std.detach().clone().to(mean.scalar_type()));
  }

  /// Maps w (batch, dim) to (u, log_det) with log_det = -sum(log std) for every row.
  std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& w) {
    check_batch(w, dim(), mean_.scalar_type(), "Standardize::forward");
    return {(w - mean_) / std_, (-torch::log(std_).sum()).expand({w.size(0)})};
  }

  /// Maps u back to w = u * std + mean.
  torch::Tensor inverse(const torch::Tensor& u) {
    check_batch(u, dim(), mean_.scalar_type(), "Standardize::inverse");
    return u * std_ + mean_;
  }

  /// Width of the map.
  int64_t dim() const { return mean_.size(0); }
  /// The per-dimension mean.
  const torch::Tensor& mean() const { return mean_; }
  /// The per-dimension standard deviation.
  const torch::Tensor& std() const { return std_; }

 private:
  torch::Tensor mean_, std_;
};

/// Module holder of StandardizeImpl.
TORCH_MODULE(Standardize);

/// Fits a standardization on the rows of `w` (N >= 2, D): population mean and std, with std floored at
/// `min_std_fraction` times the median std so constant dimensions stay invertible.
inline Standardize fit_standardize(const torch::Tensor& w, double min_std_fraction = 1e-6) {
  PLUGEN_CHECK(w.defined() && w.dim() == 2 && w.size(0) >= 2, ShapeError,
               "fit_standardize: expected latents of shape (N >= 2, D), got {}",
               w.defined() ? shape_string(w.sizes()) : std::string("an undefined tensor"));
  check_finite(w, "fit_standardize latents");
  auto wd = w.detach().to(torch::kFloat64);
  auto mean = wd.mean(0);
  auto std = wd.std(0, /*unbiased=*/false);
  const double floor = std::max(std.median().item<double>() * min_std_fraction, 1e-12);
  std = std.clamp_min(floor);
  return Standardize(mean.to(w.scalar_type()), std.to(w.scalar_type()));
}

}  // namespace plugen
