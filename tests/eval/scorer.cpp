// Tests of plugen/eval/scorer.hpp: column mappings declared by modules, the bundled pixel scorer's formulas,
// several modules read as one, and the errors of ill-formed scorers.
#include <torch/script.h>
// LibTorch (and the glog CHECK it defines) before Catch, whose CHECK must win in the unity build.
#include "plugen/eval/scorer.hpp"
#include <catch2/catch.hpp>

#include <string>

#include "backbone/fixtures.hpp"
#include "support.hpp"

using namespace plugen;
namespace fx = plugen_backbone_fixtures;

namespace {

const std::string models = std::string(PLUGEN_SOURCE_DIR) + "/examples/models/";

// A (N, 1, 4, 4) module returning `width` columns of the pixel mean, with an optional score_attributes string.
std::string mean_module(const std::string& name, int64_t width, const std::string& mapping = {}) {
  torch::jit::Module m("Mean");
  m.register_attribute("input_shape", c10::ListType::ofInts(), c10::List<int64_t>({1, 4, 4}));
  m.register_attribute("width", c10::IntType::get(), width);
  if (!mapping.empty()) m.register_attribute(score_attributes_name, c10::StringType::get(), mapping);
  m.define(R"JIT(
def forward(self, x):
    return x.reshape(x.size(0), -1).mean(1, keepdim=True).repeat(1, self.width)
)JIT");
  return fx::save(m, name);
}

}  // namespace

TEST_CASE("the bundled pixel scorer measures brightness and area by the documented formulas", "[eval][scorer]") {
  auto scorer = load_scorer(models + "fmnist_pixels.pt");
  REQUIRE(scorer.attributes().size() == 2);
  CHECK(scorer.attributes()[0].name == "brightness");
  CHECK(scorer.attributes()[1].name == "area");
  CHECK(scorer.attributes()[0].kind == AttributeKind::continuous);
  // Image 0: 392 of 784 pixels at 0.6, 98 at exactly 0.1 (background: the mask is x > 0.1), the rest 0.
  // Image 1: empty (brightness 0 by definition). Image 2: every pixel at 0.25.
  auto x = torch::zeros({3, 1, 28, 28});
  auto flat = x.view({3, -1});
  flat.select(0, 0).narrow(0, 0, 392).fill_(0.6f);
  flat.select(0, 0).narrow(0, 392, 98).fill_(0.1f);
  flat.select(0, 2).fill_(0.25f);
  auto labels = scorer.predict(x);
  CHECK(labels.values[0][0].item<double>() == Approx(0.6));
  CHECK(labels.values[0][1].item<double>() == Approx(0.5));
  CHECK(labels.values[1][0].item<double>() == 0.0);
  CHECK(labels.values[1][1].item<double>() == 0.0);
  CHECK(labels.values[2][0].item<double>() == Approx(0.25));
  CHECK(labels.values[2][1].item<double>() == Approx(1.0));
}

TEST_CASE("a Scorer reads several modules as one set of attributes", "[eval][scorer]") {
  auto scorer = Scorer::load({models + "fmnist_classifier.pt", models + "fmnist_pixels.pt"});
  const auto schema = scorer.schema();
  REQUIRE(schema.size() == 3);
  // The classifier declares no mapping: one categorical 'class' named by its class_names.
  CHECK(schema[0].name == "class");
  CHECK(schema[0].kind == AttributeKind::categorical);
  CHECK(schema[0].classes.size() == 10);
  CHECK(schema[0].classes[1] == "trouser");
  CHECK(schema[1].name == "brightness");
  CHECK(schema[2].name == "area");
  auto x = torch::rand({5, 1, 28, 28}, make_generator(3));
  auto labels = scorer.predict(x);
  REQUIRE(labels.values.sizes() == torch::IntArrayRef({5, 3}));
  CHECK(labels.mask.all().item<bool>());
  auto pixels = scorer.parts()[1].predict(x).values;
  CHECK(labels.values.narrow(1, 1, 2).equal(pixels));
  auto cls = labels.values.select(1, 0);
  CHECK(((cls >= 0) & (cls <= 9)).all().item<bool>());
}

TEST_CASE("scorer mappings: declared, default, and errors", "[eval][scorer]") {
  // A declared mapping wins over the default.
  auto declared = load_scorer(mean_module(
      "declared.pt", 2, R"([{"name": "ink", "kind": "continuous", "columns": [1]}, {"name": "on", "kind": "binary", "columns": [0]}])"));
  REQUIRE(declared.attributes().size() == 2);
  CHECK(declared.attributes()[0].name == "ink");
  // Without one: a categorical 'class' over every column.
  auto plain = load_scorer(mean_module("plain.pt", 3));
  REQUIRE(plain.attributes().size() == 1);
  CHECK(plain.attributes()[0].kind == AttributeKind::categorical);
  CHECK(plain.attributes()[0].columns.size() == 3);

  auto one_column = mean_module("one_column.pt", 1);
  auto msg = plugen_test::error_message<BackboneError>([&] { load_scorer(one_column); });
  CHECK_THAT(msg, Catch::Contains("one_column.pt") && Catch::Contains("score_attributes"));
  auto bad_json = mean_module("bad_json.pt", 2, "[{\"name\": ");
  msg = plugen_test::error_message<BackboneError>([&] { load_scorer(bad_json); });
  CHECK_THAT(msg, Catch::Contains("bad_json.pt"));
  auto bad_column = mean_module("bad_column.pt", 2, R"([{"name": "ink", "kind": "continuous", "columns": [5]}])");
  msg = plugen_test::error_message<BackboneError>([&] { load_scorer(bad_column); });
  CHECK_THAT(msg, Catch::Contains("column 5"));

  // The same attribute from two modules, and modules of different input shapes.
  Scorer s;
  s.add(load_scorer(mean_module("ink_a.pt", 1, R"([{"name": "ink", "kind": "continuous", "columns": [0]}])")));
  auto twice = load_scorer(mean_module("ink_b.pt", 1, R"([{"name": "ink", "kind": "continuous", "columns": [0]}])"));
  msg = plugen_test::error_message<ConfigError>([&] { s.add(twice); });
  CHECK_THAT(msg, Catch::Contains("'ink'") && Catch::Contains("ink_b.pt"));
  CHECK_THROWS_AS(s.add(load_scorer(models + "fmnist_pixels.pt")), ConfigError);
  CHECK_THROWS_AS(Scorer().predict(torch::zeros({1, 1, 4, 4})), ConfigError);
  CHECK_THROWS_AS(load_scorer(fx::temp_path("missing.pt")), IoError);
}
