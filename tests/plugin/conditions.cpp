// Tests of plugen/plugin/conditions.hpp: parsing and resolving requests by attribute name.
#include "plugen/plugin.hpp"
#include "support.hpp"
#include "toy_plugins.hpp"

using namespace plugen;
using plugen_test::error_message;

namespace {

Schema conditions_schema() {
  auto schema = plugen_test::toy_schema();
  schema.fit(plugen_test::toy_labels(200, 5));
  return schema;
}

std::vector<double> resolved_values(const Conditions& c) {
  std::vector<double> out;
  for (const auto& r : c.resolve(conditions_schema(), "test")) out.push_back(r.value);
  return out;
}

}  // namespace

TEST_CASE("conditions parse from text and resolve to the label convention", "[conditions]") {
  auto schema = conditions_schema();
  auto c = Conditions::parse({"age = 42.5", "Smiling=1", "class=shoe", "Glasses=false"});
  REQUIRE(c.size() == 4);
  CHECK(c.to_string() == "age=42.5, Smiling=1, class=shoe, Glasses=false");
  auto r = c.resolve(schema, "test");
  REQUIRE(r.size() == 4);  // sorted by schema position
  CHECK(r[0].index == 0);
  CHECK(r[0].value == 1.0);
  CHECK(r[1].index == 1);
  CHECK(r[1].value == 0.0);
  CHECK(r[2].index == 2);
  CHECK(r[2].value == 2.0);
  CHECK(r[3].index == 3);
  CHECK(r[3].value == 42.5);

  CHECK(resolved_values(Conditions::parse({"Smiling=TRUE"})) == std::vector<double>{1.0});
  CHECK(resolved_values(Conditions::parse({"Smiling=0"})) == std::vector<double>{0.0});
  CHECK(resolved_values(Conditions::parse({"class=1"})) == std::vector<double>{1.0});  // an index
  CHECK(resolved_values(Conditions::parse({"age=-1e3"})) == std::vector<double>{-1000.0});
}

TEST_CASE("conditions built in code take numbers, booleans and text", "[conditions]") {
  CHECK(resolved_values({{"Smiling", true}}) == std::vector<double>{1.0});
  CHECK(resolved_values({{"Smiling", 0}}) == std::vector<double>{0.0});
  CHECK(resolved_values({{"class", "coat"}}) == std::vector<double>{0.0});
  CHECK(resolved_values({{"class", 2}}) == std::vector<double>{2.0});
  CHECK(resolved_values({{"age", 30}, {"Glasses", 1.0}}) == std::vector<double>{1.0, 30.0});
  Conditions c;
  c.set("age", 30).set("age", 35.5);  // set replaces
  CHECK(c.size() == 1);
  CHECK(resolved_values(c) == std::vector<double>{35.5});
  CHECK(Conditions().empty());
  CHECK(Conditions().to_string() == "(no conditions)");
}

TEST_CASE("unknown attribute names are config errors listing the valid names", "[conditions]") {
  auto msg = error_message<ConfigError>([] { Conditions::parse({"Smile=1"}).resolve(conditions_schema(), "sample"); });
  CHECK_THAT(
      msg, Catch::Contains("sample") && Catch::Contains("'Smile'") && Catch::Contains("Smiling, Glasses, class, age"));
}

TEST_CASE("values of the wrong kind are config errors naming the attribute", "[conditions]") {
  auto schema = conditions_schema();
  auto fails = [&](const std::string& text) {
    return error_message<ConfigError>([&] { Conditions::parse({text}).resolve(schema, "test"); });
  };
  CHECK_THAT(fails("Smiling=2"), Catch::Contains("binary attribute 'Smiling'") && Catch::Contains("'2'"));
  CHECK_THAT(fails("Smiling=yes"), Catch::Contains("1, 0, true or false"));
  CHECK_THAT(fails("Smiling=0.5"), Catch::Contains("'0.5'"));
  CHECK_THAT(fails("class=hat"), Catch::Contains("categorical attribute 'class'") &&
                                     Catch::Contains("coat (0), shirt (1), shoe (2)") && Catch::Contains("'hat'"));
  CHECK_THAT(fails("class=3"), Catch::Contains("'3'"));
  CHECK_THAT(fails("class=1.5"), Catch::Contains("'1.5'"));
  CHECK_THAT(fails("age=old"),
             Catch::Contains("continuous attribute 'age'") && Catch::Contains("[20, 60]") && Catch::Contains("'old'"));
  CHECK_THAT(fails("age=nan"), Catch::Contains("'nan'"));
  CHECK_THAT(fails("age=inf"), Catch::Contains("'inf'"));
  CHECK_THAT(fails("age=1e400"), Catch::Contains("'1e400'"));
  CHECK_THROWS_AS(Conditions({{"age", std::nan("")}}).resolve(schema, "test"), ConfigError);
  CHECK_THROWS_AS(Conditions({{"age", 1e308}}).resolve(schema, "test"), ConfigError);  // normalizing overflows
  CHECK_THROWS_AS(Conditions({{"Smiling", -1}}).resolve(schema, "test"), ConfigError);
  CHECK_THROWS_AS(Conditions({{"class", -1}}).resolve(schema, "test"), ConfigError);
}

TEST_CASE("malformed or repeated assignments are config errors", "[conditions]") {
  CHECK_THAT(error_message<ConfigError>([] { Conditions::parse({"Smiling"}); }), Catch::Contains("name=value"));
  CHECK_THAT(error_message<ConfigError>([] { Conditions::parse({"=1"}); }), Catch::Contains("attribute name"));
  CHECK_THAT(error_message<ConfigError>([] { Conditions::parse({"Smiling= "}); }), Catch::Contains("value after"));
  CHECK_THAT(error_message<ConfigError>([] {
               Conditions::parse({"Smiling=1", "Smiling=0"});
             }),
             Catch::Contains("'Smiling' is given twice"));
  CHECK_THROWS_AS((Conditions{{"age", 1}, {"age", 2}}), ConfigError);
  // A value may itself contain '=': only the first one splits.
  auto c = Conditions::parse({"class=a=b"});
  CHECK(c.entries()[0].value.text() == "a=b");
}

TEST_CASE("edits resolve sets and shifts; categorical shifts are rejected", "[conditions]") {
  auto schema = conditions_schema();
  auto r = Edits().shift("age", 0.5).set("class", "shirt").set("Smiling", "true").resolve(schema, "edit");
  REQUIRE(r.size() == 3);
  CHECK((r[0].index == 0 && r[0].mode == EditMode::set && r[0].value == 1.0));
  CHECK((r[1].index == 2 && r[1].mode == EditMode::set && r[1].value == 1.0));
  CHECK((r[2].index == 3 && r[2].mode == EditMode::shift && r[2].value == 0.5));

  auto shifted = Edits::shifts(Conditions::parse({"Smiling=-2", "age=0.25"})).resolve(schema, "edit");
  CHECK((shifted[0].mode == EditMode::shift && shifted[0].value == -2.0));
  CHECK(shifted[1].value == 0.25);
  Edits from_conditions = Conditions{{"Glasses", 1}};
  CHECK(from_conditions.entries()[0].mode == EditMode::set);
  CHECK(Edits().set("age", 30).shift("age", 1).size() == 1);  // a later edit of the same attribute replaces

  CHECK_THAT(error_message<ConfigError>([&] { Edits().shift("class", 1).resolve(schema, "edit"); }),
             Catch::Contains("cannot shift categorical attribute 'class'") && Catch::Contains("class=coat"));
  CHECK_THAT(error_message<ConfigError>([&] { Edits::shifts(Conditions::parse({"age=old"})).resolve(schema, "edit"); }),
             Catch::Contains("'old'"));
  CHECK_THROWS_AS(Edits().shift("age", std::nan("")).resolve(schema, "edit"), ConfigError);
  CHECK_THROWS_AS(Edits().set("Smiling", 3).resolve(schema, "edit"), ConfigError);
  CHECK_THAT(error_message<ConfigError>([&] { Edits().set("Age", 3).resolve(schema, "edit"); }),
             Catch::Contains("expected one of Smiling, Glasses, class, age"));
  CHECK(Edits().set("age", 30).shift("Smiling", 1).set_conditions().to_string() == "age=30");
}
