#pragma once
/// @file
/// `Plugin`: a trained PluGeN plugin — standardization, flow, target-space prior with its schema,
/// training label statistics and the training report — with the maps between backbone latents w and
/// the target space z.

#include <torch/torch.h>

#include <map>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "plugen/core/tensor.hpp"
#include "plugen/flow/flow.hpp"
#include "plugen/flow/standardize.hpp"
#include "plugen/plugin/conditions.hpp"
#include "plugen/plugin/detail/metadata.hpp"
#include "plugen/plugin/options.hpp"
#include "plugen/prior/prior.hpp"
#include "plugen/train/report.hpp"

namespace plugen {

/// A flow of either kind behind one interface.
using AnyFlow = std::variant<RealNVP, NICE>;

/// Builds a flow of `kind` (optionally with explicit partitions).
inline AnyFlow make_flow(FlowKind kind, const FlowOptions& options, std::vector<Partition> partitions = {}) {
  if (kind == FlowKind::affine)
    return partitions.empty() ? AnyFlow(RealNVP(options)) : AnyFlow(RealNVP(options, std::move(partitions)));
  return partitions.empty() ? AnyFlow(NICE(options)) : AnyFlow(NICE(options, std::move(partitions)));
}

/// Counts the combinations in `labels` for `schema` (declared in plugen/plugin/detail/metadata.hpp).
inline LabelStats LabelStats::count(const Schema& schema, const Labels& labels) {
  LabelStats s;
  std::vector<int64_t> cols;
  for (int64_t i = 0; i < schema.size(); ++i)
    if (schema[i].kind != AttributeKind::continuous) {
      cols.push_back(i);
      s.discrete.push_back(schema[i].name);
    }
  if (cols.empty()) return s;
  auto values = labels.values.cpu().contiguous();
  auto mask = labels.mask.cpu().contiguous();
  auto v = values.accessor<double, 2>();
  auto m = mask.accessor<bool, 2>();
  for (int64_t r = 0; r < labels.rows(); ++r) {
    std::string key;
    bool complete = true;
    for (size_t j = 0; j < cols.size() && complete; ++j) {
      const auto c = cols[j];
      if (!m[r][c]) complete = false;
      else key += (j ? "," : "") + value_name(schema[c], v[r][c]);
    }
    if (complete) {
      ++s.combinations[key];
      ++s.rows;
    }
  }
  return s;
}

/// A trained plugin: w -> u = (w - mean)/std -> z = F(u), with a target-space prior over z.
/// Inference methods (forward, inverse, attributes, log_prob, sample, edit, traverse, interpolate, check) do
/// not modify the plugin, use no global random generator, and may be called from several threads at once;
/// moving it (`to`) or training it may not overlap with anything else.
class Plugin {
 public:
  /// Assembles a plugin from its parts (as the trainer and the file loader do).
  Plugin(LatentLayout layout, Standardize standardize, FlowKind kind, AnyFlow flow, TargetPrior prior,
         LabelStats label_stats = {}, TrainReport report = {})
      : layout_(layout),
        standardize_(std::move(standardize)),
        kind_(kind),
        flow_(std::move(flow)),
        prior_(std::move(prior)),
        label_stats_(std::move(label_stats)),
        report_(std::move(report)) {
    PLUGEN_CHECK(standardize_->dim() == layout_.dim && flow_dim() == layout_.dim && prior_.dim() == layout_.dim,
                 ConfigError, "Plugin: standardization ({}), flow ({}) and prior ({}) widths must equal the latent width {}",
                 standardize_->dim(), flow_dim(), prior_.dim(), layout_.dim);
    std::visit([](auto& f) { f->eval(); }, flow_);
  }

  /// Latent layout (width, layers, mode).
  const LatentLayout& layout() const { return layout_; }
  /// Width D of the flow.
  int64_t dim() const { return layout_.dim; }
  /// Flow kind.
  FlowKind flow_kind() const { return kind_; }
  /// The flow.
  const AnyFlow& flow() const { return flow_; }
  /// The flow's options.
  const FlowOptions& flow_options() const {
    return std::visit([](const auto& f) -> const FlowOptions& { return f->options(); }, flow_);
  }
  /// The standardization.
  const Standardize& standardize() const { return standardize_; }
  /// The prior (its sigma is the final training sigma).
  const TargetPrior& prior() const { return prior_; }
  /// The attribute schema with training statistics.
  const Schema& schema() const { return prior_.schema(); }
  /// Training label statistics (combination counts).
  const LabelStats& label_stats() const { return label_stats_; }
  /// The training report.
  const TrainReport& report() const { return report_; }
  /// sha256 of the backbone file the latents came from (empty if unknown).
  const std::string& backbone_sha256() const { return backbone_sha256_; }
  /// Records the backbone fingerprint.
  void set_backbone_sha256(std::string hex) { backbone_sha256_ = std::move(hex); }
  /// Dtype of the plugin's parameters.
  torch::Dtype dtype() const { return standardize_->mean().scalar_type(); }
  /// Device of the plugin's parameters.
  torch::Device device() const { return standardize_->mean().device(); }

  /// Moves/casts the plugin (not thread-safe).
  void to(torch::Device device, torch::Dtype dtype) {
    standardize_->to(device, dtype);
    std::visit([&](auto& f) { f->to(device, dtype); }, flow_);
  }

  /// Flow rows (M, D) from latents of the plugin's layout: (N, D), or (N, L, D) → row 0 (shared) or all
  /// rows (per_layer). Checks shape, dtype and finiteness; `who` names the caller.
  torch::Tensor rows_of(const torch::Tensor& w, const std::string& who) const {
    PLUGEN_CHECK(w.defined(), ShapeError, "{}: expected latents of per-sample shape {}, got an undefined tensor", who,
                 layout_.sample_shape());
    const bool ok = layout_.layers > 0
                        ? (w.dim() == 3 && w.size(1) == layout_.layers && w.size(2) == layout_.dim)
                        : (w.dim() == 2 && w.size(1) == layout_.dim);
    PLUGEN_CHECK(ok, ShapeError, "{}: expected latents of shape (N, {}), got {}", who,
                 layout_.sample_shape().substr(1, layout_.sample_shape().size() - 2), shape_string(w.sizes()));
    PLUGEN_CHECK(w.scalar_type() == dtype(), ShapeError, "{}: expected {} latents (the plugin's dtype), got {}", who,
                 dtype_string(dtype()), dtype_string(w.scalar_type()));
    check_finite(w.reshape({w.size(0), -1}), who + " latents");
    if (layout_.layers == 0) return w;
    if (layout_.mode == LatentMode::shared) return w.select(1, 0);
    return w.reshape({-1, layout_.dim});
  }

  /// Latents of the plugin's layout from flow rows (the inverse of `rows_of`); shared mode writes the row
  /// to every layer of a new tensor.
  torch::Tensor latents_of(const torch::Tensor& rows) const {
    if (layout_.layers == 0) return rows;
    if (layout_.mode == LatentMode::shared)
      return rows.unsqueeze(1).expand({rows.size(0), layout_.layers, layout_.dim}).contiguous();
    return rows.reshape({-1, layout_.layers, layout_.dim});
  }

  /// Maps flow rows w (M, D) to (z, log|det dz/dw|).
  std::tuple<torch::Tensor, torch::Tensor> forward_rows(const torch::Tensor& w) const {
    torch::Tensor u, ld_std;  // not a structured binding: lambdas cannot capture those before C++20
    std::tie(u, ld_std) = standardize_->forward(w);
    auto [z, ld_flow] = std::visit([&](auto& f) { return f->forward(u); }, flow_);
    return {z, ld_std + ld_flow};
  }

  /// Maps z (M, D) back to flow rows w.
  torch::Tensor inverse_rows(const torch::Tensor& z) const {
    check_batch(z, dim(), dtype(), "Plugin::inverse");
    auto u = std::visit([&](auto& f) { return f->inverse(z); }, flow_);
    return standardize_->inverse(u);
  }

  /// z = F((w - mean)/std) for latents of the plugin's layout, and log|det dz/dw| per flow row.
  std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& w) const {
    torch::NoGradGuard no_grad;
    return forward_rows(rows_of(w, "Plugin::forward"));
  }

  /// Reads the attributes off latents: per attribute, binary P(y=1) and decision, categorical class
  /// probabilities and argmax, continuous value in label units.
  std::vector<AttributeReadout> attributes(const torch::Tensor& w) const {
    torch::NoGradGuard no_grad;
    auto z = std::get<0>(forward_rows(rows_of(w, "Plugin::attributes")));
    return prior_.read(z);
  }

  /// log p(w) under the marginal prior (every label unknown), per flow row, in nats.
  torch::Tensor log_prob(const torch::Tensor& w) const {
    torch::NoGradGuard no_grad;
    auto [z, log_det] = forward_rows(rows_of(w, "Plugin::log_prob"));
    return prior_.marginal_log_prob(z) + log_det;
  }

  // ---- Conditioning: sampling, editing, OOD checks. Thin forwarders to the free functions of
  // ---- plugin/sample.hpp, plugin/edit.hpp and plugin/ood.hpp (defined there, included below the class).

  /// `n` latents of the plugin's layout drawn under `conditions` (see `plugen::sample`).
  torch::Tensor sample(const Conditions& conditions, int64_t n, uint64_t seed = 0,
                       const SampleOptions& options = {}) const;
  /// Latents with attributes set or shifted (see `plugen::edit`).
  torch::Tensor edit(const torch::Tensor& latents, const Edits& edits, const EditOptions& options = {}) const;
  /// A traversal of one attribute's coordinate from `from` to `to` (see `plugen::traverse`).
  torch::Tensor traverse(const torch::Tensor& latents, const std::string& attribute, double from, double to,
                         int64_t steps) const;
  /// An interpolation from `a` to `b` in z (see `plugen::interpolate`).
  torch::Tensor interpolate(const torch::Tensor& a, const torch::Tensor& b, int64_t steps,
                            bool style_only = false) const;
  /// The out-of-distribution report of a request (see `plugen::check`).
  OodReport check(const Conditions& conditions, const OodOptions& options = {}) const;

 private:
  int64_t flow_dim() const {
    return std::visit([](const auto& f) { return f->dim(); }, flow_);
  }

  LatentLayout layout_;
  // Module holders are shared pointers whose forward methods are non-const; inference does not change
  // them, so const methods may call them.
  mutable Standardize standardize_;
  FlowKind kind_;
  mutable AnyFlow flow_;
  TargetPrior prior_;
  LabelStats label_stats_;
  TrainReport report_;
  std::string backbone_sha256_;
};

}  // namespace plugen

// The conditioning methods declared in `Plugin` are defined in these headers (they need the complete class).
#include "plugen/plugin/edit.hpp"
#include "plugen/plugin/ood.hpp"
#include "plugen/plugin/sample.hpp"
