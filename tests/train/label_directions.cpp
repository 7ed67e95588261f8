// Tests of plugen/train/detail/label_directions.hpp: the label-fitted start of the first LU layer.
#include "plugen/train.hpp"
#include "support.hpp"

using namespace plugen;

namespace {

double cosine(const torch::Tensor& a, const torch::Tensor& b) {
  return (torch::dot(a, b) / (a.norm() * b.norm())).item<double>();
}

}  // namespace

TEST_CASE("label directions: label rows read the labels, the rest complete an invertible map", "[label_directions]") {
  auto gen = make_generator(21);
  const int64_t n = 4000, d = 10;
  auto u = torch::randn({n, d}, gen).to(torch::kFloat64);
  auto n0 = torch::randn({d}, gen).to(torch::kFloat64);
  auto values = torch::stack({(torch::matmul(u, n0) > 0).to(torch::kFloat64),  // binary
                              u.narrow(1, 2, 3).argmax(1).to(torch::kFloat64),  // 3 classes
                              u.select(1, 6) * 5 + 1,                           // continuous
                              torch::zeros({n}, torch::kFloat64)},              // never known
                             1);
  auto mask = torch::rand({n, 4}, gen) > 0.5;
  mask.select(1, 3).fill_(false);
  Labels labels{torch::where(mask, values, torch::zeros_like(values)), mask};
  Schema schema({{"b", AttributeKind::binary, {}, 0, {}},
                 {"c", AttributeKind::categorical, {"x", "y", "z"}, 0, {}},
                 {"v", AttributeKind::continuous, {}, 0, {}},
                 {"unknown", AttributeKind::binary, {}, 0, {}}});
  schema.fit(labels);

  auto w = plugen::detail::label_directions(u, labels, schema);
  REQUIRE(w.sizes() == torch::IntArrayRef{d, d});
  CHECK(cosine(w[0], n0) > 0.95);                          // binary: its normal, pointing to the positives
  CHECK(cosine(w[4], torch::eye(d, torch::kFloat64)[6]) > 0.99);  // continuous: its coordinate, increasing
  // The continuous row predicts the normalized label in target units (up to the mean: there is no intercept).
  const auto& v = schema.attributes()[2].stats;
  auto vt = (values.select(1, 2) - v.min) * (2.0 / (v.max - v.min)) - 1;
  auto pred = torch::matmul(u, w[4]);
  CHECK(((pred - pred.mean()) - (vt - vt.mean())).abs().mean().item<double>() < 0.01 * vt.std().item<double>() + 1e-3);
  // The class rows: each points to its own coordinate more than to the others (one-vs-rest read-outs).
  for (int64_t c = 0; c < 3; ++c) {
    auto row = w[1 + c];
    for (int64_t o = 0; o < 3; ++o)
      if (o != c) CHECK(row[2 + c].item<double>() > row[2 + o].item<double>());
  }
  // Invertible and well conditioned, even with a dependent class direction and an attribute never labelled.
  CHECK(torch::linalg_cond(w).item<double>() < 100);
}

TEST_CASE("label directions start the first LU layer of a trained plugin", "[label_directions]") {
  auto gen = make_generator(5);
  auto w = torch::randn({600, 6}, gen);
  auto y = (w.select(1, 3) - w.select(1, 5) > 0).to(torch::kFloat64).unsqueeze(1);
  LatentDataset data{w, Labels{y, torch::ones({600, 1}, torch::kBool)}};
  Schema schema({{"pos", AttributeKind::binary, {}, 0, {}}});
  auto opts = PluginTrainOptions()
                  .sizing(FlowSizing::fixed)
                  .flow(FlowOptions().couplings(2).linear(LinearPlacement::first).conditioner(ConditionerOptions().hidden(8).layers(2)))
                  .train(TrainOptions().epochs(1).batch_size(600).lr(1e-9));  // (almost) the starting point
  auto fitted = train_plugin(data, schema, opts);
  auto plain = train_plugin(data, schema, PluginTrainOptions(opts).linear_init(LinearInit::identity));
  auto truth = torch::tensor({0.0, 0.0, 0.0, 1.0, 0.0, -1.0});
  auto row = [](const Plugin& p) { return std::get<RealNVP>(p.flow())->linears().front()->weight()[0].to(torch::kFloat64); };
  CHECK(cosine(row(fitted), truth.to(torch::kFloat64)) > 0.9);
  CHECK(torch::allclose(row(plain), torch::eye(6, torch::kFloat64)[0], 1e-5, 1e-5));
  CHECK(parse_linear_init("identity") == LinearInit::identity);
  CHECK_THROWS_AS(parse_linear_init("pca"), ConfigError);
}
