// Tests of plugen/plugin/official.hpp: official PluGeN state_dicts convert exactly into plugen's NICE flow,
// checked against the PyTorch reference of the official flow (benchmarks/reference/official_flow.py).
#include "plugen/data.hpp"
#include "plugen/plugin.hpp"
#include "support.hpp"

using namespace plugen;

namespace {

std::string official_reference_script() {
  return std::string(PLUGEN_SOURCE_DIR) + "/benchmarks/reference/official_flow.py";
}

Schema official_test_schema() {
  return Schema({{"gender", AttributeKind::binary, {}, 0, {}}, {"age", AttributeKind::continuous, {}, 0, {}}});
}

// Runs the reference for the StyleGAN preset (D 512, 4 couplings, L 4, H 512) on 1,000 random latents.
bool official_reference(const plugen_test::TempDir& dir) {
  const std::string cmd = std::string(plugen_test::system_python) + " '" + official_reference_script() + "' --out '" +
                          dir.path().string() + "' --dim 512 --couplings 4 --layers 4 --hidden 512 --n 1000 --seed 5";
  return std::system(cmd.c_str()) == 0;
}

// Imports `state_dict_file` with the StyleGAN preset and checks forward and inverse against the reference.
void check_official_import(const plugen_test::TempDir& dir, const std::filesystem::path& state_dict_file) {
  const auto plugin = import_official(read_official_state_dict(state_dict_file), official_test_schema(),
                                      ImportOfficialOptions().flow(OfficialFlowOptions::preset("stylegan")));
  // Through the plugin file, as the CLI does.
  save_plugin((dir / "official.safetensors"), plugin);
  const auto loaded = load_plugin((dir / "official.safetensors"));
  CHECK(loaded.flow_kind() == FlowKind::additive);
  CHECK(loaded.flow_options().partition() == PartitionKind::alternating);

  const auto x = read_npy((dir / "x.npy"));
  const auto z_ref = read_npy((dir / "z.npy"));
  auto [z, log_det] = loaded.forward(x);
  const double forward_diff = (z - z_ref).abs().max().item<double>();
  const double moved = (z_ref - x).abs().max().item<double>();
  const auto w = loaded.inverse_rows(read_npy((dir / "zi.npy")));
  const double inverse_diff = (w - read_npy((dir / "inv_zi.npy"))).abs().max().item<double>();
  INFO("forward max |diff| " << forward_diff << ", inverse max |diff| " << inverse_diff << ", flow moves points by "
                             << moved);
  CHECK(moved > 0.5);  // a clearly non-identity map, so the comparison means something
  CHECK(forward_diff <= 1e-5);
  CHECK(inverse_diff <= 1e-5);
  CHECK(log_det.abs().max().item<double>() == 0.0);  // additive, identity standardization
  WARN("official import (" << state_dict_file.filename().string() << "): forward max |diff| " << forward_diff
                           << ", inverse max |diff| " << inverse_diff);
}

}  // namespace

TEST_CASE("import_official reproduces the official flow's forward and inverse", "[plugin][official][python]") {
  if (!plugen_test::have_python("torch numpy")) {
    WARN("skipped: /usr/bin/python3 with torch and numpy is not available");
    return;
  }
  torch::set_num_threads(1);
  plugen_test::TempDir dir("official");
  REQUIRE(official_reference(dir));
  // The torch.save file of the OrderedDict the official code saves: LibTorch 1.13's unpickler turns an
  // OrderedDict into None, so it either reads (a newer LibTorch) or says to run the converter script.
  try {
    check_official_import(dir, dir / "flow.pt");
  } catch (const IoError& e) {
    CHECK_THAT(e.what(), Catch::Contains("flow.pt") && Catch::Contains("convert_official.py"));
    WARN("this LibTorch cannot read a torch.save'd OrderedDict: " << e.what());
  }
  // A torch.save'd plain dict, read by LibTorch's unpickler.
  check_official_import(dir, dir / "flow_dict.pt");
  // The .safetensors written by examples/python/convert_official.py.
  const std::string convert = std::string(plugen_test::system_python) + " '" + PLUGEN_SOURCE_DIR +
                              "/examples/python/convert_official.py' '" + (dir / "flow.pt").string() + "' '" +
                              (dir / "flow.safetensors").string() + "'";
  REQUIRE(std::system(convert.c_str()) == 0);
  check_official_import(dir, dir / "flow.safetensors");
}

TEST_CASE("convert_official_flow slices the masked MLPs and checks the architecture", "[plugin][official]") {
  plugen_test::Seeded seeded(9);
  const int64_t dim = 6, hidden = 5;
  // A hand-built official state_dict: 2 couplings of 2 linear layers, full width.
  std::map<std::string, torch::Tensor> sd;
  for (int k = 0; k < 2; ++k) {
    sd[fmt::format("coupling_layers.{}.a.0.weight", k)] = torch::randn({hidden, dim});
    sd[fmt::format("coupling_layers.{}.a.0.bias", k)] = torch::randn({hidden});
    sd[fmt::format("coupling_layers.{}.a.2.weight", k)] = torch::randn({dim, hidden});
    sd[fmt::format("coupling_layers.{}.a.2.bias", k)] = torch::randn({dim});
  }
  auto flow = convert_official_flow(sd);
  CHECK(flow->options().couplings() == 2);
  CHECK(flow->options().conditioner().layers() == 2);
  CHECK(flow->options().conditioner().hidden() == hidden);
  CHECK(flow->options().conditioner().activation() == Activation::leaky_relu);
  CHECK(flow->options().conditioner().negative_slope() == 0.1);

  // The masked full-width official map, written out.
  auto x = torch::randn({7, dim});
  auto y = x.clone();
  for (int k = 0; k < 2; ++k) {
    auto mask = torch::zeros({dim});
    for (int64_t i = k % 2; i < dim; i += 2) mask[i] = 1.0;
    auto h =
        torch::leaky_relu(torch::nn::functional::linear(y * mask, sd[fmt::format("coupling_layers.{}.a.0.weight", k)],
                                                        sd[fmt::format("coupling_layers.{}.a.0.bias", k)]),
                          0.1);
    h = torch::nn::functional::linear(h, sd[fmt::format("coupling_layers.{}.a.2.weight", k)],
                                      sd[fmt::format("coupling_layers.{}.a.2.bias", k)]);
    y = y + (1 - mask) * h;
  }
  torch::NoGradGuard no_grad;
  auto [z, log_det] = flow->forward(x);
  CHECK((z - y).abs().max().item<double>() < 1e-5);
  CHECK((flow->inverse(y) - x).abs().max().item<double>() < 1e-5);

  SECTION("a preset that disagrees with the state_dict names the field") {
    auto msg = plugen_test::error_message<ConfigError>(
        [&] { convert_official_flow(sd, OfficialFlowOptions::preset("stylegan"), "flow.pt"); });
    CHECK_THAT(msg, Catch::Contains("flow.pt") && Catch::Contains("dim = 512"));
  }
  SECTION("an unexpected key is named") {
    sd["scaling_diag"] = torch::zeros({dim});
    auto msg = plugen_test::error_message<ConfigError>([&] { convert_official_flow(sd); });
    CHECK_THAT(msg, Catch::Contains("scaling_diag"));
  }
  SECTION("a missing layer is named") {
    sd.erase("coupling_layers.1.a.2.bias");
    auto msg = plugen_test::error_message<ConfigError>([&] { convert_official_flow(sd); });
    CHECK_THAT(msg, Catch::Contains("coupling_layers.1.a.2"));
  }
}

TEST_CASE("with_neutral_stats fills missing statistics only", "[plugin][official]") {
  auto schema = with_neutral_stats(Schema({{"b", AttributeKind::binary, {}, 0, {}},
                                           {"c", AttributeKind::categorical, {"x", "y", "z", "w"}, 0, {}},
                                           {"v", AttributeKind::continuous, {}, 0, {}}}));
  CHECK(schema[0].stats.frequencies == std::vector<double>{0.5, 0.5});
  CHECK(schema[1].stats.frequencies == std::vector<double>(4, 0.25));
  CHECK(schema[2].stats.min == -1.0);
  CHECK(schema[2].stats.max == 1.0);
  CHECK(schema[2].normalize(0.5) == Approx(0.5));
  CHECK_NOTHROW(TargetPrior(schema, 8));
  CHECK_THROWS_AS(OfficialFlowOptions::preset("biggan"), ConfigError);
}
