// Tests of plugen/train/detail/fused_adam.hpp: the fused pass equals LibTorch's Adam after clip_grad_norm_.
#include "plugen/train.hpp"
#include "support.hpp"

using namespace plugen;

namespace {

// Runs `steps` steps of LibTorch's Adam (after clip_grad_norm_ when max_norm > 0) and of FusedAdam from the same
// weights and gradients; returns the largest relative difference of the final weights.
double fused_adam_gap(torch::Dtype dtype, double max_norm, double weight_decay, int steps) {
  auto gen = make_generator(5);
  // Sizes that leave tails for every vector width (8, 4) and one large enough to be split across threads.
  std::vector<int64_t> sizes{1, 7, 37, 1000, 70001};
  std::vector<torch::Tensor> ref, fused;
  for (const auto n : sizes) {
    auto w = torch::randn({n}, gen).to(dtype);
    ref.push_back(w.clone().set_requires_grad(true));
    fused.push_back(w.clone().set_requires_grad(true));
  }
  torch::optim::Adam adam(ref, torch::optim::AdamOptions(1e-2).weight_decay(weight_decay));
  plugen::detail::FusedAdam fused_adam(fused, 1e-2, weight_decay);
  for (int s = 0; s < steps; ++s) {
    adam.zero_grad();
    fused_adam.zero_grad();
    for (size_t i = 0; i < sizes.size(); ++i) {
      // The same gradient for both: a loss whose gradient is 3 * target - weights, scaled up so clipping acts.
      auto target = torch::randn({sizes[i]}, gen).to(dtype);
      ((ref[i] * ref[i] * 0.5 - ref[i] * target * 3.0).sum() * 10.0).backward();
      ((fused[i] * fused[i] * 0.5 - fused[i] * target * 3.0).sum() * 10.0).backward();
    }
    if (max_norm > 0) torch::nn::utils::clip_grad_norm_(ref, max_norm);
    adam.step();
    const auto norm = fused_adam.grad_norm();
    fused_adam.step(norm, max_norm);
  }
  double gap = 0;
  for (size_t i = 0; i < sizes.size(); ++i)
    gap = std::max(gap, ((fused[i] - ref[i]).abs().max() / (ref[i].abs().max() + 1e-30)).item<double>());
  return gap;
}

}  // namespace

TEST_CASE("FusedAdam takes the steps of LibTorch's Adam with clip_grad_norm_", "[fused_adam][train]") {
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    const double tol = dtype == torch::kFloat32 ? 1e-6 : 1e-13;
    CAPTURE(dtype);
    CHECK(fused_adam_gap(dtype, 1.0, 0.0, 6) < tol);   // clipped
    CHECK(fused_adam_gap(dtype, 0.0, 0.0, 6) < tol);   // no clipping
    CHECK(fused_adam_gap(dtype, 1.0, 1e-2, 6) < tol);  // with L2 weight decay
  }
}

TEST_CASE("FusedAdam: types without a fused loop (and other devices) take the same step by tensor operations",
          "[fused_adam][train]") {
  // bfloat16 on the CPU goes through the tensor-operation path that non-CPU devices use; the comparison is with
  // the fused float path, at bfloat16's precision.
  auto gen = make_generator(8);
  auto w = torch::randn({300}, gen);
  auto target = torch::randn({300}, gen);
  auto run = [&](torch::Dtype dtype) {
    auto p = w.to(dtype).clone().set_requires_grad(true);
    plugen::detail::FusedAdam adam({p}, 1e-2, 1e-2);
    for (int s = 0; s < 4; ++s) {
      adam.zero_grad();
      ((p.to(torch::kFloat32) - target).pow(2).sum() * 10.0).backward();
      adam.step(adam.grad_norm(), 1.0);
    }
    return p.detach().to(torch::kFloat32);
  };
  const auto fused = run(torch::kFloat32), tensors = run(torch::kBFloat16);
  CHECK_FALSE(torch::allclose(fused, w));  // it moved
  CHECK(torch::allclose(tensors, fused, 0.0, 0.05));
}

TEST_CASE("FusedAdam: the gradient norm is clip_grad_norm_'s, and dropped gradients stay dropped", "[fused_adam][train]") {
  auto gen = make_generator(6);
  std::vector<torch::Tensor> params{torch::randn({3, 4}, gen).set_requires_grad(true),
                                    torch::randn({5}, gen).set_requires_grad(true)};
  plugen::detail::FusedAdam adam(params, 1e-3, 0.0);
  CHECK(adam.grad_norm().item<double>() == 0.0);  // no gradients yet
  ((params[0] * 2).sum() + (params[1] * params[1]).sum()).backward();
  const double expected = std::sqrt(4.0 * 12 + (4 * params[1] * params[1]).sum().item<double>());
  CHECK(adam.grad_norm().item<double>() == Approx(expected).epsilon(1e-6));
  const auto before = params[0].detach().clone();
  adam.step(adam.grad_norm(), 1.0);
  CHECK_FALSE(torch::equal(before, params[0].detach()));
  adam.zero_grad();
  CHECK_FALSE(params[0].grad().defined());
  CHECK_FALSE(params[1].grad().defined());
}

TEST_CASE("FusedAdam refuses parameters it cannot update in place", "[fused_adam][train]") {
  auto t = torch::randn({4, 4}).t();  // not contiguous
  CHECK_THROWS_AS(plugen::detail::FusedAdam({t}, 1e-3, 0.0), ConfigError);
  CHECK_THROWS_AS(plugen::detail::FusedAdam({torch::ones({3}, torch::kInt64)}, 1e-3, 0.0), ConfigError);
}

TEST_CASE("FusedAdam: the gradient norm is right however the gradients arrived", "[fused_adam][train]") {
  auto gen = make_generator(9);
  auto a = torch::randn({40, 30}, gen).set_requires_grad(true);
  auto b = torch::randn({30}, gen).set_requires_grad(true);
  auto fixed = torch::randn({7}, gen);  // no gradient: no hook
  auto target = torch::randn({40, 30}, gen);
  auto loss = [&] { return ((a - target).pow(2).sum() + (b * 3).sum()); };
  auto expected = [&] {
    return std::sqrt((a.grad().to(torch::kFloat64).pow(2).sum() + b.grad().to(torch::kFloat64).pow(2).sum())
                         .item<double>());
  };
  // (Float sums of squares in blocks agree with a double reduction to about 1e-7; a wrong gradient would be off
  // by a factor: the accumulated norm is twice the fresh one.)
  loss().backward();  // gradients that exist before the optimizer does
  plugen::detail::FusedAdam adam({a, b, fixed}, 1e-3, 0.0);
  loss().backward();  // accumulated onto them
  CHECK(adam.grad_norm().item<double>() == Approx(expected()).epsilon(1e-6));
  adam.zero_grad();
  loss().backward();  // one fresh delivery each: the hooks' sums
  CHECK(adam.grad_norm().item<double>() == Approx(expected()).epsilon(1e-6));
  loss().backward();  // accumulated again
  CHECK(adam.grad_norm().item<double>() == Approx(expected()).epsilon(1e-6));
}

TEST_CASE("FusedAdam removes its gradient hooks when it goes", "[fused_adam][train]") {
  auto p = torch::randn({5}).set_requires_grad(true);
  {
    plugen::detail::FusedAdam adam({p}, 1e-3, 0.0);
  }
  (p * 2).sum().backward();  // would reach a destroyed optimizer if a hook were left behind
  CHECK(p.grad().sum().item<double>() == Approx(10.0));
}
