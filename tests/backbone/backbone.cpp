// Tests of plugen/backbone/backbone.hpp and its internals: value ranges, latent shaping, per-sample
// seeding, chunk mapping, and the wrapping of foreign TorchScript errors.
#include "plugen/backbone.hpp"
#include "backbone/fixtures.hpp"
#include "support.hpp"

namespace backbone_contract_test {

using namespace plugen;
namespace fx = plugen_backbone_fixtures;
using Catch::Contains;

TEST_CASE("ValueRange maps its interval to [0, 1] and back", "[backbone]") {
  auto x = torch::tensor({-1.0f, 0.0f, 1.0f, 1.5f});
  auto u = ValueRange::symmetric().to_unit(x, /*clamp=*/false);
  CHECK(torch::allclose(u, torch::tensor({0.0f, 0.5f, 1.0f, 1.25f})));
  CHECK(torch::allclose(ValueRange::symmetric().to_unit(x, true), torch::tensor({0.0f, 0.5f, 1.0f, 1.0f})));
  CHECK(torch::allclose(ValueRange::symmetric().from_unit(u), x));
  CHECK(torch::equal(ValueRange::unit().to_unit(x, false), x));
  CHECK(ValueRange{0.0, 255.0}.to_unit(torch::tensor({51.0f}), true).item<float>() == Approx(0.2));
  CHECK_THROWS_AS((ValueRange{1.0, 1.0}.validate("r")), ConfigError);
  CHECK_THROWS_AS((ValueRange{0.0, std::nan("")}.validate("r")), ConfigError);
}

TEST_CASE("shape_latents accepts (N, *shape) and flattened latents, and names both shapes otherwise", "[backbone]") {
  CHECK(plugen::detail::shape_latents(torch::zeros({2, 3, 4}), {3, 4}, "f").sizes() == torch::IntArrayRef({2, 3, 4}));
  CHECK(plugen::detail::shape_latents(torch::zeros({2, 12}), {3, 4}, "f").sizes() == torch::IntArrayRef({2, 3, 4}));
  CHECK(plugen::detail::shape_latents(torch::zeros({0, 5}), {5}, "f").size(0) == 0);
  auto msg = plugen_test::error_message<ShapeError>([] {
    plugen::detail::shape_latents(torch::zeros({2, 11}), {3, 4}, "f");
  });
  CHECK_THAT(msg, Contains("f:") && Contains("(N, 3, 4)") && Contains("(N, 12)") && Contains("(2, 11)"));
  CHECK_THROWS_AS(plugen::detail::shape_latents(torch::Tensor(), {3}, "f"), ShapeError);
  CHECK_THROWS_AS(plugen::detail::shape_latents(torch::zeros({2}), {3}, "f"), ShapeError);
}

TEST_CASE("per_sample_normal: sample i depends only on (seed, i)", "[backbone]") {
  auto a = plugen::detail::per_sample_normal(5, {2, 3}, 9);
  auto b = plugen::detail::per_sample_normal(8, {2, 3}, 9);
  CHECK(a.sizes() == torch::IntArrayRef({5, 2, 3}));
  CHECK(torch::equal(a, b.narrow(0, 0, 5)));
  CHECK_FALSE(torch::equal(a[0], a[1]));
  CHECK(torch::equal(a[3], torch::randn({2, 3}, make_generator(derive_seed(9, 3)))));
}

TEST_CASE("map_chunks assembles chunk results and checks their rows", "[backbone]") {
  auto x = torch::arange(10, torch::kFloat32).view({10, 1});
  int calls = 0;
  auto y = plugen::detail::map_chunks(x, 4, torch::kCPU, {2}, torch::kFloat32, "who", [&](const torch::Tensor& c) {
    ++calls;
    return torch::cat({c, c * 2}, 1);
  });
  CHECK(calls == 3);
  CHECK(torch::equal(y.select(1, 1), x.view({10}) * 2));
  CHECK_FALSE(y.is_inference());
  CHECK(plugen::detail::map_chunks(torch::zeros({0, 1}), 4, torch::kCPU, {2, 5}, torch::kFloat32, "who",
                                   [](const torch::Tensor& c) { return c; })
            .sizes() == torch::IntArrayRef({0, 2, 5}));
  auto msg = plugen_test::error_message<BackboneError>([&] {
    plugen::detail::map_chunks(x, 4, torch::kCPU, {1}, torch::kFloat32, "who",
                               [](const torch::Tensor& c) { return c.narrow(0, 0, 1); });
  });
  CHECK_THAT(msg, Contains("who:") && Contains("chunk of 4 inputs"));
}

TEST_CASE("foreign TorchScript runtime errors become BackboneErrors with the useful line", "[backbone]") {
  torch::jit::Module m("Raises");
  m.define(R"JIT(
def forward(self, x):
    return torch.matmul(x, torch.ones(3, 3))
)JIT");
  auto method = m.get_method("forward");
  auto msg = plugen_test::error_message<BackboneError>([&] {
    plugen::detail::call_method(method, {torch::zeros({2, 5})}, "file.pt", "Test::probe", "a hint");
  });
  CHECK_THAT(msg, Contains("Test::probe") && Contains("'forward'") && Contains("'file.pt'") && Contains("(2, 5)") &&
                      Contains("a hint"));
  CHECK(msg.find('\n') == std::string::npos);  // one line, no TorchScript traceback
  CHECK(plugen::detail::first_line("  \n first \nsecond") == "first");
}

}  // namespace backbone_contract_test
