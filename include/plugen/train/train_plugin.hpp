#pragma once
/// @file
/// `train_plugin`: the whole PluGeN training recipe, from a labelled latent dataset to a `Plugin`.

#include <torch/torch.h>

#include <string>
#include <vector>

#include "plugen/core/seed.hpp"
#include "plugen/data/dataset.hpp"
#include "plugen/plugin/plugin.hpp"
#include "plugen/train/detail/label_directions.hpp"
#include "plugen/train/trainer.hpp"

namespace plugen {

/// How the flow's first invertible linear layer starts (when the flow has one).
enum class LinearInit {
  identity,  ///< the identity map
  labels,    ///< label coordinates start as ridge-regression read-outs of the training labels (default)
};

/// Name of a linear-layer start ("identity", "labels").
inline const char* to_string(LinearInit i) { return i == LinearInit::identity ? "identity" : "labels"; }

/// Parses a linear-layer start name; a config error lists the valid names.
inline LinearInit parse_linear_init(const std::string& s) {
  if (s == "identity") return LinearInit::identity;
  if (s == "labels") return LinearInit::labels;
  throw ConfigError(fmt::format("linear init: expected 'identity' or 'labels', got '{}'", s));
}

/// How `train_plugin` chooses the number of couplings and the conditioners' width.
enum class FlowSizing {
  fixed,  ///< `PluginTrainOptions::flow` exactly as given
  data,   ///< from the training rows: the largest flow of `flow_size_ladder()` the data supports (default)
};

/// Name of a flow sizing ("fixed", "data").
inline const char* to_string(FlowSizing s) { return s == FlowSizing::fixed ? "fixed" : "data"; }

/// Parses a flow sizing name; a config error lists the valid names.
inline FlowSizing parse_flow_sizing(const std::string& s) {
  if (s == "fixed") return FlowSizing::fixed;
  if (s == "data") return FlowSizing::data;
  throw ConfigError(fmt::format("flow sizing: expected 'fixed' or 'data', got '{}'", s));
}

/// One step of the sizing ladder: couplings and conditioner hidden units.
struct FlowSize {
  /// Number of coupling layers.
  int64_t couplings = 2;
  /// Hidden units of every conditioner layer.
  int64_t hidden = 128;
};

/// The flow sizes `FlowSizing::data` considers, largest first; the last is the floor.
inline const std::vector<FlowSize>& flow_size_ladder() {
  static const std::vector<FlowSize> ladder{{4, 256}, {4, 128}, {2, 128}};
  return ladder;
}

/// Trainable flow parameters per training row that `FlowSizing::data` allows.
/// Measured: 512-d latents, 18,000 training rows (benchmarks/interfacegan): 2 x 128 (26 parameters per row)
/// read held-out attributes at 0.93, 4 x 256 x 3 layers (73 per row) at 0.87 (over-fitted). 64-d VAE latents,
/// 54,000 rows (benchmarks/quality, Fashion-MNIST): 2 x 128 (0.5 per row) reached a conditional class
/// accuracy of 0.70, 4 x 256 (1.9 per row) 0.92 (under-fitted before). Any bound between 1.9 and 36 (4 x 128
/// on the 512-d task) picks the better size on both; 16 leaves a factor of two or more to either end.
inline constexpr double flow_parameters_per_row = 16.0;

/// The flow `FlowSizing::data` trains for `rows` training rows: `flow` (its `dim` set) with the couplings and
/// hidden units of the first step of `flow_size_ladder()` whose trainable parameters (conditioners, LU and
/// monotone layers, as `FlowImpl::parameter_count`) are at most `flow_parameters_per_row * rows`, or of the
/// last step when none is. Everything else in `flow` (layers, activation, LU placement...) is kept.
inline FlowOptions data_flow_size(FlowKind kind, FlowOptions flow, int64_t rows) {
  PLUGEN_CHECK(rows >= 1, ConfigError, "data_flow_size: expected at least one training row, got {}", rows);
  const auto& ladder = flow_size_ladder();
  for (size_t i = 0; i < ladder.size(); ++i) {
    auto candidate = flow;
    candidate.couplings(ladder[i].couplings);
    candidate.conditioner().hidden(ladder[i].hidden);
    const int64_t params = kind == FlowKind::affine ? FlowImpl<AffineCoupling>::parameter_count(candidate)
                                                    : FlowImpl<AdditiveCoupling>::parameter_count(candidate);
    if (i + 1 == ladder.size() || static_cast<double>(params) <= flow_parameters_per_row * static_cast<double>(rows))
      return candidate;
  }
  return flow;  // not reached: the last step is always returned
}

/// Options of `train_plugin`: the flow, the trainer, the prior and the data split.
struct PluginTrainOptions {
  /// Coupling kind (affine = RealNVP, the default; additive = NICE, the official setup).
  TORCH_ARG(FlowKind, flow_kind) = FlowKind::affine;
  /// Whether `flow`'s couplings and hidden units are used as given or chosen from the data (`data_flow_size`).
  /// Setting `flow(...)` switches this to `fixed`: an architecture you set is the one you get (set
  /// `sizing(FlowSizing::data)` afterwards to keep the data sizing of the couplings and hidden units).
  TORCH_ARG(FlowSizing, sizing) = FlowSizing::data;

 public:  // TORCH_ARG leaves the access at private
  /// Sets the flow architecture (its `dim` is taken from the data) and the sizing to `FlowSizing::fixed`.
  PluginTrainOptions& flow(FlowOptions flow) {
    flow_ = std::move(flow);
    sizing_ = FlowSizing::fixed;
    return *this;
  }
  /// The flow architecture. With `FlowSizing::data` (the default) its couplings and hidden units are chosen
  /// from the number of training rows (`data_flow_size`). Defaults: 2-layer conditioners, one LU layer in front
  /// and a monotone step at the end; 2 couplings of 128 units where the data is small for the latent width (the
  /// InterFaceGAN semi-synthetic benchmark, benchmarks/interfacegan: larger flows fitted the 20,000 training
  /// latents better but read held-out attributes worse, 4 x 256 x 3: 0.87; 2 x 128 x 2: 0.93).
  const FlowOptions& flow() const noexcept { return flow_; }
  /// Start of the first linear layer. `labels` fits, on the training split, one ridge-regression direction per
  /// label coordinate on the rows where the attribute is known, so training starts from the linear read-out
  /// (InterFaceGAN benchmark with 80% of labels missing: held-out accuracy 0.798 from the identity start).
  TORCH_ARG(LinearInit, linear_init) = LinearInit::labels;
  /// Trainer options (epochs, batch size, lr, sigma schedule, patience...).
  TORCH_ARG(TrainOptions, train) = {};
  /// Balanced binary sigmas (s+ = sigma*sqrt(2p), s- = sigma*sqrt(2(1-p))).
  TORCH_ARG(bool, balanced) = false;
  /// Fraction of rows held out for validation (early stopping and reported NLL).
  TORCH_ARG(double, val_fraction) = 0.1;
  /// Seed of the split, the initialization and the batch order.
  TORCH_ARG(uint64_t, seed) = 0;
  /// How per-layer latents (N, L, D) are used.
  TORCH_ARG(LatentMode, latent_mode) = LatentMode::shared;
  /// Dtype of the plugin's parameters (float32 or float64).
  TORCH_ARG(torch::Dtype, dtype) = torch::kFloat32;

 private:
  FlowOptions flow_ = FlowOptions()
                          .couplings(2)
                          .conditioner(ConditionerOptions().hidden(128).layers(2))
                          .linear(LinearPlacement::first)
                          .monotone(true);
};

/// Trains a plugin on `data` for the attributes of `schema` (whose statistics are fitted here on the
/// training split). Callbacks are passed to `Trainer::fit`. Deterministic for a given seed and thread
/// count. Numerical failures are reported in `plugin.report()`, never as NaN weights.
template <class... Callbacks>
Plugin train_plugin(const LatentDataset& data, Schema schema, const PluginTrainOptions& options,
                    Callbacks&&... callbacks) {
  data.validate("train_plugin");
  PLUGEN_CHECK(is_supported_float(options.dtype()), ConfigError, "train_plugin: dtype must be float32 or float64");
  schema.check_labels(data.labels, "train_plugin labels");
  auto [train_set, val_set] = data.split(options.val_fraction(), options.seed());
  PLUGEN_CHECK(train_set.rows() >= 2, ShapeError, "train_plugin: need at least 2 training rows, got {}",
               train_set.rows());
  schema.fit(train_set.labels);

  LatentLayout layout;
  layout.dim = data.latents.size(-1);
  layout.layers = data.latents.dim() == 3 ? data.latents.size(1) : 0;
  layout.mode = options.latent_mode();
  auto flatten = [&](const LatentDataset& d) {
    auto w = d.latents.to(options.dtype());
    if (layout.layers == 0) return std::make_pair(w, d.labels);
    if (layout.mode == LatentMode::shared) return std::make_pair(w.select(1, 0).contiguous(), d.labels);
    auto rep = [&](const torch::Tensor& t) { return t.repeat_interleave(layout.layers, 0); };
    return std::make_pair(w.reshape({-1, layout.dim}), Labels{rep(d.labels.values), rep(d.labels.mask)});
  };
  auto [w_train, y_train] = flatten(train_set);
  auto [w_val, y_val] = flatten(val_set);

  auto label_stats = LabelStats::count(schema, train_set.labels);
  auto standardize = fit_standardize(w_train);
  const double std_log_det = -torch::log(standardize->std().to(torch::kFloat64)).sum().template item<double>();
  TrainData train{std::get<0>(standardize->forward(w_train)), y_train};
  TrainData val{w_val.size(0) > 0 ? std::get<0>(standardize->forward(w_val)) : w_val, y_val};

  auto flow_options = options.flow();
  flow_options.dim(layout.dim);
  if (options.sizing() == FlowSizing::data)
    flow_options = data_flow_size(options.flow_kind(), flow_options, w_train.size(0));
  torch::manual_seed(derive_seed(options.seed(), 1));
  auto flow = make_flow(options.flow_kind(), flow_options);
  TargetPrior prior(schema, layout.dim, PriorOptions().sigma(options.train().sigma()).balanced(options.balanced()));
  auto train_options = options.train();
  train_options.seed(derive_seed(options.seed(), 2));
  Trainer trainer(train_options);
  TrainReport report = std::visit(
      [&](auto& f) {
        f->to(options.dtype());
        if (options.linear_init() == LinearInit::labels && !f->linears().empty() && f->linears().front())
          f->linears().front()->set_weight(detail::label_directions(train.u, train.labels, schema));
        return trainer.fit(f, prior, train, val, std_log_det, std::forward<Callbacks>(callbacks)...);
      },
      flow);
  return Plugin(layout, standardize, options.flow_kind(), flow, prior, std::move(label_stats), std::move(report));
}

}  // namespace plugen
