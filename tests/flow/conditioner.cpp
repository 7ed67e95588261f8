// Tests of plugen/flow/conditioner.hpp, flow/detail/mlp_function.hpp and flow/detail/mlp_kernels.hpp: the one-node
// MLP used for training computes the same outputs and gradients as the same layers built from LibTorch operations,
// in double (by LibTorch's products) and in float (by plugen's kernels where the CPU and the widths allow).
#include <limits>

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

// A float conditioner's outputs and gradients (input and every parameter) against conditioner_by_ops.
void check(Conditioner& c, const ConditionerOptions& o, int64_t rows, int64_t in, int64_t out) {
  {
    torch::NoGradGuard no_grad;
    for (auto& p : c->parameters()) p.normal_(0, 1.0 / std::sqrt(static_cast<double>(p.size(-1))));
  }
  auto gen = make_generator(8);
  auto x = torch::randn({rows, in}, gen).set_requires_grad(true);
  auto weights = torch::randn({rows, out}, gen);
  const auto y = c->forward(x);
  const auto y_ops = conditioner_by_ops(c, x, o);
  CHECK(torch::allclose(y, y_ops, 1e-4, 1e-5));
  std::vector<torch::Tensor> inputs{x};
  for (auto& p : c->parameters()) inputs.push_back(p);
  const auto grads = torch::autograd::grad({(y * weights).sum()}, inputs);
  const auto expected = torch::autograd::grad({(y_ops * weights).sum()}, inputs);
  for (size_t i = 0; i < grads.size(); ++i) {
    CAPTURE(i);
    CHECK(torch::allclose(grads[i], expected[i], 1e-4, 1e-4));
  }
}

// LibTorch's intra-op threads set to 1 for a scope.
struct OneThread {
  int saved = at::get_num_threads();
  OneThread() { at::set_num_threads(1); }
  ~OneThread() { at::set_num_threads(saved); }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;
};

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
      for (auto& p : c->parameters())
        param_grads.push_back(torch::autograd::grad({(c->forward(x) * weights).sum()}, {p})[0]);

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

TEST_CASE("conditioner: in float, the one-node MLP (plugen's kernels) matches LibTorch to rounding",
          "[conditioner][flow]") {
  const OneThread one_thread;  // the kernels serve single-threaded runs
  // Widths that are multiples of 8 take the kernels on CPUs with AVX2 and FMA: 40 outputs and 24/48 columns cover
  // every block and tail of them; batches of 1 (through the MLP node: 2 rows sliced), 5, 33 and one above the
  // kernels' limit (BLAS).
  CAPTURE(plugen::detail::mlp_kernels_apply(24, 48));
  for (const auto activation : {Activation::relu, Activation::leaky_relu}) {
    for (const int64_t layers : {1, 2, 3}) {
      for (const int64_t rows :
           {int64_t{2}, int64_t{5}, int64_t{33}, plugen::detail::PiecewiseLinearMlp::kernel_max_rows + 3}) {
        CAPTURE(static_cast<int>(activation), layers, rows);
        torch::manual_seed(7);
        const auto o = ConditionerOptions().hidden(48).layers(layers).activation(activation).negative_slope(0.2);
        Conditioner c(24, 40, o);
        check(c, o, rows, 24, 40);
      }
    }
  }
  // The official preset's conditioner at batch 32: large enough for the kernels to split work between threads.
  const auto o = ConditionerOptions().hidden(512).layers(4).activation(Activation::leaky_relu).negative_slope(0.1);
  torch::manual_seed(7);
  Conditioner c(256, 256, o);
  check(c, o, 32, 256, 256);
}

#if defined(PLUGEN_HAVE_AVX2_KERNELS)
TEST_CASE("MLP kernels: products, bias, activations and their derivatives as LibTorch's, NaN and inf included",
          "[conditioner][flow]") {
  if (!plugen::detail::cpu_has_avx2_fma()) {
    WARN("this CPU has no AVX2 with FMA: the kernels are not used");
    return;
  }
  torch::manual_seed(9);
  const int64_t B = 7, K = 40, O = 16;
  auto x = torch::randn({B, K});
  auto w = torch::randn({O, K});
  auto b = torch::randn({O});
  auto g = torch::randn({B, O});
  // Activation outputs with zeros, NaN and infinities where the derivative is read.
  auto h = torch::randn({B, K});
  h[0][0] = 0.0F;
  h[1][3] = std::numeric_limits<float>::quiet_NaN();
  h[2][5] = std::numeric_limits<float>::infinity();
  h[3][8] = -std::numeric_limits<float>::infinity();
  // One non-finite pre-activation per kind in the forward products.
  x[4][0] = std::numeric_limits<float>::quiet_NaN();
  w[1][2] = std::numeric_limits<float>::infinity();
  auto close = [](const torch::Tensor& a, const torch::Tensor& e) {
    // Same non-finite entries, finite ones equal to rounding.
    const auto fin = torch::isfinite(e);
    return torch::equal(torch::isnan(a), torch::isnan(e)) &&
           torch::equal(torch::isinf(a) & (a > 0), torch::isinf(e) & (e > 0)) &&
           torch::equal(torch::isinf(a) & (a < 0), torch::isinf(e) & (e < 0)) &&
           torch::allclose(a.masked_fill(~fin, 0), e.masked_fill(~fin, 0), 1e-4, 1e-4);
  };
  for (const float slope : {0.0F, 0.1F}) {
    CAPTURE(slope);
    const auto pre = torch::addmm(b, x, w.t());
    for (const bool activate : {false, true}) {
      auto y = torch::empty({B, O});
      plugen::detail::mlp_forward(x.data_ptr<float>(), w.data_ptr<float>(), b.data_ptr<float>(), y.data_ptr<float>(), B,
                                  K, O, activate, slope);
      const auto expected = !activate ? pre : slope == 0 ? torch::relu(pre) : torch::leaky_relu(pre, slope);
      CHECK(close(y, expected));
    }
    const auto gw0 = torch::randn({O, K});
    auto gx = torch::empty({B, K});
    plugen::detail::mlp_backward_input(g.data_ptr<float>(), gw0.data_ptr<float>(), nullptr, gx.data_ptr<float>(), B, O,
                                       K, slope);
    CHECK(close(gx, g.mm(gw0)));
    plugen::detail::mlp_backward_input(g.data_ptr<float>(), gw0.data_ptr<float>(), h.data_ptr<float>(),
                                       gx.data_ptr<float>(), B, O, K, slope);
    const auto through =
        slope == 0 ? at::threshold_backward(g.mm(gw0), h, 0) : at::leaky_relu_backward(g.mm(gw0), h, slope, true);
    CHECK(close(gx, through));
    auto gw = torch::empty({O, K});
    plugen::detail::mlp_backward_weight(g.data_ptr<float>(), h.nan_to_num(0, 0, 0).data_ptr<float>(),
                                        gw.data_ptr<float>(), B, O, K);
    CHECK(close(gw, g.t().mm(h.nan_to_num(0, 0, 0))));
  }
}
#endif
