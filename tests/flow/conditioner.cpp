// Tests of plugen/flow/conditioner.hpp and flow/detail/mlp_function.hpp: the one-node MLP used for training
// computes the same outputs and gradients as the same layers built from LibTorch operations.
#include "plugen/flow.hpp"
#include "support.hpp"

using namespace plugen;

namespace {

// The conditioner's map by plain LibTorch operations (autograd records each one).
torch::Tensor conditioner_by_ops(Conditioner& c, const torch::Tensor& x, const ConditionerOptions& o) {
  auto h = x;
  const auto& linears = c->linears();
  for (size_t l = 0; l < linears.size(); ++l) {
    h = torch::addmm(linears[l]->bias, h, linears[l]->weight.t());
    if (l + 1 < linears.size())
      h = o.activation() == Activation::relu ? torch::relu(h) : torch::leaky_relu(h, o.negative_slope());
  }
  return h;
}

}  // namespace

TEST_CASE("conditioner: the one-node MLP has LibTorch's outputs and gradients", "[conditioner][flow]") {
  for (const auto activation : {Activation::relu, Activation::leaky_relu}) {
    for (const int64_t layers : {1, 2, 4}) {
      CAPTURE(static_cast<int>(activation), layers);
      torch::manual_seed(3);
      const auto o = ConditionerOptions().hidden(16).layers(layers).activation(activation).negative_slope(0.1);
      Conditioner c(5, 7, o);
      c->to(torch::kFloat64);
      {
        // A fresh conditioner's last layer is zero; give it weights so every gradient is non-trivial.
        torch::NoGradGuard no_grad;
        for (auto& p : c->parameters()) p.normal_(0, 0.5);
      }
      auto gen = make_generator(4);
      auto x = torch::randn({9, 5}, gen).to(torch::kFloat64).set_requires_grad(true);
      auto weights = torch::randn({9, 7}, gen).to(torch::kFloat64);

      const auto y = c->forward(x);
      REQUIRE(y.grad_fn() != nullptr);
      auto grads = torch::autograd::grad({(y * weights).sum()}, {x}, {}, true);
      std::vector<torch::Tensor> param_grads;
      for (auto& p : c->parameters()) param_grads.push_back(torch::autograd::grad({(c->forward(x) * weights).sum()}, {p})[0]);

      const auto y_ops = conditioner_by_ops(c, x, o);
      CHECK(torch::allclose(y, y_ops, 1e-12, 1e-12));
      CHECK(torch::allclose(grads[0], torch::autograd::grad({(y_ops * weights).sum()}, {x})[0], 1e-10, 1e-12));
      size_t i = 0;
      for (auto& p : c->parameters()) {
        const auto expected = torch::autograd::grad({(conditioner_by_ops(c, x, o) * weights).sum()}, {p})[0];
        CHECK(torch::allclose(param_grads[i++], expected, 1e-10, 1e-12));
      }
    }
  }
}

TEST_CASE("conditioner: without gradients, or for one row, the MLP gives the same outputs", "[conditioner][flow]") {
  torch::manual_seed(5);
  Conditioner c(6, 4, ConditionerOptions().hidden(12).layers(3));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : c->parameters()) p.normal_(0, 0.5);
  }
  auto x = torch::randn({8, 6});
  const auto with_grad = c->forward(x);
  torch::Tensor without;
  {
    torch::NoGradGuard no_grad;
    without = c->forward(x);
  }
  CHECK(torch::allclose(with_grad, without, 1e-6, 1e-6));
  CHECK(torch::allclose(c->forward(x.narrow(0, 2, 1)), with_grad.narrow(0, 2, 1), 1e-5, 1e-6));
}

TEST_CASE("conditioner: gradients of gradients through the one-node MLP are refused", "[conditioner][flow]") {
  torch::manual_seed(6);
  Conditioner c(3, 2, ConditionerOptions().hidden(4).layers(2));
  auto x = torch::randn({5, 3}).set_requires_grad(true);
  auto y = c->forward(x).sum();
  CHECK_THROWS_AS(torch::autograd::grad({y}, {x}, {}, true, /*create_graph=*/true), ConfigError);
  // Other activations are built from LibTorch operations and differentiate twice.
  Conditioner t(3, 2, ConditionerOptions().hidden(4).layers(2).activation(Activation::tanh));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : t->parameters()) p.normal_(0, 0.5);
  }
  auto g = torch::autograd::grad({t->forward(x).sum()}, {x}, {}, true, true)[0];
  CHECK(g.requires_grad());
}
