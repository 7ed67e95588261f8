#pragma once
/// @file
/// `LinearDirections`: the linear-direction baseline (InterFaceGAN-style) that plugins are compared with.
/// Per attribute, a linear model of the standardized latents u = (w - mu) / sigma_w predicts the label:
/// L2-regularized logistic regression for binary attributes (one-vs-rest for each class of a categorical
/// attribute), fitted exactly by Newton's method with a backtracking line search; ridge least squares for
/// continuous attributes (on the label min-max normalized to [-1, 1], as the plugin's prior does).
/// Editing moves a latent along the models' normals, the least distance (in u) that puts the requested
/// scores on their targets; conditional sampling draws u ~ N(0, tau_s^2 I) (the Gaussian fitted to the
/// training latents) and moves the draws the same way. The class offers the conditioning methods of
/// `Plugin` (sample, edit, attributes, schema), so the same evaluation code scores either.

#include <torch/torch.h>
#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "plugen/core/check.hpp"
#include "plugen/core/tensor.hpp"
#include "plugen/core/version.hpp"
#include "plugen/data/safetensors.hpp"
#include "plugen/plugin/conditions.hpp"
#include "plugen/plugin/detail/noise.hpp"
#include "plugen/plugin/options.hpp"
#include "plugen/prior/prior.hpp"

namespace plugen {

/// Options of `LinearDirections::fit`.
struct LinearOptions {
  /// L2 penalty lambda on the weights (not the bias) of every model, added to the mean loss as
  /// lambda / 2 * |a|^2. Keeps logistic regression finite on separable data.
  TORCH_ARG(double, l2) = 1e-3;
  /// Newton iterations per logistic model, at most.
  TORCH_ARG(int64_t, max_iterations) = 100;
  /// Newton stops when the largest gradient entry falls below this.
  TORCH_ARG(double, tolerance) = 1e-9;
};

/// Options of `LinearDirections::sample`.
struct LinearSampleOptions {
  /// Spread tau_c of the requested scores around their targets, in the coordinate units of `EditMode::shift`
  /// (binary: half the distance between the typical 0 and the typical 1; continuous: half the training range).
  /// 0 (the default) puts every requested score exactly on its target.
  TORCH_ARG(double, label_temperature) = 0.0;
  /// Prior draws are u ~ N(0, tau_s^2 I) in standardized latent space.
  TORCH_ARG(double, style_temperature) = 1.0;
  /// Global index of the first sample (as `SampleOptions::first_index`): sample g depends only on (seed, g).
  TORCH_ARG(int64_t, first_index) = 0;
};

/// How the fit of one linear model (one row) went.
struct LinearRowReport {
  /// Attribute name (with ":class" for a categorical attribute's one-vs-rest model).
  std::string name;
  /// Newton iterations taken (0 for least squares, which is solved in one step).
  int64_t iterations = 0;
  /// Whether the gradient tolerance was reached (always true for least squares).
  bool converged = true;
  /// Training rows with a known label.
  int64_t rows = 0;
  /// Training accuracy (discrete) or R^2 (continuous) on those rows.
  double fit_quality = 0.0;
};

/// How the fit went: one entry per model row, and the wall time.
struct LinearFitReport {
  /// One entry per label coordinate, in schema order.
  std::vector<LinearRowReport> rows;
  /// Seconds spent fitting.
  double seconds = 0.0;

  /// As JSON.
  nlohmann::json to_json() const {
    nlohmann::json r = nlohmann::json::array();
    for (const auto& x : rows)
      r.push_back({{"name", x.name},
                   {"iterations", x.iterations},
                   {"converged", x.converged},
                   {"rows", x.rows},
                   {"fit_quality", x.fit_quality}});
    return {{"rows", r}, {"seconds", seconds}};
  }
  /// From JSON written by `to_json`.
  static LinearFitReport from_json(const nlohmann::json& j) {
    LinearFitReport out;
    out.seconds = j.at("seconds").get<double>();
    for (const auto& x : j.at("rows"))
      out.rows.push_back({x.at("name").get<std::string>(), x.at("iterations").get<int64_t>(),
                          x.at("converged").get<bool>(), x.at("rows").get<int64_t>(), x.at("fit_quality").get<double>()});
    return out;
  }
};

namespace detail {

/// Solves the symmetric positive definite system h x = g with Eigen (LDLT); h (n, n) and g (n,) or (n, m)
/// float64 torch tensors; x has g's shape.
inline torch::Tensor solve_spd(const torch::Tensor& h, const torch::Tensor& g) {
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  auto hc = h.to(torch::kCPU, torch::kFloat64).contiguous();
  auto gc = g.to(torch::kCPU, torch::kFloat64).reshape({g.size(0), -1}).contiguous();
  const auto n = static_cast<Eigen::Index>(hc.size(0)), m = static_cast<Eigen::Index>(gc.size(1));
  Eigen::Map<const RowMajor> hm(hc.data_ptr<double>(), n, n);
  Eigen::Map<const RowMajor> gm(gc.data_ptr<double>(), n, m);
  auto out = torch::empty_like(gc);
  Eigen::Map<RowMajor>(out.data_ptr<double>(), n, m) = hm.ldlt().solve(gm);
  return out.reshape(g.sizes());
}

/// The minimum-norm solution X (D, M) of A X = G for A (R, D) and G (R, M), float64 (Eigen's complete
/// orthogonal decomposition; least squares where the rows of A are dependent).
inline torch::Tensor min_norm_solve(const torch::Tensor& a, const torch::Tensor& g) {
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  auto ac = a.to(torch::kCPU, torch::kFloat64).contiguous();
  auto gc = g.to(torch::kCPU, torch::kFloat64).contiguous();
  const auto r = static_cast<Eigen::Index>(ac.size(0)), d = static_cast<Eigen::Index>(ac.size(1)),
             m = static_cast<Eigen::Index>(gc.size(1));
  Eigen::Map<const RowMajor> am(ac.data_ptr<double>(), r, d);
  Eigen::Map<const RowMajor> gm(gc.data_ptr<double>(), r, m);
  auto out = torch::empty({ac.size(1), gc.size(1)}, torch::kFloat64);
  Eigen::Map<RowMajor>(out.data_ptr<double>(), d, m) = RowMajor(am).completeOrthogonalDecomposition().solve(gm);
  return out;
}

/// Mean logistic loss of scores s for labels y in {0, 1}: mean(log(1 + e^s) - y s), stable for any s.
inline double logistic_loss(const torch::Tensor& s, const torch::Tensor& y) {
  return (torch::clamp_min(s, 0) + torch::log1p(torch::exp(-s.abs())) - y * s).mean().item<double>();
}

/// L2-regularized logistic regression of y (n,) in {0, 1} on x (n, D) by Newton's method with a backtracking
/// line search on the penalized mean loss. Returns (weights (D,), bias, iterations, converged).
inline std::tuple<torch::Tensor, double, int64_t, bool> fit_logistic(const torch::Tensor& x, const torch::Tensor& y,
                                                                      const LinearOptions& o) {
  const int64_t n = x.size(0), d = x.size(1);
  auto xb = torch::cat({x, torch::ones({n, 1}, torch::kFloat64)}, 1);
  auto beta = torch::zeros({d + 1}, torch::kFloat64);
  auto penalty = torch::full({d + 1}, o.l2(), torch::kFloat64);
  penalty[d] = 0.0;
  auto objective = [&](const torch::Tensor& b) {
    return logistic_loss(xb.matmul(b), y) + 0.5 * (penalty * b * b).sum().item<double>();
  };
  double f = objective(beta);
  for (int64_t it = 1; it <= o.max_iterations(); ++it) {
    auto s = xb.matmul(beta);
    auto p = torch::sigmoid(s);
    auto grad = xb.t().matmul(p - y) / static_cast<double>(n) + penalty * beta;
    if (grad.abs().max().item<double>() < o.tolerance()) return {beta.narrow(0, 0, d), beta[d].item<double>(), it - 1, true};
    // Hessian X^T diag(p (1 - p)) X / n + diag(penalty); a tiny ridge keeps the bias row definite when every
    // training point is classified with certainty.
    auto weights = (p * (1 - p)).clamp_min(1e-12) / static_cast<double>(n);
    auto h = xb.t().matmul(xb * weights.unsqueeze(1)) + torch::diag(penalty + 1e-12);
    auto step = solve_spd(h, grad);
    const double slope = -(grad * step).sum().item<double>();
    double t = 1.0, f_new = f;
    torch::Tensor next;
    for (int k = 0; k < 40; ++k, t *= 0.5) {
      next = beta - t * step;
      f_new = objective(next);
      if (f_new <= f + 1e-4 * t * slope) break;
    }
    if (!(f_new < f)) return {beta.narrow(0, 0, d), beta[d].item<double>(), it, false};
    beta = next;
    f = f_new;
  }
  return {beta.narrow(0, 0, d), beta[d].item<double>(), o.max_iterations(), false};
}

}  // namespace detail

/// The linear-direction baseline: per label coordinate of the schema (binary: one; categorical: one per
/// class; continuous: one) a linear score s_r(u) = a_r . u + b_r of the standardized latent u, and the
/// target scores of the attribute's values. Binary and categorical targets are the mean score of the
/// training rows with that value (the "typical 1" and "typical 0" side of the boundary), continuous targets
/// the normalized value itself, so targets and shifts use the plugin's coordinate units.
/// Inference methods do not modify the object and may be called from several threads at once.
class LinearDirections {
 public:
  /// Assembles fitted directions (as `fit` and `load_linear` do). `weight` (K, D), `bias`, `target_pos`,
  /// `target_neg` (K,) float64 with K the schema's label coordinates; `mean`, `std` (D,) float64.
  LinearDirections(Schema schema, torch::Tensor mean, torch::Tensor std, torch::Tensor weight, torch::Tensor bias,
                   torch::Tensor target_pos, torch::Tensor target_neg, torch::Dtype dtype = torch::kFloat32,
                   LinearFitReport report = {})
      : schema_(std::move(schema)),
        mean_(as_f64(mean)),
        std_(as_f64(std)),
        weight_(as_f64(weight)),
        bias_(as_f64(bias)),
        target_pos_(as_f64(target_pos)),
        target_neg_(as_f64(target_neg)),
        dtype_(dtype),
        report_(std::move(report)) {
    const int64_t k = schema_.label_dim();
    PLUGEN_CHECK(mean_.defined() && mean_.dim() == 1 && mean_.size(0) >= 1, ShapeError,
                 "LinearDirections: expected a mean of shape (D,)");
    const int64_t d = mean_.size(0);
    PLUGEN_CHECK(std_.defined() && std_.sizes() == mean_.sizes() && (std_ > 0).all().item<bool>(), ShapeError,
                 "LinearDirections: expected a positive std of shape ({},)", d);
    PLUGEN_CHECK(weight_.defined() && weight_.dim() == 2 && weight_.size(0) == k && weight_.size(1) == d, ShapeError,
                 "LinearDirections: expected weights of shape ({}, {}) for attributes [{}], got {}", k, d,
                 schema_.names_list(), weight_.defined() ? shape_string(weight_.sizes()) : std::string("none"));
    for (const auto* t : {&bias_, &target_pos_, &target_neg_})
      PLUGEN_CHECK(t->defined() && t->dim() == 1 && t->size(0) == k, ShapeError,
                   "LinearDirections: expected biases and targets of shape ({},)", k);
    PLUGEN_CHECK(is_supported_float(dtype_), ConfigError, "LinearDirections: expected a float32 or float64 dtype");
  }

  /// Fits the baseline on `latents` (N, D) with `labels` for `schema` (its statistics are fitted on the known
  /// labels here). Each model uses only the rows whose label for its attribute is known, so scarce labels
  /// simply mean fewer rows. An attribute with no known label, or a discrete value that never occurs, is a
  /// ConfigError naming it.
  static LinearDirections fit(Schema schema, const torch::Tensor& latents, const Labels& labels,
                              const LinearOptions& options = {}) {
    const std::string who = "LinearDirections::fit";
    const auto start = std::chrono::steady_clock::now();
    PLUGEN_CHECK(latents.defined() && latents.dim() == 2 && latents.size(0) >= 2, ShapeError,
                 "{}: expected latents of shape (N, D) with N >= 2, got {}", who,
                 latents.defined() ? shape_string(latents.sizes()) : std::string("none"));
    PLUGEN_CHECK(is_supported_float(latents.scalar_type()), ShapeError, "{}: expected float32 or float64 latents, got {}",
                 who, dtype_string(latents.scalar_type()));
    PLUGEN_CHECK(labels.rows() == latents.size(0), ShapeError, "{}: {} latent rows but {} label rows", who,
                 latents.size(0), labels.rows());
    PLUGEN_CHECK(options.l2() > 0 && std::isfinite(options.l2()), ConfigError, "LinearOptions::l2: expected > 0, got {}",
                 options.l2());
    PLUGEN_CHECK(options.max_iterations() >= 1, ConfigError, "LinearOptions::max_iterations: expected >= 1, got {}",
                 options.max_iterations());
    check_finite(latents, who + " latents");
    schema.check_labels(labels, who);
    schema.fit(labels);

    torch::NoGradGuard no_grad;
    auto w = latents.to(torch::kCPU, torch::kFloat64);
    auto mean = w.mean(0);
    auto std = w.std(0, /*unbiased=*/false).clamp_min(1e-12);
    auto u = (w - mean) / std;
    const int64_t d = w.size(1), k = schema.label_dim();
    auto weight = torch::zeros({k, d}, torch::kFloat64);
    auto bias = torch::zeros({k}, torch::kFloat64);
    auto target_pos = torch::zeros({k}, torch::kFloat64);
    auto target_neg = torch::zeros({k}, torch::kFloat64);
    auto values = labels.values.cpu();
    auto mask = labels.mask.cpu();
    LinearFitReport report;

    for (int64_t i = 0; i < schema.size(); ++i) {
      const auto& a = schema[i];
      auto known = mask.select(1, i).nonzero().squeeze(1);
      PLUGEN_CHECK(known.numel() >= 2, ConfigError, "{}: attribute '{}' has {} known labels; at least 2 are needed",
                   who, a.name, known.numel());
      auto x = u.index_select(0, known);
      auto y = values.select(1, i).index_select(0, known);
      if (a.kind == AttributeKind::continuous) {
        // Ridge least squares on the normalized label: (X^T X / n + diag(l2, .., 0)) beta = X^T y / n.
        const double range = a.stats.max - a.stats.min;
        auto target = range > 0 ? (y - a.stats.min) * (2.0 / range) - 1.0 : torch::zeros_like(y);
        const int64_t n = x.size(0);
        auto xb = torch::cat({x, torch::ones({n, 1}, torch::kFloat64)}, 1);
        auto penalty = torch::full({d + 1}, options.l2(), torch::kFloat64);
        penalty[d] = 1e-12;
        auto beta = detail::solve_spd(xb.t().matmul(xb) / static_cast<double>(n) + torch::diag(penalty),
                                      xb.t().matmul(target) / static_cast<double>(n));
        weight[a.offset].copy_(beta.narrow(0, 0, d));
        bias[a.offset] = beta[d];
        auto residual = xb.matmul(beta) - target;
        const double var = target.var(/*unbiased=*/false).item<double>();
        const double r2 = var > 0 ? 1.0 - residual.pow(2).mean().item<double>() / var : 1.0;
        report.rows.push_back({a.name, 0, true, n, r2});
        continue;
      }
      const int64_t rows = a.kind == AttributeKind::binary ? 1 : a.width();
      for (int64_t c = 0; c < rows; ++c) {
        // Binary: y itself; categorical: class c against the rest.
        auto yc = a.kind == AttributeKind::binary ? y : (y == static_cast<double>(c)).to(torch::kFloat64);
        const std::string name = a.kind == AttributeKind::binary ? a.name : a.name + ":" + a.classes[c];
        const auto positives = static_cast<int64_t>(yc.sum().item<double>());
        const std::string value = a.kind == AttributeKind::binary ? "1" : a.classes[c];
        PLUGEN_CHECK(positives > 0 && positives < yc.size(0), ConfigError,
                     "{}: attribute '{}': the known labels are all {} value '{}'; a linear boundary needs both sides",
                     who, a.name, positives == 0 ? "different from" : "equal to", value);
        auto [wv, b, iterations, converged] = detail::fit_logistic(x, yc, options);
        const int64_t r = a.offset + c;
        weight[r].copy_(wv);
        bias[r] = b;
        auto s = x.matmul(wv) + b;
        auto pos = yc > 0.5;
        target_pos[r] = s.masked_select(pos).mean();
        target_neg[r] = s.masked_select(~pos).mean();
        const double acc = ((s > 0) == pos).to(torch::kFloat64).mean().item<double>();
        report.rows.push_back({name, iterations, converged, yc.size(0), acc});
      }
    }
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return LinearDirections(std::move(schema), mean, std, weight, bias, target_pos, target_neg,
                            latents.scalar_type(), std::move(report));
  }

  /// The attribute schema with training statistics.
  const Schema& schema() const { return schema_; }
  /// Latent width D.
  int64_t dim() const { return mean_.size(0); }
  /// Dtype of the latents returned by `sample` (that of the training latents).
  torch::Dtype dtype() const { return dtype_; }
  /// Mean of the training latents, (D,) float64.
  const torch::Tensor& mean() const { return mean_; }
  /// Standard deviation of the training latents, (D,) float64.
  const torch::Tensor& std() const { return std_; }
  /// Weights a_r of the scores in standardized space, (K, D) float64, one row per label coordinate.
  const torch::Tensor& weight() const { return weight_; }
  /// Biases b_r, (K,) float64.
  const torch::Tensor& bias() const { return bias_; }
  /// Mean training score of the rows with the value (binary 1 / the row's class), (K,) float64.
  const torch::Tensor& target_pos() const { return target_pos_; }
  /// Mean training score of the other rows (binary 0 / other classes), (K,) float64.
  const torch::Tensor& target_neg() const { return target_neg_; }
  /// How the fit went.
  const LinearFitReport& report() const { return report_; }

  /// Unit normals of the decision boundaries in latent space w, (K, D) float64: the direction in w of the
  /// fastest score increase per unit of standardized distance, a_r / sigma_w normalized. (Edits move along
  /// a_r in standardized space, i.e. along sigma_w * a_r in w.)
  torch::Tensor normals() const {
    auto n = weight_ * std_.unsqueeze(0);
    return n / n.norm(2, 1, true).clamp_min(1e-300);
  }

  /// Scores s (N, K) float64 of latents (N, D).
  torch::Tensor scores(const torch::Tensor& latents) const {
    auto u = standardized(latents, "LinearDirections::scores");
    return u.matmul(weight_.t()) + bias_;
  }

  /// Reads the attributes off latents (as `Plugin::attributes`): binary P(y = 1) = sigmoid(s) and its
  /// decision; categorical class probabilities (the one-vs-rest sigmoids, normalized) and the class of the
  /// largest score; continuous the least-squares prediction in label units.
  std::vector<AttributeReadout> attributes(const torch::Tensor& latents) const {
    torch::NoGradGuard no_grad;
    auto s = scores(latents);
    std::vector<AttributeReadout> out;
    for (const auto& a : schema_.attributes()) {
      AttributeReadout r;
      auto c = s.narrow(1, a.offset, a.width());
      if (a.kind == AttributeKind::binary) {
        r.probability = torch::sigmoid(c.select(1, 0));
        r.value = (r.probability >= 0.5).to(torch::kFloat64);
      } else if (a.kind == AttributeKind::categorical) {
        auto p = torch::sigmoid(c);
        r.probability = p / p.sum(1, true).clamp_min(1e-300);
        r.value = c.argmax(1);
      } else {
        r.value = a.stats.min + (c.select(1, 0) + 1.0) * (0.5 * (a.stats.max - a.stats.min));
      }
      out.push_back(std::move(r));
    }
    return out;
  }

  /// Edits latents (N, D) (as `Plugin::edit`): each edit puts its attribute's score(s) on a target: set
  /// binary 1/0 -> the typical score of 1/0; set class k -> the typical score of class k on row k and of
  /// "not this class" on the other rows; set continuous v -> normalize(v); shift d -> the current score plus
  /// d coordinate units (binary: d * (typical 1 - typical 0) / 2; continuous: d). The latent moves the
  /// least distance in standardized space that reaches every target: u' = u + A^+ (t - s) over the
  /// edited rows A (the pseudo-inverse) — for one binary or continuous edit, a step along that attribute's unit normal.
  /// @return new latents, same shape and dtype as `latents`.
  torch::Tensor edit(const torch::Tensor& latents, const Edits& edits) const {
    const std::string who = "LinearDirections::edit";
    auto resolved = edits.resolve(schema_, who);
    torch::NoGradGuard no_grad;
    auto u = standardized(latents, who);
    auto s = u.matmul(weight_.t()) + bias_;
    std::vector<int64_t> rows;
    std::vector<torch::Tensor> targets;
    for (const auto& e : resolved) {
      const auto& a = schema_[e.index];
      for (int64_t c = 0; c < a.width(); ++c) {
        const int64_t r = a.offset + c;
        rows.push_back(r);
        auto current = s.select(1, r);
        if (e.mode == EditMode::shift) {
          targets.push_back(current + e.value * unit(a, r));
          continue;
        }
        double t = 0;
        switch (a.kind) {
          case AttributeKind::binary:
            t = (e.value > 0.5 ? target_pos_ : target_neg_)[r].item<double>();
            break;
          case AttributeKind::categorical:
            t = (static_cast<int64_t>(e.value) == c ? target_pos_ : target_neg_)[r].item<double>();
            break;
          case AttributeKind::continuous:
            t = a.normalize(e.value);
            break;
        }
        targets.push_back(torch::full_like(current, t));
      }
    }
    auto moved = rows.empty() ? u : move_to(u, s, rows, torch::stack(targets, 1));
    auto w = moved * std_ + mean_;
    check_finite(w, who + " result");
    return w.to(latents.device(), latents.scalar_type());
  }

  /// Draws `n` latents under `conditions` (as `Plugin::sample`): u ~ N(0, tau_s^2 I) from counter-based
  /// noise (sample g depends only on (seed, g)), moved as by a set `edit` of every condition onto its
  /// targets (plus N(0, tau_c^2) in coordinate units when `label_temperature` > 0); unrequested attributes
  /// keep what the draw gives them. Returns (n, D) latents in the training latents' dtype, on the CPU.
  torch::Tensor sample(const Conditions& conditions, int64_t n, uint64_t seed = 0,
                       const LinearSampleOptions& options = {}) const {
    const std::string who = "LinearDirections::sample";
    PLUGEN_CHECK(n >= 0, ConfigError, "{}: expected a number of samples n >= 0, got {}", who, n);
    PLUGEN_CHECK(options.first_index() >= 0, ConfigError, "LinearSampleOptions::first_index: expected >= 0, got {}",
                 options.first_index());
    const double tau_c = options.label_temperature(), tau_s = options.style_temperature();
    PLUGEN_CHECK(std::isfinite(tau_c) && tau_c >= 0, ConfigError,
                 "LinearSampleOptions::label_temperature: expected a finite value >= 0, got {}", tau_c);
    PLUGEN_CHECK(std::isfinite(tau_s) && tau_s >= 0, ConfigError,
                 "LinearSampleOptions::style_temperature: expected a finite value >= 0, got {}", tau_s);
    auto resolved = conditions.resolve(schema_, who);
    torch::NoGradGuard no_grad;
    const int64_t d = dim(), k = schema_.label_dim();
    auto [eps, unused] = detail::counter_noise(seed, options.first_index(), n, 1, d + k, 0);
    (void)unused;
    auto u = eps.narrow(1, 0, d) * tau_s;
    if (!resolved.empty() && n > 0) {
      auto s = u.matmul(weight_.t()) + bias_;
      auto label_noise = eps.narrow(1, d, k) * tau_c;
      std::vector<int64_t> rows;
      std::vector<torch::Tensor> targets;
      for (const auto& c : resolved) {
        const auto& a = schema_[c.index];
        for (int64_t j = 0; j < a.width(); ++j) {
          const int64_t r = a.offset + j;
          double t = 0;
          if (a.kind == AttributeKind::continuous)
            t = a.normalize(c.value);
          else
            t = ((a.kind == AttributeKind::binary ? c.value > 0.5 : static_cast<int64_t>(c.value) == j) ? target_pos_
                                                                                                         : target_neg_)[r]
                    .item<double>();
          rows.push_back(r);
          targets.push_back(t + label_noise.select(1, r) * unit(a, r));
        }
      }
      u = move_to(u, s, rows, torch::stack(targets, 1));
    }
    auto w = u * std_ + mean_;
    check_finite(w, who + " result");
    return w.to(dtype_);
  }

  /// `sample` with a plugin's `SampleOptions`, so code written for `Plugin` runs on the baseline too: the
  /// label temperature (unset: 0), style temperature and first index carry over; `ood` does not apply (the
  /// baseline keeps no combination statistics, and continuous values outside the training range simply
  /// extrapolate along the normal).
  torch::Tensor sample(const Conditions& conditions, int64_t n, uint64_t seed, const SampleOptions& options) const {
    return sample(conditions, n, seed,
                  LinearSampleOptions()
                      .label_temperature(options.label_temperature().value_or(0.0))
                      .style_temperature(options.style_temperature())
                      .first_index(options.first_index()));
  }

  /// Device of the results (the baseline computes on the CPU, in float64).
  torch::Device device() const { return torch::kCPU; }

 private:
  static torch::Tensor as_f64(const torch::Tensor& t) {
    return t.defined() ? t.to(torch::kCPU, torch::kFloat64).contiguous() : t;
  }

  /// One coordinate unit of row r in score units: binary and categorical half the distance between the
  /// typical scores of the two sides, continuous 1 (the score is the normalized label).
  double unit(const Attribute& a, int64_t r) const {
    if (a.kind == AttributeKind::continuous) return 1.0;
    return 0.5 * (target_pos_[r].item<double>() - target_neg_[r].item<double>());
  }

  torch::Tensor standardized(const torch::Tensor& latents, const std::string& who) const {
    PLUGEN_CHECK(latents.defined() && latents.dim() == 2 && latents.size(1) == dim(), ShapeError,
                 "{}: expected latents of shape (N, {}), got {}", who, dim(),
                 latents.defined() ? shape_string(latents.sizes()) : std::string("none"));
    PLUGEN_CHECK(is_supported_float(latents.scalar_type()), ShapeError, "{}: expected float32 or float64 latents, got {}",
                 who, dtype_string(latents.scalar_type()));
    check_finite(latents, who + " latents");
    return (latents.to(torch::kCPU, torch::kFloat64) - mean_) / std_;
  }

  /// u + A^+ (t - s_A) for the rows A of the weights: the least move in u putting those scores on t (the
  /// minimum-norm solution; if nearly parallel normals make the targets unreachable together, the move that
  /// comes closest in least squares).
  torch::Tensor move_to(const torch::Tensor& u, const torch::Tensor& s, const std::vector<int64_t>& rows,
                        const torch::Tensor& targets) const {
    auto index = torch::tensor(rows, torch::kInt64);
    auto gap = targets - s.index_select(1, index);  // (N, R)
    return u + detail::min_norm_solve(weight_.index_select(0, index), gap.t()).t();
  }

  Schema schema_;
  torch::Tensor mean_, std_, weight_, bias_, target_pos_, target_neg_;
  torch::Dtype dtype_;
  LinearFitReport report_;
};

/// Name written in every linear-direction file's metadata under "format".
inline constexpr const char* linear_format_name = "plugen.linear";
/// The linear-direction file format version this plugen writes and reads.
inline constexpr int linear_format_version = 1;

/// Writes `directions` to `path` as a safetensors file (tensors mean, std, weight, bias, target_pos,
/// target_neg; metadata format, version, dtype, schema, fit report), atomically.
inline void save_linear(const std::filesystem::path& path, const LinearDirections& directions) {
  std::map<std::string, torch::Tensor> tensors{{"mean", directions.mean()},           {"std", directions.std()},
                                               {"weight", directions.weight()},       {"bias", directions.bias()},
                                               {"target_pos", directions.target_pos()}, {"target_neg", directions.target_neg()}};
  for (const auto& [name, t] : tensors)
    PLUGEN_CHECK(torch::isfinite(t).all().item<bool>(), NumericError,
                 "save_linear {}: tensor '{}' has NaN or inf values; refusing to write it", path.string(), name);
  std::map<std::string, std::string> meta{{"format", linear_format_name},
                                          {"format_version", std::to_string(linear_format_version)},
                                          {"plugen_version", version_string},
                                          {"dtype", dtype_string(directions.dtype())},
                                          {"schema", directions.schema().to_json(true).dump()},
                                          {"report", directions.report().to_json().dump()}};
  write_safetensors(path, tensors, meta);
}

/// Reads a linear-direction file written by `save_linear`. Anything wrong — another format, a newer
/// version, missing or malformed metadata, a missing, misshapen or non-finite tensor — is an IoError naming
/// the file and the field.
inline LinearDirections load_linear(const std::filesystem::path& path) {
  const std::string who = path.string();
  auto file = read_safetensors(path);
  const auto& meta = file.metadata;
  auto get = [&](const std::string& key) {
    auto it = meta.find(key);
    PLUGEN_CHECK(it != meta.end(), IoError, "{}: not a plugen linear-direction file: metadata '{}' is missing", who,
                 key);
    return it->second;
  };
  PLUGEN_CHECK(get("format") == linear_format_name, IoError,
               "{}: not a plugen linear-direction file (metadata 'format' is '{}', expected '{}')", who, get("format"),
               linear_format_name);
  PLUGEN_CHECK(get("format_version") == std::to_string(linear_format_version), IoError,
               "{}: linear-direction format version '{}' is not supported (this plugen reads version {})", who,
               get("format_version"), linear_format_version);
  const auto dtype_name = get("dtype");
  PLUGEN_CHECK(dtype_name == "float32" || dtype_name == "float64", IoError,
               "{}: metadata 'dtype' must be 'float32' or 'float64', got '{}'", who, dtype_name);
  Schema schema;
  LinearFitReport report;
  try {
    schema = Schema::from_json(nlohmann::json::parse(get("schema")), who + ": metadata 'schema'");
    report = LinearFitReport::from_json(nlohmann::json::parse(get("report")));
  } catch (const IoError&) {
    throw;
  } catch (const std::exception& e) {
    throw IoError(fmt::format("{}: invalid metadata: {}", who, e.what()));
  }
  for (const auto& a : schema.attributes())
    if (a.kind != AttributeKind::continuous)
      PLUGEN_CHECK(static_cast<int64_t>(a.stats.frequencies.size()) == a.cardinality(), IoError,
                   "{}: metadata 'schema': attribute '{}' has no statistics", who, a.name);
  auto take = [&](const std::string& name) {
    auto it = file.tensors.find(name);
    PLUGEN_CHECK(it != file.tensors.end(), IoError, "{}: tensor '{}' is missing", who, name);
    PLUGEN_CHECK(it->second.scalar_type() == torch::kFloat64, IoError, "{}: tensor '{}' has dtype {}, expected float64",
                 who, name, dtype_string(it->second.scalar_type()));
    PLUGEN_CHECK(torch::isfinite(it->second).all().item<bool>(), IoError, "{}: tensor '{}' has NaN or inf values", who,
                 name);
    return it->second;
  };
  PLUGEN_CHECK(file.tensors.size() == 6, IoError,
               "{}: expected exactly the tensors mean, std, weight, bias, target_pos, target_neg; found {}", who,
               file.tensors.size());
  try {
    return LinearDirections(std::move(schema), take("mean"), take("std"), take("weight"), take("bias"),
                            take("target_pos"), take("target_neg"),
                            dtype_name == "float32" ? torch::kFloat32 : torch::kFloat64, std::move(report));
  } catch (const ShapeError& e) {
    throw IoError(fmt::format("{}: {}", who, e.what()));
  }
}

}  // namespace plugen
