#pragma once
/// @file
/// The flow's named choices (activation, partition kind, linear-layer placement) and the validation of its
/// sizes, without LibTorch: shared by `FlowOptions` and the torch-free plugin reader.

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

namespace detail {

/// Throws a ConfigError naming the first invalid flow option (what `FlowOptions::validate` checks).
inline void validate_flow_options(int64_t dim, int64_t couplings, int64_t hidden, int64_t layers, double negative_slope,
                                  double scale_bound) {
  PLUGEN_CHECK(dim >= 2, ConfigError,
               "FlowOptions::dim: expected >= 2 (a coupling needs a non-empty kept and changed side), got {}", dim);
  PLUGEN_CHECK(couplings >= 1, ConfigError, "FlowOptions::couplings: expected >= 1, got {}", couplings);
  PLUGEN_CHECK(hidden >= 1, ConfigError, "FlowOptions::conditioner.hidden: expected >= 1, got {}", hidden);
  PLUGEN_CHECK(layers >= 1, ConfigError, "FlowOptions::conditioner.layers: expected >= 1, got {}", layers);
  PLUGEN_CHECK(negative_slope >= 0.0 && negative_slope < 1.0, ConfigError,
               "FlowOptions::conditioner.negative_slope: expected a value in [0, 1), got {}", negative_slope);
  PLUGEN_CHECK(scale_bound > 0.0 && scale_bound <= 20.0, ConfigError,
               "FlowOptions::scale_bound: expected a value in (0, 20], got {}", scale_bound);
}

}  // namespace detail

}  // namespace plugen
