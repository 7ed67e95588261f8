#pragma once
/// @file
/// `train_plugin`: the whole PluGeN training recipe, from a labelled latent dataset to a `Plugin`.

#include <torch/torch.h>

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

/// Options of `train_plugin`: the flow, the trainer, the prior and the data split.
struct PluginTrainOptions {
  /// Coupling kind (affine = RealNVP, the default; additive = NICE, the official setup).
  TORCH_ARG(FlowKind, flow_kind) = FlowKind::affine;
  /// Flow architecture; its `dim` is taken from the data. Defaults chosen on the InterFaceGAN semi-synthetic
  /// benchmark (benchmarks/interfacegan): 2 couplings with 2-layer, 128-unit conditioners, one LU layer in
  /// front and a monotone step at the end. Larger flows fitted the 20,000 training latents better but read
  /// held-out attributes worse (4 x 256 x 3: 0.87; 2 x 128 x 2: 0.93).
  TORCH_ARG(FlowOptions, flow) = FlowOptions()
                                     .couplings(2)
                                     .conditioner(ConditionerOptions().hidden(128).layers(2))
                                     .linear(LinearPlacement::first)
                                     .monotone(true);
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
