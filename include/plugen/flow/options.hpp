#pragma once
/// @file
/// Options of the flow and its parts, as LibTorch-style option structs with fluent setters.

#include <torch/arg.h>

#include <cstdint>
#include <string>

#include "plugen/core/check.hpp"
#include "plugen/flow/detail/kinds.hpp"

namespace plugen {

/// Options of a coupling's conditioner network (an MLP from the kept to the changed coordinates).
struct ConditionerOptions {
  /// Number of hidden units of every hidden layer.
  TORCH_ARG(int64_t, hidden) = 256;
  /// Number of linear layers (>= 1); the official code uses 4.
  TORCH_ARG(int64_t, layers) = 3;
  /// Nonlinearity between linear layers (none after the last).
  TORCH_ARG(Activation, activation) = Activation::leaky_relu;
  /// Negative slope of `leaky_relu` (0.1 as in the official code).
  TORCH_ARG(double, negative_slope) = 0.1;
};

/// Options of a whole flow `Flow<Coupling>`: its width, depth and the parts of each coupling.
struct FlowOptions {
  /// Creates options for a flow over `dim` coordinates.
  explicit FlowOptions(int64_t dim = 0) : dim_(dim) {}
  /// Width D of the latents the flow maps (>= 2).
  TORCH_ARG(int64_t, dim);
  /// Number of coupling layers (>= 1).
  TORCH_ARG(int64_t, couplings) = 4;
  /// Conditioner network of every coupling.
  TORCH_ARG(ConditionerOptions, conditioner) = {};
  /// How coordinates are split in each coupling.
  TORCH_ARG(PartitionKind, partition) = PartitionKind::alternating;
  /// Seed of the random partitions (ignored for alternating ones).
  TORCH_ARG(uint64_t, partition_seed) = 0;
  /// Bound k of the affine log-scale: log_s = k * tanh(raw / k). Ignored by additive couplings.
  TORCH_ARG(double, scale_bound) = 2.0;
  /// Where LU-parametrized invertible linear layers go.
  TORCH_ARG(LinearPlacement, linear) = LinearPlacement::none;
  /// Ends the flow with a learned per-coordinate monotone step (`MonotoneStep`).
  TORCH_ARG(bool, monotone) = false;

 public:
  /// Throws a ConfigError naming the first invalid option.
  void validate() const {
    detail::validate_flow_options(dim_, couplings_, conditioner_.hidden(), conditioner_.layers(),
                                  conditioner_.negative_slope(), scale_bound_);
  }
};

}  // namespace plugen
