// Tests of plugen/backbone/vae.hpp: VaeBackbone decode/encode round trips with an exact linear VAE,
// tuple and plain encoders, latent-shape discovery, and load-time failures.
#include "backbone/fixtures.hpp"
#include "plugen/backbone.hpp"
#include "support.hpp"

namespace backbone_vae_test {

using namespace plugen;
namespace fx = plugen_backbone_fixtures;
using Catch::Contains;

TEST_CASE("VaeBackbone decodes to [0, 1] and encode inverts decode on the linear VAE", "[backbone][vae]") {
  auto m = fx::linear_vae(6);
  auto path = fx::save(m, "vae_linear.pt");
  VaeBackbone vae(path);
  CHECK(vae.latent_shape() == std::vector<int64_t>{6});
  CHECK(vae.output_shape() == std::vector<int64_t>{1, 4, 4});
  CHECK(vae.input_shape() == std::vector<int64_t>{1, 4, 4});
  CHECK(vae.can_encode());
  CHECK(vae.kind() == "vae");

  auto z = vae.sample_latents(40, 3);
  auto x = vae.decode(z);
  CHECK(x.sizes() == torch::IntArrayRef({40, 1, 4, 4}));
  CHECK(x.min().item<double>() > 0.0);
  CHECK(x.max().item<double>() < 1.0);
  auto expected = 0.5 + 0.05 * z.matmul(m.attr("dec_weight").toTensor());
  CHECK(torch::allclose(x.reshape({40, 16}), expected, 1e-5, 1e-6));

  // encode(decode(z)) = z (A A⁺ = I for a full-row-rank A) and decode(encode(x)) = x for decoded x.
  auto back = vae.encode(x);
  const double z_err = (back - z).abs().max().item<double>();
  const double x_err = (vae.decode(back) - x).abs().max().item<double>();
  INFO("max |encode(decode(z)) - z| = " << z_err << ", max |decode(encode(x)) - x| = " << x_err);
  CHECK(z_err < 1e-3);
  CHECK(x_err < 1e-5);

  // The tuple (mean, logvar) encoder and the plain mean encoder agree.
  VaeBackbone plain(path, VaeOptions().encode_method("encode_mean"));
  CHECK(torch::allclose(plain.encode(x), back, 0.0, 1e-6));
  // Chunking does not change results.
  VaeBackbone chunked(path, VaeOptions().decode_batch(7));
  CHECK(torch::allclose(chunked.decode(z), x, 0.0, 1e-6));
  CHECK(torch::allclose(chunked.encode(x), back, 0.0, 1e-5));
}

TEST_CASE("VaeBackbone maps its data range to [0, 1] and back", "[backbone][vae]") {
  auto m = fx::linear_vae(6);
  auto path = fx::save(m, "vae_range.pt");
  // Declaring [-1, 1]: decode returns (x + 1) / 2 and encode maps inputs by 2u - 1 before the module.
  VaeBackbone vae(path, VaeOptions().data_range(ValueRange::symmetric()));
  VaeBackbone unit(path);
  auto z = unit.sample_latents(5, 1);
  CHECK(torch::allclose(vae.decode(z), (unit.decode(z) + 1.0) / 2.0, 1e-6, 1e-6));
  auto u = vae.decode(z);
  CHECK(torch::allclose(vae.encode(u), z, 1e-3, 1e-3));
}

TEST_CASE("VaeBackbone finds the latent shape from options, attribute or encoder", "[backbone][vae]") {
  torch::jit::Module m("NoAttrVae");
  m.register_parameter("w", torch::randn({3, 8}, make_generator(1)), false);
  m.define(R"JIT(
def decode(self, z):
    return torch.sigmoid(torch.matmul(z, self.w)).view(-1, 2, 2, 2)

def encode(self, x):
    return torch.matmul(x.reshape(x.size(0), -1), self.w.t())
)JIT");
  auto path = fx::save(m, "vae_no_attr.pt");
  CHECK(VaeBackbone(path, VaeOptions().latent_shape({3})).latent_shape() == std::vector<int64_t>{3});
  CHECK(VaeBackbone(path, VaeOptions().input_shape({2, 2, 2})).latent_shape() == std::vector<int64_t>{3});
  auto msg = plugen_test::error_message<BackboneError>([&] { VaeBackbone v(path); });
  CHECK_THAT(msg,
             Contains("vae_no_attr.pt") && Contains("VaeOptions::latent_shape") && Contains("VaeOptions::input_shape"));
  // Decoder-only: no encode method wanted.
  VaeBackbone decoder_only(path, VaeOptions().latent_shape({3}).encode_method(""));
  CHECK_FALSE(decoder_only.can_encode());
  msg = plugen_test::error_message<BackboneError>([&] { decoder_only.encode(torch::zeros({1, 2, 2, 2})); });
  CHECK_THAT(msg, Contains("without an encoder"));
}

TEST_CASE("VaeBackbone load failures are BackboneErrors naming the file and the problem", "[backbone][vae]") {
  SECTION("a module lacking decode") {
    torch::jit::Module m("EncoderOnly");
    m.register_attribute("latent_dim", c10::IntType::get(), int64_t{4});
    m.define("def encode(self, x):\n    return x.reshape(x.size(0), -1)\n");
    auto path = fx::save(m, "vae_no_decode.pt");
    auto msg = plugen_test::error_message<BackboneError>([&] { VaeBackbone v(path); });
    CHECK_THAT(msg, Contains("vae_no_decode.pt") && Contains("no method 'decode'") && Contains("encode") &&
                        Contains("VaeOptions::decode_method"));
  }
  SECTION("a module lacking encode") {
    torch::jit::Module m("DecoderOnly");
    m.register_attribute("latent_dim", c10::IntType::get(), int64_t{4});
    m.define("def decode(self, z):\n    return torch.sigmoid(z).view(-1, 1, 2, 2)\n");
    auto path = fx::save(m, "vae_no_encode.pt");
    auto msg = plugen_test::error_message<BackboneError>([&] { VaeBackbone v(path); });
    CHECK_THAT(msg, Contains("vae_no_encode.pt") && Contains("no method 'encode'"));
    CHECK_NOTHROW(VaeBackbone(path, VaeOptions().encode_method("")));
  }
  SECTION("an encoder returning the wrong latent width") {
    auto m = fx::linear_vae(6, /*encoder_width=*/5);
    auto path = fx::save(m, "vae_wrong_width.pt");
    auto msg = plugen_test::error_message<BackboneError>([&] { VaeBackbone v(path); });
    CHECK_THAT(msg, Contains("vae_wrong_width.pt") && Contains("wrong latent width") && Contains("(2, 5)") &&
                        Contains("(N, 6)"));
  }
  SECTION("latent width option disagreeing with the attribute") {
    auto m = fx::linear_vae(6);
    auto path = fx::save(m, "vae_attr.pt");
    auto msg = plugen_test::error_message<BackboneError>([&] { VaeBackbone v(path, VaeOptions().latent_shape({9})); });
    CHECK_THAT(msg, Contains("vae_attr.pt") && Contains("wrong latent width") && Contains("(9)") && Contains("(6)"));
  }
  SECTION("an encode method with two inputs") {
    torch::jit::Module m("TwoInputEncoder");
    m.register_attribute("latent_dim", c10::IntType::get(), int64_t{4});
    m.define(R"JIT(
def decode(self, z):
    return torch.sigmoid(z).view(-1, 1, 2, 2)

def encode(self, x, y):
    return x.reshape(x.size(0), -1) + y
)JIT");
    auto path = fx::save(m, "vae_arity.pt");
    auto msg = plugen_test::error_message<BackboneError>([&] { VaeBackbone v(path); });
    CHECK_THAT(msg, Contains("vae_arity.pt") && Contains("'encode'") && Contains("(x, y)") && Contains("expected 1"));
  }
  SECTION("a truncated file") {
    auto m = fx::linear_vae(6);
    auto good = fx::save(m, "vae_to_truncate.pt");
    auto path = fx::truncated_copy(good, "vae_truncated.pt", 0.8);
    auto msg = plugen_test::error_message<BackboneError>([&] { VaeBackbone v(path); });
    CHECK_THAT(msg, Contains("vae_truncated.pt") && Contains("TorchScript"));
  }
}

}  // namespace backbone_vae_test
