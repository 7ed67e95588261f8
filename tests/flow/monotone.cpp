// Tests of plugen/flow/monotone.hpp.
#include "plugen/flow/monotone.hpp"

#include <cmath>
#include <limits>

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

TEST_CASE("monotone step: the CPU solver and the tensor bisection agree", "[monotone]") {
  plugen_test::Seeded seeded;
  for (auto dtype : {torch::kFloat64, torch::kFloat32}) {
    MonotoneStep step(6);
    step->to(dtype);
    {
      torch::NoGradGuard g;
      step->named_parameters()["b"].copy_(torch::tensor({0.0, 1.5, 3.0, -1.0, -3.0, 0.5}));
      step->named_parameters()["m"].copy_(torch::tensor({0.0, 0.5, -1.0, 0.2, 0.0, 2.0}));
      step->named_parameters()["r"].copy_(torch::tensor({0.5, -2.0, -1.0, 1.5, 0.0, -4.0}));
    }
    auto x = (torch::randn({300, 6}) * 3).to(dtype);
    const auto y = std::get<0>(step->forward(x)).detach();
    // (batch, dim) on the CPU takes detail::monotone_solve; any other shape the tensor bisection.
    const auto solved = step->inverse(y);
    const auto bisected = step->inverse(y.unsqueeze(0)).squeeze(0);
    const double tol = dtype == torch::kFloat64 ? 1e-10 : 2e-4;
    CHECK((solved - bisected).abs().max().item<double>() < tol);
    CHECK((solved - x).abs().max().item<double>() < tol);
    // Not finite in, not finite out; the other elements are unaffected.
    auto bad = y.clone();
    bad[0][1] = std::numeric_limits<double>::quiet_NaN();
    bad[1][2] = std::numeric_limits<double>::infinity();
    const auto out = step->inverse(bad);
    CHECK(std::isnan(out[0][1].item<double>()));
    CHECK_FALSE(std::isfinite(out[1][2].item<double>()));
    CHECK(torch::equal(out[2], solved[2]));
  }
}
