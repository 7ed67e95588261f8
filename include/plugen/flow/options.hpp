#pragma once
/// @file
/// Options of the flow and its parts, as LibTorch-style option structs with fluent setters.

#include <torch/arg.h>

#include <cstdint>
#include <string>

#include "plugen/core/check.hpp"

namespace plugen {

/// Nonlinearity between the conditioner's linear layers.
enum class Activation { relu, leaky_relu, tanh, elu, gelu, silu };

/// How a coupling splits coordinates into the kept set `a` and the changed set `b`.
enum class PartitionKind {
  alternating,  ///< coupling k keeps the even indices when k is even, the odd ones when k is odd (official)
  random,       ///< a fixed random permutation per coupling, drawn from `partition_seed`
};

/// Where LU-parametrized invertible linear layers go among the couplings.
enum class LinearPlacement {
  none,   ///< couplings only (the official architecture)
  first,  ///< one invertible linear layer in front of the first coupling
  each,   ///< one invertible linear layer in front of every coupling
};

/// Name of an activation ("relu", "leaky_relu", ...).
inline const char* to_string(Activation a) noexcept {
  switch (a) {
    case Activation::relu:
      return "relu";
    case Activation::leaky_relu:
      return "leaky_relu";
    case Activation::tanh:
      return "tanh";
    case Activation::elu:
      return "elu";
    case Activation::gelu:
      return "gelu";
    case Activation::silu:
      return "silu";
  }
  return "unknown";
}

/// Name of a partition kind ("alternating", "random").
inline const char* to_string(PartitionKind p) noexcept {
  return p == PartitionKind::alternating ? "alternating" : "random";
}

/// Name of a linear-layer placement ("none", "first", "each").
inline const char* to_string(LinearPlacement p) noexcept {
  switch (p) {
    case LinearPlacement::none:
      return "none";
    case LinearPlacement::first:
      return "first";
    case LinearPlacement::each:
      return "each";
  }
  return "unknown";
}

/// Parses an activation name; a config error lists the valid names.
inline Activation parse_activation(const std::string& s) {
  for (auto a : {Activation::relu, Activation::leaky_relu, Activation::tanh, Activation::elu, Activation::gelu,
                 Activation::silu})
    if (s == to_string(a)) return a;
  throw ConfigError(
      fmt::format("activation option: expected one of relu, leaky_relu, tanh, elu, gelu, silu, got '{}'", s));
}

/// Parses a partition kind name; a config error lists the valid names.
inline PartitionKind parse_partition(const std::string& s) {
  if (s == "alternating") return PartitionKind::alternating;
  if (s == "random") return PartitionKind::random;
  throw ConfigError(fmt::format("partition option: expected 'alternating' or 'random', got '{}'", s));
}

/// Parses a linear-layer placement name; a config error lists the valid names.
inline LinearPlacement parse_linear_placement(const std::string& s) {
  for (auto p : {LinearPlacement::none, LinearPlacement::first, LinearPlacement::each})
    if (s == to_string(p)) return p;
  throw ConfigError(fmt::format("linear option: expected 'none', 'first' or 'each', got '{}'", s));
}

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
    PLUGEN_CHECK(dim_ >= 2, ConfigError,
                 "FlowOptions::dim: expected >= 2 (a coupling needs a non-empty kept and changed side), got {}", dim_);
    PLUGEN_CHECK(couplings_ >= 1, ConfigError, "FlowOptions::couplings: expected >= 1, got {}", couplings_);
    PLUGEN_CHECK(conditioner_.hidden() >= 1, ConfigError, "FlowOptions::conditioner.hidden: expected >= 1, got {}",
                 conditioner_.hidden());
    PLUGEN_CHECK(conditioner_.layers() >= 1, ConfigError, "FlowOptions::conditioner.layers: expected >= 1, got {}",
                 conditioner_.layers());
    PLUGEN_CHECK(conditioner_.negative_slope() >= 0.0 && conditioner_.negative_slope() < 1.0, ConfigError,
                 "FlowOptions::conditioner.negative_slope: expected a value in [0, 1), got {}",
                 conditioner_.negative_slope());
    PLUGEN_CHECK(scale_bound_ > 0.0 && scale_bound_ <= 20.0, ConfigError,
                 "FlowOptions::scale_bound: expected a value in (0, 20], got {}", scale_bound_);
  }
};

}  // namespace plugen
