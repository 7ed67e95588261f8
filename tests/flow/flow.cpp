// Property tests of plugen/flow/flow.hpp: round trips, log-det against autograd, batch invariance,
// identity at initialization, parameter counts, shape and option errors.
#include <random>

#include "plugen/flow.hpp"
#include "support.hpp"

using namespace plugen;

namespace {

struct FlowCase {
  FlowOptions options;
  torch::Dtype dtype;
  std::string describe() const {
    return fmt::format("dim={} couplings={} layers={} hidden={} partition={} linear={} monotone={} dtype={}",
                       options.dim(), options.couplings(), options.conditioner().layers(),
                       options.conditioner().hidden(), to_string(options.partition()), to_string(options.linear()),
                       options.monotone(), dtype_string(dtype));
  }
};

// Random flow options: widths 2..64, depths 1..5, conditioner layers 1..4, both partitions, all placements.
FlowCase random_case(std::mt19937& rng, torch::Dtype dtype, int64_t max_dim = 64) {
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  FlowOptions o(pick(2, max_dim));
  o.couplings(pick(1, 5));
  o.conditioner(
      ConditionerOptions().hidden(pick(1, 48)).layers(pick(1, 4)).activation(static_cast<Activation>(pick(0, 5))));
  o.partition(pick(0, 1) ? PartitionKind::random : PartitionKind::alternating);
  o.partition_seed(static_cast<uint64_t>(pick(0, 1000)));
  o.linear(static_cast<LinearPlacement>(pick(0, 2)));
  o.monotone(pick(0, 1) == 1);
  return {o, dtype};
}

template <class FlowT>
FlowT make_random_flow(const FlowCase& c, double scale) {
  FlowT flow(c.options);
  flow->to(c.dtype);
  plugen_test::randomize(*flow, scale);
  return flow;
}

// log|det J| of `fn` at the single row `x` (1, D) by building the Jacobian row by row with autograd.
template <class Fn>
double autograd_log_abs_det(Fn&& fn, const torch::Tensor& x) {
  const int64_t d = x.size(1);
  auto xin = x.detach().clone().requires_grad_(true);
  auto y = fn(xin);
  auto jac = torch::zeros({d, d}, x.options());
  for (int64_t i = 0; i < d; ++i) {
    auto g = torch::autograd::grad({y[0][i]}, {xin}, {}, /*retain_graph=*/true)[0];
    jac[i] = g[0];
  }
  return std::get<1>(torch::linalg_slogdet(jac)).item<double>();
}

template <class FlowT>
void check_properties(const FlowCase& c, uint64_t seed) {
  INFO(c.describe() << " seed=" << seed);
  torch::manual_seed(seed);
  auto flow = make_random_flow<FlowT>(c, 0.3);
  const double tol = c.dtype == torch::kFloat64 ? 1e-10 : 1e-4;
  auto x = torch::randn({17, c.options.dim()}, torch::TensorOptions().dtype(c.dtype));
  auto x_copy = x.clone();

  torch::Tensor z, log_det;
  std::tie(z, log_det) = flow->forward(x);
  REQUIRE(z.sizes() == x.sizes());
  REQUIRE(log_det.sizes() == torch::IntArrayRef{17});
  torch::Tensor back = flow->inverse(z);
  CHECK((back - x).abs().max().item<double>() < tol);
  CHECK(torch::equal(x, x_copy));  // inputs are never modified
  auto z_copy = z.clone();
  (void)flow->inverse(z);
  CHECK(torch::equal(z, z_copy));

  // Row i of a batched call equals the same row alone.
  for (int64_t i : {0, 9, 16}) {
    torch::Tensor zi, ldi;
    std::tie(zi, ldi) = flow->forward(x.narrow(0, i, 1));
    CHECK((zi[0] - z[i]).abs().max().item<double>() < tol);
    CHECK(std::abs(ldi[0].item<double>() - log_det[i].item<double>()) < tol * 10);
    torch::Tensor ui = flow->inverse(z.narrow(0, i, 1));
    CHECK((ui[0] - back[i]).abs().max().item<double>() < tol);
  }
  if (std::is_same_v<typename FlowT::ContainedType::transform_type, Additive> &&
      c.options.linear() == LinearPlacement::none && !c.options.monotone()) {
    CHECK(torch::equal(log_det, torch::zeros_like(log_det)));  // additive log-det is exactly 0
  }
}

}  // namespace

TEST_CASE("flows invert exactly and are batch-invariant over random options, seeds and dtypes", "[flow][property]") {
  std::mt19937 rng(20261121);
  for (int trial = 0; trial < 24; ++trial) {
    const auto dtype = trial % 2 ? torch::kFloat64 : torch::kFloat32;
    auto c = random_case(rng, dtype);
    check_properties<RealNVP>(c, 100 + trial);
    check_properties<NICE>(c, 200 + trial);
  }
}

TEST_CASE("log_det equals the log|det| of the autograd Jacobian in float64", "[flow][property]") {
  std::mt19937 rng(777);
  for (int trial = 0; trial < 12; ++trial) {
    auto c = random_case(rng, torch::kFloat64, 24);
    INFO(c.describe());
    torch::manual_seed(300 + trial);
    auto x = torch::randn({1, c.options.dim()}, torch::kFloat64);
    {
      auto flow = make_random_flow<RealNVP>(c, 0.3);
      auto expected = autograd_log_abs_det([&](const torch::Tensor& v) { return std::get<0>(flow->forward(v)); }, x);
      auto got = std::get<1>(flow->forward(x))[0].item<double>();
      CHECK(std::abs(got - expected) < 1e-8);
    }
    {
      auto flow = make_random_flow<NICE>(c, 0.3);
      auto expected = autograd_log_abs_det([&](const torch::Tensor& v) { return std::get<0>(flow->forward(v)); }, x);
      auto got = std::get<1>(flow->forward(x))[0].item<double>();
      CHECK(std::abs(got - expected) < 1e-8);
    }
  }
}

TEST_CASE("a fresh flow is exactly the identity with zero log-det", "[flow]") {
  plugen_test::Seeded seeded;
  for (auto placement : {LinearPlacement::none, LinearPlacement::first, LinearPlacement::each}) {
    auto o = FlowOptions(13).couplings(3).linear(placement).partition(PartitionKind::random).monotone(true);
    RealNVP realnvp(o);
    NICE nice(o);
    auto x = torch::randn({5, 13});
    auto [z1, ld1] = realnvp->forward(x);
    auto [z2, ld2] = nice->forward(x);
    CHECK(torch::equal(z1, x));
    CHECK(torch::equal(z2, x));
    CHECK(torch::equal(ld1, torch::zeros({5})));
    CHECK(torch::equal(ld2, torch::zeros({5})));
    CHECK(torch::equal(realnvp->inverse(x), x));
  }
}

TEST_CASE("parameter count matches the formula for the options", "[flow]") {
  auto count = [](torch::nn::Module& m) {
    int64_t n = 0;
    for (auto& p : m.parameters()) n += p.numel();
    return n;
  };
  // Official StyleGAN preset: D 512, 4 couplings, L 4, H 512, additive, alternating: each coupling
  // maps 256 kept -> 256 changed: 256*512+512 + 2*(512*512+512) + 512*256+256 = 788,224 per coupling.
  auto official = FlowOptions(512).couplings(4).conditioner(ConditionerOptions().hidden(512).layers(4));
  NICE nice(official);
  CHECK(count(*nice) == 4 * 788224);
  CHECK(FlowImpl<AdditiveCoupling>::parameter_count(official) == 4 * 788224);
  // Affine doubles the last layer's outputs; odd widths give ceil/floor halves; LU adds D^2 + D.
  auto o =
      FlowOptions(7).couplings(2).conditioner(ConditionerOptions().hidden(5).layers(2)).linear(LinearPlacement::first);
  RealNVP realnvp(o);
  // coupling 0: kept 4 -> 2*3 outputs: 4*5+5 + 5*6+6 = 61; coupling 1: kept 3 -> 2*4: 3*5+5 + 5*8+8 = 68; LU 56.
  CHECK(count(*realnvp) == 61 + 68 + 56);
  CHECK(FlowImpl<AffineCoupling>::parameter_count(o) == 61 + 68 + 56);
  std::mt19937 rng(5);
  for (int trial = 0; trial < 10; ++trial) {
    auto c = random_case(rng, torch::kFloat32);
    RealNVP a(c.options);
    NICE b(c.options);
    CHECK(count(*a) == FlowImpl<AffineCoupling>::parameter_count(c.options));
    CHECK(count(*b) == FlowImpl<AdditiveCoupling>::parameter_count(c.options));
  }
}

TEST_CASE("invalid options are config errors naming the option", "[flow]") {
  using plugen_test::error_message;
  CHECK_THAT(error_message<ConfigError>([] { RealNVP f(FlowOptions(0)); }), Catch::Contains("dim"));
  CHECK_THAT(error_message<ConfigError>([] { RealNVP f(FlowOptions(1)); }), Catch::Contains("dim"));
  CHECK_THAT(error_message<ConfigError>([] { NICE f(FlowOptions(4).couplings(0)); }), Catch::Contains("couplings"));
  CHECK_THAT(error_message<ConfigError>([] { NICE f(FlowOptions(4).conditioner(ConditionerOptions().hidden(0))); }),
             Catch::Contains("hidden"));
  CHECK_THAT(error_message<ConfigError>([] { NICE f(FlowOptions(4).conditioner(ConditionerOptions().layers(0))); }),
             Catch::Contains("layers"));
  CHECK_THAT(error_message<ConfigError>([] { RealNVP f(FlowOptions(4).scale_bound(0.0)); }),
             Catch::Contains("scale_bound"));
  CHECK_THAT(error_message<ConfigError>([] {
               RealNVP f(FlowOptions(4).couplings(1), std::vector<Partition>{Partition{{0, 1, 2, 3}, {}}});
             }),
             Catch::Contains("non-empty"));
  CHECK_THAT(error_message<ConfigError>([] {
               RealNVP f(FlowOptions(4).couplings(2),
                         std::vector<Partition>{make_partition(4, 0, PartitionKind::alternating, 0)});
             }),
             Catch::Contains("2 partitions"));
}

TEST_CASE("wrong widths and dtypes are shape errors naming expected and actual", "[flow]") {
  RealNVP flow(FlowOptions(6));
  auto msg = plugen_test::error_message<ShapeError>([&] { flow->forward(torch::zeros({3, 5})); });
  CHECK_THAT(msg, Catch::Contains("Flow::forward") && Catch::Contains("(batch, 6)") && Catch::Contains("(3, 5)"));
  msg = plugen_test::error_message<ShapeError>([&] { flow->inverse(torch::zeros({6})); });
  CHECK_THAT(msg, Catch::Contains("Flow::inverse") && Catch::Contains("(6,)"));
  msg = plugen_test::error_message<ShapeError>([&] { flow->forward(torch::zeros({2, 6}, torch::kFloat64)); });
  CHECK_THAT(msg, Catch::Contains("float32") && Catch::Contains("float64"));
}

TEST_CASE("batches of size 0 and 1 work", "[flow]") {
  plugen_test::Seeded seeded;
  auto flow = make_random_flow<RealNVP>({FlowOptions(9).linear(LinearPlacement::first), torch::kFloat32}, 0.2);
  auto [z0, ld0] = flow->forward(torch::zeros({0, 9}));
  CHECK(z0.sizes() == torch::IntArrayRef{0, 9});
  CHECK(ld0.sizes() == torch::IntArrayRef{0});
  CHECK(flow->inverse(torch::zeros({0, 9})).sizes() == torch::IntArrayRef{0, 9});
  auto x = torch::randn({1, 9});
  CHECK(torch::allclose(flow->inverse(std::get<0>(flow->forward(x))), x, 1e-5, 1e-5));
}

TEST_CASE("flows train: gradients reach every conditioner and LU parameter", "[flow]") {
  plugen_test::Seeded seeded;
  RealNVP flow(FlowOptions(8).couplings(2).linear(LinearPlacement::each));
  plugen_test::randomize(*flow, 0.1);
  auto [z, log_det] = flow->forward(torch::randn({4, 8}));
  (0.5 * z.pow(2).sum() - log_det.sum()).backward();
  for (auto& p : flow->named_parameters()) {
    INFO(p.key());
    REQUIRE(p.value().grad().defined());
    CHECK(p.value().grad().abs().sum().item<double>() > 0);
  }
}
