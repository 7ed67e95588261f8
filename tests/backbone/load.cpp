// Tests of plugen/backbone/load.hpp: load_backbone by kind string, "auto" detection, shared options.
#include "backbone/fixtures.hpp"
#include "plugen/backbone.hpp"
#include "support.hpp"

namespace backbone_load_test {

using namespace plugen;
namespace fx = plugen_backbone_fixtures;
using Catch::Contains;

TEST_CASE("load_backbone picks the adapter from the kind string", "[backbone][load]") {
  auto g = fx::linear_gan(8);
  auto v = fx::linear_vae(6);
  auto d = fx::gaussian_eps_net({1, 4, 4});
  auto gan_path = fx::save(g, "load_gan.pt");
  auto vae_path = fx::save(v, "load_vae.pt");
  auto diffusion_path = fx::save(d, "load_diffusion.pt");

  auto opts = BackboneOptions().decode_batch(7).diffusion(DiffusionOptions().steps(8)).decode_batch(7);
  CHECK(opts.gan().decode_batch() == 7);
  CHECK(opts.diffusion().steps() == 8);
  CHECK(load_backbone(gan_path, "gan", opts).kind() == "gan");
  CHECK(load_backbone(vae_path, "vae", opts).kind() == "vae");
  auto diffusion = load_backbone(diffusion_path, "diffusion", opts);
  CHECK(diffusion.kind() == "diffusion");
  CHECK(diffusion.decode_batch() == 7);
  CHECK(diffusion.get<DiffusionBackbone>().timesteps().size() == 8);
  CHECK(diffusion.can_encode());

  CHECK(load_backbone(gan_path, "auto").kind() == "gan");
  CHECK(load_backbone(vae_path, "auto").kind() == "vae");
  CHECK(load_backbone(diffusion_path, "auto").kind() == "diffusion");

  auto msg = plugen_test::error_message<ConfigError>([&] { load_backbone(gan_path, "flow"); });
  CHECK_THAT(msg, Contains("'flow'") && Contains("gan, vae, diffusion"));
  // The wrong kind for a file: the adapter's probe names the file and the missing method.
  msg = plugen_test::error_message<BackboneError>([&] { load_backbone(gan_path, "vae"); });
  CHECK_THAT(msg, Contains("load_gan.pt") && Contains("no method 'decode'"));
  msg = plugen_test::error_message<BackboneError>([&] { load_backbone(vae_path, "diffusion"); });
  CHECK_THAT(msg, Contains("load_vae.pt") && Contains("no method 'forward'"));
  CHECK_THROWS_AS(load_backbone(fx::temp_path("load_missing.pt"), "gan"), IoError);
}

}  // namespace backbone_load_test
