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
