// The generation pipeline (plugen/generate/job.hpp) on the fixture job: shard union and batch-size invariance
// byte for byte, manifests, verification, resumption after an interruption, and merge_manifests.
#include <torch/torch.h>

#include <set>
#include <string>

#include "generate/fixtures.hpp"
#include "plugen/data/npy.hpp"
#include "plugen/generate.hpp"
#include "support.hpp"

namespace {

namespace gt = plugen_generate_test;

plugen::GenerateReport gen_run(const nlohmann::json& spec, plugen::GenerateOptions options = {}) {
  return plugen::generate(gt::spec_of(spec), options.writers(4));
}

}  // namespace

TEST_CASE("generate: a job writes N PNGs and a consistent manifest; rerunning it changes nothing",
          "[generate][job]") {
  plugen_test::TempDir dir("gen_basic");
  auto spec = gt::base_spec(dir.path(), 30);
  spec["output"]["csv"] = true;
  const auto report = gen_run(spec);
  CHECK(report.status == "completed");
  CHECK(report.written == 30);
  CHECK_FALSE(report.verified);
  const auto files = gt::output_files(dir.path());
  CHECK(files.size() == 30);
  for (const auto& [name, bytes] : files) CHECK(bytes.substr(1, 3) == "PNG");
  const auto records = gt::manifest_records(dir / "manifest.jsonl");
  REQUIRE(records.size() == 31);
  const auto& header = records[0];
  CHECK(header["plugin_sha256"] == plugen::sha256_file(gt::models().plugin));
  CHECK(header["backbone_sha256"] == plugen::sha256_file(gt::models().backbone));
  CHECK(header["verified"] == false);
  CHECK_THAT(header["verification"].get<std::string>(), Catch::Contains("nothing was measured or rejected"));
  std::map<std::string, int> per_cell;
  for (int64_t i = 0; i < 30; ++i) {
    const auto& r = records[static_cast<size_t>(i) + 1];
    CHECK(r["index"] == i);
    CHECK(files.count(r["file"].get<std::string>()) == 1);
    CHECK(r["attempts"] == 1);
    CHECK(r["accepted"].is_null());
    CHECK(r["measured"].is_null());
    CHECK(r["requested"]["region"] == r["cell"].get<std::string>().substr(7));
    CHECK(r["plugin"].contains("mean"));
    CHECK(r["ood_score"].is_number());
    ++per_cell[r["cell"]];
  }
  CHECK(per_cell == std::map<std::string, int>{{"region=r0", 10}, {"region=r1", 10}, {"region=r2", 10}});
  CHECK(plugen::read_csv(dir / "manifest.csv").num_rows() == 30);
  CHECK(plugen::read_file(dir / "report.json").find("\"completed\"") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "manifest.parts"));
  // The manifest row's seed reproduces the latent through the public API.
  const auto plugin = plugen::load_plugin(gt::models().plugin);
  const auto& r = records[5];
  auto w = plugin.sample({{"region", r["requested"]["region"].get<std::string>()}}, 1, r["seed"].get<uint64_t>(),
                         plugen::SampleOptions().first_index(r["index"].get<int64_t>()));
  CHECK(plugin.attributes(w)[1].value.item<int64_t>() >= 0);
  // Rerunning: nothing to do, nothing changed.
  const auto again = gen_run(spec);
  CHECK(again.status == "already_complete");
  CHECK(again.written == 0);
  CHECK(gt::output_files(dir.path()) == files);
}

TEST_CASE("generate: the union of shards equals a single run byte for byte, and merges to its manifest",
          "[generate][job]") {
  plugen_test::TempDir single("gen_single"), sharded("gen_sharded");
  auto spec = gt::base_spec(single.path(), 47);
  spec["output"]["npy"] = true;
  gen_run(spec);
  auto shard_spec = gt::base_spec(sharded.path(), 47);
  shard_spec["output"]["npy"] = true;
  std::vector<std::filesystem::path> manifests;
  for (int64_t i = 0; i < 3; ++i) {
    const auto r = gen_run(shard_spec, plugen::GenerateOptions().shard({i, 3}));
    CHECK(r.status == "completed");
    manifests.push_back(sharded / plugen::manifest_file_name(i, 3));
  }
  const auto a = gt::output_files(single.path()), b = gt::output_files(sharded.path());
  CHECK(a.size() == 47 + 2 * 5);  // PNGs, and latents/outputs shards per chunk of 10
  CHECK(a == b);
  const auto check = plugen::merge_manifests(manifests, sharded / "merged.jsonl");
  CHECK(check.complete());
  CHECK(check.rows == 47);
  CHECK(gt::file_bytes(sharded / "merged.jsonl") == gt::file_bytes(single / "manifest.jsonl"));
  // The .npy shards hold the chunk's latents and decoded outputs.
  const auto latents = plugen::read_npy(single / "latents-000010.npy");
  const auto outputs = plugen::read_npy(single / "outputs-000010.npy");
  CHECK(latents.sizes() == torch::IntArrayRef({10, 6}));
  CHECK(outputs.sizes() == torch::IntArrayRef({10, 1, 4, 4}));
}

TEST_CASE("generate: the batch size and the writer count do not change any output", "[generate][job]") {
  plugen_test::TempDir a("gen_batch_a"), b("gen_batch_b");
  auto spec_a = gt::base_spec(a.path(), 40, true);
  auto spec_b = gt::base_spec(b.path(), 40, true);
  spec_a["batch_size"] = 3;
  spec_b["batch_size"] = 64;
  gen_run(spec_a, plugen::GenerateOptions().writers(1));
  gen_run(spec_b, plugen::GenerateOptions().writers(7));
  CHECK(gt::output_files(a.path()) == gt::output_files(b.path()));
  CHECK(gt::file_bytes(a / "manifest.jsonl") == gt::file_bytes(b / "manifest.jsonl"));
}

TEST_CASE("generate: a classifier verifies samples, redraws rejected ones and reports acceptance per cell",
          "[generate][job]") {
  plugen_test::TempDir dir("gen_verify");
  auto spec = gt::base_spec(dir.path(), 60, true);
  spec.erase("count");
  spec["quotas"] = nlohmann::json::parse(R"({"mode": "explicit", "bins": {"mean": {"count": 2, "names": ["low", "high"]}},
      "cells": [{"values": {"bright": 1, "mean": "high"}, "count": 30}, {"values": {"bright": 0, "mean": "low"}, "count": 30}]})");
  spec["verify"] = {{"max_attempts", 20}};
  // Label noise of half a bin width: a good share of first draws leave their bin and are redrawn.
  spec["sampling"] = {{"label_temperature", 0.5}};
  const auto report = gen_run(spec);
  INFO(report.to_json().dump());
  CHECK(report.verified);
  REQUIRE(report.cells.size() == 2);
  const auto records = gt::manifest_records(dir / "manifest.jsonl");
  CHECK(records[0]["verified"] == true);
  CHECK(records[0]["verified_attributes"] == nlohmann::json({"bright", "mean"}));
  int64_t draws = 0, redrawn = 0;
  for (size_t k = 1; k < records.size(); ++k) {
    const auto& r = records[k];
    draws += r["attempts"].get<int64_t>();
    redrawn += r["attempts"].get<int64_t>() > 1;
    if (!r["accepted"].get<bool>()) continue;
    // Accepted: the measured attributes are those requested (the mean inside the requested bin).
    CHECK(r["measured"]["bright"] == r["requested"]["bright"]);
    for (const auto& cell : records[0]["cells"])
      if (cell["name"] == r["cell"]) {
        const double m = r["measured"]["mean"];
        CHECK(m >= cell["requested"]["mean"]["low"].get<double>());
        CHECK(m <= cell["requested"]["mean"]["high"].get<double>());
      }
  }
  int64_t report_draws = 0, accepted = 0;
  for (const auto& c : report.cells) {
    report_draws += c.draws;
    accepted += c.accepted;
    CHECK(c.count == 30);
    CHECK(c.acceptance_rate() > 0.0);
    CHECK(c.acceptance_rate() <= 1.0);
  }
  CHECK(report_draws == draws);
  CHECK(accepted >= 55);  // 20 draws per sample: failing them all is rare for every cell
  CHECK(redrawn > 0);
  // Redraws sweep the bin: the value requested for the kept draw is bin_request(bin, attempt), a function of
  // the cell and the attempt only; not all redrawn samples of a cell were requested at the first value.
  const auto schema = plugen::load_plugin(gt::models().plugin).schema();
  const auto& mean = schema[schema.index_of("mean")];
  std::set<double> redraw_values;
  for (size_t k = 1; k < records.size(); ++k) {
    const auto& r = records[k];
    for (const auto& cell : records[0]["cells"])
      if (cell["name"] == r["cell"]) {
        const auto& req = cell["requested"]["mean"];
        const plugen::Bin bin{req["bin"].get<std::string>(), req["low"].get<double>(), req["high"].get<double>(),
                              req["bin"] == "high"};
        const auto attempt = r["attempts"].get<int64_t>() - 1;
        CHECK(r["requested"]["mean"].get<double>() == plugen::bin_request(bin, mean, attempt));
        if (attempt > 0) redraw_values.insert(r["requested"]["mean"].get<double>());
      }
  }
  CHECK(redraw_values.size() > 1);
}

TEST_CASE("generate: verify.sweep_bins and retry_style_scale change only redrawn samples, deterministically",
          "[generate][job]") {
  // Three runs of one verified job differing only in the retry policy, with two batch sizes: samples accepted at
  // their first draw are the same bytes in all; the policy decides the rest, the batch size nothing.
  plugen_test::TempDir a("gen_retry_a"), b("gen_retry_b"), c("gen_retry_c");
  auto spec = gt::base_spec(a.path(), 40, true);
  spec["quotas"] = nlohmann::json::parse(R"({"mode": "uniform", "attributes": ["mean"], "bins": {"mean": {"count": 3}}})");
  spec["verify"] = {{"max_attempts", 6}};
  spec["sampling"] = {{"label_temperature", 0.5}};
  gen_run(spec);
  auto spec_b = spec;
  spec_b["output"]["dir"] = b.path().string();
  spec_b["batch_size"] = 5;
  gen_run(spec_b);
  auto spec_c = spec;
  spec_c["output"]["dir"] = c.path().string();
  spec_c["verify"] = {{"max_attempts", 6}, {"sweep_bins", false}, {"retry_style_scale", 2.0}};
  gen_run(spec_c);
  CHECK(gt::output_files(a.path()) == gt::output_files(b.path()));
  const auto ra = gt::manifest_records(a / "manifest.jsonl"), rc = gt::manifest_records(c / "manifest.jsonl");
  REQUIRE(ra.size() == rc.size());
  CHECK(ra[0]["job_sha256"] != rc[0]["job_sha256"]);
  const auto fa = gt::output_files(a.path()), fc = gt::output_files(c.path());
  int64_t first_draw = 0, differ = 0;
  for (size_t k = 1; k < ra.size(); ++k) {
    const auto file = ra[k]["file"].get<std::string>();
    if (ra[k]["attempts"] == 1) {
      ++first_draw;
      CHECK(rc[k]["attempts"] == 1);
      CHECK(fa.at(file) == fc.at(file));
    } else {
      differ += fa.at(file) != fc.at(file);
    }
  }
  CHECK(first_draw > 0);
  CHECK(differ > 0);
}

TEST_CASE("generate: an interrupted job resumes to exactly the uninterrupted outputs", "[generate][job]") {
  plugen_test::TempDir ref("gen_resume_ref"), dir("gen_resume");
  gen_run(gt::base_spec(ref.path(), 50, true));
  const auto spec = gt::base_spec(dir.path(), 50, true);
  int calls = 0;
  const auto first = gen_run(spec, plugen::GenerateOptions().stop([&] { return ++calls >= 2; }));
  CHECK(first.status == "interrupted");
  CHECK(first.written > 0);
  CHECK(first.written < 50);
  CHECK(std::filesystem::exists(dir / "manifest.parts"));
  CHECK_FALSE(std::filesystem::exists(dir / "manifest.jsonl"));
  // A stray half-written temporary file and an orphan PNG without a manifest row, as a crash leaves them.
  plugen_test::write_bytes(dir / ".sample_000049.png.tmp.99999.0", "\x89PN");
  plugen_test::write_bytes(dir / "sample_000048.png", "partial");
  const auto second = gen_run(spec);
  CHECK(second.status == "completed");
  CHECK(second.resumed == first.written);
  CHECK(second.written == 50 - first.written);
  CHECK(second.removed >= 2);
  CHECK(gt::output_files(dir.path()) == gt::output_files(ref.path()));
  CHECK(gt::file_bytes(dir / "manifest.jsonl") == gt::file_bytes(ref / "manifest.jsonl"));
  for (const auto& name : dir.entries()) CHECK(name.find(".tmp.") == std::string::npos);
}

TEST_CASE("generate: an output folder holding another job is refused", "[generate][job]") {
  plugen_test::TempDir dir("gen_other_job");
  gen_run(gt::base_spec(dir.path(), 20));
  auto other = gt::base_spec(dir.path(), 20);
  other["seed"] = 8;
  CHECK_THAT(plugen_test::error_message<plugen::ConfigError>([&] { gen_run(other); }),
             Catch::Contains("holds another job"));
}

TEST_CASE("generate: models that do not fit the job are errors naming the file", "[generate][job]") {
  plugen_test::TempDir dir("gen_bad_models");
  auto spec = gt::base_spec(dir.path(), 20, true);
  spec["classifier"]["attributes"][1]["classes"] = {"a", "b", "c"};
  CHECK_THAT(plugen_test::error_message<plugen::ConfigError>([&] { gen_run(spec); }),
             Catch::Contains("do not include the requested 'r0'"));
  spec = gt::base_spec(dir.path(), 20);
  spec["quotas"] = {{"mode", "uniform"}, {"attributes", {"hair"}}};
  CHECK_THAT(plugen_test::error_message<plugen::ConfigError>([&] { gen_run(spec); }),
             Catch::Contains("quotas.attributes[0]: the plugin has no attribute 'hair'"));
  spec = gt::base_spec(dir.path(), 20);
  spec["plugin"] = (dir / "missing.safetensors").string();
  CHECK_THAT(plugen_test::error_message<plugen::IoError>([&] { gen_run(spec); }), Catch::Contains("missing.safetensors"));
}

TEST_CASE("merge_manifests: missing and duplicated indices are found; nothing is written then", "[generate][job]") {
  plugen_test::TempDir dir("gen_merge");
  auto spec = gt::base_spec(dir.path(), 30);
  for (int64_t i = 0; i < 3; ++i) gen_run(spec, plugen::GenerateOptions().shard({i, 3}));
  const auto m0 = dir / plugen::manifest_file_name(0, 3), m1 = dir / plugen::manifest_file_name(1, 3),
             m2 = dir / plugen::manifest_file_name(2, 3);
  auto missing = plugen::merge_manifests({m0, m2}, dir / "merged.jsonl");
  CHECK_FALSE(missing.complete());
  CHECK(missing.missing == std::vector<std::pair<int64_t, int64_t>>{{10, 19}});
  CHECK(missing.missing_count() == 10);
  CHECK_FALSE(std::filesystem::exists(dir / "merged.jsonl"));
  auto duplicated = plugen::merge_manifests({m0, m1, m1, m2}, dir / "merged.jsonl");
  CHECK(duplicated.duplicated.size() == 10);
  CHECK(duplicated.duplicated.front() == std::pair<int64_t, int64_t>{10, 2});
  CHECK_FALSE(std::filesystem::exists(dir / "merged.jsonl"));
  auto ok = plugen::merge_manifests({m2, m0, m1}, dir / "merged.jsonl");
  CHECK(ok.complete());
  CHECK(gt::manifest_records(dir / "merged.jsonl").size() == 31);
  // Manifests of another job do not mix.
  plugen_test::TempDir other("gen_merge_other");
  auto other_spec = gt::base_spec(other.path(), 30);
  other_spec["seed"] = 99;
  gen_run(other_spec);
  CHECK_THAT(plugen_test::error_message<plugen::IoError>([&] { plugen::merge_manifests({m0, other / "manifest.jsonl"}); }),
             Catch::Contains("belongs to another job"));
}
