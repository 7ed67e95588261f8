// Tests of plugen/backbone/classifier.hpp: scores, labels per attribute kind, JSON mapping, validation.
#include "backbone/fixtures.hpp"
#include "plugen/backbone.hpp"
#include "support.hpp"

namespace backbone_classifier_test {

using namespace plugen;
namespace fx = plugen_backbone_fixtures;
using Catch::Contains;

std::vector<ClassifierAttribute> toy_attributes() {
  return {ClassifierAttribute::binary("bright", 0), ClassifierAttribute::categorical("region", 1, 3, {"a", "b", "c"}),
          ClassifierAttribute::continuous("mean", 4)};
}

TEST_CASE("AttributeClassifier scores images and reads binary, categorical and continuous labels",
          "[backbone][classifier]") {
  auto m = fx::toy_classifier();
  auto path = fx::save(m, "classifier_toy.pt");
  AttributeClassifier classifier(path, ClassifierOptions().attributes(toy_attributes()));
  CHECK(classifier.width() == 5);
  CHECK(classifier.input_shape() == std::vector<int64_t>{1, 4, 4});  // from the module attribute
  CHECK_THAT(classifier.describe(), Contains("bright:binary") && Contains("region:categorical"));

  auto x = torch::full({3, 1, 4, 4}, 0.2);
  x[1].fill_(0.9);
  x[2].view({-1}).narrow(0, 5, 5).fill_(1.0);  // region b brightest, mean = (11 * 0.2 + 5) / 16 = 0.45
  auto scores = classifier.forward(x);
  CHECK(scores.sizes() == torch::IntArrayRef({3, 5}));
  auto labels = classifier.labels(scores);
  CHECK(labels.values.sizes() == torch::IntArrayRef({3, 3}));
  CHECK(labels.values.scalar_type() == torch::kFloat64);
  CHECK(labels.mask.all().item<bool>());
  CHECK(labels.values[0][0].item<double>() == 0.0);
  CHECK(labels.values[1][0].item<double>() == 1.0);
  CHECK(labels.values[2][1].item<double>() == 1.0);
  CHECK(labels.values[2][2].item<double>() == Approx(0.45).margin(1e-6));
  CHECK(torch::equal(classifier.predict(x).values, labels.values));
  // The labels fit the classifier's schema (the prior's vocabulary), ready for auto-labelled training data.
  auto schema = classifier.schema();
  REQUIRE(schema.size() == 3);
  CHECK(schema[1].kind == AttributeKind::categorical);
  CHECK(schema[1].classes == std::vector<std::string>{"a", "b", "c"});
  CHECK_NOTHROW(schema.check_labels(labels, "test"));
  CHECK(classifier.attribute_scores(scores, "region").sizes() == torch::IntArrayRef({3, 3}));
  CHECK(classifier.attribute_index("mean") == 2);
  auto msg = plugen_test::error_message<ConfigError>([&] { classifier.attribute_index("age"); });
  CHECK_THAT(msg, Contains("'age'") && Contains("bright, region, mean"));
  // Chunked scoring equals whole-batch scoring.
  AttributeClassifier chunked(path, ClassifierOptions().attributes(toy_attributes()).batch(2));
  CHECK(torch::allclose(chunked.forward(x), scores));
  // Wrong input shape from the caller: a ShapeError.
  CHECK_THROWS_AS(classifier.forward(torch::zeros({2, 3, 4, 4})), ShapeError);
}

TEST_CASE("AttributeClassifier names categorical classes from the module's class_names", "[backbone][classifier]") {
  auto m = fx::toy_classifier();
  m.register_attribute("class_names", c10::ListType::ofStrings(), c10::List<std::string>({"left", "middle", "right"}));
  AttributeClassifier classifier(m, ClassifierOptions().attributes({ClassifierAttribute::categorical("region", 1, 3)}),
                                 "<named>");
  CHECK(classifier.attributes()[0].classes == std::vector<std::string>{"left", "middle", "right"});
  CHECK(classifier.schema()[0].classes[2] == "right");
  // Explicit names win; a different column count keeps the default names.
  AttributeClassifier own(
      m, ClassifierOptions().attributes({ClassifierAttribute::categorical("region", 1, 3, {"a", "b", "c"})}), "<own>");
  CHECK(own.attributes()[0].classes[0] == "a");
  AttributeClassifier two(m, ClassifierOptions().attributes({ClassifierAttribute::categorical("pair", 1, 2)}), "<two>");
  CHECK(two.schema()[0].classes == std::vector<std::string>{"0", "1"});
}

TEST_CASE("ClassifierAttribute round-trips through JSON; invalid mappings are ConfigErrors", "[backbone][classifier]") {
  nlohmann::json j = toy_attributes();
  CHECK(j[1]["kind"] == "categorical");
  CHECK(j[1]["classes"][2] == "c");
  auto back = j.get<std::vector<ClassifierAttribute>>();
  REQUIRE(back.size() == 3);
  CHECK(back[1].columns == std::vector<int64_t>{1, 2, 3});
  CHECK(back[2].kind == AttributeKind::continuous);
  auto single =
      nlohmann::json::parse(R"({"name": "smile", "kind": "binary", "columns": 7})").get<ClassifierAttribute>();
  CHECK(single.columns == std::vector<int64_t>{7});
  CHECK_THROWS_AS(
      nlohmann::json::parse(R"({"name": "x", "kind": "ordinal", "columns": [1]})").get<ClassifierAttribute>(),
      ConfigError);
  CHECK_THROWS_AS(nlohmann::json::parse(R"({"name": "x", "columns": [1]})").get<ClassifierAttribute>(), ConfigError);

  CHECK_THROWS_AS(ClassifierOptions().validate(), ConfigError);  // no attributes
  CHECK_THROWS_AS(ClassifierOptions().attributes({ClassifierAttribute::categorical("c", {0})}).validate(), ConfigError);
  CHECK_THROWS_AS(ClassifierOptions()
                      .attributes({ClassifierAttribute::binary("a", 0), ClassifierAttribute::continuous("b", 0)})
                      .validate(),
                  ConfigError);
  CHECK_THROWS_AS(ClassifierOptions()
                      .attributes({ClassifierAttribute::binary("a", 0), ClassifierAttribute::binary("a", 1)})
                      .validate(),
                  ConfigError);
}

TEST_CASE("AttributeClassifier load failures are BackboneErrors naming the file and the problem",
          "[backbone][classifier]") {
  auto m = fx::toy_classifier();
  auto path = fx::save(m, "classifier_fail.pt");
  SECTION("a column beyond the scores") {
    auto msg = plugen_test::error_message<BackboneError>(
        [&] { AttributeClassifier c(path, ClassifierOptions().attributes({ClassifierAttribute::binary("far", 5)})); });
    CHECK_THAT(msg, Contains("classifier_fail.pt") && Contains("'far'") && Contains("column 5") &&
                        Contains("5 score columns"));
  }
  SECTION("a wrong input shape") {
    auto msg = plugen_test::error_message<BackboneError>([&] {
      AttributeClassifier c(path, ClassifierOptions().input_shape({3, 8, 8}).attributes(toy_attributes()));
    });
    CHECK_THAT(msg, Contains("classifier_fail.pt") && Contains("wrong input shape") && Contains("(3, 8, 8)"));
  }
  SECTION("an unknown input shape") {
    torch::jit::Module n("NoShape");
    n.define("def forward(self, x):\n    return x.reshape(x.size(0), -1)\n");
    auto p = fx::save(n, "classifier_no_shape.pt");
    auto msg = plugen_test::error_message<BackboneError>(
        [&] { AttributeClassifier c(p, ClassifierOptions().attributes(toy_attributes())); });
    CHECK_THAT(msg, Contains("classifier_no_shape.pt") && Contains("ClassifierOptions::input_shape"));
    AttributeClassifier ok(p, ClassifierOptions().input_shape({1, 2, 3}).attributes(toy_attributes()));
    CHECK(ok.width() == 6);
  }
  SECTION("scores of the wrong rank") {
    torch::jit::Module n("Images");
    n.define("def forward(self, x):\n    return x\n");
    auto p = fx::save(n, "classifier_rank.pt");
    auto msg = plugen_test::error_message<BackboneError>([&] {
      AttributeClassifier c(p, ClassifierOptions().input_shape({1, 4, 4}).attributes(toy_attributes()));
    });
    CHECK_THAT(msg, Contains("classifier_rank.pt") && Contains("wrong output shape") && Contains("(2, 1, 4, 4)"));
  }
  SECTION("a text file") {
    auto p = fx::write_text("classifier_text.pt", "{\"not\": \"a module\"}");
    auto msg = plugen_test::error_message<BackboneError>(
        [&] { AttributeClassifier c(p, ClassifierOptions().attributes(toy_attributes())); });
    CHECK_THAT(msg, Contains("classifier_text.pt") && Contains("TorchScript"));
  }
}

}  // namespace backbone_classifier_test
