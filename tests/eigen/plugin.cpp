// Tests of plugen/eigen/: the torch-free plugin reader and maps against the LibTorch path on every flow feature a
// plugin file can hold, and the same errors for the same bad inputs.
#include <fstream>

#include "plugen/eigen.hpp"
#include "plugen/plugin.hpp"
#include "plugen/plugin/file.hpp"
#include "plugin/toy_plugins.hpp"
#include "support.hpp"

using namespace plugen;

namespace {

namespace fs = std::filesystem;

// One flow configuration of the plugin files the comparison covers.
struct EigenCase {
  FlowKind kind;
  LinearPlacement linear;
  bool monotone;
  Activation activation;
  int64_t layers;
  int64_t latent_layers;
  LatentMode mode;
  PartitionKind partition;
};

// A randomized (untrained) plugin of D = 10 over the toy schema (two binary, one 3-class, one continuous
// attribute; balanced prior), saved in `dtype`.
Plugin eigen_case_plugin(const EigenCase& c, torch::Dtype dtype, uint64_t seed) {
  torch::manual_seed(seed);
  const int64_t dim = 10;
  auto schema = plugen_test::toy_schema();
  auto labels = plugen_test::toy_labels(500, seed);
  schema.fit(labels);
  auto stats = LabelStats::count(schema, labels);
  auto flow =
      make_flow(c.kind, FlowOptions(dim)
                            .couplings(3)
                            .conditioner(ConditionerOptions().hidden(12).layers(c.layers).activation(c.activation))
                            .partition(c.partition)
                            .partition_seed(seed)
                            .linear(c.linear)
                            .monotone(c.monotone));
  std::visit(
      [&](auto& f) {
        plugen_test::randomize(*f, 0.4);
        // LU layers with row exchanges and negative pivots (what a label-fitted start produces).
        for (auto& l : f->linears())
          if (l) l->set_weight(plugen_test::permuted_near_identity(dim));
        f->to(dtype);
      },
      flow);
  Standardize standardize(torch::randn({dim}, torch::kFloat64).to(dtype),
                          (torch::rand({dim}, torch::kFloat64) + 0.5).to(dtype));
  TargetPrior prior(schema, dim, PriorOptions().sigma(0.35).balanced(true));
  return Plugin(LatentLayout{dim, c.latent_layers, c.mode}, standardize, c.kind, flow, prior, stats);
}

template <class Scalar>
torch::Tensor eigen_to_torch(const eigen::Matrix<Scalar>& m) {
  auto t = torch::empty({m.rows(), m.cols()}, torch::kFloat64);
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) t[i][j] = static_cast<double>(m(i, j));
  return t;
}

template <class Scalar>
eigen::Matrix<Scalar> torch_to_eigen(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat64).reshape({t.size(0), -1}).contiguous();
  eigen::Matrix<Scalar> m(c.size(0), c.size(1));
  auto a = c.accessor<double, 2>();
  for (int64_t i = 0; i < c.size(0); ++i)
    for (int64_t j = 0; j < c.size(1); ++j) m(i, j) = static_cast<Scalar>(a[i][j]);
  return m;
}

// max |a - b| / max |b|: the largest difference relative to the size of the reference values (elementwise
// ratios blow up near zero, where both paths only agree to absolute rounding).
double eigen_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  auto x = a.to(torch::kFloat64).reshape({a.size(0), -1});
  auto y = b.to(torch::kFloat64).reshape({b.size(0), -1});
  REQUIRE(x.sizes() == y.sizes());
  if (y.numel() == 0) return 0.0;
  return ((x - y).abs().max() / y.abs().max().clamp_min(1e-30)).item<double>();
}

template <class Scalar>
void eigen_compare(const EigenCase& c, torch::Dtype dtype, double tolerance, const fs::path& file) {
  const auto plugin = eigen_case_plugin(c, dtype, 5);
  save_plugin(file, plugin);
  const auto torch_plugin = load_plugin(file);
  const auto eigen_plugin = eigen::load_plugin<Scalar>(file);
  CHECK(eigen_plugin.dim() == 10);
  CHECK(eigen_plugin.flow_kind() == c.kind);
  CHECK(eigen_plugin.schema().to_json().dump() == torch_plugin.schema().to_json().dump());

  const int64_t n = 40;
  auto gen = make_generator(17);
  auto w = c.latent_layers > 0 ? torch::randn({n, c.latent_layers, 10}, gen, torch::kFloat64).mul(1.5).to(dtype)
                               : torch::randn({n, 10}, gen, torch::kFloat64).mul(1.5).to(dtype);
  const auto ew = torch_to_eigen<Scalar>(w);

  // forward and log-det
  auto [z, log_det] = torch_plugin.forward(w);
  auto [ez, elog_det] = eigen_plugin.forward(ew);
  CHECK(eigen_rel_diff(eigen_to_torch<Scalar>(ez), z) <= tolerance);
  CHECK(eigen_rel_diff(eigen_to_torch<Scalar>(eigen::Matrix<Scalar>(elog_det)), log_det.unsqueeze(1)) <= tolerance);

  // inverse of independent points
  auto zi = torch::randn({n, 10}, gen, torch::kFloat64).to(dtype);
  auto wi = torch_plugin.inverse_rows(zi);
  CHECK(eigen_rel_diff(eigen_to_torch<Scalar>(eigen_plugin.inverse(torch_to_eigen<Scalar>(zi))), wi) <= tolerance);

  // conditional sampling: the same noise, the same latents
  const Conditions request{{"Smiling", 1}, {"class", "shoe"}, {"age", 30.0}};
  auto s = torch_plugin.sample(request, 70, 9, SampleOptions().first_index(3).style_temperature(0.8));
  auto es = eigen_plugin.sample(request, 70, 9, eigen::SampleOptions().set_first_index(3).set_style_temperature(0.8));
  CHECK(eigen_rel_diff(eigen_to_torch<Scalar>(es), s) <= tolerance);
  auto s0 = torch_plugin.sample({}, 30, 2, SampleOptions().label_temperature(0.2));
  auto es0 = eigen_plugin.sample({}, 30, 2, eigen::SampleOptions().set_label_temperature(0.2));
  CHECK(eigen_rel_diff(eigen_to_torch<Scalar>(es0), s0) <= tolerance);

  // editing: set and shift
  const auto edits = Edits().set("Glasses", 1).set("class", "coat").shift("age", 0.3).set("Smiling", "false");
  CHECK(eigen_rel_diff(eigen_to_torch<Scalar>(eigen_plugin.edit(ew, edits)), torch_plugin.edit(w, edits)) <= tolerance);

  // attributes
  auto readout = torch_plugin.attributes(w);
  auto ereadout = eigen_plugin.attributes(ew);
  REQUIRE(readout.size() == ereadout.size());
  const int64_t rows = readout.front().value.size(0);  // flow rows: n, or n * L in per-layer mode
  for (size_t i = 0; i < readout.size(); ++i) {
    const auto& a = torch_plugin.schema()[static_cast<int64_t>(i)];
    if (a.kind != AttributeKind::continuous) {
      auto p = readout[i].probability.reshape({rows, -1});
      CHECK((eigen_to_torch<Scalar>(ereadout[i].probability) - p.to(torch::kFloat64))
                .abs()
                .max()
                .template item<double>() <= tolerance);
      // Decisions agree wherever the probability is not within rounding of the threshold.
      auto ev = eigen_to_torch<Scalar>(eigen::Matrix<Scalar>(ereadout[i].value)).squeeze(1);
      auto tv = readout[i].value.to(torch::kFloat64);
      auto margin =
          a.kind == AttributeKind::binary ? (p.squeeze(1) - 0.5).abs() > 1e-4 : torch::ones({rows}, torch::kBool);
      CHECK(ev.masked_select(margin).equal(tv.masked_select(margin)));
    } else {
      auto ev = eigen_to_torch<Scalar>(eigen::Matrix<Scalar>(ereadout[i].value)).squeeze(1);
      CHECK(eigen_rel_diff(ev.unsqueeze(1), readout[i].value.unsqueeze(1)) <= tolerance);
    }
  }
}

}  // namespace

TEST_CASE("eigen plugin: float32 maps equal the LibTorch path on every flow feature", "[eigen]") {
  plugen_test::TempDir dir("eigen_plugin");
  const std::vector<EigenCase> cases = {
      {FlowKind::affine, LinearPlacement::none, false, Activation::leaky_relu, 3, 0, LatentMode::shared,
       PartitionKind::alternating},
      {FlowKind::additive, LinearPlacement::none, false, Activation::leaky_relu, 4, 0, LatentMode::shared,
       PartitionKind::alternating},
      {FlowKind::affine, LinearPlacement::first, true, Activation::relu, 2, 0, LatentMode::shared,
       PartitionKind::random},
      {FlowKind::additive, LinearPlacement::each, true, Activation::tanh, 2, 0, LatentMode::shared,
       PartitionKind::random},
      {FlowKind::affine, LinearPlacement::each, false, Activation::elu, 1, 0, LatentMode::shared,
       PartitionKind::alternating},
      {FlowKind::affine, LinearPlacement::first, true, Activation::gelu, 2, 3, LatentMode::shared,
       PartitionKind::alternating},
      {FlowKind::additive, LinearPlacement::first, false, Activation::silu, 3, 2, LatentMode::per_layer,
       PartitionKind::random},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    INFO("case " << i << ": " << to_string(c.kind) << ", linear " << to_string(c.linear) << ", monotone " << c.monotone
                 << ", " << to_string(c.activation) << ", " << c.layers << " layers, latent layers "
                 << c.latent_layers);
    eigen_compare<float>(c, torch::kFloat32, 1e-5, dir / "f32.safetensors");
  }
}

TEST_CASE("eigen plugin: float64 maps equal the LibTorch path, and float64 files run in float", "[eigen]") {
  plugen_test::TempDir dir("eigen_plugin64");
  const EigenCase c{FlowKind::affine,   LinearPlacement::first,    true, Activation::leaky_relu, 2, 0,
                    LatentMode::shared, PartitionKind::alternating};
  eigen_compare<double>(c, torch::kFloat64, 1e-10, dir / "f64.safetensors");
  // A float64 file evaluated in float arithmetic: rounding-level agreement only.
  eigen_compare<float>(c, torch::kFloat64, 1e-4, dir / "f64_as_f32.safetensors");
}

TEST_CASE("eigen plugin: a trained plugin's edits and samples match LibTorch", "[eigen]") {
  plugen_test::TempDir dir("eigen_trained");
  const auto& plugin = plugen_test::trained_toy_plugin();
  save_plugin(dir / "trained.safetensors", plugin);
  const auto ep = eigen::load_plugin<float>(dir / "trained.safetensors");
  auto s = plugin.sample({{"Glasses", 1}}, 200, 4);
  auto es = ep.sample({{"Glasses", 1}}, 200, 4);
  CHECK(eigen_rel_diff(eigen_to_torch<float>(es), s) <= 1e-5);
  auto edited = plugin.edit(s, {{"Smiling", 0}});
  CHECK(eigen_rel_diff(eigen_to_torch<float>(ep.edit(torch_to_eigen<float>(s), {{"Smiling", 0}})), edited) <= 1e-5);
}

TEST_CASE("eigen plugin: inputs and requests fail with the plugen error kinds", "[eigen]") {
  plugen_test::TempDir dir("eigen_errors");
  save_plugin(dir / "p.safetensors", plugen_test::random_plugin(torch::kFloat32));
  const auto ep = eigen::load_plugin<float>(dir / "p.safetensors");
  const eigen::Matrix<float> narrow = eigen::Matrix<float>::Zero(2, 7);
  auto msg = plugen_test::error_message<ShapeError>([&] { (void)ep.forward(narrow); });
  CHECK_THAT(msg, Catch::Contains("(N, 8)"));
  eigen::Matrix<float> bad = eigen::Matrix<float>::Zero(3, 8);
  bad(1, 2) = std::numeric_limits<float>::quiet_NaN();
  msg = plugen_test::error_message<NumericError>([&] { (void)ep.edit(bad, {{"Smiling", 1}}); });
  CHECK_THAT(msg, Catch::Contains("row 1"));
  msg = plugen_test::error_message<ConfigError>([&] { (void)ep.sample({{"Frowning", 1}}, 2); });
  CHECK_THAT(msg, Catch::Contains("Smiling"));
  (void)plugen_test::error_message<ConfigError>([&] { (void)ep.sample({{"Smiling", 2}}, 2); });
  (void)plugen_test::error_message<ConfigError>([&] { (void)ep.sample({}, -1); });
  msg = plugen_test::error_message<IoError>([&] { (void)eigen::load_plugin<float>(dir / "missing.safetensors"); });
  CHECK_THAT(msg, Catch::Contains("missing.safetensors"));
}

TEST_CASE("eigen plugin: every bad plugin file of the corpus fails as it does in load_plugin", "[eigen][bad_inputs]") {
  const fs::path corpus = fs::path(PLUGEN_SOURCE_DIR) / "tests" / "data" / "bad";
  std::ifstream in(corpus / "cases.json");
  REQUIRE(in.good());
  const auto manifest = nlohmann::json::parse(in);
  int checked = 0;
  for (const auto& c : manifest.at("cases")) {
    if (c.at("loader") != "plugin" && c.at("loader") != "safetensors") continue;
    const auto file = corpus / c.at("files").at(0).get<std::string>();
    INFO("case " << c.at("name").get<std::string>());
    try {
      (void)eigen::load_plugin<float>(file);
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(to_string(e.kind()) == c.at("kind").get<std::string>());
      CHECK_THAT(std::string(e.what()), Catch::Contains(file.filename().string()));
    }
    ++checked;
  }
  CHECK(checked >= 30);
  // The base file the plugin cases corrupt loads.
  CHECK(eigen::load_plugin<double>(corpus / "plugin" / "base.safetensors").dim() == 4);
}
