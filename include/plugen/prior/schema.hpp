#pragma once
/// @file
/// Attribute schema: the labelled attributes, their kinds, their label coordinates in z, and the
/// statistics fitted on the training split (normalization, frequencies, moments).

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "plugen/core/check.hpp"
#include "plugen/core/tensor.hpp"
#include "plugen/prior/detail/schema.hpp"

namespace plugen {

/// Labels of N samples for A attributes: `values` (N, A) float64 holds 0/1 (binary), the class index
/// (categorical) or the raw value (continuous); `mask` (N, A) bool is true where the label is known.
/// Values under a false mask are ignored (conventionally 0).
struct Labels {
  /// Label values, (N, A) float64.
  torch::Tensor values;
  /// Known-label mask, (N, A) bool.
  torch::Tensor mask;
  /// Number of samples.
  int64_t rows() const { return values.defined() ? values.size(0) : 0; }
  /// The rows in `index` (int64).
  Labels select(const torch::Tensor& index) const {
    return {values.index_select(0, index), mask.index_select(0, index)};
  }
};

/// Fits every attribute's statistics on the known labels of `labels` (the training split).
/// Throws ConfigError if a continuous attribute has no known label, or a label is out of domain.
inline void Schema::fit(const Labels& labels) {
  check_labels(labels, "Schema::fit");
  auto values = labels.values.cpu();
  auto mask = labels.mask.cpu();
  for (int64_t i = 0; i < size(); ++i) {
    auto& a = attributes_[static_cast<size_t>(i)];
    auto known = values.select(1, i).masked_select(mask.select(1, i));
    a.stats = AttributeStats{};
    a.stats.known = known.numel();
    if (a.kind == AttributeKind::continuous) {
      PLUGEN_CHECK(a.stats.known > 0, ConfigError,
                   "Schema::fit: continuous attribute '{}' has no known label in the training split", a.name);
      a.stats.min = known.min().item<double>();
      a.stats.max = known.max().item<double>();
      const double range = a.stats.max - a.stats.min;
      auto normalized = range > 0 ? (known - a.stats.min) * (2.0 / range) - 1.0 : torch::zeros_like(known);
      a.stats.normalized_mean = normalized.mean().item<double>();
      a.stats.normalized_var = normalized.var(/*unbiased=*/false).item<double>();
    } else {
      const int64_t c = a.cardinality();
      auto counts = a.stats.known > 0 ? torch::bincount(known.to(torch::kInt64), {}, c).to(torch::kFloat64)
                                      : torch::zeros({c}, torch::kFloat64);
      // Laplace smoothing keeps every value's marginal weight positive (log-space mixtures stay finite).
      auto freq = (counts + 1.0) / (counts.sum() + static_cast<double>(c));
      a.stats.frequencies.assign(freq.data_ptr<double>(), freq.data_ptr<double>() + c);
    }
  }
}

/// Checks labels against the schema: shapes (N, A), dtypes, finite known values, binary in {0, 1},
/// categorical an integer class index. `who` names the caller or file in messages.
inline void Schema::check_labels(const Labels& labels, const std::string& who) const {
  PLUGEN_CHECK(labels.values.defined() && labels.mask.defined(), ShapeError, "{}: labels are undefined", who);
  PLUGEN_CHECK(labels.values.dim() == 2 && labels.values.size(1) == size(), ShapeError,
               "{}: expected label values of shape (N, {}) for attributes [{}], got {}", who, size(), names_list(),
               shape_string(labels.values.sizes()));
  PLUGEN_CHECK(labels.mask.sizes() == labels.values.sizes(), ShapeError,
               "{}: expected a label mask of shape {}, got {}", who, shape_string(labels.values.sizes()),
               shape_string(labels.mask.sizes()));
  PLUGEN_CHECK(labels.values.scalar_type() == torch::kFloat64 && labels.mask.scalar_type() == torch::kBool,
               ShapeError, "{}: expected float64 label values and a bool mask, got {} and {}", who,
               dtype_string(labels.values.scalar_type()), dtype_string(labels.mask.scalar_type()));
  auto values = labels.values.cpu();
  auto mask = labels.mask.cpu();
  for (int64_t i = 0; i < size(); ++i) {
    const auto& a = (*this)[i];
    auto v = values.select(1, i);
    auto m = mask.select(1, i);
    auto bad_finite = m & ~torch::isfinite(v);
    PLUGEN_CHECK(!bad_finite.any().item<bool>(), NumericError, "{}: attribute '{}' has a non-finite label in row {}",
                 who, a.name, bad_finite.nonzero()[0][0].item<int64_t>());
    if (a.kind == AttributeKind::continuous) continue;
    auto bad = m & ((v != torch::round(v)) | (v < 0) | (v >= static_cast<double>(a.cardinality())));
    if (bad.any().item<bool>()) {
      const int64_t row = bad.nonzero()[0][0].item<int64_t>();
      throw ConfigError(
          fmt::format("{}: attribute '{}' ({}) expects {} in row {}, found {}", who, a.name, to_string(a.kind),
                      a.kind == AttributeKind::binary ? std::string("0 or 1")
                                                      : fmt::format("a class index in [0, {})", a.cardinality()),
                      row, v[row].item<double>()));
    }
  }
}

}  // namespace plugen
