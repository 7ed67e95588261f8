// Tests of plugen/backbone/any.hpp: AnyBackbone holding the adapters and a user-defined backbone.
#include "backbone/fixtures.hpp"
#include "plugen/backbone.hpp"
#include "support.hpp"

namespace backbone_any_test {

using namespace plugen;
namespace fx = plugen_backbone_fixtures;
using Catch::Contains;

// A backbone written directly in C++: only the four required members.
struct DoublingBackbone {
  std::vector<int64_t> latent_shape() const { return {3}; }
  std::vector<int64_t> output_shape() const { return {3}; }
  torch::Tensor decode(const torch::Tensor& z) const { return z * 2; }
  torch::Device device() const { return torch::kCPU; }
};

TEST_CASE("AnyBackbone forwards the contract to the adapter it holds", "[backbone][any]") {
  auto gm = fx::linear_gan(8);
  auto vm = fx::linear_vae(6);
  GanBackbone gan(gm, GanOptions().decode_batch(5), "<gan>");
  AnyBackbone any = gan;
  CHECK_FALSE(any.is_empty());
  CHECK(any.kind() == "gan");
  CHECK(any.latent_shape() == std::vector<int64_t>{8});
  CHECK(any.latent_dim() == 8);
  CHECK(any.output_shape() == std::vector<int64_t>{1, 4, 4});
  CHECK(any.decode_batch() == 5);
  CHECK(any.device().is_cpu());
  CHECK(any.can_sample());
  CHECK_FALSE(any.can_encode());
  auto z = any.sample_latents(4, 1);
  CHECK(torch::equal(any.decode(z), gan.decode(z)));
  auto msg = plugen_test::error_message<BackboneError>([&] { any.encode(torch::zeros({1, 1, 4, 4})); });
  CHECK_THAT(msg, Contains("gan") && Contains("cannot encode"));
  CHECK(any.try_get<GanBackbone>() != nullptr);
  CHECK(any.try_get<VaeBackbone>() == nullptr);
  CHECK_THROWS_AS(any.get<VaeBackbone>(), ConfigError);
  CHECK(any.get<GanBackbone>().z_dim() == 8);

  any = VaeBackbone(vm, VaeOptions(), "<vae>");
  CHECK(any.kind() == "vae");
  CHECK(any.can_encode());
  auto x = any.decode(any.sample_latents(3, 2));
  CHECK(any.encode(x).sizes() == torch::IntArrayRef({3, 6}));
  AnyBackbone copy = any;  // copies share the held backbone
  CHECK(copy.try_get<VaeBackbone>() == any.try_get<VaeBackbone>());
  CHECK(copy.decode_batch() == 256);
}

TEST_CASE("AnyBackbone holds a user-defined backbone; missing optional members are reported", "[backbone][any]") {
  AnyBackbone any = DoublingBackbone{};
  CHECK(any.kind() == "custom");
  CHECK(any.decode_batch() == 256);
  CHECK_FALSE(any.can_encode());
  CHECK_FALSE(any.can_sample());
  CHECK(torch::equal(any.decode(torch::ones({2, 3})), torch::full({2, 3}, 2.0f)));
  CHECK_THAT(any.describe(), Contains("custom") && Contains("(3)"));
  CHECK_THROWS_AS(any.sample_latents(2, 0), BackboneError);
  CHECK_THROWS_AS(any.encode(torch::ones({2, 3})), BackboneError);
  // decode_each and decode_to_pngs work through the erased type.
  int64_t rows = 0;
  decode_each(any, torch::ones({5, 3}), 2, [&](int64_t, const torch::Tensor& y) { rows += y.size(0); });
  CHECK(rows == 5);

  AnyBackbone empty;
  CHECK(empty.is_empty());
  auto msg = plugen_test::error_message<ConfigError>([&] { empty.latent_shape(); });
  CHECK_THAT(msg, Contains("empty"));
}

}  // namespace backbone_any_test
