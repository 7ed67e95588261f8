// Quota arithmetic (plugen/generate/quota.hpp): counts per cell sum to the total, bins cover the training range,
// cells own contiguous index ranges, shards partition the indices into whole chunks.
#include <torch/torch.h>

#include <numeric>
#include <string>

#include "plugen/generate/quota.hpp"
#include "plugin/toy_plugins.hpp"
#include "support.hpp"

namespace {

plugen::Schema gen_fitted_schema() {
  auto schema = plugen_test::toy_schema();
  schema.fit(plugen_test::toy_labels(500, 3));  // ages span [20, 60]
  return schema;
}

plugen::JobSpec gen_quota_spec(const std::string& quotas, const std::string& count = "\"count\": 100,") {
  return plugen::parse_job_spec(
      "{\"backbone\": \"g\", \"plugin\": \"p\", " + count + " \"output\": {\"dir\": \"o\"}, \"quotas\": " + quotas + "}",
      "q.json");
}

}  // namespace

TEST_CASE("quotas: split_evenly sums to the total and differs by at most one", "[generate][quota]") {
  for (int64_t total : {0, 1, 7, 100, 1001})
    for (int64_t cells : {1, 3, 10, 64}) {
      const auto counts = plugen::split_evenly(total, cells);
      CHECK(std::accumulate(counts.begin(), counts.end(), int64_t{0}) == total);
      CHECK(*std::max_element(counts.begin(), counts.end()) - *std::min_element(counts.begin(), counts.end()) <= 1);
    }
}

TEST_CASE("quotas: uniform over a categorical x binned continuous product", "[generate][quota]") {
  const auto schema = gen_fitted_schema();
  const auto plan = plugen::plan_quotas(
      gen_quota_spec(R"({"mode": "uniform", "attributes": ["class", "age"], "bins": {"age": {"count": 4}}})"), schema,
      "q.json");
  REQUIRE(plan.cells.size() == 12);
  CHECK(plan.total == 100);
  int64_t sum = 0, next = 0;
  for (const auto& c : plan.cells) {
    CHECK(c.first == next);
    next += c.count;
    sum += c.count;
    CHECK((c.count == 8 || c.count == 9));
  }
  CHECK(sum == 100);
  CHECK(plan.cells[0].name == "class=coat,age=bin0");
  CHECK(plan.cells[5].name == "class=shirt,age=bin1");
  // The bins cover the training range [20, 60] exactly, contiguously; requests sit at the bin centers.
  std::vector<plugen::Bin> bins;
  for (size_t c = 0; c < 4; ++c) bins.push_back(*plan.cells[c].targets[1].bin);
  CHECK(bins.front().low == 20.0);
  CHECK(bins.back().high == 60.0);
  CHECK(bins.back().closed);
  for (size_t k = 1; k < 4; ++k) CHECK(bins[k].low == bins[k - 1].high);
  CHECK(bins[1].contains(30.0));
  CHECK_FALSE(bins[1].contains(40.0));
  CHECK(bins[3].contains(60.0));
  CHECK(plan.cells[1].targets[1].value == Approx(35.0));
  // cell_of inverts the ranges.
  for (int64_t i = 0; i < plan.total; ++i) {
    const auto& c = plan.cells[plan.cell_of(i)];
    CHECK((i >= c.first && i < c.first + c.count));
  }
}

TEST_CASE("quotas: explicit cells with named bins, numbers and class names", "[generate][quota]") {
  const auto schema = gen_fitted_schema();
  const auto plan = plugen::plan_quotas(gen_quota_spec(R"({"mode": "explicit",
      "bins": {"age": {"edges": [20, 40, 60], "names": ["young", "old"]}},
      "cells": [{"values": {"class": "shoe", "age": "old"}, "count": 3}, {"values": {"Smiling": true}, "count": 0},
                {"values": {"class": 0, "Glasses": 1}, "count": 5}]})",
                                                       ""),
                                        schema, "q.json");
  REQUIRE(plan.cells.size() == 3);
  CHECK(plan.total == 8);
  CHECK(plan.cells[0].name == "class=shoe,age=old");
  CHECK(plan.cells[0].targets[1].value == 50.0);
  CHECK(plan.cells[2].name == "Glasses=1,class=coat");
  CHECK(plan.cells[2].first == 3);
  CHECK(plan.cell_of(3) == 2);  // the empty cell owns nothing
}

TEST_CASE("quotas: bin requests sit inside the bin and its training range; redraws sweep it", "[generate][quota]") {
  const auto schema = gen_fitted_schema();  // age spans [20, 60]
  const auto& age = schema[schema.index_of("age")];
  REQUIRE(age.stats.min == 20.0);
  REQUIRE(age.stats.max == 60.0);
  // A bin inside the range is requested at its centre first; a bin reaching beyond it at the centre of the part
  // inside it (the plan's cell values are those first requests).
  const plugen::Bin inner{"mid", 30, 40, false}, beyond{"old", 50, 90, true}, outside{"ancient", 70, 90, true};
  CHECK(plugen::bin_request(inner, age, 0) == 35.0);
  CHECK(plugen::bin_request(beyond, age, 0) == 55.0);
  CHECK(plugen::bin_request(outside, age, 0) == 80.0);  // wholly outside: the bin as it is
  const auto plan = plugen::plan_quotas(gen_quota_spec(R"({"mode": "explicit",
      "bins": {"age": {"edges": [20, 50, 90], "names": ["young", "old"]}},
      "cells": [{"values": {"age": "old"}, "count": 3}]})", ""), schema, "q.json");
  CHECK(plan.cells[0].targets[0].value == 55.0);
  // Redraws: inside [50, 60], spread out (no two of the first 20 closer than 1% of the width), the same
  // for the same attempt, and without sweeping always the first request.
  std::vector<double> v;
  for (int64_t a = 1; a <= 20; ++a) {
    const double x = plugen::bin_request(beyond, age, a);
    CHECK(x >= 50.0);
    CHECK(x <= 60.0);
    CHECK(x == plugen::bin_request(beyond, age, a));
    CHECK(plugen::bin_request(beyond, age, a, false) == 55.0);
    v.push_back(x);
  }
  std::sort(v.begin(), v.end());
  for (size_t k = 1; k < v.size(); ++k) CHECK(v[k] - v[k - 1] > 0.1);
  CHECK(v.front() < 51.0);
  CHECK(v.back() > 59.0);
}

TEST_CASE("quotas: balance fills every combination up to the largest", "[generate][quota]") {
  plugen_test::TempDir dir("gen_balance");
  plugen_test::write_bytes(dir / "labels.csv",
                           "class,Smiling,other\ncoat,1,x\ncoat,1,y\ncoat,0,z\nshirt,1,\ncoat,1,w\n,1,\n");
  auto spec = gen_quota_spec(R"({"mode": "balance", "attributes": ["class", "Smiling"], "labels": "labels.csv"})", "");
  spec.base_dir = dir.path();
  const auto plan = plugen::plan_quotas(spec, gen_fitted_schema(), "q.json");
  // coat/1 has 3 rows: every other combination is filled up to 3.
  REQUIRE(plan.cells.size() == 6);
  std::map<std::string, int64_t> counts;
  for (const auto& c : plan.cells) counts[c.name] = c.count;
  CHECK(counts["Smiling=1,class=coat"] == 0);
  CHECK(counts["Smiling=0,class=coat"] == 2);
  CHECK(counts["Smiling=1,class=shirt"] == 2);
  CHECK(counts["Smiling=0,class=shoe"] == 3);
  CHECK(plan.total == 2 + 3 + 2 + 3 + 3);
}

TEST_CASE("quotas: impossible or unknown requests are config errors naming the field", "[generate][quota]") {
  using Catch::Contains;
  const auto schema = gen_fitted_schema();
  auto error = [&](const std::string& quotas, const std::string& count = "\"count\": 100,") {
    return plugen_test::error_message<plugen::ConfigError>(
        [&] { (void)plugen::plan_quotas(gen_quota_spec(quotas, count), schema, "q.json"); });
  };
  CHECK_THAT(error(R"({"mode": "uniform", "attributes": ["hair"]})"),
             Contains("q.json: quotas.attributes[0]: the plugin has no attribute 'hair'"));
  CHECK_THAT(error(R"({"mode": "uniform", "attributes": ["age"]})"), Contains("quotas.bins.age: missing"));
  CHECK_THAT(error(R"({"mode": "uniform", "attributes": ["class"], "bins": {"class": {"count": 2}}})"),
             Contains("quotas.bins.class: bins are for continuous attributes"));
  CHECK_THAT(error(R"({"mode": "uniform", "attributes": ["class", "Smiling", "Glasses"]})", "\"count\": 5,"),
             Contains("count: 5 samples cannot fill the 12 cells"));
  CHECK_THAT(error(R"({"mode": "explicit", "cells": [{"values": {"class": "hat"}, "count": 1}]})", ""),
             Contains("quotas.cells[0].values.class"));
  CHECK_THAT(error(R"({"mode": "explicit", "cells": [{"values": {"Smiling": 2}, "count": 1}]})", ""),
             Contains("binary attribute 'Smiling'"));
  CHECK_THAT(error(R"({"mode": "explicit", "bins": {"age": {"count": 2}}, "cells": [{"values": {"age": "old"}, "count": 1}]})", ""),
             Contains("no bin 'old' (bins: bin0, bin1)"));
}

TEST_CASE("quotas: shards are contiguous runs of whole chunks whose union is every index once", "[generate][quota]") {
  for (int64_t total : {1, 10, 95, 1000})
    for (int64_t chunk : {1, 7, 100})
      for (int64_t n : {1, 2, 3, 8}) {
        int64_t next = 0;
        for (int64_t i = 0; i < n; ++i) {
          const auto [a, b] = plugen::shard_range(total, chunk, {i, n});
          CHECK(a == next);
          CHECK(b >= a);
          CHECK((a % chunk == 0 || a == total));
          next = b;
        }
        CHECK(next == total);
      }
  CHECK(plugen::Shard::parse("2/8").index == 2);
  CHECK_THROWS_AS(plugen::Shard::parse("8/8"), plugen::ConfigError);
  CHECK_THROWS_AS(plugen::Shard::parse("1-4"), plugen::ConfigError);
  CHECK_THROWS_AS(plugen::Shard::parse("-1/4"), plugen::ConfigError);
}
