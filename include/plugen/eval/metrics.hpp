#pragma once
/// @file
/// The arithmetic of plugen's evaluation, on tensors and labels only (no models): accuracy, Pearson r,
/// mean absolute error, calibration bins, image distances (preservation, diversity), aligning a scorer's
/// labels with a plugin's schema, and per-attribute scores of measured labels against target labels.

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "plugen/core/check.hpp"
#include "plugen/core/tensor.hpp"
#include "plugen/prior/schema.hpp"

namespace plugen {

namespace detail {

/// A 1-D float64 CPU copy of `x`, checked to have `n` elements (`n` < 0: any).
inline torch::Tensor vector_of(const torch::Tensor& x, int64_t n, const std::string& who, const char* what) {
  PLUGEN_CHECK(x.defined() && x.dim() == 1, ShapeError, "{}: expected {} as a vector (N,), got {}", who, what,
               x.defined() ? shape_string(x.sizes()) : std::string("an undefined tensor"));
  PLUGEN_CHECK(n < 0 || x.size(0) == n, ShapeError, "{}: expected {} of {} values, got {}", who, what, n, x.size(0));
  return x.detach().to(torch::kCPU, torch::kFloat64);
}

/// JSON of a number, `null` when it is not finite (JSON has no NaN).
inline nlohmann::json json_number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

/// JSON of an optional number (`null` when absent or not finite).
inline nlohmann::json json_number(const std::optional<double>& v) { return v ? json_number(*v) : nlohmann::json(); }

}  // namespace detail

/// Fraction of equal entries of two vectors (N,) of discrete values (0/1 or class indices); NaN when N = 0.
inline double accuracy(const torch::Tensor& predicted, const torch::Tensor& target) {
  auto p = detail::vector_of(predicted, -1, "accuracy", "predicted");
  auto t = detail::vector_of(target, p.size(0), "accuracy", "target");
  if (p.size(0) == 0) return std::numeric_limits<double>::quiet_NaN();
  return (p == t).to(torch::kFloat64).mean().item<double>();
}

/// Pearson correlation of two vectors (N,): cov(x, y) / (sd(x) sd(y)), computed in float64 about the
/// means. NaN when N < 2 or either vector is constant (the correlation is undefined there).
inline double pearson_r(const torch::Tensor& x, const torch::Tensor& y) {
  auto a = detail::vector_of(x, -1, "pearson_r", "x");
  auto b = detail::vector_of(y, a.size(0), "pearson_r", "y");
  if (a.size(0) < 2) return std::numeric_limits<double>::quiet_NaN();
  a = a - a.mean();
  b = b - b.mean();
  const double sxx = (a * a).sum().item<double>(), syy = (b * b).sum().item<double>();
  if (!(sxx > 0) || !(syy > 0)) return std::numeric_limits<double>::quiet_NaN();
  return (a * b).sum().item<double>() / std::sqrt(sxx * syy);
}

/// Mean of |x - y| over two vectors (N,); NaN when N = 0.
inline double mean_absolute_error(const torch::Tensor& x, const torch::Tensor& y) {
  auto a = detail::vector_of(x, -1, "mean_absolute_error", "x");
  auto b = detail::vector_of(y, a.size(0), "mean_absolute_error", "y");
  if (a.size(0) == 0) return std::numeric_limits<double>::quiet_NaN();
  return (a - b).abs().mean().item<double>();
}

/// One bin of a calibration curve: requested values in [low, high) (the last bin includes `high`), and the
/// measured values of those samples.
struct CalibrationBin {
  /// Bin edges in label units.
  double low = 0.0, high = 0.0;
  /// Samples in the bin.
  int64_t count = 0;
  /// Mean requested value of the samples in the bin.
  double requested_mean = 0.0;
  /// Mean and standard deviation (population) of their measured values.
  double measured_mean = 0.0, measured_std = 0.0;
};

/// Calibration of a continuous attribute: requested values split into `bins` equal-width bins over their
/// range, with the mean requested and mean measured value per non-empty bin (a perfectly calibrated
/// plugin has measured_mean == requested_mean in every bin). All requested values equal: one bin.
inline std::vector<CalibrationBin> calibration(const torch::Tensor& requested, const torch::Tensor& measured,
                                               int64_t bins = 10) {
  PLUGEN_CHECK(bins >= 1, ConfigError, "calibration: expected bins >= 1, got {}", bins);
  auto r = detail::vector_of(requested, -1, "calibration", "requested");
  auto m = detail::vector_of(measured, r.size(0), "calibration", "measured");
  std::vector<CalibrationBin> out;
  if (r.size(0) == 0) return out;
  const double lo = r.min().item<double>(), hi = r.max().item<double>();
  const int64_t nb = hi > lo ? bins : 1;
  const double width = hi > lo ? (hi - lo) / static_cast<double>(nb) : 1.0;
  auto index = hi > lo ? ((r - lo) / width).floor().clamp(0, static_cast<double>(nb - 1)).to(torch::kInt64)
                       : torch::zeros_like(r, torch::kInt64);
  for (int64_t b = 0; b < nb; ++b) {
    auto in = index == b;
    const int64_t count = in.sum().item<int64_t>();
    if (count == 0) continue;
    auto mb = m.masked_select(in);
    CalibrationBin bin;
    bin.low = lo + static_cast<double>(b) * width;
    bin.high = hi > lo ? (b == nb - 1 ? hi : lo + static_cast<double>(b + 1) * width) : hi;
    bin.count = count;
    bin.requested_mean = r.masked_select(in).mean().item<double>();
    bin.measured_mean = mb.mean().item<double>();
    bin.measured_std = mb.std(/*unbiased=*/false).item<double>();
    out.push_back(bin);
  }
  return out;
}

/// JSON of a calibration bin.
inline void to_json(nlohmann::json& j, const CalibrationBin& b) {
  j = {{"low", b.low},
       {"high", b.high},
       {"count", b.count},
       {"requested_mean", b.requested_mean},
       {"measured_mean", b.measured_mean},
       {"measured_std", b.measured_std}};
}

/// Preservation: the mean absolute per-pixel difference between paired images (N, ...) `a[i]`, `b[i]`
/// (0 = identical; images in [0, 1] give values in [0, 1]). NaN when N = 0.
inline double mean_pixel_distance(const torch::Tensor& a, const torch::Tensor& b) {
  PLUGEN_CHECK(a.defined() && b.defined() && a.dim() >= 2 && a.sizes() == b.sizes(), ShapeError,
               "mean_pixel_distance: expected two batches of the same shape (N, ...), got {} and {}",
               a.defined() ? shape_string(a.sizes()) : "undefined", b.defined() ? shape_string(b.sizes()) : "undefined");
  if (a.size(0) == 0) return std::numeric_limits<double>::quiet_NaN();
  return (a.detach().to(torch::kCPU, torch::kFloat64) - b.detach().to(torch::kCPU, torch::kFloat64))
      .abs()
      .mean()
      .item<double>();
}

/// Diversity: the mean, over all pairs i < j of images (N, ...), of their mean absolute per-pixel
/// difference (the unit of `mean_pixel_distance`). 0 when every image is the same; NaN when N < 2.
inline double mean_pairwise_distance(const torch::Tensor& images) {
  PLUGEN_CHECK(images.defined() && images.dim() >= 2, ShapeError,
               "mean_pairwise_distance: expected a batch (N, ...), got {}",
               images.defined() ? shape_string(images.sizes()) : std::string("an undefined tensor"));
  const int64_t n = images.size(0);
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  auto x = images.detach().to(torch::kCPU, torch::kFloat64).reshape({n, -1});
  auto d = torch::cdist(x.unsqueeze(0), x.unsqueeze(0), /*p=*/1.0).squeeze(0) / static_cast<double>(x.size(1));
  // The diagonal is zero: the sum over all ordered pairs is twice the sum over pairs i < j.
  return d.sum().item<double>() / static_cast<double>(n * (n - 1));
}

/// Labels in `from`'s attribute order re-expressed in `to`'s: columns matched by attribute name, classes
/// of categorical attributes matched by class name. Attributes of `to` that `from` lacks come back unknown
/// (mask false). A ConfigError when a shared attribute differs in kind, or a class of `from` is not a
/// class of `to`. `who` prefixes messages.
inline Labels align_labels(const Schema& from, const Labels& labels, const Schema& to, const std::string& who) {
  PLUGEN_CHECK(labels.values.defined() && labels.values.dim() == 2 && labels.values.size(1) == from.size(),
               ShapeError, "{}: expected labels (N, {}) for attributes [{}], got {}", who, from.size(),
               from.names_list(), labels.values.defined() ? shape_string(labels.values.sizes()) : "undefined");
  const int64_t n = labels.rows();
  auto values = torch::zeros({n, to.size()}, torch::kFloat64);
  auto mask = torch::zeros({n, to.size()}, torch::kBool);
  auto v = labels.values.to(torch::kCPU, torch::kFloat64);
  auto m = labels.mask.to(torch::kCPU);
  for (int64_t k = 0; k < to.size(); ++k) {
    const auto& a = to[k];
    int64_t j = -1;
    for (int64_t i = 0; i < from.size(); ++i)
      if (from[i].name == a.name) j = i;
    if (j < 0) continue;
    const auto& b = from[j];
    PLUGEN_CHECK(a.kind == b.kind, ConfigError, "{}: attribute '{}' is {} in the plugin but {} in the scorer", who,
                 a.name, to_string(a.kind), to_string(b.kind));
    auto col = v.select(1, j);
    if (a.kind == AttributeKind::categorical) {
      std::vector<double> map;
      for (const auto& c : b.classes) {
        auto idx = a.class_index(c);
        PLUGEN_CHECK(idx.has_value(), ConfigError,
                     "{}: the scorer's class '{}' of attribute '{}' is not a plugin class (plugin classes: {})", who, c,
                     a.name, fmt::join(a.classes, ", "));
        map.push_back(static_cast<double>(*idx));
      }
      col = torch::tensor(map, torch::kFloat64).index_select(0, col.clamp(0, static_cast<double>(map.size() - 1)).to(torch::kInt64));
    }
    values.select(1, k).copy_(col);
    mask.select(1, k).copy_(m.select(1, j));
  }
  return {values, mask};
}

/// How well measured values met target values for one attribute.
struct AttributeScore {
  /// Attribute name.
  std::string name;
  /// Attribute kind.
  AttributeKind kind = AttributeKind::binary;
  /// Samples with both a target and a measured value.
  int64_t count = 0;
  /// Binary/categorical: fraction of samples whose measured value equals the target.
  std::optional<double> accuracy;
  /// Continuous: Pearson r of target vs measured (NaN when the targets are constant).
  std::optional<double> pearson_r;
  /// Continuous: mean |measured - target| in label units.
  std::optional<double> mae;
  /// Continuous: fraction of samples within the tolerance of the target.
  std::optional<double> within_tolerance;
  /// Continuous: the tolerance in label units.
  std::optional<double> tolerance;
  /// Continuous: calibration bins of target vs measured.
  std::vector<CalibrationBin> calibration;
  /// Categorical: per target class, the fraction of its samples measured as that class (empty classes
  /// left out).
  std::vector<std::pair<std::string, double>> per_class;
};

/// JSON of an attribute score: only the fields of its kind; undefined numbers are null.
inline void to_json(nlohmann::json& j, const AttributeScore& s) {
  j = {{"name", s.name}, {"kind", to_string(s.kind)}, {"count", s.count}};
  if (s.kind != AttributeKind::continuous) {
    j["accuracy"] = detail::json_number(s.accuracy);
    if (!s.per_class.empty()) {
      nlohmann::json pc = nlohmann::json::object();
      for (const auto& [c, acc] : s.per_class) pc[c] = detail::json_number(acc);
      j["per_class"] = pc;
    }
  } else {
    j["pearson_r"] = detail::json_number(s.pearson_r);
    j["mae"] = detail::json_number(s.mae);
    j["within_tolerance"] = detail::json_number(s.within_tolerance);
    j["tolerance"] = detail::json_number(s.tolerance);
    j["calibration"] = s.calibration;
  }
}

/// Options of `compare_labels`.
struct CompareOptions {
  /// Continuous attributes: a measured value within `tolerance · (max − min)` of the target (min/max: the
  /// schema's training range; range 1 when unfitted) counts as reaching it.
  TORCH_ARG(double, tolerance) = 0.1;
  /// Continuous attributes: calibration bins.
  TORCH_ARG(int64_t, calibration_bins) = 10;
};

/// The tolerance of a continuous attribute in label units: `fraction · (max − min)` of its training range
/// (1 when the range is empty).
inline double tolerance_of(const Attribute& a, double fraction) {
  const double range = a.stats.max - a.stats.min;
  return fraction * (range > 0 ? range : 1.0);
}

/// Scores measured labels against target labels, both in `schema`'s attribute order: for every attribute
/// with at least one row known in both, accuracy (discrete, plus per-class accuracy for categorical) or
/// Pearson r, MAE, fraction within tolerance and calibration (continuous). Attributes with no such row
/// are left out.
inline std::vector<AttributeScore> compare_labels(const Schema& schema, const Labels& target, const Labels& measured,
                                                  const CompareOptions& options = {}) {
  const std::string who = "compare_labels";
  PLUGEN_CHECK(options.tolerance() >= 0, ConfigError, "CompareOptions::tolerance: expected >= 0, got {}",
               options.tolerance());
  for (const Labels* l : {&target, &measured})
    PLUGEN_CHECK(l->values.defined() && l->values.dim() == 2 && l->values.size(1) == schema.size() &&
                     l->mask.defined() && l->mask.sizes() == l->values.sizes(),
                 ShapeError, "{}: expected labels and masks (N, {}) for attributes [{}], got {}", who, schema.size(),
                 schema.names_list(), l->values.defined() ? shape_string(l->values.sizes()) : "undefined");
  PLUGEN_CHECK(target.rows() == measured.rows(), ShapeError, "{}: {} target rows but {} measured rows", who,
               target.rows(), measured.rows());
  auto tv = target.values.to(torch::kCPU, torch::kFloat64), mv = measured.values.to(torch::kCPU, torch::kFloat64);
  auto both = target.mask.to(torch::kCPU) & measured.mask.to(torch::kCPU);
  std::vector<AttributeScore> out;
  for (int64_t k = 0; k < schema.size(); ++k) {
    const auto& a = schema[k];
    auto rows = both.select(1, k).nonzero().reshape({-1});
    if (rows.size(0) == 0) continue;
    auto t = tv.select(1, k).index_select(0, rows), m = mv.select(1, k).index_select(0, rows);
    AttributeScore s;
    s.name = a.name;
    s.kind = a.kind;
    s.count = rows.size(0);
    if (a.kind == AttributeKind::continuous) {
      s.pearson_r = pearson_r(t, m);
      s.mae = mean_absolute_error(t, m);
      s.tolerance = tolerance_of(a, options.tolerance());
      s.within_tolerance = ((m - t).abs() <= *s.tolerance).to(torch::kFloat64).mean().item<double>();
      s.calibration = calibration(t, m, options.calibration_bins());
    } else {
      s.accuracy = accuracy(m, t);
      if (a.kind == AttributeKind::categorical)
        for (int64_t c = 0; c < a.width(); ++c) {
          auto in = t == static_cast<double>(c);
          if (in.sum().item<int64_t>() == 0) continue;
          s.per_class.emplace_back(a.classes[static_cast<size_t>(c)],
                                   (m.masked_select(in) == static_cast<double>(c)).to(torch::kFloat64).mean().item<double>());
        }
    }
    out.push_back(std::move(s));
  }
  return out;
}

/// Per row, whether every attribute known in `target` (and measured) was met: discrete values equal,
/// continuous values within `tolerance_of(attribute, options.tolerance())`. Rows with no known target
/// count as met. Returns a bool vector (N,).
inline torch::Tensor targets_met(const Schema& schema, const Labels& target, const Labels& measured,
                                 const CompareOptions& options = {}) {
  PLUGEN_CHECK(target.rows() == measured.rows() && target.values.dim() == 2 && measured.values.dim() == 2 &&
                   target.values.size(1) == schema.size() && measured.values.size(1) == schema.size(),
               ShapeError, "targets_met: expected target and measured labels (N, {}), got {} and {}", schema.size(),
               shape_string(target.values.sizes()), shape_string(measured.values.sizes()));
  auto tv = target.values.to(torch::kCPU, torch::kFloat64), mv = measured.values.to(torch::kCPU, torch::kFloat64);
  auto tm = target.mask.to(torch::kCPU), mm = measured.mask.to(torch::kCPU);
  auto ok = torch::ones({target.rows()}, torch::kBool);
  for (int64_t k = 0; k < schema.size(); ++k) {
    const auto& a = schema[k];
    auto t = tv.select(1, k), m = mv.select(1, k);
    auto met = a.kind == AttributeKind::continuous ? (m - t).abs() <= tolerance_of(a, options.tolerance()) : m == t;
    ok = ok & (~tm.select(1, k) | (mm.select(1, k) & met));
  }
  return ok;
}

}  // namespace plugen
