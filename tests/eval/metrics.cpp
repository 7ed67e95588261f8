// Tests of plugen/eval/metrics.hpp: the evaluation arithmetic on small inputs with known answers.
// LibTorch (and the glog CHECK it defines) before Catch, whose CHECK must win in the unity build.
#include "plugen/eval/metrics.hpp"
#include <catch2/catch.hpp>

#include <cmath>

#include "support.hpp"

using namespace plugen;

namespace {

torch::Tensor vec(std::vector<double> v) { return torch::tensor(v, torch::kFloat64); }

// class (a, b, c) and a continuous "size" fitted on [0, 10].
Schema class_size_schema() {
  Attribute cls{"class", AttributeKind::categorical, {"a", "b", "c"}, 0, {}};
  Attribute size{"size", AttributeKind::continuous, {}, 0, {}};
  size.stats.min = 0.0;
  size.stats.max = 10.0;
  return Schema({cls, size});
}

Labels known(const torch::Tensor& values) {
  return {values.to(torch::kFloat64), torch::ones(values.sizes(), torch::kBool)};
}

}  // namespace

TEST_CASE("accuracy, Pearson r and MAE on known vectors", "[eval][metrics]") {
  CHECK(accuracy(vec({0, 1, 2, 2}), vec({0, 1, 1, 2})) == Approx(0.75));
  CHECK(std::isnan(accuracy(vec({}), vec({}))));
  // x = 1..4, y = (1, 3, 2, 4): r = sum(dx dy) / sqrt(sum dx^2 sum dy^2) = 4 / sqrt(5 * 5) = 0.8.
  CHECK(pearson_r(vec({1, 2, 3, 4}), vec({1, 3, 2, 4})) == Approx(0.8));
  CHECK(pearson_r(vec({1, 2, 3}), vec({3, 5, 7})) == Approx(1.0));
  CHECK(pearson_r(vec({1, 2, 3}), vec({-1, -2, -3})) == Approx(-1.0));
  CHECK(std::isnan(pearson_r(vec({1, 1, 1}), vec({1, 2, 3}))));  // constant: undefined
  CHECK(std::isnan(pearson_r(vec({1}), vec({2}))));
  CHECK(mean_absolute_error(vec({1, 2}), vec({2, 4})) == Approx(1.5));
  CHECK_THROWS_AS(accuracy(vec({1, 2}), vec({1})), ShapeError);
  CHECK_THROWS_AS(pearson_r(torch::zeros({2, 2}), torch::zeros({2, 2})), ShapeError);
}

TEST_CASE("calibration bins requested values and averages the measured ones", "[eval][metrics]") {
  auto bins = calibration(vec({0, 0, 1, 1}), vec({0.1, 0.3, 0.8, 1.0}), 2);
  REQUIRE(bins.size() == 2);
  CHECK(bins[0].count == 2);
  CHECK(bins[0].low == Approx(0.0));
  CHECK(bins[0].high == Approx(0.5));
  CHECK(bins[0].requested_mean == Approx(0.0));
  CHECK(bins[0].measured_mean == Approx(0.2));
  CHECK(bins[0].measured_std == Approx(0.1));
  CHECK(bins[1].high == Approx(1.0));  // the last bin includes the largest requested value
  CHECK(bins[1].measured_mean == Approx(0.9));
  // Empty bins are left out; constant requests make one bin.
  CHECK(calibration(vec({0, 0, 1}), vec({0, 0, 1}), 5).size() == 2);
  auto one = calibration(vec({3, 3, 3}), vec({1, 2, 3}), 4);
  REQUIRE(one.size() == 1);
  CHECK(one[0].count == 3);
  CHECK(one[0].measured_mean == Approx(2.0));
  CHECK(calibration(vec({}), vec({})).empty());
  CHECK_THROWS_AS(calibration(vec({1}), vec({1}), 0), ConfigError);
}

TEST_CASE("pixel distances: preservation and diversity", "[eval][metrics]") {
  auto a = torch::zeros({2, 1, 2, 2});
  auto b = a.clone();
  b.select(0, 0).fill_(0.5);  // first pair differs by 0.5 everywhere, second pair not at all
  CHECK(mean_pixel_distance(a, b) == Approx(0.25));
  CHECK(mean_pixel_distance(a, a) == 0.0);
  CHECK_THROWS_AS(mean_pixel_distance(a, torch::zeros({2, 1, 2, 3})), ShapeError);
  // Three constant images 0, 0.5, 1: pair distances 0.5, 1, 0.5.
  auto x = torch::stack({torch::full({1, 2, 2}, 0.0), torch::full({1, 2, 2}, 0.5), torch::full({1, 2, 2}, 1.0)});
  CHECK(mean_pairwise_distance(x) == Approx(2.0 / 3.0));
  CHECK(mean_pairwise_distance(torch::ones({4, 3})) == 0.0);
  CHECK(std::isnan(mean_pairwise_distance(torch::ones({1, 3}))));
}

TEST_CASE("align_labels matches attributes by name and classes by class name", "[eval][metrics]") {
  const auto to = class_size_schema();
  // The scorer lists classes in another order and measures an attribute the plugin does not have.
  const Schema from({Attribute{"extra", AttributeKind::continuous, {}, 0, {}},
                     Attribute{"class", AttributeKind::categorical, {"c", "a", "b"}, 0, {}}});
  auto aligned = align_labels(from, known(torch::tensor({{7.0, 0.0}, {8.0, 2.0}})), to, "test");
  CHECK(aligned.values.select(1, 0).equal(vec({2, 1})));        // c -> 2, b -> 1
  CHECK(aligned.mask.select(1, 0).all().item<bool>());
  CHECK_FALSE(aligned.mask.select(1, 1).any().item<bool>());   // size: not measured

  const Schema other_class({Attribute{"class", AttributeKind::categorical, {"a", "z"}, 0, {}}});
  auto msg = plugen_test::error_message<ConfigError>(
      [&] { align_labels(other_class, known(torch::zeros({1, 1})), to, "test"); });
  CHECK_THAT(msg, Catch::Contains("'z'") && Catch::Contains("class"));
  const Schema other_kind({Attribute{"size", AttributeKind::binary, {}, 0, {}}});
  CHECK_THROWS_AS(align_labels(other_kind, known(torch::zeros({1, 1})), to, "test"), ConfigError);
  CHECK_THROWS_AS(align_labels(from, known(torch::zeros({1, 3})), to, "test"), ShapeError);
}

TEST_CASE("compare_labels and targets_met score measured against target labels", "[eval][metrics]") {
  const auto schema = class_size_schema();
  // Targets: classes a, a, b, c; sizes 2, 4, 6, 8. Measured: a, b, b, c; sizes 2.5, 4, 7.5, 8.
  Labels target = known(torch::tensor({{0.0, 2.0}, {0.0, 4.0}, {1.0, 6.0}, {2.0, 8.0}}));
  Labels measured = known(torch::tensor({{0.0, 2.5}, {1.0, 4.0}, {1.0, 7.5}, {2.0, 8.0}}));
  auto scores = compare_labels(schema, target, measured, CompareOptions().tolerance(0.1));  // 1.0 label unit
  REQUIRE(scores.size() == 2);
  CHECK(scores[0].name == "class");
  CHECK(scores[0].count == 4);
  CHECK(*scores[0].accuracy == Approx(0.75));
  REQUIRE(scores[0].per_class.size() == 3);
  CHECK(scores[0].per_class[0].first == "a");
  CHECK(scores[0].per_class[0].second == Approx(0.5));
  CHECK(scores[0].per_class[1].second == Approx(1.0));
  CHECK(scores[1].name == "size");
  CHECK(*scores[1].mae == Approx((0.5 + 0 + 1.5 + 0) / 4));
  CHECK(*scores[1].tolerance == Approx(1.0));
  CHECK(*scores[1].within_tolerance == Approx(0.75));
  CHECK(*scores[1].pearson_r == Approx(pearson_r(vec({2, 4, 6, 8}), vec({2.5, 4, 7.5, 8}))));
  CHECK_FALSE(scores[1].accuracy.has_value());
  CHECK(targets_met(schema, target, measured).equal(torch::tensor({true, false, false, true})));

  // Unknown targets are neither scored nor required; an attribute with no known row is left out.
  target.mask.select(1, 1).fill_(false);
  auto only_class = compare_labels(schema, target, measured);
  REQUIRE(only_class.size() == 1);
  CHECK(only_class[0].name == "class");
  CHECK(targets_met(schema, target, measured).equal(torch::tensor({true, false, true, true})));

  nlohmann::json j = scores;
  CHECK(j[0]["accuracy"].get<double>() == Approx(0.75));
  CHECK(j[1]["calibration"].size() >= 1);
  CHECK_FALSE(j[0].contains("pearson_r"));
  CHECK_THROWS_AS(compare_labels(schema, target, known(torch::zeros({3, 2}))), ShapeError);
  CHECK_THROWS_AS(compare_labels(schema, target, measured, CompareOptions().tolerance(-1)), ConfigError);
}
