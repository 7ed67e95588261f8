// Tests of plugen/baseline/linear.hpp: exact fits (first-order optimality, closed form), edits along the
// normals onto the targets, seeded conditional sampling, missing labels, and the file round trip.
#include "plugen/baseline.hpp"
#include "support.hpp"

using namespace plugen;
using plugen_test::error_message;

namespace {

/// Smiling (binary), class (3 classes), age (continuous).
Schema linear_schema() {
  return Schema({Attribute{"Smiling", AttributeKind::binary, {}, 0, {}},
                 Attribute{"class", AttributeKind::categorical, {"coat", "shirt", "shoe"}, 0, {}},
                 Attribute{"age", AttributeKind::continuous, {}, 0, {}}});
}

/// Latents with per-dimension means and scales, and labels linear in the standardized latents: Smiling from
/// a noisy logistic model, class the argmax of three linear functions, age = 40 + 10 n . x + small noise.
struct LinearTask {
  torch::Tensor w, x;
  Labels labels;
};

LinearTask linear_task(int64_t n, int64_t d, uint64_t seed) {
  auto gen = make_generator(seed);
  auto x = torch::randn({n, d}, gen, torch::kFloat64);
  auto offsets = torch::linspace(-3, 3, d, torch::kFloat64);
  auto scales = torch::linspace(0.5, 4, d, torch::kFloat64);
  auto w = (x * scales + offsets).to(torch::kFloat32);
  auto logit = 3.0 * (x.select(1, 0) - 0.5 * x.select(1, 1));
  auto smiling = (torch::rand({n}, gen, torch::kFloat64) < torch::sigmoid(logit)).to(torch::kFloat64);
  auto cls = torch::stack({x.select(1, 2), x.select(1, 3), -x.select(1, 2) - x.select(1, 3)}, 1).argmax(1).to(
      torch::kFloat64);
  auto age = 40 + 10 * (x.select(1, 4) + 0.3 * x.select(1, 0)) + 0.5 * torch::randn({n}, gen, torch::kFloat64);
  return {w, x, Labels{torch::stack({smiling, cls, age}, 1), torch::ones({n, 3}, torch::kBool)}};
}

const LinearDirections& fitted() {
  static const LinearDirections lin = [] {
    auto task = linear_task(4000, 8, 3);
    return LinearDirections::fit(linear_schema(), task.w, task.labels);
  }();
  return lin;
}

torch::Tensor standardized(const LinearDirections& lin, const torch::Tensor& w) {
  return (w.to(torch::kFloat64) - lin.mean()) / lin.std();
}

}  // namespace

TEST_CASE("logistic models satisfy first-order optimality of the penalized loss", "[baseline][linear]") {
  auto task = linear_task(4000, 8, 3);
  const auto& lin = fitted();
  const double l2 = LinearOptions().l2();
  auto u = standardized(lin, task.w);
  for (const auto& row : lin.report().rows) CHECK(row.converged);
  auto check_row = [&](int64_t r, const torch::Tensor& y) {
    auto a = lin.weight()[r].clone().requires_grad_(true);
    auto b = lin.bias()[r].clone().requires_grad_(true);
    auto s = u.matmul(a) + b;
    auto loss = (torch::softplus(s) - y * s).mean() + 0.5 * l2 * a.pow(2).sum();
    loss.backward();
    // Newton stops below 1e-9; the autograd gradient of the same objective must agree to rounding.
    CHECK(a.grad().abs().max().item<double>() < 1e-7);
    CHECK(std::abs(b.grad().item<double>()) < 1e-7);
  };
  auto y = task.labels.values;
  check_row(0, y.select(1, 0));
  for (int64_t c = 0; c < 3; ++c) check_row(1 + c, (y.select(1, 1) == c).to(torch::kFloat64));
  // The Smiling normal recovers the generating direction (1, -0.5, 0, ...) in standardized space up to scale;
  // 4000 rows give a cosine well above 0.98.
  auto truth = torch::zeros({8}, torch::kFloat64);
  truth[0] = 1.0;
  truth[1] = -0.5;
  auto a = lin.weight()[0];
  CHECK((a.dot(truth) / (a.norm() * truth.norm())).item<double>() > 0.98);
  // Typical scores lie on their sides of the boundary.
  for (int64_t r = 0; r < 4; ++r) {
    CHECK(lin.target_pos()[r].item<double>() > 0);
    CHECK(lin.target_neg()[r].item<double>() < 0);
  }
}

TEST_CASE("continuous attributes are the ridge least-squares solution on the normalized label", "[baseline][linear]") {
  auto task = linear_task(3000, 6, 5);
  const double l2 = 1e-2;
  auto lin = LinearDirections::fit(linear_schema(), task.w, task.labels, LinearOptions().l2(l2));
  const auto& age = lin.schema()[2];
  auto u = standardized(lin, task.w);
  auto y = task.labels.values.select(1, 2);
  auto t = (y - age.stats.min) * (2.0 / (age.stats.max - age.stats.min)) - 1.0;
  // Closed form with centred data: a = (U^T U / n + l2 I)^-1 U^T (t - mean t) / n (U is centred by construction).
  const double n = 3000;
  auto a = torch::linalg_solve(u.t().matmul(u) / n + l2 * torch::eye(6, torch::kFloat64),
                               u.t().matmul(t - t.mean()) / n, /*left=*/true);
  CHECK(torch::allclose(lin.weight()[age.offset], a, 1e-9, 1e-9));
  CHECK(std::abs(lin.bias()[age.offset].item<double>() - t.mean().item<double>()) < 1e-9);
  CHECK(lin.report().rows.back().fit_quality > 0.99);  // R^2: noise 0.5 against a spread of ~10
  // The readout is the prediction in label units.
  auto read = lin.attributes(task.w);
  CHECK((read[2].value - y).abs().mean().item<double>() < 0.6);
}

TEST_CASE("a binary or continuous edit moves along the unit normal onto its target", "[baseline][linear]") {
  const auto& lin = fitted();
  auto w = linear_task(50, 8, 11).w;
  auto u = standardized(lin, w);
  for (int64_t value : {0, 1}) {
    auto edited = lin.edit(w, Edits().set("Smiling", value));
    REQUIRE(edited.sizes() == w.sizes());
    CHECK(edited.scalar_type() == torch::kFloat32);
    auto e64 = lin.edit(w.to(torch::kFloat64), Edits().set("Smiling", value));
    auto du = standardized(lin, e64) - u;
    auto a = lin.weight()[0];
    // The move is parallel to a: its component orthogonal to a vanishes.
    auto along = du.matmul(a) / a.dot(a);
    CHECK((du - along.unsqueeze(1) * a).abs().max().item<double>() < 1e-9);
    auto target = (value ? lin.target_pos() : lin.target_neg())[0].item<double>();
    CHECK((lin.scores(e64).select(1, 0) - target).abs().max().item<double>() < 1e-9);
  }
  // Continuous: the predicted age becomes the requested value; shifting by 1 coordinate unit changes the
  // normalized score by exactly 1 (half the training range in years).
  auto aged = lin.edit(w.to(torch::kFloat64), Edits().set("age", 47.5));
  CHECK((lin.attributes(aged)[2].value - 47.5).abs().max().item<double>() < 1e-8);
  auto shifted = lin.edit(w.to(torch::kFloat64), Edits().shift("age", 1.0));
  const auto& age = lin.schema()[2];
  auto before = lin.attributes(w.to(torch::kFloat64))[2].value, after = lin.attributes(shifted)[2].value;
  CHECK(torch::allclose(after - before, torch::full_like(before, 0.5 * (age.stats.max - age.stats.min)), 1e-8, 1e-8));
  // Binary shift +2 takes a typical 0 to a typical 1.
  auto zero = lin.edit(w.to(torch::kFloat64), Edits().set("Smiling", 0));
  auto one = lin.edit(zero, Edits().shift("Smiling", 2.0));
  CHECK((lin.scores(one).select(1, 0) - lin.target_pos()[0]).abs().max().item<double>() < 1e-8);
}

TEST_CASE("setting a class puts every one-vs-rest score on its target and the class wins", "[baseline][linear]") {
  const auto& lin = fitted();
  auto w = linear_task(200, 8, 12).w.to(torch::kFloat64);
  for (int64_t k = 0; k < 3; ++k) {
    auto edited = lin.edit(w, Edits().set("class", lin.schema()[1].classes[k]).set("Smiling", 1));
    auto s = lin.scores(edited);
    for (int64_t c = 0; c < 3; ++c) {
      const double t = (c == k ? lin.target_pos() : lin.target_neg())[1 + c].item<double>();
      CHECK((s.select(1, 1 + c) - t).abs().max().item<double>() < 1e-8);
    }
    auto read = lin.attributes(edited);
    CHECK((read[1].value == k).all().item<bool>());
    CHECK((read[0].value == 1).all().item<bool>());
    CHECK(torch::allclose(read[1].probability.sum(1), torch::ones({200}, torch::kFloat64)));
  }
  CHECK_THAT(error_message<ConfigError>([&] { lin.edit(w, Edits().shift("class", 1.0)); }),
             Catch::Contains("cannot shift categorical attribute 'class'"));
  CHECK_THAT(error_message<ConfigError>([&] { lin.edit(w, Edits().set("Glasses", 1)); }),
             Catch::Contains("unknown attribute 'Glasses'"));
  CHECK_THAT(error_message<ShapeError>([&] { lin.edit(w.narrow(1, 0, 7), Edits().set("Smiling", 1)); }),
             Catch::Contains("expected latents of shape (N, 8)"));
}

TEST_CASE("conditional samples reach the requested values and are seeded per sample", "[baseline][linear]") {
  const auto& lin = fitted();
  Conditions c{{"Smiling", 0}, {"class", "shoe"}, {"age", 30}};
  auto w = lin.sample(c, 300, 7);
  REQUIRE(w.sizes() == torch::IntArrayRef({300, 8}));
  CHECK(w.scalar_type() == torch::kFloat32);
  auto read = lin.attributes(w);
  CHECK((read[0].value == 0).all().item<bool>());
  CHECK((read[1].value == 2).all().item<bool>());
  CHECK((read[2].value - 30).abs().max().item<double>() < 1e-3);  // float32 latents
  // Sample i depends only on (seed, i).
  CHECK(torch::equal(lin.sample(c, 5, 7, LinearSampleOptions().first_index(100)), w.narrow(0, 100, 5)));
  CHECK(!torch::equal(lin.sample(c, 5, 8), w.narrow(0, 0, 5)));
  // A label temperature spreads the requested scores: sd tau_c coordinate units around the target.
  auto spread = lin.sample(Conditions{{"age", 40}}, 2000, 7, LinearSampleOptions().label_temperature(0.2));
  const auto& age = lin.schema()[2];
  auto normalized = (lin.attributes(spread)[2].value - age.stats.min) * (2.0 / (age.stats.max - age.stats.min)) - 1;
  // 2000 draws: the sd estimate has a relative sd of ~1.6%; 10% is a safe band.
  CHECK(std::abs(normalized.std().item<double>() - 0.2) < 0.02);
  // Without conditions, draws follow the Gaussian fitted to the training latents (mean and sd per dimension;
  // 4000 draws put the mean within 0.1 sd and the sd within 10% with a wide margin).
  auto free = lin.sample({}, 4000, 3).to(torch::kFloat64);
  CHECK(((free.mean(0) - lin.mean()) / lin.std()).abs().max().item<double>() < 0.1);
  CHECK((free.std(0) / lin.std() - 1).abs().max().item<double>() < 0.1);
  CHECK(lin.sample(c, 0, 1).size(0) == 0);
}

TEST_CASE("missing labels: each model uses the rows whose label is known", "[baseline][linear]") {
  auto task = linear_task(2000, 8, 21);
  auto known = task.labels.mask.clone();
  known.narrow(0, 0, 1500).select(1, 0).fill_(false);  // Smiling known on the last 500 rows only
  auto lin = LinearDirections::fit(linear_schema(), task.w, Labels{task.labels.values, known});
  auto only = LinearDirections::fit(
      Schema({linear_schema()[0]}), task.w.narrow(0, 1500, 500),
      Labels{task.labels.values.narrow(0, 1500, 500).narrow(1, 0, 1), torch::ones({500, 1}, torch::kBool)});
  CHECK(lin.report().rows.front().rows == 500);
  CHECK(lin.schema()[0].stats.known == 500);
  // Same rows, same loss: the same optimum, up to the different standardization (fitted on all 2000 rows).
  auto read = lin.attributes(task.w).front().value, read_only = only.attributes(task.w).front().value;
  CHECK((read != read_only).to(torch::kFloat64).mean().item<double>() < 0.02);

  auto none = task.labels.mask.clone();
  none.select(1, 2).fill_(false);
  CHECK_THAT(error_message<ConfigError>([&] { LinearDirections::fit(linear_schema(), task.w, Labels{task.labels.values, none}); }),
             Catch::Contains("'age' has no known label"));
  auto one_sided = task.labels.values.clone();
  one_sided.select(1, 0).fill_(1.0);
  CHECK_THAT(error_message<ConfigError>(
                 [&] { LinearDirections::fit(linear_schema(), task.w, Labels{one_sided, task.labels.mask}); }),
             Catch::Contains("'Smiling': the known labels are all equal to value '1'"));
  CHECK_THAT(error_message<ShapeError>([&] { LinearDirections::fit(linear_schema(), task.w.unsqueeze(1), task.labels); }),
             Catch::Contains("expected latents of shape (N, D)"));
}

TEST_CASE("linear-direction files round-trip exactly and reject other files", "[baseline][linear]") {
  plugen_test::TempDir dir("linear");
  const auto& lin = fitted();
  save_linear(dir / "lin.safetensors", lin);
  CHECK(dir.entries() == std::vector<std::string>{"lin.safetensors"});
  auto back = load_linear(dir / "lin.safetensors");
  CHECK(back.schema().to_json() == lin.schema().to_json());
  CHECK(back.dtype() == lin.dtype());
  for (auto [a, b] : {std::pair{back.weight(), lin.weight()}, {back.bias(), lin.bias()}, {back.mean(), lin.mean()},
                      {back.std(), lin.std()}, {back.target_pos(), lin.target_pos()}, {back.target_neg(), lin.target_neg()}})
    CHECK(torch::equal(a, b));
  CHECK(back.report().rows.size() == lin.report().rows.size());
  Conditions c{{"class", "coat"}};
  CHECK(torch::equal(back.sample(c, 20, 4), lin.sample(c, 20, 4)));

  write_safetensors(dir / "other.safetensors", {{"mean", torch::zeros({2}, torch::kFloat64)}}, {{"format", "plugen.plugin"}});
  CHECK_THAT(error_message<IoError>([&] { load_linear(dir / "other.safetensors"); }),
             Catch::Contains("other.safetensors: not a plugen linear-direction file"));
  auto file = read_safetensors(dir / "lin.safetensors");
  file.tensors["weight"] = file.tensors["weight"].narrow(1, 0, 7).contiguous();
  write_safetensors(dir / "short.safetensors", file);
  CHECK_THAT(error_message<IoError>([&] { load_linear(dir / "short.safetensors"); }),
             Catch::Contains("short.safetensors: LinearDirections: expected weights of shape (5, 8)"));
}
