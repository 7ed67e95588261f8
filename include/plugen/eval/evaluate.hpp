#pragma once
/// @file
/// How good a plugin's conditioning is, measured through a frozen backbone and a `Scorer`:
/// - `evaluate_conditional`: sample under each request, decode, score; per-request and pooled accuracy
///   (discrete), Pearson r / MAE / calibration (continuous), joint accuracy per combination, diversity;
/// - `evaluate_edits`: edit held-out latents, decode, score; success (target reached where it was not),
///   side effects on the other scored attributes, preservation (pixel distance to the unedited output);
///
/// Both take any *conditioner*: a `Plugin`, or the linear-direction baseline `LinearDirections`
/// (baseline/linear.hpp), so alternatives are measured by the same code. A conditioner type offers
/// `schema()` (fitted), `sample(const Conditions&, n, seed, const SampleOptions&)` returning latents,
/// `edit(latents, const Edits&)` returning latents of the same shape, `device()` and `dtype()` (where and in
/// which dtype it takes latents).
///
/// - `roundtrip_error`, `nll_per_dim`: the flow's numerical round trip and held-out density;
/// - `score_latents`: scorer labels of decoded latents (e.g. a VAE's reconstructions against the true
///   labels, the ceiling any plugin on that backbone can reach);
/// - `sweep`: one request per value of some attributes (crossed), e.g. every class, or levels of a
///   continuous attribute across its training distribution.

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plugen/backbone/backbone.hpp"
#include "plugen/core/check.hpp"
#include "plugen/core/seed.hpp"
#include "plugen/eval/metrics.hpp"
#include "plugen/eval/scorer.hpp"
#include "plugen/plugin/plugin.hpp"

namespace plugen {

/// Options of `sweep`.
struct SweepOptions {
  /// Values per continuous attribute.
  TORCH_ARG(int64_t, levels) = 5;
  /// Continuous levels are evenly spaced over mean ± spread · sd of the training labels (clipped to the
  /// training range): the bulk of the data, where a plugin can be asked to deliver.
  TORCH_ARG(double, spread) = 1.5;
};

/// The values a sweep visits for one attribute of a fitted schema, as condition values: binary 0, 1;
/// categorical every class name; continuous `levels` values (see `SweepOptions`).
inline std::vector<ConditionValue> sweep_values(const Attribute& a, const SweepOptions& options = {}) {
  PLUGEN_CHECK(options.levels() >= 1, ConfigError, "SweepOptions::levels: expected >= 1, got {}", options.levels());
  PLUGEN_CHECK(options.spread() >= 0 && std::isfinite(options.spread()), ConfigError,
               "SweepOptions::spread: expected a finite value >= 0, got {}", options.spread());
  std::vector<ConditionValue> out;
  switch (a.kind) {
    case AttributeKind::binary:
      out = {ConditionValue(0), ConditionValue(1)};
      break;
    case AttributeKind::categorical:
      for (const auto& c : a.classes) out.emplace_back(c);
      break;
    case AttributeKind::continuous: {
      const double sd = std::sqrt(std::max(0.0, a.stats.normalized_var));
      const double lo = std::max(-1.0, a.stats.normalized_mean - options.spread() * sd);
      const double hi = std::min(1.0, a.stats.normalized_mean + options.spread() * sd);
      const int64_t n = options.levels();
      for (int64_t i = 0; i < n; ++i) {
        const double t = n == 1 ? 0.5 : static_cast<double>(i) / static_cast<double>(n - 1);
        out.emplace_back(a.denormalize(lo + t * (hi - lo)));
      }
      break;
    }
  }
  return out;
}

/// One request per combination of values of `attributes` (crossed, the first attribute varying slowest),
/// each attribute visiting `sweep_values`. Unknown names are ConfigErrors listing the schema's names.
inline std::vector<Conditions> sweep(const Schema& schema, const std::vector<std::string>& attributes,
                                     const SweepOptions& options = {}) {
  PLUGEN_CHECK(!attributes.empty(), ConfigError, "sweep: expected at least one attribute name");
  std::vector<Conditions> out{Conditions()};
  for (const auto& name : attributes) {
    const auto& a = schema[schema.index_of(name)];
    std::vector<Conditions> next;
    for (const auto& base : out)
      for (const auto& v : sweep_values(a, options)) {
        auto c = base;
        PLUGEN_CHECK(std::none_of(base.begin(), base.end(), [&](const Condition& x) { return x.attribute == name; }),
                     ConfigError, "sweep: attribute '{}' is given twice", name);
        c.set(name, v);
        next.push_back(std::move(c));
      }
    out = std::move(next);
  }
  return out;
}

/// Labels (N, A) of conditions resolved against `schema`, repeated for `n` rows: requested attributes
/// known, the others unknown.
inline Labels condition_labels(const Schema& schema, const Conditions& conditions, int64_t n,
                               const std::string& who = "condition_labels") {
  auto values = torch::zeros({n, schema.size()}, torch::kFloat64);
  auto mask = torch::zeros({n, schema.size()}, torch::kBool);
  for (const auto& r : conditions.resolve(schema, who)) {
    values.select(1, r.index).fill_(r.value);
    mask.select(1, r.index).fill_(true);
  }
  return {values, mask};
}

namespace detail {

/// Labels with every value known.
inline Labels all_known(const torch::Tensor& values) {
  return {values, torch::ones(values.sizes(), values.options().dtype(torch::kBool))};
}

/// The rows of several label sets, concatenated.
inline Labels cat_labels(const std::vector<Labels>& parts) {
  std::vector<torch::Tensor> v, m;
  for (const auto& l : parts) {
    v.push_back(l.values);
    m.push_back(l.mask);
  }
  return {torch::cat(v, 0), torch::cat(m, 0)};
}

inline double nan_mean(const std::vector<double>& xs) {
  double sum = 0.0;
  int64_t n = 0;
  for (double x : xs)
    if (std::isfinite(x)) {
      sum += x;
      ++n;
    }
  return n ? sum / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace detail

/// Options of the evaluations in this file.
struct EvalOptions {
  /// Samples per request (`evaluate_conditional`).
  TORCH_ARG(int64_t, n) = 500;
  /// Seed; request r samples with `derive_seed(seed, r)`.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Latents decoded and scored at a time (0: the backbone's `decode_batch()`).
  TORCH_ARG(int64_t, batch) = 0;
  /// Tolerance and calibration bins of continuous attributes.
  TORCH_ARG(CompareOptions, compare) = {};
  /// Diversity: mean pairwise distance over the first this many samples of each request (0: off).
  TORCH_ARG(int64_t, diversity_samples) = 100;
  /// Sampling: label temperature (default: a plugin's final sigma; 0 for `LinearDirections`).
  TORCH_ARG(std::optional<double>, label_temperature) = std::nullopt;
  /// Sampling: spread of the style coordinates.
  TORCH_ARG(double, style_temperature) = 1.0;
  /// Called after each request or edit with (done, total, a one-line summary); e.g. a progress printer.
  TORCH_ARG(std::function<void(int64_t, int64_t, const std::string&)>, on_progress) = nullptr;

 public:
  /// Throws a ConfigError naming the first invalid option.
  void validate() const {
    PLUGEN_CHECK(n_ >= 1, ConfigError, "EvalOptions::n: expected >= 1 samples per request, got {}", n_);
    PLUGEN_CHECK(batch_ >= 0, ConfigError, "EvalOptions::batch: expected >= 0 (0: the backbone's), got {}", batch_);
    PLUGEN_CHECK(diversity_samples_ >= 0, ConfigError, "EvalOptions::diversity_samples: expected >= 0, got {}",
                 diversity_samples_);
    PLUGEN_CHECK(compare_.tolerance() >= 0, ConfigError, "EvalOptions::compare.tolerance: expected >= 0, got {}",
                 compare_.tolerance());
    PLUGEN_CHECK(compare_.calibration_bins() >= 1, ConfigError,
                 "EvalOptions::compare.calibration_bins: expected >= 1, got {}", compare_.calibration_bins());
  }
};

/// Scorer labels (in `scorer.schema()` order) of `latents` decoded by `backbone`, `batch` at a time (0: the
/// backbone's chunk size), so decoded outputs never all live in memory.
/// @tparam Backbone any type meeting the backbone contract (an adapter or `AnyBackbone`).
template <class Backbone>
Labels score_latents(const Backbone& backbone, const Scorer& scorer, const torch::Tensor& latents, int64_t batch = 0) {
  PLUGEN_CHECK(backbone.output_shape() == scorer.input_shape(), ShapeError,
               "score_latents: the backbone decodes samples of shape ({}) but the scorer takes ({})",
               fmt::join(backbone.output_shape(), ", "), fmt::join(scorer.input_shape(), ", "));
  std::vector<torch::Tensor> values;
  decode_each(backbone, latents.to(torch::kFloat32), batch > 0 ? batch : detail::decode_batch_of(backbone),
              [&](int64_t, const torch::Tensor& outputs) { values.push_back(scorer.predict(outputs).values); });
  return detail::all_known(values.empty() ? torch::zeros({0, scorer.schema().size()}, torch::kFloat64)
                                          : torch::cat(values, 0));
}

/// The result of one request of `evaluate_conditional`.
struct RequestResult {
  /// The request, as "name=value, ...".
  std::string request;
  /// Samples drawn.
  int64_t n = 0;
  /// Fraction of samples meeting every requested attribute (see `targets_met`).
  double joint_accuracy = 0.0;
  /// Mean pairwise pixel distance of the first `diversity_samples` samples (NaN when off or < 2).
  double diversity = std::numeric_limits<double>::quiet_NaN();
  /// Scores of the requested attributes.
  std::vector<AttributeScore> attributes;
};

/// JSON of a request result.
inline void to_json(nlohmann::json& j, const RequestResult& r) {
  j = {{"request", r.request},
       {"n", r.n},
       {"joint_accuracy", detail::json_number(r.joint_accuracy)},
       {"diversity", detail::json_number(r.diversity)},
       {"attributes", r.attributes}};
}

/// What `evaluate_conditional` measured.
struct ConditionalReport {
  /// Per request, in order.
  std::vector<RequestResult> requests;
  /// Per requested attribute, pooled over every request that set it (continuous: r, MAE and calibration of
  /// requested vs measured over all those samples).
  std::vector<AttributeScore> attributes;
  /// Mean over requests of the joint accuracy.
  double joint_accuracy = 0.0;
  /// Mean over requests of the diversity (NaN when off).
  double diversity = std::numeric_limits<double>::quiet_NaN();
  /// Pooled score of one attribute by name, or nullptr when no request set it.
  const AttributeScore* attribute(const std::string& name) const {
    for (const auto& a : attributes)
      if (a.name == name) return &a;
    return nullptr;
  }
};

/// JSON of a conditional report.
inline void to_json(nlohmann::json& j, const ConditionalReport& r) {
  j = {{"attributes", r.attributes},
       {"joint_accuracy", detail::json_number(r.joint_accuracy)},
       {"diversity", detail::json_number(r.diversity)},
       {"requests", r.requests}};
}


/// Conditional generation: for each request, `options.n()` latents from `conditioner.sample(request)` (seed
/// `derive_seed(options.seed(), r)`), decoded by `backbone`, scored by `scorer`, and compared with the
/// request (scorer attributes matched to the conditioner's by name, classes by class name). Attributes the
/// scorer does not measure are not scored.
/// @tparam Conditioner `Plugin`, `LinearDirections` or any type meeting the conditioner contract (file comment).
/// @tparam Backbone any type meeting the backbone contract.
template <class Conditioner, class Backbone>
ConditionalReport evaluate_conditional(const Conditioner& conditioner, const Backbone& backbone, const Scorer& scorer,
                                       const std::vector<Conditions>& requests, const EvalOptions& options = {}) {
  const std::string who = "evaluate_conditional";
  options.validate();
  PLUGEN_CHECK(!requests.empty(), ConfigError, "{}: expected at least one request", who);
  const Schema& schema = conditioner.schema();
  const auto scorer_schema = scorer.schema();
  ConditionalReport report;
  std::vector<Labels> targets, measured;
  std::vector<double> joints, diversities;
  for (size_t r = 0; r < requests.size(); ++r) {
    const auto& request = requests[r];
    auto sample_options = SampleOptions().style_temperature(options.style_temperature());
    if (options.label_temperature()) sample_options.label_temperature(*options.label_temperature());
    auto w = conditioner.sample(request, options.n(), derive_seed(options.seed(), r), sample_options);
    auto target = condition_labels(schema, request, options.n(), who);
    std::vector<torch::Tensor> values;
    torch::Tensor kept;
    decode_each(backbone, w.to(torch::kFloat32), options.batch() > 0 ? options.batch() : detail::decode_batch_of(backbone),
                [&](int64_t first, const torch::Tensor& images) {
                  values.push_back(scorer.predict(images).values);
                  const int64_t keep = std::min(images.size(0), options.diversity_samples() - first);
                  if (keep > 0) {
                    auto part = images.narrow(0, 0, keep).to(torch::kCPU);
                    kept = kept.defined() ? torch::cat({kept, part}) : part;
                  }
                });
    auto v = torch::cat(values, 0);
    auto m = align_labels(scorer_schema, detail::all_known(v), schema, who);
    RequestResult result;
    result.request = request.to_string();
    result.n = options.n();
    result.attributes = compare_labels(schema, target, m, options.compare());
    result.joint_accuracy = targets_met(schema, target, m, options.compare()).to(torch::kFloat64).mean().item<double>();
    if (kept.defined()) result.diversity = mean_pairwise_distance(kept);
    joints.push_back(result.joint_accuracy);
    diversities.push_back(result.diversity);
    targets.push_back(std::move(target));
    measured.push_back(std::move(m));
    if (options.on_progress())
      options.on_progress()(static_cast<int64_t>(r + 1), static_cast<int64_t>(requests.size()),
                            fmt::format("{}: joint accuracy {:.3f}", result.request, result.joint_accuracy));
    report.requests.push_back(std::move(result));
  }
  report.attributes = compare_labels(schema, detail::cat_labels(targets), detail::cat_labels(measured), options.compare());
  report.joint_accuracy = detail::nan_mean(joints);
  report.diversity = detail::nan_mean(diversities);
  return report;
}

/// How one scored attribute that an edit did not target moved (a side effect).
struct SideEffect {
  /// Attribute name (as the scorer names it).
  std::string name;
  /// Attribute kind.
  AttributeKind kind = AttributeKind::binary;
  /// Discrete: fraction of samples whose measured value changed. Continuous: mean |change| in label units.
  double change = 0.0;
};

/// JSON of a side effect: `{"name", "kind", "changed"}` (discrete) or `{"name", "kind", "mean_abs_change"}`.
inline void to_json(nlohmann::json& j, const SideEffect& s) {
  j = {{"name", s.name}, {"kind", to_string(s.kind)}};
  j[s.kind == AttributeKind::continuous ? "mean_abs_change" : "changed"] = detail::json_number(s.change);
}

/// The result of one edit of `evaluate_edits`.
struct EditResult {
  /// The edit, as "name=value, ...".
  std::string edit;
  /// Latents edited.
  int64_t n = 0;
  /// Latents whose unedited output did not already meet the target (the ones success is measured on).
  int64_t eligible = 0;
  /// Fraction of eligible latents whose edited output meets every target (see `targets_met`); NaN when
  /// none is eligible.
  double success = std::numeric_limits<double>::quiet_NaN();
  /// Scores of the edited attributes over all latents (measured after the edit vs the target).
  std::vector<AttributeScore> attributes;
  /// The scored attributes the edit did not target.
  std::vector<SideEffect> side_effects;
  /// Mean absolute pixel difference between unedited and edited outputs.
  double preservation = std::numeric_limits<double>::quiet_NaN();
};

/// JSON of an edit result.
inline void to_json(nlohmann::json& j, const EditResult& r) {
  j = {{"edit", r.edit},
       {"n", r.n},
       {"eligible", r.eligible},
       {"success", detail::json_number(r.success)},
       {"attributes", r.attributes},
       {"side_effects", r.side_effects},
       {"preservation", detail::json_number(r.preservation)}};
}

/// What `evaluate_edits` measured.
struct EditReport {
  /// Per edit, in order.
  std::vector<EditResult> edits;
  /// Mean success over edits (NaN-free mean).
  double success = std::numeric_limits<double>::quiet_NaN();
  /// Mean preservation over edits.
  double preservation = std::numeric_limits<double>::quiet_NaN();
  /// Per side-effect attribute, the mean of its change over the edits that did not target it.
  std::vector<SideEffect> side_effects;
};

/// JSON of an edit report.
inline void to_json(nlohmann::json& j, const EditReport& r) {
  j = {{"success", detail::json_number(r.success)},
       {"preservation", detail::json_number(r.preservation)},
       {"side_effects", r.side_effects},
       {"edits", r.edits}};
}

/// Editing held-out latents: each edit (a set of attribute values) is applied to every latent of
/// `latents` (N, ...), the unedited and edited latents are decoded and scored, and the edit's success
/// (target reached where the unedited output did not already reach it), its side effects on the other
/// scored attributes and the preservation (pixel distance to the unedited output) are measured.
/// @tparam Conditioner `Plugin`, `LinearDirections` or any type meeting the conditioner contract (file comment).
/// @tparam Backbone any type meeting the backbone contract.
template <class Conditioner, class Backbone>
EditReport evaluate_edits(const Conditioner& conditioner, const Backbone& backbone, const Scorer& scorer,
                          const torch::Tensor& latents, const std::vector<Conditions>& edits,
                          const EvalOptions& options = {}) {
  const std::string who = "evaluate_edits";
  options.validate();
  PLUGEN_CHECK(!edits.empty(), ConfigError, "{}: expected at least one edit", who);
  PLUGEN_CHECK(latents.defined() && latents.dim() >= 2 && latents.size(0) >= 1, ShapeError,
               "{}: expected held-out latents (N >= 1, ...), got {}", who,
               latents.defined() ? shape_string(latents.sizes()) : std::string("an undefined tensor"));
  const Schema& schema = conditioner.schema();
  const auto scorer_schema = scorer.schema();
  const int64_t n = latents.size(0);
  const int64_t batch = options.batch() > 0 ? options.batch() : detail::decode_batch_of(backbone);
  for (const auto& e : edits) (void)e.resolve(schema, who);  // fail early on unknown names or values

  // Measured labels (scorer schema) of the unedited and of each edit's outputs, and pixel distance sums.
  std::vector<torch::Tensor> original;
  std::vector<std::vector<torch::Tensor>> edited(edits.size());
  std::vector<double> distance(edits.size(), 0.0);
  auto w_all = latents.to(conditioner.device(), conditioner.dtype());
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t len = std::min(batch, n - start);
    auto w = w_all.narrow(0, start, len);
    auto before = backbone.decode(w.to(torch::kFloat32));
    original.push_back(scorer.predict(before).values);
    for (size_t e = 0; e < edits.size(); ++e) {
      auto after = backbone.decode(conditioner.edit(w, Edits(edits[e])).to(torch::kFloat32));
      edited[e].push_back(scorer.predict(after).values);
      distance[e] += mean_pixel_distance(before, after) * static_cast<double>(len);
    }
  }
  const auto orig_raw = detail::all_known(torch::cat(original, 0));
  const auto orig = align_labels(scorer_schema, orig_raw, schema, who);

  EditReport report;
  std::vector<double> successes, preservations;
  std::map<std::string, std::vector<double>> side;
  for (size_t e = 0; e < edits.size(); ++e) {
    const auto after_raw = detail::all_known(torch::cat(edited[e], 0));
    const auto after = align_labels(scorer_schema, after_raw, schema, who);
    const auto target = condition_labels(schema, edits[e], n, who);
    EditResult r;
    r.edit = edits[e].to_string();
    r.n = n;
    auto eligible = ~targets_met(schema, target, orig, options.compare());
    r.eligible = eligible.sum().item<int64_t>();
    if (r.eligible > 0)
      r.success = targets_met(schema, target, after, options.compare())
                      .masked_select(eligible)
                      .to(torch::kFloat64)
                      .mean()
                      .item<double>();
    r.attributes = compare_labels(schema, target, after, options.compare());
    for (int64_t k = 0; k < scorer_schema.size(); ++k) {
      const auto& a = scorer_schema[k];
      if (std::any_of(edits[e].begin(), edits[e].end(), [&](const Condition& c) { return c.attribute == a.name; }))
        continue;
      auto b = orig_raw.values.select(1, k), c = after_raw.values.select(1, k);
      SideEffect s{a.name, a.kind,
                   a.kind == AttributeKind::continuous ? (c - b).abs().mean().item<double>()
                                                       : (c != b).to(torch::kFloat64).mean().item<double>()};
      side[a.name].push_back(s.change);
      r.side_effects.push_back(s);
    }
    r.preservation = distance[e] / static_cast<double>(n);
    successes.push_back(r.success);
    preservations.push_back(r.preservation);
    if (options.on_progress())
      options.on_progress()(static_cast<int64_t>(e + 1), static_cast<int64_t>(edits.size()),
                            fmt::format("{}: success {:.3f}", r.edit, r.success));
    report.edits.push_back(std::move(r));
  }
  report.success = detail::nan_mean(successes);
  report.preservation = detail::nan_mean(preservations);
  for (int64_t k = 0; k < scorer_schema.size(); ++k) {
    const auto& a = scorer_schema[k];
    if (side.count(a.name)) report.side_effects.push_back({a.name, a.kind, detail::nan_mean(side[a.name])});
  }
  return report;
}

/// The numerical round trip w -> z -> w of a conditioner's flow.
struct RoundTripError {
  /// Mean and largest |w - F⁻¹(F(w))| over all entries.
  double mean_abs = 0.0, max_abs = 0.0;
};

/// JSON of a round-trip error.
inline void to_json(nlohmann::json& j, const RoundTripError& r) {
  j = {{"mean_abs", detail::json_number(r.mean_abs)}, {"max_abs", detail::json_number(r.max_abs)}};
}

/// The round-trip error of `plugin` on latents of its layout (e.g. held-out latents).
inline RoundTripError roundtrip_error(const Plugin& plugin, const torch::Tensor& latents) {
  torch::NoGradGuard no_grad;
  auto w = plugin.rows_of(latents.to(plugin.device(), plugin.dtype()), "roundtrip_error");
  auto [z, log_det] = plugin.forward_rows(w);
  (void)log_det;
  auto d = (plugin.inverse_rows(z) - w).abs().to(torch::kFloat64);
  return {d.mean().item<double>(), d.max().item<double>()};
}

/// Held-out negative log-likelihood of latents under the plugin's marginal prior, in nats per dimension:
/// −mean(log p(w)) / D (see `Plugin::log_prob`; it includes the standardization's log-det).
inline double nll_per_dim(const Plugin& plugin, const torch::Tensor& latents) {
  auto lp = plugin.log_prob(latents.to(plugin.device(), plugin.dtype())).to(torch::kFloat64);
  PLUGEN_CHECK(lp.numel() >= 1, ShapeError, "nll_per_dim: expected at least one latent, got none");
  return -lp.mean().item<double>() / static_cast<double>(plugin.dim());
}

}  // namespace plugen
