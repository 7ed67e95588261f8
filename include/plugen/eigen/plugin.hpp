#pragma once
/// @file
/// `plugen::eigen::Plugin<Scalar>`: a trained plugin file loaded and run without LibTorch (Eigen only):
/// forward and inverse maps, attribute read-out, conditional sampling and editing, with the same requests
/// (`Conditions`, `Edits`), the same counter-based per-sample noise and the same results as `plugen::Plugin`
/// up to floating-point rounding.

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plugen/core/check.hpp"
#include "plugen/core/detail/posix_file.hpp"
#include "plugen/eigen/detail/tensors.hpp"
#include "plugen/eigen/flow.hpp"
#include "plugen/plugin/conditions.hpp"
#include "plugen/plugin/detail/counter.hpp"
#include "plugen/plugin/detail/metadata.hpp"
#include "plugen/prior/detail/schema.hpp"

namespace plugen::eigen {

/// Options of `Plugin::sample` (the torch-free counterpart of `plugen::SampleOptions`, without OOD policies:
/// requests are taken as given).
struct SampleOptions {
  /// Label temperature tau_c (unset: the plugin's final sigma).
  std::optional<double> label_temperature;
  /// Style temperature tau_s.
  double style_temperature = 1.0;
  /// Global index of the first sample of the stream.
  int64_t first_index = 0;

  /// Sets the label temperature.
  SampleOptions& set_label_temperature(double t) {
    label_temperature = t;
    return *this;
  }
  /// Sets the style temperature.
  SampleOptions& set_style_temperature(double t) {
    style_temperature = t;
    return *this;
  }
  /// Sets the index of the first sample.
  SampleOptions& set_first_index(int64_t i) {
    first_index = i;
    return *this;
  }
};

/// What the prior reads off one attribute's label coordinates (see `plugen::AttributeReadout`).
template <class Scalar>
struct AttributeReadout {
  /// Binary: (N, 1) probability of y = 1. Categorical: (N, C) class probabilities. Continuous: empty.
  Matrix<Scalar> probability;
  /// Binary: 0/1 decision. Categorical: argmax class index. Continuous: value in label units. (N,).
  Vector<Scalar> value;
};

/// A trained plugin evaluated with Eigen: w -> u = (w - mean)/std -> z = F(u), with the target-space prior's
/// read-out, conditional sampling and editing. Latents are row-major matrices, one sample per row: (N, D), or
/// for per-layer plugins (N, L * D) holding each sample's (L, D) rows one after the other (the memory layout of
/// a contiguous (N, L, D) tensor). Immutable once loaded: every method is const and may run on several threads.
/// @tparam Scalar `float` or `double`: the arithmetic type (independent of the file's dtype, which is converted).
template <class Scalar>
class Plugin {
 public:
  /// Batch of rows.
  using MatrixType = Matrix<Scalar>;
  /// One value per row.
  using VectorType = Vector<Scalar>;

  /// Reads and validates a plugin file written by `plugen::save_plugin`. Every problem is the error
  /// `plugen::load_plugin` reports (an IoError naming the file and the field or tensor).
  static Plugin load(const std::filesystem::path& path) {
    const std::string who = path.string();
    plugen::detail::InputFile in(path, "eigen::load_plugin");
    std::string bytes(static_cast<size_t>(in.size()), '\0');
    if (!bytes.empty()) in.read_exact(bytes.data(), in.size(), "the plugin file");
    return from_bytes(bytes, who);
  }

  /// Reads and validates a plugin file held in memory; `who` names it in messages.
  static Plugin from_bytes(std::string_view bytes, const std::string& who) {
    detail::TensorTable tensors(bytes, who);
    auto meta = plugen::detail::read_plugin_metadata(tensors.metadata(), who);
    plugen::detail::check_plugin_sizes(meta.flow, tensors.values(), tensors.size(), who);
    const std::string_view dtype = meta.dtype == "float32" ? "F32" : "F64";
    Plugin p;
    p.flow_ = Flow<Scalar>::read(meta.flow, tensors, dtype, who, meta.format_version);
    const int64_t dim = meta.layout.dim;
    auto mean = tensors.floats<Scalar>("standardize.mean", {dim}, dtype);
    auto std = tensors.floats<Scalar>("standardize.std", {dim}, dtype);
    for (const auto s : std) PLUGEN_CHECK(s > 0, IoError, "{}: tensor 'standardize.std' has non-positive entries", who);
    tensors.check_all_used(to_string(meta.flow.kind));
    p.standardize_.emplace(Eigen::Map<const RowVector<Scalar>>(mean.data(), dim),
                           Eigen::Map<const RowVector<Scalar>>(std.data(), dim));
    p.meta_ = std::move(meta);
    return p;
  }

  /// Latent layout (width, layers, mode).
  const LatentLayout& layout() const { return meta_.layout; }
  /// Width D of the flow.
  int64_t dim() const { return meta_.layout.dim; }
  /// Flow kind.
  FlowKind flow_kind() const { return meta_.flow.kind; }
  /// The flow.
  const Flow<Scalar>& flow() const { return flow_; }
  /// The standardization.
  const Standardize<Scalar>& standardize() const { return *standardize_; }
  /// The attribute schema with training statistics.
  const Schema& schema() const { return meta_.schema; }
  /// The prior's final sigma.
  double sigma() const { return meta_.sigma; }
  /// Whether binary attributes use balanced sigmas.
  bool balanced() const { return meta_.balanced; }
  /// Training label statistics.
  const LabelStats& label_stats() const { return meta_.label_stats; }
  /// The training report.
  const TrainReport& report() const { return meta_.report; }
  /// sha256 of the backbone file (empty if unknown).
  const std::string& backbone_sha256() const { return meta_.backbone_sha256; }
  /// The file's dtype ("float32" or "float64").
  const std::string& file_dtype() const { return meta_.dtype; }

  /// Standard deviations (s-, s+) of a binary attribute's coordinate (see `TargetPrior::binary_sigmas`).
  std::pair<double, double> binary_sigmas(const Attribute& a) const {
    const double s = meta_.sigma;
    if (!meta_.balanced) return {s, s};
    const double p = a.stats.frequencies.size() == 2 ? a.stats.frequencies[1] : 0.5;
    return {s * std::sqrt(2.0 * (1.0 - p)), s * std::sqrt(2.0 * p)};
  }

  /// Flow rows (M, D) of latents of the plugin's layout (see the class comment); checks width and finiteness.
  MatrixType rows_of(const MatrixType& w, const std::string& who) const {
    const auto& l = meta_.layout;
    const int64_t width = l.layers > 0 ? l.layers * l.dim : l.dim;
    PLUGEN_CHECK(w.cols() == width, ShapeError, "{}: expected latents of shape (N, {}){}, got (N, {})", who, width,
                 l.layers > 0 ? fmt::format(" (per sample {} flattened)", l.sample_shape()) : std::string(), w.cols());
    check_finite(w, who + " latents");
    if (l.layers == 0) return w;
    if (l.mode == LatentMode::shared) return w.leftCols(l.dim);
    return Eigen::Map<const MatrixType>(w.data(), w.rows() * l.layers, l.dim);
  }

  /// Latents of the plugin's layout from flow rows (the inverse of `rows_of`); shared mode writes the row to
  /// every layer.
  MatrixType latents_of(const MatrixType& rows) const {
    const auto& l = meta_.layout;
    if (l.layers == 0) return rows;
    if (l.mode == LatentMode::shared) return rows.replicate(1, l.layers);
    return Eigen::Map<const MatrixType>(rows.data(), rows.rows() / l.layers, l.layers * l.dim);
  }

  /// z = F((w - mean) / std) for latents of the plugin's layout, and log|det dz/dw| per flow row.
  std::pair<MatrixType, VectorType> forward(const MatrixType& w) const {
    return forward_rows(rows_of(w, "eigen::Plugin::forward"));
  }

  /// Maps flow rows w (M, D) to (z, log|det dz/dw|) without checks.
  std::pair<MatrixType, VectorType> forward_rows(const MatrixType& w) const {
    auto [z, log_det] = flow_.forward(standardize_->forward(w));
    log_det.array() += standardize_->log_det();
    return {std::move(z), std::move(log_det)};
  }

  /// Maps z (M, D) back to flow rows w = std * F^-1(z) + mean.
  MatrixType inverse(const MatrixType& z) const {
    PLUGEN_CHECK(z.cols() == dim(), ShapeError, "eigen::Plugin::inverse: expected z of shape (N, {}), got (N, {})",
                 dim(), z.cols());
    return standardize_->inverse(flow_.inverse(z));
  }

  /// Reads the attributes off latents (see `plugen::Plugin::attributes`), one readout per schema attribute.
  std::vector<AttributeReadout<Scalar>> attributes(const MatrixType& w) const {
    const MatrixType z = forward_rows(rows_of(w, "eigen::Plugin::attributes")).first;
    std::vector<AttributeReadout<Scalar>> out;
    // log N(x; mu, s) elementwise, as plugen::detail::normal_log_prob.
    auto normal_log_prob = [&](const auto& x, double mu, double s) {
      return (Scalar(-0.5) * ((x - static_cast<Scalar>(mu)) / static_cast<Scalar>(s)).square() -
              static_cast<Scalar>(std::log(s) + 0.91893853320467274178))
          .eval();
    };
    for (const auto& a : schema().attributes()) {
      AttributeReadout<Scalar> r;
      const auto c = z.middleCols(a.offset, a.width()).array();
      if (a.kind == AttributeKind::binary) {
        auto [s0, s1] = binary_sigmas(a);
        const auto c0 = c.col(0);
        const auto l1 =
            (normal_log_prob(c0, 1.0, s1) + static_cast<Scalar>(std::log(a.stats.frequencies.at(1)))).eval();
        const auto l0 =
            (normal_log_prob(c0, -1.0, s0) + static_cast<Scalar>(std::log(a.stats.frequencies.at(0)))).eval();
        r.probability = (Scalar(1) / (Scalar(1) + (l0 - l1).exp())).matrix();
        r.value = (r.probability.array() >= Scalar(0.5)).template cast<Scalar>().matrix();
      } else if (a.kind == AttributeKind::categorical) {
        const double s = meta_.sigma;
        const auto minus = normal_log_prob(c, -1.0, s);
        const auto plus = normal_log_prob(c, 1.0, s);
        Eigen::Array<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> logits =
            (plus - minus).colwise() + minus.rowwise().sum();
        for (int64_t k = 0; k < a.width(); ++k)
          logits.col(k) += static_cast<Scalar>(std::log(a.stats.frequencies.at(static_cast<size_t>(k))));
        const auto top = logits.rowwise().maxCoeff().eval();
        auto e = (logits.colwise() - top).exp().eval();
        r.probability = (e.colwise() / e.rowwise().sum()).matrix();
        r.value.resize(z.rows());
        for (Eigen::Index i = 0; i < z.rows(); ++i) {
          Eigen::Index k = 0;
          logits.row(i).maxCoeff(&k);
          r.value[i] = static_cast<Scalar>(k);
        }
      } else {
        const double range = a.stats.max - a.stats.min;
        r.value =
            (static_cast<Scalar>(a.stats.min) + (c.col(0) + Scalar(1)) * static_cast<Scalar>(0.5 * range)).matrix();
      }
      out.push_back(std::move(r));
    }
    return out;
  }

  /// Draws `n` latents under `conditions` (see `plugen::sample`): requested attributes from their conditional
  /// prior with label temperature tau_c, the others from their training marginal, style from N(0, tau_s^2 I),
  /// then w = sigma_w * F^-1(z) + mu. Sample g of stream `seed` takes its noise from derive_seed(seed, g) only,
  /// the numbers `plugen::sample` draws. Requests are not checked for being out of distribution; latents that
  /// would not be finite are a NumericError naming the sample.
  MatrixType sample(const Conditions& conditions, int64_t n, uint64_t seed = 0,
                    const SampleOptions& options = {}) const {
    const std::string who = "eigen::Plugin::sample";
    PLUGEN_CHECK(n >= 0, ConfigError, "{}: expected a number of samples n >= 0, got {}", who, n);
    PLUGEN_CHECK(options.first_index >= 0, ConfigError, "SampleOptions::first_index: expected >= 0, got {}",
                 options.first_index);
    const double tau_c = options.label_temperature.value_or(meta_.sigma);
    const double tau_s = options.style_temperature;
    PLUGEN_CHECK(std::isfinite(tau_c) && tau_c >= 0, ConfigError,
                 "SampleOptions::label_temperature: expected a finite value >= 0, got {}", tau_c);
    PLUGEN_CHECK(std::isfinite(tau_s) && tau_s >= 0, ConfigError,
                 "SampleOptions::style_temperature: expected a finite value >= 0, got {}", tau_s);
    const auto resolved = conditions.resolve(schema(), who);
    const auto& l = meta_.layout;
    const int64_t rows = l.layers > 0 && l.mode == LatentMode::per_layer ? l.layers : 1;
    const MatrixType z =
        draw_targets(resolved, seed, options.first_index, n, rows, tau_c, tau_s).template cast<Scalar>();
    const MatrixType w = inverse(z);
    for (Eigen::Index r = 0; r < w.rows(); ++r)
      if (!w.row(r).allFinite())
        throw NumericError(fmt::format(
            "{}: the flow produced non-finite latents for sample {} (seed {}) under [{}]; the requested values lie "
            "too far from the training data",
            who, options.first_index + r / rows, seed, conditions.to_string()));
    return latents_of(w);
  }

  /// Edits latents of the plugin's layout (see `plugen::edit`): z = F((w - mu) / sigma_w); each edit sets or
  /// shifts its attribute's label coordinate(s); w' = sigma_w * F^-1(z') + mu. Values are not checked for being
  /// out of distribution. Non-finite inputs or results are a NumericError.
  MatrixType edit(const MatrixType& latents, const Edits& edits) const {
    const std::string who = "eigen::Plugin::edit";
    const auto resolved = edits.resolve(schema(), who);
    MatrixType z = forward_rows(rows_of(latents, who)).first;
    for (const auto& e : resolved) {
      const auto& a = schema()[e.index];
      auto c = z.middleCols(a.offset, a.width());
      if (e.mode == EditMode::shift) {
        c.array() += static_cast<Scalar>(e.value);
        continue;
      }
      switch (a.kind) {
        case AttributeKind::binary:
          c.setConstant(e.value > 0.5 ? Scalar(1) : Scalar(-1));
          break;
        case AttributeKind::categorical:
          c.setConstant(Scalar(-1));
          c.col(static_cast<Eigen::Index>(e.value)).setConstant(Scalar(1));
          break;
        case AttributeKind::continuous:
          c.setConstant(static_cast<Scalar>(a.normalize(e.value)));
          break;
      }
    }
    const MatrixType w = inverse(z);
    const auto& l = meta_.layout;
    const int64_t per_sample = l.layers > 0 && l.mode == LatentMode::per_layer ? l.layers : 1;
    for (Eigen::Index r = 0; r < w.rows(); ++r)
      PLUGEN_CHECK(
          w.row(r).allFinite(), NumericError,
          "{}: the flow produced non-finite latents for row {}; the requested coordinates lie too far from the "
          "training data",
          who, r / per_sample);
    return latents_of(w);
  }

 private:
  Plugin() = default;

  static void check_finite(const MatrixType& w, const std::string& who) {
    for (Eigen::Index r = 0; r < w.rows(); ++r)
      PLUGEN_CHECK(w.row(r).allFinite(), NumericError, "{}: NaN or inf in row {}", who, r);
  }

  // Target-space rows (count * rows, D) in double for samples first .. first + count - 1: the arithmetic of
  // plugen::detail::draw_targets, value for value.
  Matrix<double> draw_targets(const std::vector<ResolvedCondition>& conditions, uint64_t seed, int64_t first,
                              int64_t count, int64_t rows, double tau_c, double tau_s) const {
    const auto& sch = schema();
    const int64_t d = dim(), k = sch.label_dim(), a_count = sch.size(), width = d + a_count;
    Matrix<double> z(count * rows, d);
    std::vector<const ResolvedCondition*> wanted(static_cast<size_t>(a_count), nullptr);
    for (const auto& c : conditions) wanted[static_cast<size_t>(c.index)] = &c;
    const double scale = tau_c / meta_.sigma;
    std::vector<double> eps(static_cast<size_t>(d)), uni(static_cast<size_t>(a_count));
    for (int64_t i = 0; i < count; ++i) {
      const uint64_t key = derive_seed(seed, static_cast<uint64_t>(first + i));
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < d; ++j)
          eps[static_cast<size_t>(j)] = plugen::detail::counter_normal(key, static_cast<uint64_t>(r * width + j));
        for (int64_t j = 0; j < a_count; ++j)
          uni[static_cast<size_t>(j)] =
              plugen::detail::counter_uniform(key, 2 * static_cast<uint64_t>(r * width + d + j));
        auto out = z.row(i * rows + r);
        for (int64_t j = k; j < d; ++j) out[j] = eps[static_cast<size_t>(j)] * tau_s;
        for (int64_t ai = 0; ai < a_count; ++ai) {
          const auto& a = sch[ai];
          const auto* req = wanted[static_cast<size_t>(ai)];
          const double u = uni[static_cast<size_t>(ai)];
          const double* e = eps.data() + a.offset;
          switch (a.kind) {
            case AttributeKind::binary: {
              auto [s0, s1] = binary_sigmas(a);
              const bool y = req ? req->value > 0.5 : u < a.stats.frequencies.at(1);
              out[a.offset] = y ? 1.0 + (s1 * scale) * e[0] : -1.0 + (s0 * scale) * e[0];
              break;
            }
            case AttributeKind::categorical: {
              int64_t cls = 0;
              if (req) {
                cls = static_cast<int64_t>(req->value);
              } else {
                double cumulative = 0;
                for (int64_t c = 0; c + 1 < a.width(); ++c) {
                  cumulative += a.stats.frequencies.at(static_cast<size_t>(c));
                  if (u >= cumulative) ++cls;
                }
                cls = std::min(cls, a.width() - 1);
              }
              for (int64_t c = 0; c < a.width(); ++c) out[a.offset + c] = (c == cls ? 1.0 : -1.0) + tau_c * e[c];
              break;
            }
            case AttributeKind::continuous:
              out[a.offset] = req ? a.normalize(req->value) + tau_c * e[0]
                                  : a.stats.normalized_mean + std::sqrt(a.stats.normalized_var + tau_c * tau_c) * e[0];
              break;
          }
        }
      }
    }
    return z;
  }

  plugen::detail::PluginMetadata meta_;
  Flow<Scalar> flow_;
  std::optional<Standardize<Scalar>> standardize_;
};

/// Loads a plugin file for Eigen inference in `Scalar` arithmetic (see `Plugin::load`).
template <class Scalar = float>
Plugin<Scalar> load_plugin(const std::filesystem::path& path) {
  return Plugin<Scalar>::load(path);
}

}  // namespace plugen::eigen
