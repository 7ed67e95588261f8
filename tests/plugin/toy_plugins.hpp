#pragma once
// Plugins shared by the tests of plugen/plugin: a randomized (untrained) float64 plugin for exact algebraic
// properties, and small plugins trained on an easy synthetic task for statistical ones (trained once per
// process and cached, so the suite stays fast).

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "plugen/plugin.hpp"
#include "plugen/train.hpp"
#include "support.hpp"

namespace plugen_test {

/// Attributes of the toy tasks: Smiling (binary), Glasses (binary), class (coat/shirt/shoe), age (continuous).
/// Label coordinates: Smiling 0, Glasses 1, class 2..4, age 5.
inline plugen::Schema toy_schema() {
  using plugen::Attribute;
  using plugen::AttributeKind;
  return plugen::Schema({Attribute{"Smiling", AttributeKind::binary, {}, 0, {}},
                         Attribute{"Glasses", AttributeKind::binary, {}, 0, {}},
                         Attribute{"class", AttributeKind::categorical, {"coat", "shirt", "shoe"}, 0, {}},
                         Attribute{"age", AttributeKind::continuous, {}, 0, {}}});
}

/// n random labels for `toy_schema` in which (Smiling=0, Glasses=1, class=shoe) never occurs; ages in
/// [20, 60] with both ends present.
inline plugen::Labels toy_labels(int64_t n, uint64_t seed) {
  auto gen = plugen::make_generator(seed);
  auto smiling = (torch::rand({n}, gen, torch::kFloat64) < 0.5).to(torch::kFloat64);
  auto glasses = (torch::rand({n}, gen, torch::kFloat64) < 0.3).to(torch::kFloat64);
  auto cls = torch::randint(0, 3, {n}, gen, torch::kFloat64);
  auto age = 20 + 40 * torch::rand({n}, gen, torch::kFloat64);
  age[0] = 20.0;
  age[1] = 60.0;
  auto absent = (smiling == 0) & (glasses == 1) & (cls == 2);
  glasses = torch::where(absent, torch::zeros_like(glasses), glasses);
  return {torch::stack({smiling, glasses, cls, age}, 1), torch::ones({n, 4}, torch::kBool)};
}

/// A plugin over D = 8 whose flow (affine couplings after an LU layer) is randomized rather than trained, with
/// a non-trivial standardization and a balanced prior (sigma 0.3): every algebraic property of sampling and
/// editing must hold for it exactly (up to float64 rounding).
inline plugen::Plugin random_plugin(torch::Dtype dtype = torch::kFloat64, int64_t layers = 0,
                                    plugen::LatentMode mode = plugen::LatentMode::shared, uint64_t seed = 11) {
  using namespace plugen;
  torch::manual_seed(seed);
  const int64_t dim = 8;
  auto schema = toy_schema();
  auto labels = toy_labels(600, seed);
  schema.fit(labels);
  auto stats = LabelStats::count(schema, labels);
  auto flow = make_flow(FlowKind::affine, FlowOptions(dim)
                                              .couplings(3)
                                              .conditioner(ConditionerOptions().hidden(16).layers(2))
                                              .linear(LinearPlacement::first));
  std::visit(
      [&](auto& f) {
        randomize(*f, 0.3);
        f->to(dtype);
      },
      flow);
  Standardize standardize(torch::randn({dim}, torch::kFloat64).mul(2).to(dtype),
                          (torch::rand({dim}, torch::kFloat64) + 0.5).to(dtype));
  TargetPrior prior(schema, dim, PriorOptions().sigma(0.3).balanced(true));
  LatentLayout layout{dim, layers, mode};
  return Plugin(layout, standardize, FlowKind::affine, flow, prior, stats);
}

/// The synthetic task the trained plugins learn: x ~ N(0, I_8), latents w = 2 x + 0.5 (or, per layer,
/// L rows w_l = 2 x + 0.5 + 0.1 l). With orthonormal directions d0..d5: Smiling = [d0.x > 0],
/// Glasses = [d1.x > 0.5] (about 31% positive), class = argmax(d2.x, d3.x, d4.x), age = 40 + 10 d5.x.
/// Rows with (Smiling=0, Glasses=1, class=shoe) are dropped, so that combination never occurs.
struct ToyTask {
  torch::Tensor directions;  // (6, 8) orthonormal rows

  static ToyTask make() {
    auto gen = plugen::make_generator(2024);
    auto q = std::get<0>(torch::linalg_qr(torch::randn({8, 8}, gen, torch::kFloat64)));
    return {q.t().narrow(0, 0, 6).contiguous()};
  }

  /// Ground-truth labels (values) of latents (N, 8) of the task (first layer of per-layer latents).
  torch::Tensor truth(const torch::Tensor& latents) const {
    auto w = latents.dim() == 3 ? latents.select(1, 0) : latents;
    auto x = (w.to(torch::kFloat64) - 0.5) / 2.0;
    auto p = torch::matmul(x, directions.t());
    auto smiling = (p.select(1, 0) > 0).to(torch::kFloat64);
    auto glasses = (p.select(1, 1) > 0.5).to(torch::kFloat64);
    auto cls = p.narrow(1, 2, 3).argmax(1).to(torch::kFloat64);
    auto age = 40 + 10 * p.select(1, 5);
    return torch::stack({smiling, glasses, cls, age}, 1);
  }

  /// n rows of the task (before dropping the absent combination), per-layer when layers > 0.
  plugen::LatentDataset data(int64_t n, int64_t layers, uint64_t seed) const {
    auto gen = plugen::make_generator(seed);
    auto x = torch::randn({n, 8}, gen, torch::kFloat64);
    auto w = 2 * x + 0.5;
    auto y = truth(w);
    auto keep = ~((y.select(1, 0) == 0) & (y.select(1, 1) == 1) & (y.select(1, 2) == 2));
    auto index = keep.nonzero().squeeze(1);
    w = w.index_select(0, index);
    y = y.index_select(0, index);
    if (layers > 0) {
      auto offsets = 0.1 * torch::arange(layers, torch::kFloat64).view({1, layers, 1});
      w = w.unsqueeze(1) + offsets;
    }
    return {w.to(torch::kFloat32), {y, torch::ones(y.sizes(), torch::kBool)}};
  }
};

/// A plugin trained on 2,400 rows of `ToyTask` (float32, 4 affine couplings after an LU layer, 30 epochs;
/// about a second with one thread). Trained once per process.
inline const plugen::Plugin& trained_toy_plugin() {
  static const plugen::Plugin plugin = [] {
    using namespace plugen;
    auto data = ToyTask::make().data(2400, 0, 7);
    auto options =
        PluginTrainOptions()
            .sizing(FlowSizing::fixed)
            .flow(FlowOptions()
                      .couplings(4)
                      .conditioner(ConditionerOptions().hidden(32).layers(2))
                      .linear(LinearPlacement::first))
            .train(TrainOptions().epochs(30).batch_size(200).lr(5e-3).sigma(0.4).sigma_decay(0.95).min_sigma(0.05))
            .seed(3);
    return train_plugin(data, toy_schema(), options);
  }();
  return plugin;
}

/// A tiny plugin trained for two epochs on per-layer (N, 3, 8) latents of `ToyTask`, in `mode`; cached per mode.
inline const plugen::Plugin& per_layer_toy_plugin(plugen::LatentMode mode) {
  auto train = [](plugen::LatentMode m) {
    using namespace plugen;
    auto data = ToyTask::make().data(400, 3, 8);
    auto options = PluginTrainOptions()
                       .sizing(FlowSizing::fixed)
                       .flow(FlowOptions().couplings(2).conditioner(ConditionerOptions().hidden(16).layers(2)))
                       .train(TrainOptions().epochs(2).batch_size(100))
                       .latent_mode(m)
                       .seed(4);
    return std::make_unique<Plugin>(train_plugin(data, toy_schema(), options));
  };
  static const auto shared = train(plugen::LatentMode::shared);
  static const auto per_layer = train(plugen::LatentMode::per_layer);
  return mode == plugen::LatentMode::shared ? *shared : *per_layer;
}

}  // namespace plugen_test
