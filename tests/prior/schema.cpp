// Tests of plugen/prior/schema.hpp: coordinates, fitting, label checks, JSON round trips.
#include "plugen/prior.hpp"
#include "support.hpp"

using namespace plugen;

namespace {
Schema schema_test_schema() {
  return Schema({{"smile", AttributeKind::binary, {}, 0, {}},
                 {"class", AttributeKind::categorical, {"a", "b", "c"}, 0, {}},
                 {"age", AttributeKind::continuous, {}, 0, {}}});
}
}  // namespace

TEST_CASE("schema assigns label coordinates in order", "[schema]") {
  auto s = schema_test_schema();
  CHECK(s.label_dim() == 5);
  CHECK(s[0].offset == 0);
  CHECK(s[1].offset == 1);
  CHECK(s[2].offset == 4);
  CHECK(s.index_of("age") == 2);
  CHECK_THAT(plugen_test::error_message<ConfigError>([&] { s.index_of("beard"); }),
             Catch::Contains("beard") && Catch::Contains("smile, class, age"));
}

TEST_CASE("schema fit computes frequencies and ranges from known labels only", "[schema]") {
  auto s = schema_test_schema();
  auto values =
      torch::tensor({{1.0, 0.0, 20.0}, {0.0, 2.0, 60.0}, {1.0, 2.0, 40.0}, {1.0, 0.0, 999.0}}, torch::kFloat64);
  auto mask = torch::ones({4, 3}, torch::kBool);
  mask[3][2] = false;  // the 999 is unknown and must not widen the range
  s.fit({values, mask});
  CHECK(s[0].stats.known == 4);
  CHECK(s[0].stats.frequencies[1] == Approx((3.0 + 1) / (4 + 2)));  // Laplace-smoothed
  CHECK(s[1].stats.frequencies[2] == Approx((2.0 + 1) / (4 + 3)));
  CHECK(s[2].stats.min == 20.0);
  CHECK(s[2].stats.max == 60.0);
  CHECK(s[2].stats.known == 3);
  CHECK(s[2].stats.normalized_mean == Approx(0.0).margin(1e-12));
  CHECK(s[2].normalize(60.0) == 1.0);
  CHECK(s[2].denormalize(-1.0) == 20.0);
}

TEST_CASE("label checks reject out-of-domain labels naming attribute and row", "[schema]") {
  auto s = schema_test_schema();
  auto mask = torch::ones({2, 3}, torch::kBool);
  auto msg = plugen_test::error_message<ConfigError>([&] {
    s.check_labels({torch::tensor({{1.0, 0.0, 1.0}, {2.0, 0.0, 1.0}}, torch::kFloat64), mask}, "Y.csv");
  });
  CHECK_THAT(msg, Catch::Contains("Y.csv") && Catch::Contains("smile") && Catch::Contains("row 1"));
  msg = plugen_test::error_message<ConfigError>([&] {
    s.check_labels({torch::tensor({{1.0, 3.0, 1.0}, {0.0, 0.5, 1.0}}, torch::kFloat64), mask}, "Y.csv");
  });
  CHECK_THAT(msg, Catch::Contains("class") && Catch::Contains("row 0"));
  CHECK_THROWS_AS(s.check_labels({torch::zeros({2, 2}, torch::kFloat64), torch::ones({2, 2}, torch::kBool)}, "Y"),
                  ShapeError);
  // Unknown labels may hold anything.
  mask[1][0] = false;
  CHECK_NOTHROW(s.check_labels({torch::tensor({{1.0, 0.0, 1.0}, {7.0, 0.0, 1.0}}, torch::kFloat64), mask}, "Y"));
}

TEST_CASE("schema JSON round-trips with statistics and rejects malformed input", "[schema]") {
  auto s = schema_test_schema();
  s.fit({torch::tensor({{1.0, 1.0, 3.0}, {0.0, 2.0, 5.0}}, torch::kFloat64), torch::ones({2, 3}, torch::kBool)});
  auto back = Schema::from_json(s.to_json(), "schema.json");
  CHECK(back.to_json() == s.to_json());
  CHECK(Schema::from_json(s.to_json(false), "s").to_json(false) == s.to_json(false));
  using nlohmann::json;
  auto bad = [](const json& j) {
    return plugen_test::error_message<ConfigError>([&] { Schema::from_json(j, "S.json"); });
  };
  CHECK_THAT(bad(json::array()), Catch::Contains("S.json"));
  CHECK_THAT(bad({{"attributes", {{{"name", "a"}, {"kind", "tall"}}}}}), Catch::Contains("tall"));
  CHECK_THAT(bad({{"attributes", {{{"name", "a"}, {"kind", "binary"}, {"colour", 1}}}}}), Catch::Contains("colour"));
  CHECK_THAT(bad({{"attributes", {{{"name", "a"}, {"kind", "categorical"}, {"classes", {"x"}}}}}}),
             Catch::Contains("at least 2"));
  CHECK_THAT(bad({{"attributes", {{{"name", "a"}, {"kind", "binary"}}, {{"name", "a"}, {"kind", "binary"}}}}}),
             Catch::Contains("twice"));
  // The count "known" is an integer: a float (1e300 cannot even be cast to int64) or a negative count is refused.
  auto with_known = [&](const json& known) {
    auto j = s.to_json();
    j["attributes"][0]["stats"]["known"] = known;
    return j;
  };
  CHECK_THAT(bad(with_known(1e300)), Catch::Contains("known"));
  CHECK_THAT(bad(with_known(2.5)), Catch::Contains("known"));
  CHECK_THAT(bad(with_known(-1)), Catch::Contains("known"));
  CHECK(Schema::from_json(with_known(7), "S.json")[0].stats.known == 7);
}
