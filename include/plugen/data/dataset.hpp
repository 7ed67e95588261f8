#pragma once
/// @file
/// `LatentDataset`: latents of a backbone with their labels, and seeded train/validation splits.

#include <torch/torch.h>

#include <utility>

#include "plugen/core/seed.hpp"
#include "plugen/core/tensor.hpp"
#include "plugen/prior/schema.hpp"

namespace plugen {

/// Latents (N, D) or per-layer latents (N, L, D) with labels for N samples.
struct LatentDataset {
  /// Backbone latents, (N, D) or (N, L, D), float32 or float64.
  torch::Tensor latents;
  /// Labels of the rows (values (N, A) float64, mask (N, A) bool).
  Labels labels;

  /// Number of samples.
  int64_t rows() const { return latents.defined() ? latents.size(0) : 0; }

  /// Checks shapes, dtypes and finiteness; `who` names the files in messages.
  void validate(const std::string& who) const {
    PLUGEN_CHECK(latents.defined() && (latents.dim() == 2 || latents.dim() == 3), ShapeError,
                 "{}: expected latents of shape (N, D) or (N, L, D), got {}", who,
                 latents.defined() ? shape_string(latents.sizes()) : std::string("none"));
    PLUGEN_CHECK(is_supported_float(latents.scalar_type()), ShapeError,
                 "{}: expected float32 or float64 latents, got {}", who, dtype_string(latents.scalar_type()));
    PLUGEN_CHECK(labels.rows() == rows(), ShapeError, "{}: {} latent rows but {} label rows", who, rows(),
                 labels.rows());
    check_finite(latents.reshape({rows(), -1}), who + " latents");
  }

  /// Rows `index` (int64) of the dataset.
  LatentDataset select(const torch::Tensor& index) const {
    return {latents.index_select(0, index), labels.select(index)};
  }

  /// Splits into (train, validation) with a seeded permutation; validation gets round(N * fraction) rows
  /// (at least 1 when fraction > 0 and N >= 2, and never all of them).
  std::pair<LatentDataset, LatentDataset> split(double fraction, uint64_t seed) const {
    PLUGEN_CHECK(fraction >= 0 && fraction < 1, ConfigError, "val_fraction: expected a value in [0, 1), got {}",
                 fraction);
    const int64_t n = rows();
    int64_t n_val = static_cast<int64_t>(std::llround(static_cast<double>(n) * fraction));
    if (fraction > 0 && n >= 2) n_val = std::max<int64_t>(n_val, 1);
    n_val = std::min(n_val, n - 1);
    if (n_val <= 0) return {*this, select(torch::zeros({0}, torch::kInt64))};
    auto perm = torch::randperm(n, make_generator(derive_seed(seed, 0x5EED5717ULL)), torch::kInt64);
    return {select(std::get<0>(perm.narrow(0, n_val, n - n_val).sort())), select(std::get<0>(perm.narrow(0, 0, n_val).sort()))};
  }
};

}  // namespace plugen
