// Tests of plugen/flow/monotone.hpp.
#include "plugen/flow/monotone.hpp"
#include "support.hpp"

using namespace plugen;

TEST_CASE("monotone step: steep steps still invert, log-det matches the derivative", "[monotone]") {
  plugen_test::Seeded seeded;
  MonotoneStep step(5);
  step->to(torch::kFloat64);
  {
    torch::NoGradGuard g;
    // Amplitudes up to e^4 - 1 ~ 54 times the scale: a nearly discontinuous step, the hard case for inversion.
    step->named_parameters()["b"].copy_(torch::tensor({0.0, 1.0, 4.0, -2.0, 2.5}, torch::kFloat64));
    step->named_parameters()["m"].copy_(torch::tensor({0.0, 0.3, -0.2, 0.0, 1.0}, torch::kFloat64));
    step->named_parameters()["r"].copy_(torch::tensor({0.5, -3.0, -2.0, 1.0, 0.0}, torch::kFloat64));
  }
  auto x = torch::randn({200, 5}, torch::kFloat64) * 2;
  auto [y, log_det] = step->forward(x);
  CHECK((step->inverse(y) - x).abs().max().item<double>() < 1e-10);
  auto xg = x.clone().requires_grad_(true);
  auto yg = std::get<0>(step->forward(xg));
  auto grad = torch::autograd::grad({yg.sum()}, {xg})[0];  // diagonal Jacobian
  CHECK((grad.log().sum(1) - log_det).abs().max().item<double>() < 1e-10);
  CHECK((grad > 0).all().item<bool>());
}
