// Tests of plugen/plugin/export.hpp: the TorchScript export reproduces Plugin::forward and Plugin::inverse for every
// flow feature a plugin file can hold, in LibTorch and in Python's torch.jit.load, and carries the metadata.
#include <torch/script.h>

#include "plugen/data.hpp"
#include "plugen/plugin.hpp"
#include "plugin/toy_plugins.hpp"
#include "support.hpp"

using namespace plugen;

namespace {

struct ExportCase {
  const char* name;
  FlowKind kind;
  FlowOptions options;
  torch::Dtype dtype;
  LatentLayout layout;
};

// Every feature of plugin/file.hpp: both coupling kinds, both partitions, LU layers first/each, the monotone step
// (inverse by bisection), every activation, both dtypes, plain and per-layer latents in both modes.
std::vector<ExportCase> export_cases() {
  const int64_t d = 8;
  auto base = [&] { return FlowOptions(d).couplings(3).conditioner(ConditionerOptions().hidden(12).layers(3)); };
  auto act = [&](Activation a) { return base().conditioner(ConditionerOptions().hidden(12).layers(3).activation(a)); };
  return {
      {"affine, random partition, LU each, monotone, leaky_relu, float64", FlowKind::affine,
       base().partition(PartitionKind::random).partition_seed(7).linear(LinearPlacement::each).monotone(true),
       torch::kFloat64, {d, 0, LatentMode::shared}},
      {"additive, LU first, monotone, relu, float32", FlowKind::additive,
       act(Activation::relu).couplings(4).linear(LinearPlacement::first).monotone(true), torch::kFloat32,
       {d, 0, LatentMode::shared}},
      {"affine, tanh, per_layer W+ latents, float32", FlowKind::affine, act(Activation::tanh), torch::kFloat32,
       {d, 3, LatentMode::per_layer}},
      {"affine, elu, LU first, shared W+ latents, float64", FlowKind::affine,
       act(Activation::elu).linear(LinearPlacement::first), torch::kFloat64, {d, 4, LatentMode::shared}},
      {"additive, gelu, two-layer conditioners, float64", FlowKind::additive,
       base().conditioner(ConditionerOptions().hidden(5).layers(2).activation(Activation::gelu)), torch::kFloat64,
       {d, 0, LatentMode::shared}},
      {"additive, one-layer conditioners, float32", FlowKind::additive,
       base().conditioner(ConditionerOptions().layers(1)), torch::kFloat32, {d, 0, LatentMode::shared}},
      {"affine, silu, scale bound 0.7, monotone, float32", FlowKind::affine,
       act(Activation::silu).scale_bound(0.7).monotone(true), torch::kFloat32, {d, 0, LatentMode::shared}},
  };
}

// A plugin whose flow is randomized (not the identity) with a non-trivial standardization.
Plugin export_plugin(const ExportCase& c, uint64_t seed) {
  plugen_test::Seeded seeded(seed);
  auto schema = plugen_test::toy_schema();
  auto labels = plugen_test::toy_labels(300, seed);
  schema.fit(labels);
  auto flow = make_flow(c.kind, c.options);
  std::visit(
      [&](auto& f) {
        plugen_test::randomize(*f, 0.5);
        // LU layers with row exchanges and negative pivots (what a label-fitted start produces).
        for (auto& l : f->linears())
          if (l) l->set_weight(plugen_test::permuted_near_identity(c.options.dim()));
        f->to(c.dtype);
      },
      flow);
  const auto d = c.options.dim();
  Standardize standardize((torch::randn({d}, torch::kFloat64) * 2).to(c.dtype),
                          (torch::rand({d}, torch::kFloat64) + 0.5).to(c.dtype));
  return Plugin(c.layout, standardize, c.kind, flow, TargetPrior(schema, d, PriorOptions().sigma(0.3)),
                LabelStats::count(schema, labels));
}

// n latents of the plugin's layout around its training mean.
torch::Tensor latents_for(const Plugin& plugin, int64_t n) {
  const auto& l = plugin.layout();
  auto shape = l.layers > 0 ? std::vector<int64_t>{n, l.layers, l.dim} : std::vector<int64_t>{n, l.dim};
  auto noise = torch::randn(shape, torch::kFloat64).to(plugin.dtype());
  return plugin.standardize()->mean() + plugin.standardize()->std() * noise;
}

// Largest |a - b| relative to max(1, |b|_inf).
double relative_diff(const torch::Tensor& a, const torch::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  REQUIRE(a.scalar_type() == b.scalar_type());
  const auto scale = std::max(1.0, b.abs().max().item<double>());
  return (a - b).abs().max().item<double>() / scale;
}

// The same operations in the same order run in TorchScript and in plugen: only the interpreter differs, so the
// results agree to a few ulps (bisection in the monotone step included: it is a fixed number of exact steps).
double tolerance(torch::Dtype dtype) { return dtype == torch::kFloat64 ? 1e-12 : 1e-5; }

}  // namespace

TEST_CASE("to_torchscript reproduces forward, log-det and inverse for every flow feature", "[plugin][export]") {
  torch::set_num_threads(1);
  plugen_test::TempDir dir("export_torchscript");
  uint64_t seed = 40;
  for (const auto& c : export_cases()) {
    INFO(c.name);
    const auto plugin = export_plugin(c, ++seed);
    const auto path = dir / (std::to_string(seed) + ".pt");
    export_torchscript(path, plugin);
    auto module = torch::jit::load(path.string());
    const auto w = latents_for(plugin, 64);

    auto [z, log_det] = plugin.forward(w);
    // The flow must be far from the identity, or the comparison would prove little.
    const auto u = (plugin.rows_of(w, "test") - plugin.standardize()->mean()) / plugin.standardize()->std();
    CHECK((z - u).abs().max().item<double>() > 0.3);
    auto out = module.get_method("forward_and_log_det")({w}).toTuple();
    CHECK(relative_diff(out->elements()[0].toTensor(), z) <= tolerance(c.dtype));
    CHECK(relative_diff(out->elements()[1].toTensor(), log_det) <= tolerance(c.dtype));
    CHECK(relative_diff(module.forward({w}).toTensor(), z) <= tolerance(c.dtype));

    const auto w_back = plugin.latents_of(plugin.inverse_rows(z));
    const auto w_script = module.get_method("inverse")({z}).toTensor();
    CHECK(relative_diff(w_script, w_back) <= tolerance(c.dtype));
    CHECK(w_script.sizes() == w.sizes());

    const auto meta = nlohmann::json::parse(module.attr("metadata").toStringRef());
    CHECK(meta == plugin_metadata(plugin));
    CHECK(meta["flow"]["kind"] == to_string(c.kind));
    CHECK(module.attr("standardize_std").toTensor().equal(plugin.standardize()->std()));
  }
  CHECK(dir.entries().size() == export_cases().size());  // no temporary files left behind
}

TEST_CASE("the exported module rejects latents of the wrong shape, dtype or with NaN", "[plugin][export]") {
  const auto c = export_cases()[3];  // shared W+ latents (N, 4, 8), float64
  const auto plugin = export_plugin(c, 3);
  auto module = to_torchscript(plugin);
  auto message = [&](const char* method, const torch::Tensor& x) -> std::string {
    try {
      module.get_method(method)({x});
    } catch (const std::exception& e) {
      return e.what();
    }
    FAIL("expected the module to raise");
    return {};
  };
  CHECK_THAT(message("forward", torch::zeros({2, 8}, torch::kFloat64)),
             Catch::Contains("expected latents of shape (N, 4, 8)"));
  CHECK_THAT(message("forward", torch::zeros({2, 4, 8}, torch::kFloat32)), Catch::Contains("dtype"));
  CHECK_THAT(message("forward", torch::full({2, 4, 8}, NAN, torch::kFloat64)), Catch::Contains("NaN"));
  CHECK_THAT(message("inverse", torch::zeros({2, 9}, torch::kFloat64)),
             Catch::Contains("expected target-space points of shape (N, 8)"));
  // Shared mode: every layer of the inverse is the flow's row.
  auto w = module.get_method("inverse")({torch::randn({3, 8}, torch::kFloat64)}).toTensor();
  CHECK(w.sizes() == torch::IntArrayRef({3, 4, 8}));
  CHECK(torch::equal(w.select(1, 0), w.select(1, 3)));
}

TEST_CASE("export_torchscript refuses broken plugins and unwritable paths", "[plugin][export]") {
  plugen_test::TempDir dir("export_torchscript_errors");
  auto plugin = export_plugin(export_cases()[1], 5);
  const auto missing = dir / "no/such/dir/flow.pt";
  CHECK_THAT(plugen_test::error_message<IoError>([&] { export_torchscript(missing, plugin); }),
             Catch::Contains(missing.string()));
  {
    torch::NoGradGuard no_grad;
    std::visit([](const auto& f) { f->parameters().front().fill_(NAN); }, plugin.flow());
  }
  CHECK_THAT(plugen_test::error_message<NumericError>([&] { export_torchscript(dir / "nan.pt", plugin); }),
             Catch::Contains("NaN or inf"));
  CHECK(dir.entries().empty());
  // The source is readable TorchScript with the three public methods.
  const auto source = torchscript_source(export_plugin(export_cases()[0], 6));
  for (const char* def : {"def forward(", "def forward_and_log_det(", "def inverse("})
    CHECK(source.find(def) != std::string::npos);
}

TEST_CASE("Python's torch.jit.load runs the exported plugin with plugen's results", "[plugin][export][python]") {
  if (!plugen_test::have_python("torch numpy")) {
    WARN("skipped: /usr/bin/python3 with torch and numpy is not available");
    return;
  }
  torch::set_num_threads(1);
  plugen_test::TempDir dir("export_torchscript_python");
  const auto cases = export_cases();
  std::vector<Plugin> plugins;
  std::vector<torch::Tensor> latents;
  for (size_t i = 0; i < cases.size(); ++i) {
    plugins.push_back(export_plugin(cases[i], 60 + i));
    latents.push_back(latents_for(plugins.back(), 50));
    export_torchscript(dir / (std::to_string(i) + ".pt"), plugins.back());
    write_npy(dir / ("w" + std::to_string(i) + ".npy"), latents.back());
  }
  // One Python process for every case (importing torch costs about a second).
  REQUIRE(plugen_test::run_python(dir.path(), "run.py",
                                  "import json, sys, numpy as np, torch\n"
                                  "torch.set_num_threads(1)\n"
                                  "d, n = sys.argv[1], int(sys.argv[2])\n"
                                  "for i in range(n):\n"
                                  "    m = torch.jit.load(f'{d}/{i}.pt')\n"
                                  "    assert json.loads(m.metadata)['format'] == 'plugen.plugin'\n"
                                  "    w = torch.from_numpy(np.load(f'{d}/w{i}.npy'))\n"
                                  "    z, log_det = m.forward_and_log_det(w)\n"
                                  "    np.save(f'{d}/z{i}.npy', m(w).numpy())\n"
                                  "    np.save(f'{d}/ld{i}.npy', log_det.numpy())\n"
                                  "    np.save(f'{d}/wb{i}.npy', m.inverse(z).numpy())\n",
                                  {dir.path().string(), std::to_string(cases.size())}) == 0);
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO(cases[i].name);
    const auto& plugin = plugins[i];
    auto [z, log_det] = plugin.forward(latents[i]);
    const auto tag = std::to_string(i) + ".npy";
    CHECK(relative_diff(read_npy(dir / ("z" + tag)), z) <= tolerance(cases[i].dtype));
    CHECK(relative_diff(read_npy(dir / ("ld" + tag)), log_det) <= tolerance(cases[i].dtype));
    CHECK(relative_diff(read_npy(dir / ("wb" + tag)), plugin.latents_of(plugin.inverse_rows(z))) <=
          tolerance(cases[i].dtype));
  }
}
