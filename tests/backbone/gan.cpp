// Tests of plugen/backbone/gan.hpp: GanBackbone in Z, W and W+ space, fixed noise, seeding, chunking,
// and every load-time failure as a BackboneError naming the file and the problem.
#include "backbone/fixtures.hpp"
#include "plugen/backbone.hpp"
#include "support.hpp"

namespace backbone_gan_test {

using namespace plugen;
namespace fx = plugen_backbone_fixtures;
using Catch::Contains;

TEST_CASE("GanBackbone decodes z to (N, 1, 4, 4) images in [0, 1] equal to the closed form", "[backbone][gan]") {
  auto m = fx::linear_gan(8);
  auto path = fx::save(m, "gan_linear.pt");
  GanBackbone gan(path);
  CHECK(gan.latent_shape() == std::vector<int64_t>{8});
  CHECK(gan.output_shape() == std::vector<int64_t>{1, 4, 4});
  CHECK(gan.z_dim() == 8);
  CHECK(gan.kind() == "gan");
  CHECK_THAT(gan.describe(), Contains("gan_linear.pt") && Contains("(1, 4, 4)"));

  auto z = torch::randn({5, 8}, make_generator(3));
  auto x = gan.decode(z);
  CHECK(x.sizes() == torch::IntArrayRef({5, 1, 4, 4}));
  CHECK(x.scalar_type() == torch::kFloat32);
  CHECK(x.min().item<double>() >= 0.0);
  CHECK(x.max().item<double>() <= 1.0);
  // tanh outputs in [-1, 1] mapped to [0, 1] by the default data range.
  auto expected = (torch::tanh(z.matmul(m.attr("weight").toTensor()) + m.attr("bias").toTensor()) + 1.0) / 2.0;
  CHECK(torch::allclose(x.reshape({5, 16}), expected, 1e-5, 1e-6));
  // The identity data range with clamp off returns the raw outputs.
  GanBackbone raw(path, GanOptions().data_range(ValueRange::unit()).clamp(false));
  CHECK(torch::allclose(raw.decode(z).reshape({5, 16}), expected * 2.0 - 1.0, 1e-5, 1e-6));
  // Empty batches and flattened latents are accepted.
  CHECK(gan.decode(torch::zeros({0, 8})).sizes() == torch::IntArrayRef({0, 1, 4, 4}));
}

TEST_CASE("GanBackbone chunked decoding equals unchunked decoding", "[backbone][gan]") {
  auto m = fx::linear_gan(8);
  auto path = fx::save(m, "gan_chunks.pt");
  GanBackbone whole(path, GanOptions().decode_batch(256));
  auto z = torch::randn({23, 8}, make_generator(5));
  auto reference = whole.decode(z);
  for (int64_t batch : {1, 3, 7, 22, 23, 64}) {
    GanBackbone chunked(path, GanOptions().decode_batch(batch));
    auto x = chunked.decode(z);
    INFO("decode_batch " << batch << ", max |diff| " << (x - reference).abs().max().item<double>());
    CHECK(torch::allclose(x, reference, 0.0, 1e-6));
  }
}

TEST_CASE("GanBackbone: same seed gives bitwise the same latents and images, whatever n", "[backbone][gan]") {
  auto m = fx::linear_gan(8);
  auto path = fx::save(m, "gan_seed.pt");
  GanBackbone a(path), b(path);
  auto z1 = a.sample_latents(6, 42);
  auto z2 = b.sample_latents(6, 42);
  CHECK(torch::equal(z1, z2));
  CHECK(torch::equal(a.sample_latents(3, 42), z1.narrow(0, 0, 3)));  // sample i depends only on (seed, i)
  CHECK_FALSE(torch::equal(a.sample_latents(6, 43), z1));
  CHECK(torch::equal(a.decode(z1), b.decode(z2)));
  CHECK(torch::equal(a.decode(z1), a.decode(z1)));
  // The prior is N(0, I): mean and std of 2000 x 8 draws are within 5 standard errors (5 / sqrt(16000) = 0.04).
  auto many = a.sample_latents(2000, 7);
  CHECK(std::abs(many.mean().item<double>()) < 0.04);
  CHECK(std::abs(many.std().item<double>() - 1.0) < 0.04);
}

TEST_CASE("GanBackbone outputs are ordinary tensors, usable outside inference mode", "[backbone][gan]") {
  auto m = fx::linear_gan(8);
  GanBackbone gan(m, GanOptions(), "<linear gan>");
  auto x = gan.decode(torch::randn({2, 8}));
  CHECK_FALSE(x.is_inference());
  CHECK_NOTHROW(x.add_(1.0));
  auto p = torch::ones({1}, torch::requires_grad());
  auto loss = (x * p).sum();
  loss.backward();
  CHECK(p.grad().defined());
}

TEST_CASE("GanBackbone fixed noise inputs make a latent always decode to the same image", "[backbone][gan]") {
  auto m = fx::noisy_gan(8);
  auto path = fx::save(m, "gan_noise.pt");
  auto opts = GanOptions().noise_shapes({{1, 4, 4}}).noise_seed(9);
  GanBackbone a(path, opts), b(path, opts), other(path, GanOptions(opts).noise_seed(10));
  REQUIRE(a.noise().size() == 1);
  CHECK(a.noise()[0].sizes() == torch::IntArrayRef({1, 1, 4, 4}));
  auto z = a.sample_latents(5, 1);
  auto x = a.decode(z);
  CHECK(torch::equal(x, b.decode(z)));
  // The same image alone or in a batch (up to the BLAS's batch-size-dependent rounding).
  CHECK(torch::allclose(x.narrow(0, 2, 1), a.decode(z.narrow(0, 2, 1)), 0.0, 1e-6));
  CHECK_FALSE(torch::equal(x, other.decode(z)));
  // Without the noise input the module's forward(z, noise) does not fit: the arity is named.
  auto msg = plugen_test::error_message<BackboneError>([&] { GanBackbone bad(path); });
  CHECK_THAT(msg,
             Contains("gan_noise.pt") && Contains("'forward'") && Contains("(z, noise)") && Contains("expected 1"));
}

TEST_CASE("GanBackbone works in W and W+ with mapping and synthesis", "[backbone][gan]") {
  auto m = fx::style_gan(8);
  auto path = fx::save(m, "gan_style.pt");
  GanBackbone zspace(path);
  GanBackbone w(path, GanOptions().space(LatentSpace::w));
  GanBackbone wplus(path, GanOptions().space(LatentSpace::w_plus));
  CHECK(w.latent_shape() == std::vector<int64_t>{6});
  CHECK(wplus.latent_shape() == std::vector<int64_t>{3, 6});
  CHECK(wplus.output_shape() == std::vector<int64_t>{1, 4, 4});

  auto z = zspace.sample_latents(4, 11);
  auto ws = w.sample_latents(4, 11);
  auto wps = wplus.sample_latents(4, 11);
  CHECK(ws.sizes() == torch::IntArrayRef({4, 6}));
  CHECK(wps.sizes() == torch::IntArrayRef({4, 3, 6}));
  CHECK(torch::allclose(ws, z.matmul(m.attr("map_weight").toTensor()), 1e-5, 1e-6));
  // The same z decodes to the same image in all three spaces (W broadcasts w to every layer).
  auto x = zspace.decode(z);
  CHECK(torch::allclose(w.decode(ws), x, 1e-5, 1e-6));
  CHECK(torch::allclose(wplus.decode(wps), x, 1e-5, 1e-6));
  // Flattened W+ latents (N, 18) are accepted; changing one layer's w changes the image (W+ is richer than W).
  CHECK(torch::allclose(wplus.decode(wps.reshape({4, 18})), x, 1e-5, 1e-6));
  auto edited = wps.clone();
  edited.select(1, 2).add_(1.0);
  CHECK_FALSE(torch::allclose(wplus.decode(edited), x, 1e-4, 1e-5));
  CHECK(torch::allclose(wplus.map(z), wps));

  // A module with a plain (N, D) mapping cannot give W+.
  torch::jit::Module flat("FlatMapping");
  flat.register_attribute("latent_dim", c10::IntType::get(), int64_t{4});
  fx::declare_range(flat, -1.0, 1.0);
  flat.define(R"JIT(
def mapping(self, z):
    return z * 2.0

def synthesis(self, w):
    return torch.tanh(w).view(-1, 1, 2, 2)
)JIT");
  auto flat_path = fx::save(flat, "gan_flat_mapping.pt");
  CHECK(GanBackbone(flat_path, GanOptions().space(LatentSpace::w)).latent_shape() == std::vector<int64_t>{4});
  auto msg = plugen_test::error_message<BackboneError>(
      [&] { GanBackbone bad(flat_path, GanOptions().space(LatentSpace::w_plus)); });
  CHECK_THAT(msg, Contains("gan_flat_mapping.pt") && Contains("w+") && Contains("'mapping'"));
}

TEST_CASE("GanBackbone load failures are BackboneErrors naming the file and the problem", "[backbone][gan]") {
  auto good = fx::linear_gan(8);
  auto good_path = fx::save(good, "gan_good.pt");

  SECTION("missing file: an IoError") {
    auto msg = plugen_test::error_message<IoError>([&] { GanBackbone g(fx::temp_path("no_such_gan.pt")); });
    CHECK_THAT(msg, Contains("no_such_gan.pt") && Contains("does not exist"));
  }
  SECTION("truncated file") {
    auto path = fx::truncated_copy(good_path, "gan_truncated.pt");
    auto msg = plugen_test::error_message<BackboneError>([&] { GanBackbone g(path); });
    CHECK_THAT(msg, Contains("gan_truncated.pt") && Contains("not a loadable TorchScript module"));
  }
  SECTION("a text file") {
    auto path = fx::write_text("gan_text.pt", "this is not a model\n");
    auto msg = plugen_test::error_message<BackboneError>([&] { GanBackbone g(path); });
    CHECK_THAT(msg, Contains("gan_text.pt") && Contains("not a loadable TorchScript module"));
  }
  SECTION("an empty file") {
    auto path = fx::write_text("gan_empty.pt", "");
    auto msg = plugen_test::error_message<BackboneError>([&] { GanBackbone g(path); });
    CHECK_THAT(msg, Contains("gan_empty.pt"));
  }
  SECTION("a module lacking the method") {
    auto msg = plugen_test::error_message<BackboneError>(
        [&] { GanBackbone g(good_path, GanOptions().forward_method("generate")); });
    CHECK_THAT(msg, Contains("gan_good.pt") && Contains("no method 'generate'") && Contains("forward") &&
                        Contains("GanOptions::forward_method"));
    msg = plugen_test::error_message<BackboneError>(
        [&] { GanBackbone g(good_path, GanOptions().space(LatentSpace::w)); });
    CHECK_THAT(msg, Contains("no method 'mapping'") && Contains("GanOptions::mapping_method"));
  }
  SECTION("a method with the wrong number of inputs") {
    torch::jit::Module m("TwoInputs");
    m.register_attribute("latent_dim", c10::IntType::get(), int64_t{8});
    m.define(R"JIT(
def forward(self, z, label):
    return torch.tanh(z + label).view(-1, 1, 2, 4)
)JIT");
    auto path = fx::save(m, "gan_arity.pt");
    auto msg = plugen_test::error_message<BackboneError>([&] { GanBackbone g(path); });
    CHECK_THAT(msg, Contains("gan_arity.pt") && Contains("'forward'") && Contains("2 input(s) (z, label)") &&
                        Contains("expected 1"));
  }
  SECTION("wrong latent width: option against attribute") {
    auto msg =
        plugen_test::error_message<BackboneError>([&] { GanBackbone g(good_path, GanOptions().latent_dim(17)); });
    CHECK_THAT(msg, Contains("gan_good.pt") && Contains("wrong latent width") && Contains("17") && Contains("8"));
  }
  SECTION("wrong latent width: the probe call fails inside the module") {
    auto m = fx::linear_gan(8, /*with_attribute=*/false);
    auto path = fx::save(m, "gan_no_attr.pt");
    auto msg = plugen_test::error_message<BackboneError>([&] { GanBackbone g(path, GanOptions().latent_dim(17)); });
    CHECK_THAT(
        msg, Contains("gan_no_attr.pt") && Contains("'forward'") && Contains("(2, 17)") && Contains("latent width 17"));
    CHECK(GanBackbone(path, GanOptions().latent_dim(8)).latent_shape() == std::vector<int64_t>{8});
  }
  SECTION("unknown latent width") {
    auto m = fx::linear_gan(8, /*with_attribute=*/false);
    auto path = fx::save(m, "gan_unknown_width.pt");
    auto msg = plugen_test::error_message<BackboneError>([&] { GanBackbone g(path); });
    CHECK_THAT(msg, Contains("gan_unknown_width.pt") && Contains("GanOptions::latent_dim") && Contains("latent_dim"));
  }
  SECTION("wrong output shape or type") {
    auto msg = plugen_test::error_message<BackboneError>([&] {
      GanBackbone g(good_path, GanOptions().output_shape({3, 4, 4}));
    });
    CHECK_THAT(msg, Contains("gan_good.pt") && Contains("wrong output shape") && Contains("(1, 4, 4)") &&
                        Contains("(3, 4, 4)"));
    torch::jit::Module m("TupleGan");
    m.register_attribute("latent_dim", c10::IntType::get(), int64_t{4});
    m.define(R"JIT(
def forward(self, z):
    return z, z
)JIT");
    auto path = fx::save(m, "gan_tuple.pt");
    msg = plugen_test::error_message<BackboneError>([&] { GanBackbone g(path); });
    CHECK_THAT(msg, Contains("gan_tuple.pt") && Contains("'forward'") && Contains("tuple"));
    torch::jit::Module s("ScalarGan");
    s.register_attribute("latent_dim", c10::IntType::get(), int64_t{4});
    s.define(R"JIT(
def forward(self, z):
    return z.sum(1)
)JIT");
    path = fx::save(s, "gan_scalar.pt");
    msg = plugen_test::error_message<BackboneError>([&] { GanBackbone g(path); });
    CHECK_THAT(msg, Contains("gan_scalar.pt") && Contains("wrong output shape") && Contains("(2,)"));
  }
  SECTION("an attribute of the wrong type") {
    torch::jit::Module m("StringAttr");
    m.register_attribute("latent_dim", c10::StringType::get(), std::string("eight"));
    m.define("def forward(self, z):\n    return z.view(-1, 1, 2, 2)\n");
    auto path = fx::save(m, "gan_string_attr.pt");
    auto msg = plugen_test::error_message<BackboneError>([&] { GanBackbone g(path); });
    CHECK_THAT(msg, Contains("gan_string_attr.pt") && Contains("'latent_dim'") && Contains("expected an int"));
  }
}

TEST_CASE("GanBackbone takes the data range from options, module attributes, or [0, 1]", "[backbone][gan]") {
  auto declared = fx::linear_gan(8);
  CHECK(GanBackbone(declared, GanOptions(), "<declared>").data_range() == ValueRange::symmetric());
  // The option wins over the attributes.
  CHECK(GanBackbone(declared, GanOptions().data_range(ValueRange{-2.0, 2.0}), "<declared>").data_range() ==
        ValueRange{-2.0, 2.0});
  // Undeclared tanh outputs taken for [0, 1] would decode washed out: the probe refuses them.
  auto undeclared = fx::linear_gan(8, true, 1, /*with_range=*/false);
  auto path = fx::save(undeclared, "gan_undeclared_range.pt");
  auto msg = plugen_test::error_message<BackboneError>([&] { GanBackbone g(path); });
  CHECK_THAT(msg, Contains("gan_undeclared_range.pt") && Contains("'forward'") && Contains("data range [0, 1]") &&
                      Contains("GanOptions::data_range") && Contains("data_min"));
  CHECK(GanBackbone(path, GanOptions().data_range(ValueRange::symmetric())).data_range() == ValueRange::symmetric());
  CHECK(GanBackbone(path, GanOptions().clamp(false)).data_range() == ValueRange::unit());  // raw outputs: no check
  CHECK(GanBackbone(path, GanOptions().clamp(false).data_range_attributes({"", ""})).data_range() ==
        ValueRange::unit());
  // Half a declaration is an error.
  torch::jit::Module half = fx::linear_gan(8, true, 1, false);
  half.register_attribute("data_min", c10::FloatType::get(), -1.0);
  msg = plugen_test::error_message<BackboneError>([&] { GanBackbone g(half, GanOptions(), "<half>"); });
  CHECK_THAT(msg, Contains("'data_min' but not 'data_max'"));
}

TEST_CASE("GanBackbone::decode rejects latents of the wrong width as a ShapeError", "[backbone][gan]") {
  auto m = fx::linear_gan(8);
  GanBackbone gan(m, GanOptions(), "<linear gan>");
  auto msg = plugen_test::error_message<ShapeError>([&] { gan.decode(torch::zeros({3, 7})); });
  CHECK_THAT(msg, Contains("GanBackbone::decode") && Contains("(N, 8)") && Contains("(3, 7)"));
  CHECK_THROWS_AS(gan.decode(torch::zeros({3, 8}, torch::kInt64)), ShapeError);
  CHECK_THROWS_AS(GanBackbone(m, GanOptions().decode_batch(0)), ConfigError);
  CHECK(parse_latent_space("w+") == LatentSpace::w_plus);
  CHECK_THROWS_AS(parse_latent_space("x"), ConfigError);
}

}  // namespace backbone_gan_test
