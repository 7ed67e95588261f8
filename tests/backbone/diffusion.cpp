// Tests of plugen/backbone/diffusion.hpp: DDIM timesteps, DDIM decode of DDIM-inverted latents with the
// exact Gaussian noise predictor (reporting the round-trip error), schedules, and load-time failures.
#include "backbone/fixtures.hpp"
#include "plugen/backbone.hpp"
#include "support.hpp"

namespace backbone_diffusion_test {

using namespace plugen;
namespace fx = plugen_backbone_fixtures;
using Catch::Contains;

// Smooth test images in [0.1, 0.9]: x0 ~ a blob whose position and contrast vary per sample.
torch::Tensor smooth_images(int64_t n) {
  auto gen = make_generator(21);
  auto yy = torch::arange(4, torch::kFloat32).view({1, 1, 4, 1});
  auto xx = torch::arange(4, torch::kFloat32).view({1, 1, 1, 4});
  auto cy = torch::rand({n, 1, 1, 1}, gen) * 3.0, cx = torch::rand({n, 1, 1, 1}, gen) * 3.0;
  auto contrast = 0.3 + 0.5 * torch::rand({n, 1, 1, 1}, gen);
  return 0.1 + contrast * torch::exp(-((yy - cy).pow(2) + (xx - cx).pow(2)) / 4.0);
}

TEST_CASE("ddim_timesteps spaces the steps as documented", "[backbone][diffusion]") {
  CHECK(ddim_timesteps(1000, 5, TimestepSpacing::linspace) == std::vector<int64_t>{0, 250, 500, 749, 999});
  CHECK(ddim_timesteps(1000, 5, TimestepSpacing::leading) == std::vector<int64_t>{0, 200, 400, 600, 800});
  CHECK(ddim_timesteps(1000, 5, TimestepSpacing::trailing) == std::vector<int64_t>{199, 399, 599, 799, 999});
  CHECK(ddim_timesteps(10, 10, TimestepSpacing::linspace) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(ddim_timesteps(1000, 1, TimestepSpacing::linspace) == std::vector<int64_t>{999});
  CHECK_THROWS_AS(ddim_timesteps(10, 11, TimestepSpacing::linspace), ConfigError);
  CHECK(parse_timestep_spacing("trailing") == TimestepSpacing::trailing);
  CHECK_THROWS_AS(parse_timestep_spacing("cosine"), ConfigError);
}

TEST_CASE("DDIM decode of DDIM-inverted latents reconstructs the input", "[backbone][diffusion]") {
  auto m = fx::gaussian_eps_net({1, 4, 4}, true, true, /*s=*/0.5);
  auto path = fx::save(m, "diffusion_gaussian.pt");
  auto x0 = smooth_images(12);
  // For Gaussian data N(0, s² I) the probability-flow ODE is a pure scaling, x_t = x_0 √(ᾱ_t s² + 1 - ᾱ_t) / s,
  // so the exact DDIM latent of x_0 is known in closed form (ᾱ at the last timestep, T - 1 = 999).
  const double a = fx::linear_alphas_cumprod()[999].item<double>();
  auto exact_xT = (2.0 * x0 - 1.0) * std::sqrt(a * 0.25 + 1.0 - a) / 0.5;
  // Bounds: DDIM is a first-order solver of that ODE and plain inversion evaluates ε one step early, so the
  // errors shrink like 1/S. Measured with this fixture (0-1 image units): round trip 0.056 (20 steps), 0.0106
  // (100), 0.0021 (500); the bounds leave 2x headroom for other BLAS/CPU rounding.
  for (auto [steps, bound] : {std::pair<int64_t, double>{20, 0.11}, {100, 0.021}, {500, 0.0042}}) {
    DiffusionBackbone diffusion(path, DiffusionOptions().steps(steps));
    auto xT = diffusion.encode(x0);
    auto back = diffusion.decode(xT);
    const double err = (back - x0).abs().max().item<double>();
    const double latent_err = (xT - exact_xT).abs().max().item<double>();
    INFO("DDIM round trip, " << steps << " steps: max |decode(encode(x0)) - x0| = " << err << " (bound " << bound
                             << "); max |encode(x0) - exact x_T| = " << latent_err);
    CHECK(err < bound);
    CHECK(latent_err < bound);  // the inverted latent is the ODE's x_T, not just any preimage
  }
  // Fixed-point refinement evaluates ε where decode will, so the round-trip error falls geometrically (by ~5x
  // per iteration here). Measured at 20 steps: 0.0115 (1 refinement), 4.9e-4 (3), 2.8e-7 (10); 2x+ headroom.
  for (auto [r, bound] : {std::pair<int64_t, double>{1, 0.025}, {3, 1e-3}, {10, 1e-5}}) {
    DiffusionBackbone refined(path, DiffusionOptions().steps(20).inversion_refinement(r));
    const double refined_err = (refined.decode(refined.encode(x0)) - x0).abs().max().item<double>();
    INFO("DDIM round trip, 20 steps, " << r << " refinements: max error " << refined_err << " (bound " << bound << ")");
    CHECK(refined_err < bound);
  }
}

TEST_CASE("DiffusionBackbone decodes noise to images in [0, 1]; chunking and seeds are invariant",
          "[backbone][diffusion]") {
  auto m = fx::gaussian_eps_net({1, 4, 4});
  auto path = fx::save(m, "diffusion_decode.pt");
  DiffusionBackbone diffusion(path, DiffusionOptions().steps(10));
  CHECK(diffusion.latent_shape() == std::vector<int64_t>{1, 4, 4});
  CHECK(diffusion.output_shape() == std::vector<int64_t>{1, 4, 4});
  CHECK(diffusion.timesteps().size() == 10);
  CHECK(diffusion.alphas_cumprod().size(0) == 1000);
  CHECK(diffusion.kind() == "diffusion");
  auto xT = diffusion.sample_latents(9, 5);
  CHECK(xT.sizes() == torch::IntArrayRef({9, 1, 4, 4}));
  auto x = diffusion.decode(xT);
  CHECK(x.sizes() == torch::IntArrayRef({9, 1, 4, 4}));
  CHECK(x.min().item<double>() >= 0.0);
  CHECK(x.max().item<double>() <= 1.0);
  CHECK(torch::equal(diffusion.decode(diffusion.sample_latents(9, 5)), x));
  CHECK(torch::equal(diffusion.decode(xT.reshape({9, 16})), x));  // flattened latents
  DiffusionBackbone chunked(path, DiffusionOptions().steps(10).decode_batch(4));
  CHECK(torch::allclose(chunked.decode(xT), x, 0.0, 1e-6));
  // The exact denoiser of N(0, 0.25) data maps N(0, 1) noise to samples of std ≈ 0.5 (in [-1, 1]), i.e. ≈ 0.25 in
  // [0, 1] units. With 6400 values the sampling error of the std is ~0.002; DDIM's discretization at 50 steps
  // shrinks it a little (measured 0.231), so 0.03 bounds bias plus noise with room to spare.
  DiffusionBackbone raw(path, DiffusionOptions().steps(50).clamp(false));
  auto samples = raw.decode(raw.sample_latents(400, 1));
  INFO("std of DDIM samples (0-1 units): " << samples.std().item<double>());
  CHECK(std::abs(samples.std().item<double>() - 0.25) < 0.03);
}

TEST_CASE("DiffusionBackbone reads its data range from attributes and can clip x0 while decoding",
          "[backbone][diffusion]") {
  auto m = fx::gaussian_eps_net({1, 4, 4});
  CHECK(DiffusionBackbone(m, DiffusionOptions().steps(5), "<default>").data_range() == ValueRange::symmetric());
  auto unit = fx::gaussian_eps_net({1, 4, 4});
  fx::declare_range(unit, 0.0, 1.0);
  CHECK(DiffusionBackbone(unit, DiffusionOptions().steps(5), "<unit>").data_range() == ValueRange::unit());
  // Clipping x̂_0 to [-1, 1] changes samples whose prediction leaves the range, and never the inversion.
  DiffusionBackbone plain(m, DiffusionOptions().steps(10).clamp(false), "<plain>");
  DiffusionBackbone clipped(m, DiffusionOptions().steps(10).clamp(false).clip_denoised(true), "<clipped>");
  auto xT = plain.sample_latents(64, 2) * 3.0;  // large noise: the first x̂_0 leave [-1, 1]
  CHECK_FALSE(torch::allclose(clipped.decode(xT), plain.decode(xT)));
  auto x0 = torch::rand({4, 1, 4, 4}, make_generator(1));
  CHECK(torch::equal(clipped.encode(x0), plain.encode(x0)));
}

TEST_CASE("DiffusionBackbone takes the schedule from options and the shape from options", "[backbone][diffusion]") {
  auto m = fx::gaussian_eps_net({1, 4, 4}, /*with_schedule=*/true, /*with_shape=*/false);
  auto path = fx::save(m, "diffusion_no_shape.pt");
  auto msg = plugen_test::error_message<BackboneError>([&] { DiffusionBackbone d(path); });
  CHECK_THAT(
      msg, Contains("diffusion_no_shape.pt") && Contains("DiffusionOptions::sample_shape") && Contains("sample_shape"));
  DiffusionBackbone d(path, DiffusionOptions().sample_shape({1, 4, 4}).steps(5));
  CHECK(d.latent_shape() == std::vector<int64_t>{1, 4, 4});
  // A schedule given in options replaces the module's (here: a shorter one).
  auto short_schedule = fx::linear_alphas_cumprod(100);
  DiffusionBackbone s(path, DiffusionOptions().sample_shape({1, 4, 4}).alphas_cumprod(short_schedule).steps(100));
  CHECK(s.alphas_cumprod().size(0) == 100);
  CHECK(s.timesteps().back() == 99);
  // A float timestep dtype is passed through (this net indexes with t, so float t fails: named clearly).
  msg = plugen_test::error_message<BackboneError>([&] {
    DiffusionBackbone f(path, DiffusionOptions().sample_shape({1, 4, 4}).timestep_dtype(torch::kFloat32));
  });
  CHECK_THAT(msg, Contains("diffusion_no_shape.pt") && Contains("'forward'") && Contains("float32"));
}

TEST_CASE("DiffusionBackbone load failures are BackboneErrors naming the file and the problem",
          "[backbone][diffusion]") {
  SECTION("no schedule") {
    torch::jit::Module m("NoSchedule");
    m.register_attribute("sample_shape", c10::ListType::ofInts(), c10::List<int64_t>({1, 2, 2}));
    m.define("def forward(self, x, t):\n    return x * 0.5\n");
    auto path = fx::save(m, "diffusion_no_schedule.pt");
    auto msg = plugen_test::error_message<BackboneError>([&] { DiffusionBackbone d(path); });
    CHECK_THAT(msg, Contains("diffusion_no_schedule.pt") && Contains("'alphas_cumprod'") &&
                        Contains("DiffusionOptions::schedule_attribute"));
    CHECK_NOTHROW(DiffusionBackbone(path, DiffusionOptions().alphas_cumprod(fx::linear_alphas_cumprod(50)).steps(5)));
  }
  SECTION("a schedule that is not alphas_cumprod") {
    auto msg = plugen_test::error_message<BackboneError>([&] {
      auto m = fx::gaussian_eps_net();
      DiffusionBackbone d(m, DiffusionOptions().alphas_cumprod(torch::linspace(1e-4, 0.02, 100)), "<betas>");
    });
    CHECK_THAT(msg, Contains("DiffusionOptions::alphas_cumprod") && Contains("increase"));
    msg = plugen_test::error_message<BackboneError>([&] {
      auto m = fx::gaussian_eps_net();
      DiffusionBackbone d(m, DiffusionOptions().alphas_cumprod(torch::ones({2, 3})), "<2d>");
    });
    CHECK_THAT(msg, Contains("(2, 3)"));
  }
  SECTION("more steps than the schedule has") {
    auto m = fx::gaussian_eps_net();
    CHECK_THROWS_AS(DiffusionBackbone(m, DiffusionOptions().steps(1001)), ConfigError);
    CHECK_THROWS_AS(DiffusionBackbone(m, DiffusionOptions().steps(0)), ConfigError);
  }
  SECTION("a network whose output shape differs from x_t") {
    torch::jit::Module m("WrongEps");
    m.register_buffer("alphas_cumprod", fx::linear_alphas_cumprod(10));
    m.register_attribute("sample_shape", c10::ListType::ofInts(), c10::List<int64_t>({1, 2, 2}));
    m.define("def forward(self, x, t):\n    return x.sum(1)\n");
    auto path = fx::save(m, "diffusion_wrong_eps.pt");
    auto msg =
        plugen_test::error_message<BackboneError>([&] { DiffusionBackbone d(path, DiffusionOptions().steps(5)); });
    CHECK_THAT(msg, Contains("diffusion_wrong_eps.pt") && Contains("wrong output shape") && Contains("(2, 2, 2)") &&
                        Contains("(2, 1, 2, 2)"));
  }
  SECTION("a network with one input") {
    torch::jit::Module m("OneInput");
    m.register_buffer("alphas_cumprod", fx::linear_alphas_cumprod(10));
    m.define("def forward(self, x):\n    return x\n");
    auto path = fx::save(m, "diffusion_one_input.pt");
    auto msg = plugen_test::error_message<BackboneError>([&] { DiffusionBackbone d(path); });
    CHECK_THAT(msg, Contains("diffusion_one_input.pt") && Contains("1 input(s) (x)") && Contains("(x_t, t)"));
  }
  SECTION("a wrong sample shape: the probe call fails inside the module") {
    torch::jit::Module m("FixedShape");
    m.register_buffer("alphas_cumprod", fx::linear_alphas_cumprod(10));
    m.register_parameter("w", torch::ones({4, 4}), false);
    m.define("def forward(self, x, t):\n    return torch.matmul(x.reshape(x.size(0), -1), self.w).view(x.shape)\n");
    auto path = fx::save(m, "diffusion_shape.pt");
    auto msg = plugen_test::error_message<BackboneError>([&] {
      DiffusionBackbone d(path, DiffusionOptions().sample_shape({1, 3, 3}).steps(5));
    });
    CHECK_THAT(msg, Contains("diffusion_shape.pt") && Contains("'forward'") && Contains("(2, 1, 3, 3)") &&
                        Contains("sample shape"));
  }
}

}  // namespace backbone_diffusion_test
