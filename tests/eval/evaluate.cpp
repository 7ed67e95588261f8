// Tests of plugen/eval/evaluate.hpp: sweeps, and the evaluations of a trained toy plugin through an identity
// "backbone" judged by an exact TorchScript scorer of the toy task's ground truth. The reported figures are
// checked against the same figures computed directly from the task's truth.
#include <torch/script.h>
// LibTorch (and the glog CHECK it defines) before Catch, whose CHECK must win in the unity build.
#include "plugen/eval/evaluate.hpp"
#include <catch2/catch.hpp>

#include "plugen/baseline/linear.hpp"

#include <cmath>
#include <string>

#include "backbone/fixtures.hpp"
#include "plugin/toy_plugins.hpp"
#include "support.hpp"

using namespace plugen;
namespace fx = plugen_backbone_fixtures;

namespace {

// The latents are the outputs: a backbone whose decode is the identity on (N, 8) float32.
struct IdentityBackbone {
  std::vector<int64_t> latent_shape() const { return {8}; }
  std::vector<int64_t> output_shape() const { return {8}; }
  torch::Tensor decode(const torch::Tensor& w) const { return w.to(torch::kFloat32); }
  torch::Device device() const { return torch::kCPU; }
  int64_t decode_batch() const { return 128; }
};

// Scores the toy task's ground truth exactly (see plugen_test::ToyTask::truth): Smiling and Glasses logits,
// the three class scores, and age.
Scorer toy_judge() {
  const auto task = plugen_test::ToyTask::make();
  torch::jit::Module m("ToyJudge");
  m.register_buffer("d", task.directions.to(torch::kFloat32));
  m.register_attribute("input_shape", c10::ListType::ofInts(), c10::List<int64_t>({8}));
  m.register_attribute(score_attributes_name, c10::StringType::get(),
                       std::string(R"([{"name": "Smiling", "kind": "binary", "columns": [0]},
                                       {"name": "Glasses", "kind": "binary", "columns": [1]},
                                       {"name": "class", "kind": "categorical", "columns": [2, 3, 4],
                                        "classes": ["coat", "shirt", "shoe"]},
                                       {"name": "age", "kind": "continuous", "columns": [5]}])"));
  m.define(R"JIT(
def forward(self, w):
    p = torch.matmul((w - 0.5) / 2.0, self.d.t())
    return torch.stack([p[:, 0], p[:, 1] - 0.5, p[:, 2], p[:, 3], p[:, 4], 40.0 + 10.0 * p[:, 5]], 1)
)JIT");
  Scorer s;
  s.add(load_scorer(fx::save(m, "toy_judge.pt")));
  return s;
}

// A 2-d "image" is its own latent: a backbone whose decode is the identity on (N, 2) float32.
struct IdentityBackbone2 {
  std::vector<int64_t> latent_shape() const { return {2}; }
  std::vector<int64_t> output_shape() const { return {2}; }
  torch::Tensor decode(const torch::Tensor& w) const { return w.to(torch::kFloat32); }
  torch::Device device() const { return torch::kCPU; }
  int64_t decode_batch() const { return 3; }  // several decode batches even for a handful of latents
};

// Reads Smiling = [x0 > 0] and Glasses = [x1 > 0] off a 2-d output.
Scorer quadrant_judge() {
  torch::jit::Module m("QuadrantJudge");
  m.register_attribute("input_shape", c10::ListType::ofInts(), c10::List<int64_t>({2}));
  m.register_attribute(score_attributes_name, c10::StringType::get(),
                       std::string(R"([{"name": "Smiling", "kind": "binary", "columns": [0]},
                                       {"name": "Glasses", "kind": "binary", "columns": [1]}])"));
  m.define(R"JIT(
def forward(self, w):
    return w * 1.0
)JIT");
  Scorer s;
  s.add(load_scorer(fx::save(m, "quadrant_judge.pt")));
  return s;
}

// Hand-built linear directions over 2-d latents (mean 0, sd 1): one binary attribute Smiling with score
// s = a . w, typical scores +2 (Smiling) and -2 (not).
LinearDirections hand_directions(double a0, double a1) {
  Schema schema({Attribute{"Smiling", AttributeKind::binary, {}, 0, {}}});
  schema.fit(Labels{torch::tensor({0.0, 1.0}, torch::kFloat64).unsqueeze(1), torch::ones({2, 1}, torch::kBool)});
  return LinearDirections(schema, torch::zeros({2}, torch::kFloat64), torch::ones({2}, torch::kFloat64),
                          torch::tensor({{a0, a1}}, torch::kFloat64), torch::zeros({1}, torch::kFloat64),
                          torch::tensor({2.0}, torch::kFloat64), torch::tensor({-2.0}, torch::kFloat64));
}

}  // namespace

TEST_CASE("sweeps visit every value, crossed in order", "[eval][evaluate]") {
  const auto& schema = plugen_test::trained_toy_plugin().schema();
  auto classes = sweep(schema, {"class"});
  REQUIRE(classes.size() == 3);
  CHECK(classes[2].to_string() == "class=shoe");
  auto crossed = sweep(schema, {"Smiling", "class"});
  REQUIRE(crossed.size() == 6);
  CHECK(crossed[0].to_string() == "Smiling=0, class=coat");
  CHECK(crossed[5].to_string() == "Smiling=1, class=shoe");
  // Ages: mean +- 1.5 sd of the training labels, within the training range, increasing.
  const auto& age = schema[schema.index_of("age")];
  auto levels = sweep_values(age, SweepOptions().levels(4));
  REQUIRE(levels.size() == 4);
  for (size_t i = 0; i < levels.size(); ++i) {
    CHECK(levels[i].number() >= age.stats.min);
    CHECK(levels[i].number() <= age.stats.max);
    if (i) CHECK(levels[i].number() > levels[i - 1].number());
  }
  CHECK((levels[0].number() + levels[3].number()) / 2 == Approx(age.denormalize(age.stats.normalized_mean)));
  CHECK_THROWS_AS(sweep(schema, {"nose"}), ConfigError);
  CHECK_THROWS_AS(sweep(schema, {"class", "class"}), ConfigError);
  CHECK_THROWS_AS(sweep(schema, {}), ConfigError);
  auto labels = condition_labels(schema, Conditions{{"class", "shirt"}, {"age", 33}}, 2);
  CHECK(labels.mask[0].equal(torch::tensor({false, false, true, true})));
  CHECK(labels.values[1][2].item<double>() == 1.0);
  CHECK(labels.values[1][3].item<double>() == 33.0);
}

TEST_CASE("evaluate_conditional reports what the samples' ground truth says", "[eval][evaluate]") {
  const auto& plugin = plugen_test::trained_toy_plugin();
  const auto task = plugen_test::ToyTask::make();
  const auto judge = toy_judge();
  const std::vector<Conditions> requests{{{"class", "coat"}}, {{"class", "shoe"}, {"Smiling", 1}}, {{"age", 30}},
                                         {{"age", 50}}};
  auto options = EvalOptions().n(300).seed(5).diversity_samples(50);
  auto report = evaluate_conditional(plugin, IdentityBackbone(), judge, requests, options);
  REQUIRE(report.requests.size() == 4);

  // Recompute request 1 directly: same seed, ground truth of the task.
  auto w = plugin.sample(requests[1], 300, derive_seed(5, 1));
  auto truth = task.truth(w);
  const double class_ok = (truth.select(1, 2) == 2).to(torch::kFloat64).mean().item<double>();
  const double joint = ((truth.select(1, 2) == 2) & (truth.select(1, 0) == 1)).to(torch::kFloat64).mean().item<double>();
  const auto& r1 = report.requests[1];
  CHECK(r1.request == "class=shoe, Smiling=1");
  CHECK(r1.n == 300);
  REQUIRE(r1.attributes.size() == 2);  // in schema order: Smiling, class
  CHECK(r1.attributes[1].name == "class");
  CHECK(*r1.attributes[1].accuracy == Approx(class_ok));
  CHECK(r1.joint_accuracy == Approx(joint));
  CHECK(r1.diversity == Approx(mean_pairwise_distance(w.narrow(0, 0, 50))));
  // The toy plugin meets >= 98% of discrete requests (tests/plugin/sample.cpp); 0.9 leaves a wide margin.
  CHECK(joint > 0.9);

  // Pooled: class over requests 0 and 1 (600 samples); age over requests 2 and 3. With two requested ages 20
  // years apart and a spread s of the true ages within a request, r = 10 / sqrt(100 + s^2) (about 0.79 here,
  // s ~ 8 years): r > 0.6 holds while s < 13 years, a third of the 40-year range; a plugin that ignored the
  // request would give r ~ 0.
  const auto* cls = report.attribute("class");
  REQUIRE(cls != nullptr);
  CHECK(cls->count == 600);
  const auto* age = report.attribute("age");
  REQUIRE(age != nullptr);
  CHECK(age->count == 600);
  auto w2 = plugin.sample(requests[2], 300, derive_seed(5, 2)), w3 = plugin.sample(requests[3], 300, derive_seed(5, 3));
  auto measured = torch::cat({task.truth(w2).select(1, 3), task.truth(w3).select(1, 3)});
  auto requested = torch::cat({torch::full({300}, 30.0, torch::kFloat64), torch::full({300}, 50.0, torch::kFloat64)});
  CHECK(*age->pearson_r == Approx(pearson_r(requested, measured)).epsilon(1e-5));
  CHECK(*age->mae == Approx(mean_absolute_error(requested, measured)).epsilon(1e-5));
  CHECK(*age->pearson_r > 0.6);
  REQUIRE(age->calibration.size() == 2);
  CHECK(age->calibration[0].requested_mean == Approx(30.0));
  CHECK(report.attribute("Glasses") == nullptr);  // never requested

  nlohmann::json j = report;
  CHECK(j["requests"].size() == 4);
  CHECK(j["attributes"].size() == 3);

  CHECK_THROWS_AS(evaluate_conditional(plugin, IdentityBackbone(), judge, {}, options), ConfigError);
  CHECK_THROWS_AS(evaluate_conditional(plugin, IdentityBackbone(), judge, requests, EvalOptions().n(0)), ConfigError);
  CHECK_THROWS_AS(evaluate_conditional(plugin, IdentityBackbone(), judge, {{{"nose", 1}}}, options), ConfigError);
}

TEST_CASE("evaluate_edits measures success, side effects and preservation", "[eval][evaluate]") {
  const auto& plugin = plugen_test::trained_toy_plugin();
  const auto task = plugen_test::ToyTask::make();
  const auto judge = toy_judge();
  auto held_out = task.data(400, 0, 99).latents;
  const std::vector<Conditions> edits{{{"Smiling", 1}}, {{"class", "coat"}}};
  auto report = evaluate_edits(plugin, IdentityBackbone(), judge, held_out, edits);
  REQUIRE(report.edits.size() == 2);

  // Direct recomputation for the Smiling edit.
  auto before = task.truth(held_out);
  auto after = task.truth(plugin.edit(held_out, Edits(edits[0])));
  auto eligible = before.select(1, 0) != 1;
  const auto& e0 = report.edits[0];
  CHECK(e0.n == held_out.size(0));
  CHECK(e0.eligible == eligible.sum().item<int64_t>());
  CHECK(e0.success == Approx((after.select(1, 0) == 1).masked_select(eligible).to(torch::kFloat64).mean().item<double>()));
  CHECK(e0.success > 0.9);
  REQUIRE(e0.side_effects.size() == 3);  // Glasses, class, age
  CHECK(e0.side_effects[1].name == "class");
  CHECK(e0.side_effects[1].change ==
        Approx((after.select(1, 2) != before.select(1, 2)).to(torch::kFloat64).mean().item<double>()));
  CHECK(e0.side_effects[2].change ==
        Approx((after.select(1, 3) - before.select(1, 3)).abs().mean().item<double>()).epsilon(1e-4));
  CHECK(e0.preservation ==
        Approx(mean_pixel_distance(held_out, plugin.edit(held_out, Edits(edits[0])).to(torch::kFloat32))).epsilon(1e-5));
  CHECK(e0.preservation > 0.0);
  CHECK(report.success == Approx((report.edits[0].success + report.edits[1].success) / 2));
  REQUIRE(report.side_effects.size() == 4);  // each scored attribute some edit did not target
  nlohmann::json j = report;
  CHECK(j["edits"][1]["edit"] == "class=coat");

  CHECK_THROWS_AS(evaluate_edits(plugin, IdentityBackbone(), judge, held_out, {}), ConfigError);
  CHECK_THROWS_AS(evaluate_edits(plugin, IdentityBackbone(), judge, held_out, {{{"class", "hat"}}}), ConfigError);
}

TEST_CASE("round trip, held-out NLL and scores of decoded latents", "[eval][evaluate]") {
  const auto& plugin = plugen_test::trained_toy_plugin();
  const auto task = plugen_test::ToyTask::make();
  auto held_out = task.data(300, 0, 11);
  auto rt = roundtrip_error(plugin, held_out.latents);
  CHECK(rt.max_abs < 1e-3);  // float32 flow: rounding only
  CHECK(rt.mean_abs <= rt.max_abs);
  CHECK(nll_per_dim(plugin, held_out.latents) ==
        Approx(-plugin.log_prob(held_out.latents).to(torch::kFloat64).mean().item<double>() / 8));
  CHECK_THROWS_AS(roundtrip_error(plugin, torch::zeros({3, 5})), ShapeError);

  // The judge's scores of decoded (identity) latents are the task's labels.
  auto scored = score_latents(IdentityBackbone(), toy_judge(), held_out.latents, 64);
  auto aligned = align_labels(toy_judge().schema(), scored, plugin.schema(), "test");
  auto scores = compare_labels(plugin.schema(), held_out.labels, aligned);
  REQUIRE(scores.size() == 4);
  CHECK(*scores[0].accuracy == 1.0);
  CHECK(*scores[2].accuracy == 1.0);
  CHECK(*scores[3].mae < 1e-4);
}

TEST_CASE("the linear baseline is measured by the same evaluations, with hand-computed answers", "[eval][evaluate]") {
  const auto judge = quadrant_judge();
  // Normal along x0: a sample asked to smile lands on x0 = 2 exactly (label temperature 0), x1 untouched.
  const auto straight = hand_directions(1.0, 0.0);
  auto report = evaluate_conditional(straight, IdentityBackbone2(), judge, {{{"Smiling", 1}}, {{"Smiling", 0}}},
                                     EvalOptions().n(40).seed(3).diversity_samples(10));
  REQUIRE(report.requests.size() == 2);
  CHECK(report.requests[0].joint_accuracy == 1.0);
  CHECK(report.requests[1].joint_accuracy == 1.0);
  REQUIRE(report.attribute("Smiling") != nullptr);
  CHECK(*report.attribute("Smiling")->accuracy == 1.0);
  CHECK(report.attribute("Glasses") == nullptr);  // the baseline does not model it: nothing requested
  // Diversity: x0 is the same in every sample, so it is the mean |x1_i - x1_j| / 2 of the draws.
  auto w = straight.sample(Conditions{{"Smiling", 1}}, 10, derive_seed(3, 0), SampleOptions());
  CHECK((w.select(1, 0) - 2.0).abs().max().item<double>() < 1e-6);
  CHECK(report.requests[0].diversity == Approx(mean_pairwise_distance(w)));

  // Normal along (1, 1): setting Smiling = 0 moves each latent by (-2 - s) / 2 in both coordinates.
  //   latent      s     after            Smiling read   Glasses read
  //   (1, 0.5)    1.5   (-0.75, -1.25)   1 -> 0 (hit)   1 -> 0 (changed)
  //   (-1, 0.5)  -0.5   (-1.75, -0.25)   0 -> 0 (not eligible)  1 -> 0 (changed)
  //   (2, -0.5)   1.5   (0.25, -2.25)    1 -> 1 (miss)  0 -> 0
  //   (0.5, -3)  -2.5   (0.75, -2.75)    1 -> 1 (miss)  0 -> 0
  const auto tilted = hand_directions(1.0, 1.0);
  auto held_out = torch::tensor({{1.0, 0.5}, {-1.0, 0.5}, {2.0, -0.5}, {0.5, -3.0}}, torch::kFloat32);
  auto edits = evaluate_edits(tilted, IdentityBackbone2(), judge, held_out, {{{"Smiling", 0}}});
  REQUIRE(edits.edits.size() == 1);
  const auto& e = edits.edits[0];
  CHECK(e.n == 4);
  CHECK(e.eligible == 3);
  CHECK(e.success == Approx(1.0 / 3.0));
  REQUIRE(e.side_effects.size() == 1);
  CHECK(e.side_effects[0].name == "Glasses");
  CHECK(e.side_effects[0].change == Approx(0.5));
  // Mean |pixel change|: both coordinates move by |(-2 - s) / 2| = 1.75, 0.75, 1.75, 0.25.
  CHECK(e.preservation == Approx(1.125).epsilon(1e-6));
  // The straight normal leaves Glasses alone and reaches every target.
  auto clean = evaluate_edits(straight, IdentityBackbone2(), judge, held_out, {{{"Smiling", 0}}});
  CHECK(clean.edits[0].success == 1.0);
  CHECK(clean.side_effects[0].change == 0.0);
}
