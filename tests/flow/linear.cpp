// Tests of plugen/flow/linear.hpp.
#include "plugen/flow/linear.hpp"
#include "support.hpp"

using namespace plugen;

TEST_CASE("LU layer: log-det equals slogdet(W), inverse solves exactly", "[linear]") {
  plugen_test::Seeded seeded;
  InvertibleLinear lu(6);
  lu->to(torch::kFloat64);
  plugen_test::randomize(*lu, 0.4);
  auto x = torch::randn({9, 6}, torch::kFloat64);
  auto [y, log_det] = lu->forward(x);
  auto w = lu->weight();
  CHECK(torch::allclose(y, torch::matmul(x, w.t()), 1e-12, 1e-12));
  CHECK(std::abs(log_det[0].item<double>() - std::get<1>(torch::linalg_slogdet(w)).item<double>()) < 1e-10);
  CHECK((lu->inverse(y) - x).abs().max().item<double>() < 1e-10);
}

TEST_CASE("LU layer: set_weight reproduces any invertible matrix, with row exchanges and negative pivots",
          "[linear]") {
  plugen_test::Seeded seeded;
  InvertibleLinear lu(7);
  lu->to(torch::kFloat64);
  auto w = torch::randn({7, 7}, torch::kFloat64);
  w[0] = w[0] * 1e-3;  // a tiny leading entry forces pivoting
  lu->set_weight(w);
  CHECK((lu->weight() - w).abs().max().item<double>() < 1e-12);
  CHECK_FALSE(torch::equal(lu->permutation(), torch::arange(7)));
  auto x = torch::randn({5, 7}, torch::kFloat64);
  auto [y, log_det] = lu->forward(x);
  CHECK(torch::allclose(y, torch::matmul(x, w.t()), 1e-10, 1e-10));
  CHECK(std::abs(log_det[0].item<double>() - std::get<1>(torch::linalg_slogdet(w)).item<double>()) < 1e-10);
  CHECK((lu->inverse(y) - x).abs().max().item<double>() < 1e-10);
  // A matrix with a negative determinant needs a negative pivot sign.
  auto flip = w.clone();
  flip[0] = -flip[0];
  lu->set_weight(flip);
  CHECK((lu->weight() - flip).abs().max().item<double>() < 1e-12);
}

TEST_CASE("LU layer: singular matrices and bad permutations are refused", "[linear]") {
  InvertibleLinear lu(3);
  auto singular = torch::tensor({{1.0, 2.0, 3.0}, {2.0, 4.0, 6.0}, {0.0, 1.0, 0.0}}, torch::kFloat64);
  CHECK_THROWS_AS(lu->set_weight(singular), NumericError);
  CHECK_THROWS_AS(lu->set_weight(torch::eye(4)), ShapeError);
  CHECK_THROWS_AS(lu->set_permutation({0, 0, 1}), ConfigError);
  CHECK_THROWS_AS(lu->set_permutation({0, 1}), ConfigError);
  CHECK_THROWS_AS(lu->set_permutation({0, 1, 3}), ConfigError);
}
