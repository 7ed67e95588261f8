// Tests of plugen/plugin/file.hpp: round trips, bitwise reproducible files, and rejection of broken files.
#include "plugen/data.hpp"
#include "plugen/plugin.hpp"
#include "plugen/train.hpp"
#include "support.hpp"

using namespace plugen;

namespace {

// A tiny labelled dataset: 6-d latents, binary y0 = [w0 > 0], 3-class y1 = argmax(w1, w2, w3), continuous
// y2 = w4 * 10; some labels missing.
LatentDataset file_test_data(int64_t n = 300) {
  auto gen = make_generator(11);
  auto w = torch::randn({n, 6}, gen);
  auto values = torch::stack({(w.select(1, 0) > 0).to(torch::kFloat64), w.narrow(1, 1, 3).argmax(1).to(torch::kFloat64),
                              (w.select(1, 4) * 10).to(torch::kFloat64)},
                             1);
  auto mask = torch::rand({n, 3}, gen) > 0.2;
  return {w, Labels{torch::where(mask, values, torch::zeros_like(values)), mask}};
}

Schema file_test_schema() {
  return Schema({{"pos", AttributeKind::binary, {}, 0, {}},
                 {"cls", AttributeKind::categorical, {"a", "b", "c"}, 0, {}},
                 {"val", AttributeKind::continuous, {}, 0, {}}});
}

Plugin file_test_plugin(FlowKind kind = FlowKind::affine, uint64_t seed = 3) {
  auto opts = PluginTrainOptions()
                  .flow_kind(kind)
                  .sizing(FlowSizing::fixed)
                  .flow(FlowOptions()
                            .couplings(2)
                            .conditioner(ConditionerOptions().hidden(8).layers(2))
                            .linear(LinearPlacement::first))
                  .train(TrainOptions().epochs(2).batch_size(64))
                  .seed(seed);
  return train_plugin(file_test_data(), file_test_schema(), opts);
}

// Rewrites a saved plugin file after `change` modifies its tensors or metadata.
template <class Change>
std::filesystem::path tampered(const plugen_test::TempDir& dir, const std::filesystem::path& good, Change change) {
  auto f = read_safetensors(good);
  change(f);
  auto out = dir / "tampered.safetensors";
  write_safetensors(out, f);
  return out;
}

}  // namespace

TEST_CASE("plugin files round-trip: same maps, schema, statistics and report", "[plugin_file]") {
  plugen_test::TempDir dir("plugin_file");
  for (auto kind : {FlowKind::affine, FlowKind::additive}) {
    auto plugin = file_test_plugin(kind);
    plugin.set_backbone_sha256(sha256_hex("backbone"));
    save_plugin(dir / "p.safetensors", plugin);
    auto back = load_plugin(dir / "p.safetensors");
    CHECK(back.flow_kind() == kind);
    CHECK(back.schema().to_json() == plugin.schema().to_json());
    CHECK(back.label_stats().to_json() == plugin.label_stats().to_json());
    CHECK(back.report().epochs_run == plugin.report().epochs_run);
    CHECK(back.prior().options().sigma() == plugin.prior().options().sigma());
    CHECK(back.backbone_sha256() == sha256_hex("backbone"));
    auto w = file_test_data(20).latents;
    CHECK(torch::equal(std::get<0>(back.forward(w)), std::get<0>(plugin.forward(w))));
    auto z = std::get<0>(plugin.forward(w));
    CHECK(torch::equal(back.inverse_rows(z), plugin.inverse_rows(z)));
    CHECK(dir.entries() == std::vector<std::string>{"p.safetensors"});  // no temporary left behind
  }
}

TEST_CASE("parse_plugin loads plugin file content from memory as load_plugin loads the file", "[plugin_file]") {
  plugen_test::TempDir dir("plugin_parse");
  const auto plugin = file_test_plugin();
  save_plugin(dir / "p.safetensors", plugin);
  const auto bytes = read_file(dir / "p.safetensors");
  const auto back = parse_plugin(bytes, "received plugin");
  const auto w = file_test_data(20).latents;
  CHECK(torch::equal(std::get<0>(back.forward(w)), std::get<0>(plugin.forward(w))));
  CHECK(back.schema().to_json() == plugin.schema().to_json());
  // Problems name the given name.
  auto broken = bytes;
  broken.replace(broken.find("plugen.plugin"), 13, "plugen.pluXin");
  CHECK_THAT(plugen_test::error_message<IoError>([&] { parse_plugin(broken, "received plugin"); }),
             Catch::Contains("received plugin") && Catch::Contains("not a plugen plugin"));
}

TEST_CASE("training twice with the same seed writes identical plugin bytes", "[plugin_file]") {
  plugen_test::TempDir dir("plugin_bytes");
  save_plugin(dir / "a.safetensors", file_test_plugin(FlowKind::affine, 5));
  save_plugin(dir / "b.safetensors", file_test_plugin(FlowKind::affine, 5));
  save_plugin(dir / "c.safetensors", file_test_plugin(FlowKind::affine, 6));
  CHECK(read_file(dir / "a.safetensors") == read_file(dir / "b.safetensors"));
  CHECK(read_file(dir / "a.safetensors") != read_file(dir / "c.safetensors"));
}

TEST_CASE("broken plugin files are io errors naming the file and the problem", "[plugin_file]") {
  plugen_test::TempDir dir("plugin_bad");
  const auto good = dir / "good.safetensors";
  save_plugin(good, file_test_plugin());
  auto expect = [&](const std::filesystem::path& p, const std::string& what) {
    auto msg = plugen_test::error_message<IoError>([&] { load_plugin(p); });
    CHECK_THAT(msg, Catch::Contains(p.string()) && Catch::Contains(what));
  };
  expect(tampered(dir, good, [](SafetensorsFile& f) { f.metadata["format_version"] = "3"; }), "upgrade plugen");
  expect(tampered(dir, good, [](SafetensorsFile& f) { f.metadata.erase("format"); }), "not a plugen plugin");
  expect(tampered(dir, good, [](SafetensorsFile& f) { f.metadata["schema"] = "{not json"; }), "schema");
  expect(tampered(dir, good, [](SafetensorsFile& f) { f.tensors.erase("standardize.std"); }), "standardize.std");
  expect(tampered(dir, good, [](SafetensorsFile& f) { f.tensors["standardize.mean"] = torch::zeros({5}); }),
         "standardize.mean");
  expect(tampered(dir, good, [](SafetensorsFile& f) { f.tensors["extra"] = torch::zeros({1}); }), "extra");
  expect(tampered(dir, good,
                  [](SafetensorsFile& f) {
                    auto& t = f.tensors["standardize.mean"];
                    t = t.clone();
                    t[0] = std::numeric_limits<float>::quiet_NaN();
                  }),
         "NaN");
  expect(tampered(dir, good,
                  [](SafetensorsFile& f) {
                    f.tensors["flow.partition0.kept"] = torch::tensor({0, 0});
                  }),
         "partition");
  expect(tampered(dir, good,
                  [](SafetensorsFile& f) {
                    auto j = nlohmann::json::parse(f.metadata["flow"]);
                    j["couplings"] = 3;
                    f.metadata["flow"] = j.dump();
                  }),
         "flow.partition2.kept");
  expect(tampered(dir, good, [](SafetensorsFile& f) { f.tensors["flow.linear0.perm"] = torch::zeros({6}, torch::kInt64); }),
         "flow.linear0.perm");
  expect(tampered(dir, good, [](SafetensorsFile& f) { f.tensors["flow.linear0.sign"] = torch::full({6}, 0.5f); }),
         "flow.linear0.sign");
  expect(tampered(dir, good, [](SafetensorsFile& f) { f.tensors.erase("flow.linear0.perm"); }), "flow.linear0.perm");
  // Truncated file.
  auto bytes = read_file(good);
  write_file_atomic(dir / "short.safetensors", std::string_view(bytes).substr(0, bytes.size() / 2));
  CHECK_THROWS_AS(load_plugin(dir / "short.safetensors"), IoError);
  CHECK_THROWS_AS(load_plugin(dir / "missing.safetensors"), IoError);
}

TEST_CASE("saving a plugin with non-finite weights is refused", "[plugin_file]") {
  plugen_test::TempDir dir("plugin_nan");
  auto plugin = file_test_plugin();
  std::visit(
      [](auto& f) {
        torch::NoGradGuard g;
        f->parameters()[0].fill_(std::numeric_limits<float>::quiet_NaN());
      },
      const_cast<AnyFlow&>(plugin.flow()));
  CHECK_THROWS_AS(save_plugin(dir / "p.safetensors", plugin), NumericError);
  CHECK(dir.entries().empty());
}

TEST_CASE("format-1 plugin files (LU layers without permutation and signs) still load", "[plugin_file]") {
  plugen_test::TempDir dir("plugin_v1");
  auto plugin = file_test_plugin();
  // Format 1 could only hold identity permutations and positive pivots.
  auto lin = std::get<RealNVP>(plugin.flow())->linears().front();
  {
    torch::NoGradGuard no_grad;
    lin->set_permutation({0, 1, 2, 3, 4, 5});
    lin->sign().fill_(1);
  }
  save_plugin(dir / "v2.safetensors", plugin);
  auto v1 = tampered(dir, dir / "v2.safetensors", [](SafetensorsFile& f) {
    f.metadata["format_version"] = "1";
    f.tensors.erase("flow.linear0.perm");
    f.tensors.erase("flow.linear0.sign");
  });
  auto back = load_plugin(v1);
  auto w = file_test_data(20).latents;
  CHECK(torch::equal(std::get<0>(back.forward(w)), std::get<0>(plugin.forward(w))));
}

TEST_CASE("a trained plugin's LU permutation and signs survive the file", "[plugin_file]") {
  plugen_test::TempDir dir("plugin_perm");
  auto plugin = file_test_plugin();
  auto lin = std::get<RealNVP>(plugin.flow())->linears().front();
  {
    // A matrix whose factorization needs row exchanges and negative pivots.
    plugen_test::Seeded seeded;
    lin->set_weight(torch::randn({6, 6}, torch::kFloat64));
  }
  REQUIRE_FALSE(torch::equal(lin->permutation(), torch::arange(6)));
  save_plugin(dir / "p.safetensors", plugin);
  auto back = load_plugin(dir / "p.safetensors");
  auto back_lin = std::get<RealNVP>(back.flow())->linears().front();
  CHECK(torch::equal(back_lin->permutation(), lin->permutation()));
  CHECK(torch::equal(back_lin->sign(), lin->sign()));
  auto w = file_test_data(20).latents;
  CHECK(torch::equal(std::get<0>(back.forward(w)), std::get<0>(plugin.forward(w))));
}
