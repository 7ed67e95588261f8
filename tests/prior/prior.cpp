// Tests of plugen/prior/prior.hpp against log-densities computed by hand with scalar formulas.
#include <cmath>

#include "plugen/prior.hpp"
#include "support.hpp"

using namespace plugen;

namespace {

double ln_normal(double x, double mu, double s) {
  return -0.5 * (x - mu) * (x - mu) / (s * s) - std::log(s) - 0.5 * std::log(2 * M_PI);
}
double log_add(double a, double b) {
  return std::max(a, b) + std::log1p(std::exp(-std::abs(a - b)));
}

// binary b (P(y=1) = 0.25), categorical c with 3 classes (0.5, 0.3, 0.2), continuous x in [0, 10]
// (normalized mean 0.1, var 0.2); z has 7 coordinates: b, c0, c1, c2, x, s0, s1.
Schema prior_test_schema() {
  Attribute b{"b", AttributeKind::binary, {}, 0, {}};
  b.stats.frequencies = {0.75, 0.25};
  Attribute c{"c", AttributeKind::categorical, {"u", "v", "w"}, 0, {}};
  c.stats.frequencies = {0.5, 0.3, 0.2};
  Attribute x{"x", AttributeKind::continuous, {}, 0, {}};
  x.stats.min = 0;
  x.stats.max = 10;
  x.stats.normalized_mean = 0.1;
  x.stats.normalized_var = 0.2;
  return Schema({b, c, x});
}

const std::vector<double> kZ = {0.8, 0.9, -1.1, -0.7, 0.2, 0.3, -0.4};

double style_term() {
  return ln_normal(0.3, 0, 1) + ln_normal(-0.4, 0, 1);
}

double cat_class(int k, double s) {
  double total = 0;
  for (int j = 0; j < 3; ++j) total += ln_normal(kZ[1 + j], j == k ? 1.0 : -1.0, s);
  return total;
}

torch::Tensor z_row() {
  return torch::tensor(kZ, torch::kFloat64).unsqueeze(0);
}

Labels one_row(std::vector<double> values, std::vector<bool> known) {
  auto mask = torch::zeros({1, 3}, torch::kBool);
  for (int i = 0; i < 3; ++i) mask[0][i] = static_cast<bool>(known[i]);
  return {torch::tensor(values, torch::kFloat64).unsqueeze(0), mask};
}

}  // namespace

TEST_CASE("prior log-density with all labels known matches the hand computation", "[prior]") {
  const double s = 0.5;
  TargetPrior prior(prior_test_schema(), 7, PriorOptions().sigma(s));
  auto lp = prior.log_prob(z_row(), one_row({1, 2, 7.5}, {true, true, true}))[0].item<double>();
  const double expected = ln_normal(0.8, 1, s) + cat_class(2, s) + ln_normal(0.2, 2 * 7.5 / 10 - 1, s) + style_term();
  CHECK(lp == Approx(expected).epsilon(1e-12));
  lp = prior.log_prob(z_row(), one_row({0, 0, 0.0}, {true, true, true}))[0].item<double>();
  CHECK(lp == Approx(ln_normal(0.8, -1, s) + cat_class(0, s) + ln_normal(0.2, -1, s) + style_term()).epsilon(1e-12));
}

TEST_CASE("missing labels are marginalized with the training frequencies", "[prior]") {
  const double s = 0.5;
  TargetPrior prior(prior_test_schema(), 7, PriorOptions().sigma(s));
  auto lp = prior.log_prob(z_row(), one_row({0, 0, 0}, {false, false, false}))[0].item<double>();
  const double b = log_add(std::log(0.75) + ln_normal(0.8, -1, s), std::log(0.25) + ln_normal(0.8, 1, s));
  const double c = log_add(log_add(std::log(0.5) + cat_class(0, s), std::log(0.3) + cat_class(1, s)),
                           std::log(0.2) + cat_class(2, s));
  const double x = ln_normal(0.2, 0.1, std::sqrt(0.2 + s * s));
  CHECK(lp == Approx(b + c + x + style_term()).epsilon(1e-12));
  CHECK(prior.marginal_log_prob(z_row())[0].item<double>() == Approx(lp).epsilon(1e-12));
  // Mixed: b known, c and x missing.
  lp = prior.log_prob(z_row(), one_row({1, 0, 0}, {true, false, false}))[0].item<double>();
  CHECK(lp == Approx(ln_normal(0.8, 1, s) + c + x + style_term()).epsilon(1e-12));
}

TEST_CASE("balanced binary sigmas follow sigma*sqrt(2p) and sigma*sqrt(2(1-p))", "[prior]") {
  const double s = 0.4;
  TargetPrior prior(prior_test_schema(), 7, PriorOptions().sigma(s).balanced(true));
  const double s_plus = s * std::sqrt(2 * 0.25), s_minus = s * std::sqrt(2 * 0.75);
  auto lp1 = prior.log_prob(z_row(), one_row({1, 1, 5}, {true, true, true}))[0].item<double>();
  const double rest = cat_class(1, s) + ln_normal(0.2, 0.0, s) + style_term();
  CHECK(lp1 == Approx(ln_normal(0.8, 1, s_plus) + rest).epsilon(1e-12));
  auto lp0 = prior.log_prob(z_row(), one_row({0, 1, 5}, {true, true, true}))[0].item<double>();
  CHECK(lp0 == Approx(ln_normal(0.8, -1, s_minus) + rest).epsilon(1e-12));
  auto lpm = prior.log_prob(z_row(), one_row({0, 1, 5}, {false, true, true}))[0].item<double>();
  CHECK(lpm ==
        Approx(log_add(std::log(0.75) + ln_normal(0.8, -1, s_minus), std::log(0.25) + ln_normal(0.8, 1, s_plus)) + rest)
            .epsilon(1e-12));
}

TEST_CASE("the marginal is a normalized density (numerical integration in 1-d)", "[prior]") {
  Attribute b{"b", AttributeKind::binary, {}, 0, {}};
  b.stats.frequencies = {0.9, 0.1};
  TargetPrior prior(Schema({b}), 1, PriorOptions().sigma(0.3).balanced(true));
  auto grid = torch::linspace(-6, 6, 24001, torch::kFloat64).unsqueeze(1);
  const double integral = prior.marginal_log_prob(grid).exp().sum().item<double>() * (12.0 / 24000);
  CHECK(integral == Approx(1.0).epsilon(1e-6));
}

TEST_CASE("missing-label marginals stay finite far from every mode (log-sum-exp)", "[prior]") {
  TargetPrior prior(prior_test_schema(), 7, PriorOptions().sigma(0.01));
  auto z = z_row() * 1000;
  auto lp = prior.marginal_log_prob(z);
  CHECK(std::isfinite(lp[0].item<double>()));
}

TEST_CASE("read-out recovers the labels at the targets", "[prior]") {
  TargetPrior prior(prior_test_schema(), 7, PriorOptions().sigma(0.2));
  auto z =
      torch::tensor({{1.0, -1.0, -1.0, 1.0, 0.5, 0.0, 0.0}, {-1.0, 1.0, -1.0, -1.0, -1.0, 0.0, 0.0}}, torch::kFloat64);
  auto r = prior.read(z);
  CHECK(r[0].value[0].item<double>() == 1);
  CHECK(r[0].value[1].item<double>() == 0);
  CHECK(r[0].probability[0].item<double>() > 0.99);
  CHECK(r[1].value[0].item<int64_t>() == 2);
  CHECK(r[1].value[1].item<int64_t>() == 0);
  CHECK(r[1].probability.sum(1).allclose(torch::ones({2}, torch::kFloat64)));
  CHECK(r[2].value[0].item<double>() == Approx(7.5));
  CHECK(r[2].value[1].item<double>() == Approx(0.0));
}

TEST_CASE("prior rejects widths below the label coordinates and bad sigma", "[prior]") {
  CHECK_THROWS_AS(TargetPrior(prior_test_schema(), 4), ConfigError);
  CHECK_THROWS_AS(TargetPrior(prior_test_schema(), 7, PriorOptions().sigma(0)), ConfigError);
  TargetPrior prior(prior_test_schema(), 7);
  CHECK_THROWS_AS(prior.log_prob(torch::zeros({2, 6}, torch::kFloat64), one_row({0, 0, 0}, {true, true, true})),
                  ShapeError);
}
