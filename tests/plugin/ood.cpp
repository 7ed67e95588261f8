// Tests of plugen/plugin/ood.hpp: out-of-distribution reports for requests.
#include "plugen/plugin.hpp"
#include "support.hpp"
#include "toy_plugins.hpp"

using namespace plugen;

namespace {

// Training rows of `toy_labels(600, 11)` (the random plugin's) matching every given (column, value).
int64_t ood_count_rows(std::vector<std::pair<int, double>> wanted) {
  auto labels = plugen_test::toy_labels(600, 11);
  auto match = torch::ones({600}, torch::kBool);
  for (auto [col, value] : wanted) match &= labels.values.select(1, col) == value;
  return match.sum().item<int64_t>();
}

}  // namespace

TEST_CASE("a request inside the training data is in distribution, with its combination counted", "[ood]") {
  auto plugin = plugen_test::random_plugin();
  auto r = plugin.check({{"Smiling", 1}, {"class", "shirt"}, {"age", 30}});
  CHECK(!r.out_of_distribution);
  CHECK(r.reason.empty());
  REQUIRE(r.continuous.size() == 1);
  CHECK(r.continuous[0].attribute == "age");
  CHECK(r.continuous[0].distance == 0.0);
  CHECK(r.continuous[0].fraction == 0.0);
  CHECK(r.continuous[0].min == 20.0);
  CHECK(r.continuous[0].max == 60.0);
  CHECK(r.combination == std::vector<std::string>{"Smiling=1", "class=shirt"});
  REQUIRE(r.combination_count.has_value());
  CHECK(*r.combination_count == ood_count_rows({{0, 1.0}, {2, 1.0}}));
  CHECK(r.training_rows == 600);
  CHECK(r.combination_fraction == Approx(static_cast<double>(*r.combination_count) / 600));
}

TEST_CASE("a combination absent from training has 0 occurrences", "[ood]") {
  auto plugin = plugen_test::random_plugin();
  auto r = plugin.check({{"Smiling", 0}, {"Glasses", "true"}, {"class", "shoe"}});
  REQUIRE(r.combination_count.has_value());
  CHECK(*r.combination_count == 0);
  CHECK(r.combination_fraction == 0.0);
  CHECK(r.out_of_distribution);
  CHECK_THAT(r.reason, Catch::Contains("(Smiling=0, Glasses=1, class=shoe) never occurred in the 600 training rows"));
  // Its parts did occur.
  auto part = plugin.check({{"Smiling", 0}, {"Glasses", 1}});
  CHECK(*part.combination_count == ood_count_rows({{0, 0.0}, {1, 1.0}}));
  CHECK(*part.combination_count > 0);
  CHECK(!part.out_of_distribution);
  // min_count flags rare combinations too.
  auto strict = plugin.check({{"Smiling", 0}, {"Glasses", 1}}, OodOptions().min_count(1000));
  CHECK(strict.out_of_distribution);
  CHECK_THAT(strict.reason, Catch::Contains("occurred only"));
  CHECK_THROWS_AS(plugin.check({}, OodOptions().min_count(0)), ConfigError);
  // The trained plugin never saw it either (the task drops those rows).
  auto trained = plugen_test::trained_toy_plugin().check({{"Smiling", 0}, {"Glasses", 1}, {"class", "shoe"}});
  CHECK(*trained.combination_count == 0);
  CHECK(trained.out_of_distribution);
}

TEST_CASE("continuous values outside the training range report their distance", "[ood]") {
  auto plugin = plugen_test::random_plugin();
  auto above = plugin.check({{"age", 70}});
  REQUIRE(above.continuous.size() == 1);
  CHECK(above.continuous[0].distance == Approx(10.0));
  CHECK(above.continuous[0].fraction == Approx(0.25));
  CHECK(above.out_of_distribution);
  CHECK_THAT(above.reason, Catch::Contains("age=70") && Catch::Contains("above the training range [20, 60]"));
  CHECK(!above.combination_count.has_value());  // no discrete attribute requested
  auto below = plugin.check({{"age", 0}, {"Smiling", 1}});
  CHECK(below.continuous[0].distance == Approx(20.0));
  CHECK(below.continuous[0].fraction == Approx(0.5));
  CHECK_THAT(below.reason, Catch::Contains("below"));
  CHECK(plugin.check({{"age", 1e6}}).continuous[0].fraction == Approx((1e6 - 60) / 40));
  CHECK(!plugin.check({{"age", 60}}).out_of_distribution);
  CHECK(!plugin.check({}).out_of_distribution);
  CHECK_THROWS_AS(plugin.check({{"height", 1}}), ConfigError);
}

TEST_CASE("OOD reports serialize to JSON", "[ood]") {
  auto plugin = plugen_test::random_plugin();
  auto j = plugin.check({{"Smiling", 0}, {"Glasses", 1}, {"class", "shoe"}, {"age", 10}}).to_json();
  CHECK(j["out_of_distribution"] == true);
  CHECK(j["continuous"][0]["attribute"] == "age");
  CHECK(j["continuous"][0]["distance"] == 10.0);
  CHECK(j["combination"]["count"] == 0);
  CHECK(j["combination"]["training_rows"] == 600);
  CHECK(j["combination"]["values"][2] == "class=shoe");
  CHECK(plugin.check({{"age", 30}}).to_json()["combination"].is_null());
}

TEST_CASE("plugins without label statistics leave the combination count unset", "[ood]") {
  auto p = plugen_test::random_plugin();
  Plugin bare(p.layout(), p.standardize(), p.flow_kind(), p.flow(), p.prior());
  auto r = bare.check({{"Smiling", 0}, {"Glasses", 1}});
  CHECK(!r.combination_count.has_value());
  CHECK(!r.out_of_distribution);
}

TEST_CASE("combination keys split on value names, even names with commas", "[ood]") {
  std::vector<std::vector<std::string>> names = {{"0", "1"}, {"a,b", "a", "c"}, {"x", "y"}};
  std::vector<int64_t> out(3);
  REQUIRE(plugen::detail::split_combination_key("1,a,b,y", 0, 0, names, out));
  CHECK(out == std::vector<int64_t>{1, 0, 1});
  REQUIRE(plugen::detail::split_combination_key("0,a,x", 0, 0, names, out));
  CHECK(out == std::vector<int64_t>{0, 1, 0});
  CHECK(!plugen::detail::split_combination_key("0,d,x", 0, 0, names, out));
  CHECK(!plugen::detail::split_combination_key("0,a", 0, 0, names, out));
}
