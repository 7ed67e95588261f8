// Tests of plugen/flow/standardize.hpp.
#include "plugen/flow/standardize.hpp"
#include "support.hpp"

using namespace plugen;

TEST_CASE("standardization fits moments, inverts, and has log-det -sum(log std)", "[standardize]") {
  plugen_test::Seeded seeded;
  auto w = torch::randn({1000, 4}, torch::kFloat64) * torch::tensor({1.0, 2.0, 0.5, 3.0}, torch::kFloat64) +
           torch::tensor({5.0, -1.0, 0.0, 2.0}, torch::kFloat64);
  auto s = fit_standardize(w);
  auto [u, log_det] = s->forward(w);
  CHECK(u.mean(0).abs().max().item<double>() < 1e-12);
  CHECK((u.std(0, false) - 1).abs().max().item<double>() < 1e-12);
  CHECK(torch::allclose(s->inverse(u), w, 1e-12, 1e-12));
  CHECK(std::abs(log_det[0].item<double>() + torch::log(s->std()).sum().item<double>()) < 1e-12);
  CHECK(log_det.size(0) == 1000);
}

TEST_CASE("constant latent dimensions are floored, not divided by zero", "[standardize]") {
  auto w = torch::randn({50, 3});
  w.select(1, 1).fill_(2.0);
  auto s = fit_standardize(w);
  CHECK((s->std() > 0).all().item<bool>());
  auto [u, log_det] = s->forward(w);
  CHECK(torch::isfinite(u).all().item<bool>());
  CHECK(torch::isfinite(log_det).all().item<bool>());
}

TEST_CASE("standardization rejects bad statistics and bad inputs", "[standardize]") {
  CHECK_THROWS_AS(Standardize(torch::zeros({3}), torch::zeros({3})), NumericError);
  CHECK_THROWS_AS(Standardize(torch::zeros({3}), torch::ones({2})), ShapeError);
  auto w = torch::randn({10, 3});
  w[4][2] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(fit_standardize(w), NumericError);
  CHECK_THROWS_AS(fit_standardize(torch::randn({1, 3})), ShapeError);
  Standardize s(3);
  CHECK_THROWS_AS(s->forward(torch::zeros({2, 4})), ShapeError);
}
