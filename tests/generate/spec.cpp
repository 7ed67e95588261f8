// The generation job spec parser (plugen/generate/spec.hpp): valid specs parse with their defaults; every
// invalid one is a ConfigError that names the spec and the offending field.
#include <nlohmann/json.hpp>

#include <string>

#include "plugen/generate/spec.hpp"
#include "support.hpp"

namespace {

const char* const gen_minimal_spec = R"({"backbone": "g.pt", "plugin": "p.safetensors", "count": 10,
  "output": {"dir": "out"}})";

// The message of parsing `j` (the minimal spec with `patch` merged in) into a spec; fails unless a ConfigError.
std::string gen_spec_error(const std::string& patch) {
  auto j = nlohmann::json::parse(gen_minimal_spec);
  j.merge_patch(nlohmann::json::parse(patch));
  return plugen_test::error_message<plugen::ConfigError>([&] { (void)plugen::parse_job_spec(j.dump(), "job.json"); });
}

}  // namespace

TEST_CASE("generate spec: a minimal spec parses with the documented defaults", "[generate][spec]") {
  const auto s = plugen::parse_job_spec(gen_minimal_spec, "job.json");
  CHECK(s.backbone == "g.pt");
  CHECK(s.backbone_kind == "auto");
  CHECK(*s.count == 10);
  CHECK(s.quotas.mode == plugen::QuotaMode::none);
  CHECK(s.output.png);
  CHECK_FALSE(s.output.npy);
  CHECK(s.output.chunk_size == 1000);
  CHECK(s.batch_size == 256);
  CHECK(s.seed == 0);
  CHECK(s.ood == "warn");
  CHECK_FALSE(s.classifier.has_value());
  CHECK(s.verify.max_attempts == 10);
  CHECK(s.verify.sweep_bins);
  CHECK(s.verify.retry_style_scale == 1.0);
}

TEST_CASE("generate spec: every section parses", "[generate][spec]") {
  const auto s = plugen::parse_job_spec(R"({
    "backbone": "g.pt", "backbone_kind": "vae", "plugin": "p.safetensors",
    "classifier": {"file": "c.pt", "attributes": [{"name": "class", "kind": "categorical", "columns": [0, 1]}]},
    "quotas": {"mode": "explicit", "bins": {"age": {"edges": [0, 30, 90], "names": ["young", "old"]}},
               "cells": [{"values": {"class": "coat", "age": "young"}, "count": 3},
                         {"values": {"class": 1, "smile": true}, "count": 0},
                         {"values": {"class": "shirt"}, "count": 4}]},
    "output": {"dir": "o", "png": false, "npy": true, "csv": true, "prefix": "img-", "chunk_size": 5},
    "seed": 18446744073709551615, "batch_size": 3, "decode_block": 2,
    "sampling": {"label_temperature": 0.1, "style_temperature": 0.5}, "ood": "clamp",
    "verify": {"max_attempts": 4, "tolerance": {"age": 2.5}, "sweep_bins": false, "retry_style_scale": 0.5},
    "comment": "everything"})",
                                        "job.json");
  CHECK(*s.count == 7);  // the explicit counts imply it
  REQUIRE(s.quotas.cells.size() == 3);
  CHECK(s.quotas.cells[0].values.at("class").text == "coat");
  CHECK(s.quotas.cells[1].values.at("smile").number == 1.0);
  CHECK(s.quotas.bins.at("age").edges == std::vector<double>{0, 30, 90});
  CHECK(s.seed == 18446744073709551615ULL);
  CHECK(*s.sampling.label_temperature == 0.1);
  CHECK(s.verify.tolerance.at("age") == 2.5);
  CHECK_FALSE(s.verify.sweep_bins);
  CHECK(s.verify.retry_style_scale == 0.5);
  CHECK(s.classifier->file == "c.pt");
  CHECK(s.output.prefix == "img-");
}

TEST_CASE("generate spec: errors name the spec and the offending field", "[generate][spec]") {
  using Catch::Contains;
  CHECK_THAT(gen_spec_error(R"({"colour": 1})"), Contains("job.json: colour: unknown field"));
  CHECK_THAT(gen_spec_error(R"({"output": {"dir": "o", "format": "png"}})"), Contains("output.format: unknown field"));
  CHECK_THAT(gen_spec_error(R"({"count": -5})"), Contains("job.json: count: expected an integer in [1, 1099511627776], got -5"));
  CHECK_THAT(gen_spec_error(R"({"count": "10"})"), Contains("count: expected an integer"));
  CHECK_THAT(gen_spec_error(R"({"count": 2.5})"), Contains("count: expected an integer"));
  CHECK_THAT(gen_spec_error(R"({"seed": -1})"), Contains("seed: expected an integer in [0, 2^64)"));
  CHECK_THAT(gen_spec_error(R"({"plugin": 3})"), Contains("plugin: expected a string"));
  CHECK_THAT(gen_spec_error(R"({"batch_size": 0})"), Contains("batch_size: expected an integer in [1,"));
  CHECK_THAT(gen_spec_error(R"({"ood": "ignore"})"), Contains("ood: expected allow, warn, clamp or refuse"));
  CHECK_THAT(gen_spec_error(R"({"output": {"dir": "o", "png": false}})"), Contains("output: expected at least one"));
  CHECK_THAT(gen_spec_error(R"({"output": {"dir": "o", "png": "yes"}})"), Contains("output.png: expected true or false"));
  CHECK_THAT(gen_spec_error(R"({"output": {"dir": "o", "prefix": "../x"}})"), Contains("output.prefix"));
  CHECK_THAT(gen_spec_error(R"({"sampling": {"style_temperature": -1}})"),
             Contains("sampling.style_temperature: expected a value >= 0"));
  CHECK_THAT(gen_spec_error(R"({"verify": {"max_attempts": 3}})"), Contains("verify: verification needs a \"classifier\""));
  CHECK_THAT(gen_spec_error(R"({"classifier": "c.pt", "verify": {"retry_style_scale": 0}})"),
             Contains("verify.retry_style_scale: expected a value in (0, 4], got 0"));
  CHECK_THAT(gen_spec_error(R"({"classifier": "c.pt", "verify": {"retry_style_scale": 4.5}})"),
             Contains("verify.retry_style_scale: expected a value in (0, 4]"));
  CHECK_THAT(gen_spec_error(R"({"classifier": "c.pt", "verify": {"sweep_bins": 1}})"),
             Contains("verify.sweep_bins: expected true or false"));
  CHECK_THAT(gen_spec_error(R"({"classifier": {"file": "c.pt", "attributes": [{"name": "a", "kind": "binary"}]}})"),
             Contains("classifier.attributes[0].columns: missing"));
  CHECK_THAT(gen_spec_error(R"({"quotas": {"mode": "random"}})"), Contains("quotas.mode: expected explicit, uniform"));
  CHECK_THAT(gen_spec_error(R"({"quotas": {"mode": "uniform"}})"), Contains("quotas.attributes: missing"));
  CHECK_THAT(gen_spec_error(R"({"quotas": {"mode": "uniform", "attributes": ["a", "a"]}})"),
             Contains("quotas.attributes[1]: 'a' is listed twice"));
  CHECK_THAT(gen_spec_error(R"({"quotas": {"mode": "uniform", "attributes": ["a"], "labels": "l.csv"}})"),
             Contains("quotas.labels: not used by mode 'uniform'"));
  CHECK_THAT(gen_spec_error(R"({"quotas": {"mode": "uniform", "attributes": ["a"], "bins": {"b": {"count": 2}}}})"),
             Contains("quotas.bins.b: bins of an attribute that is not in quotas.attributes"));
  CHECK_THAT(gen_spec_error(R"({"quotas": {"mode": "uniform", "attributes": ["a"], "bins": {"a": {"count": 0}}}})"),
             Contains("quotas.bins.a.count: expected an integer in [1,"));
  CHECK_THAT(gen_spec_error(R"({"quotas": {"mode": "uniform", "attributes": ["a"], "bins": {"a": {"edges": [0, 2, 1]}}}})"),
             Contains("quotas.bins.a.edges[2]: expected strictly increasing edges"));
  CHECK_THAT(gen_spec_error(R"({"quotas": {"mode": "uniform", "attributes": ["a"], "bins": {"a": {"count": 2, "names": ["x"]}}}})"),
             Contains("quotas.bins.a.names: expected 2 names"));
  CHECK_THAT(gen_spec_error(R"({"quotas": {"mode": "explicit", "cells": [{"values": {"a": 1}, "count": -3}]}})"),
             Contains("quotas.cells[0].count: expected an integer in [0, 1099511627776], got -3"));
  CHECK_THAT(gen_spec_error(R"({"quotas": {"mode": "explicit", "cells": [{"values": {"a": 1}, "count": 4}]}})"),
             Contains("count: 10 does not equal the sum 4"));
  CHECK_THAT(gen_spec_error(R"({"quotas": {"mode": "explicit", "cells": [{"values": {"a": 1}, "count": 0}]}})"),
             Contains("every count is 0"));
  CHECK_THAT(gen_spec_error(R"({"quotas": {"mode": "explicit", "cells": [{"values": {"a": 1}, "count": 5},
             {"values": {"a": 1}, "count": 5}]}})"),
             Contains("quotas.cells[1].values: the same combination as quotas.cells[0]"));
  CHECK_THAT(gen_spec_error(R"({"quotas": {"mode": "explicit", "cells": [{"values": {"a": [1]}, "count": 10}]}})"),
             Contains("quotas.cells[0].values.a: expected a number, a boolean or a string"));
  CHECK_THAT(plugen_test::error_message<plugen::ConfigError>([] { (void)plugen::parse_job_spec("{\"backbone\": ", "x.json"); }),
             Contains("x.json: not valid JSON"));
  CHECK_THAT(plugen_test::error_message<plugen::ConfigError>([] { (void)plugen::parse_job_spec("[1]", "x.json"); }),
             Contains("x.json: the spec: expected a JSON object"));
  CHECK_THAT(plugen_test::error_message<plugen::ConfigError>(
                 [] { (void)plugen::parse_job_spec(R"({"backbone": "g", "plugin": "p", "output": {"dir": "o"}})", "x.json"); }),
             Contains("x.json: count: missing"));
}

TEST_CASE("generate spec: read_job_spec resolves relative names against the spec's folder", "[generate][spec]") {
  plugen_test::TempDir dir("gen_spec_file");
  plugen_test::write_bytes(dir / "job.json", gen_minimal_spec);
  const auto s = plugen::read_job_spec(dir / "job.json");
  CHECK(s.resolve_path(s.backbone) == (dir / "g.pt").string());
  CHECK(s.resolve_path("/abs/x") == "/abs/x");
  CHECK_THAT(plugen_test::error_message<plugen::IoError>([&] { (void)plugen::read_job_spec(dir / "none.json"); }),
             Catch::Contains("none.json"));
}
