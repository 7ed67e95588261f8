// Tests of plugen/backbone/label.hpp: auto-labelled and encoded latent data sets.
#include "backbone/fixtures.hpp"
#include "plugen/backbone.hpp"
#include "support.hpp"

namespace backbone_label_test {

using namespace plugen;
namespace fx = plugen_backbone_fixtures;
using Catch::Contains;

TEST_CASE("auto_label samples, decodes and classifies into a LatentDataset", "[backbone][label]") {
  auto g = fx::linear_gan(8);
  auto c = fx::toy_classifier();
  GanBackbone gan(g, GanOptions().decode_batch(4), "<gan>");
  AttributeClassifier classifier(c,
                                 ClassifierOptions().attributes({ClassifierAttribute::binary("bright", 0),
                                                                 ClassifierAttribute::continuous("mean", 4)}),
                                 "<classifier>");
  auto data = auto_label(gan, classifier, 10, 3);
  CHECK(data.rows() == 10);
  CHECK(data.latents.sizes() == torch::IntArrayRef({10, 8}));
  CHECK(torch::equal(data.latents, gan.sample_latents(10, 3)));
  CHECK(torch::equal(data.labels.values, classifier.predict(gan.decode(data.latents)).values));
  CHECK(data.labels.mask.all().item<bool>());
  CHECK_NOTHROW(data.validate("auto_label"));
  CHECK_NOTHROW(classifier.schema().check_labels(data.labels, "auto_label"));
  // Chunking does not change the result; neither does going through AnyBackbone.
  AnyBackbone any = gan;
  CHECK(torch::equal(auto_label(any, classifier, 10, 3, 3).labels.values, data.labels.values));

  // Mismatched shapes are named.
  AttributeClassifier other(c,
                            ClassifierOptions().input_shape({1, 2, 8}).input_shape_attribute("").attributes(
                                {ClassifierAttribute::binary("b", 0)}),
                            "<other>");
  auto msg = plugen_test::error_message<ShapeError>([&] { auto_label(gan, other, 4, 0); });
  CHECK_THAT(msg, Contains("(1, 4, 4)") && Contains("(1, 2, 8)"));
}

TEST_CASE("encode_dataset pairs encoded inputs with labels; diffusion latents are flattened", "[backbone][label]") {
  auto v = fx::linear_vae(6);
  VaeBackbone vae(v, VaeOptions(), "<vae>");
  auto x = vae.decode(vae.sample_latents(5, 1));
  Labels labels{torch::arange(5, torch::kFloat64).view({5, 1}), torch::ones({5, 1}, torch::kBool)};
  auto data = encode_dataset(vae, x, labels);
  CHECK(data.latents.sizes() == torch::IntArrayRef({5, 6}));
  CHECK(torch::equal(data.labels.values, labels.values));
  CHECK_THROWS_AS(encode_dataset(vae, x.narrow(0, 0, 4), labels), ShapeError);

  auto d = fx::gaussian_eps_net({1, 4, 4});
  DiffusionBackbone diffusion(d, DiffusionOptions().steps(5), "<diffusion>");
  auto dd = encode_dataset(diffusion, x, labels);
  CHECK(dd.latents.sizes() == torch::IntArrayRef({5, 16}));
  CHECK(diffusion.decode(dd.latents).sizes() == torch::IntArrayRef({5, 1, 4, 4}));  // flat latents decode
  AnyBackbone gan = GanBackbone(fx::linear_gan(8), GanOptions(), "<gan>");
  CHECK_THROWS_AS(encode_dataset(gan, x, labels), BackboneError);
}

}  // namespace backbone_label_test
