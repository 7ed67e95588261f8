// Tests of plugen/train/train_plugin.hpp: numerical robustness of the whole recipe. Latents with huge outliers
// either train or stop with a numeric status, the plugin written afterwards is always finite, and extreme
// requested values go through the out-of-distribution policy instead of turning into inf/NaN latents. The data
// sizing of the flow picks the documented ladder step.
#include <cmath>
#include <string>
#include <utility>

#include "plugen/data.hpp"
#include "plugen/plugin.hpp"
#include "plugen/train.hpp"
#include "support.hpp"

using namespace plugen;

namespace {

// 400 rows of 6-d latents with labels smile = [w0 > 0] and age = 40 + 10 w1, computed before 8 rows get
// entries of +-1e4 in three coordinates (the labels stay those of the clean rows, as for corrupted latents).
LatentDataset outlier_data() {
  auto gen = make_generator(31);
  auto w = torch::randn({400, 6}, gen);
  auto values = torch::stack(
      {(w.select(1, 0) > 0).to(torch::kFloat64), (40 + 10 * w.select(1, 1)).to(torch::kFloat64)}, 1);
  for (int64_t r = 0; r < 8; ++r)
    for (int64_t c : {0, 2, 5}) w[r * 50][c] = (r + c) % 2 == 0 ? 1e4 : -1e4;
  return {w, Labels{values, torch::ones({400, 2}, torch::kBool)}};
}

Schema outlier_schema() {
  return Schema({{"smile", AttributeKind::binary, {}, 0, {}}, {"age", AttributeKind::continuous, {}, 0, {}}});
}

PluginTrainOptions outlier_options(double lr) {
  return PluginTrainOptions()
      .sizing(FlowSizing::fixed)
      .flow(FlowOptions().couplings(2).conditioner(ConditionerOptions().hidden(16).layers(2)))
      .train(TrainOptions().epochs(4).batch_size(64).lr(lr))
      .seed(5);
}

bool all_finite(const Plugin& plugin) {
  bool ok = torch::isfinite(plugin.standardize()->mean()).all().item<bool>() &&
            torch::isfinite(plugin.standardize()->std()).all().item<bool>();
  std::visit(
      [&](const auto& f) {
        for (const auto& p : f->parameters()) ok = ok && torch::isfinite(p).all().template item<bool>();
      },
      plugin.flow());
  return ok;
}

// Saves and reloads `plugin`; the file must hold exactly the trained weights and the status.
void check_round_trip(const Plugin& plugin, const std::string& tag) {
  plugen_test::TempDir dir(tag);
  save_plugin(dir / "p.safetensors", plugin);
  auto loaded = load_plugin(dir / "p.safetensors");
  CHECK(all_finite(loaded));
  CHECK(loaded.report().status == plugin.report().status);
  CHECK(torch::equal(loaded.standardize()->std(), plugin.standardize()->std()));
}

}  // namespace

TEST_CASE("latents with 1e4 outliers train to a finite plugin that maps every row to finite codes",
          "[train_plugin][numeric]") {
  const auto data = outlier_data();
  auto plugin = train_plugin(data, outlier_schema(), outlier_options(1e-3));
  // Either outcome is acceptable; a diverged run must say so and keep finite weights.
  const auto status = plugin.report().status;
  CHECK((status == TrainStatus::completed || status == TrainStatus::early_stopped ||
         status == TrainStatus::diverged));
  if (status == TrainStatus::diverged) CHECK_THAT(plugin.report().message, Catch::Contains("non-finite"));
  CHECK(std::isfinite(plugin.report().final_train_nll));
  REQUIRE(all_finite(plugin));
  // The outliers stretch the standardization, they do not break the flow: all rows, outliers included, map
  // to finite codes and back.
  auto [z, logdet] = plugin.forward(data.latents);
  CHECK(torch::isfinite(z).all().item<bool>());
  CHECK(torch::isfinite(logdet).all().item<bool>());
  check_round_trip(plugin, "outliers_trained");
}

TEST_CASE("a run that blows up on outliers stops as diverged and writes the last finite weights",
          "[train_plugin][numeric]") {
  // A learning rate of 1e12 makes the first Adam steps overflow the float32 weights.
  auto plugin = train_plugin(outlier_data(), outlier_schema(), outlier_options(1e12));
  REQUIRE(plugin.report().status == TrainStatus::diverged);
  CHECK_THAT(plugin.report().message, Catch::Contains("non-finite"));
  CHECK(all_finite(plugin));
  check_round_trip(plugin, "outliers_diverged");
}

TEST_CASE("latents too large for a finite standardization are a numeric error, not NaN weights",
          "[train_plugin][numeric]") {
  auto data = outlier_data();
  data.latents = data.latents.to(torch::kFloat64);
  for (int64_t r = 0; r < 400; r += 10) data.latents[r][3] = 1e300;  // their squares, so the variance, overflow
  CHECK_THAT(plugen_test::error_message<NumericError>([&] {
               train_plugin(data, outlier_schema(), outlier_options(1e-3).dtype(torch::kFloat64));
             }),
             Catch::Contains("Standardize") || Catch::Contains("finite"));
}

TEST_CASE("age=1e6 on a plugin trained with outliers: every OOD policy gives finite latents or a clear error",
          "[train_plugin][numeric][ood]") {
  const auto data = outlier_data();
  auto plugin = train_plugin(data, outlier_schema(), outlier_options(1e-3));
  REQUIRE(all_finite(plugin));
  const Conditions far{{"age", 1e6}};
  const double max_age = plugin.schema()[1].stats.max;
  // clamp: the request becomes the training maximum; latents finite, and read back near it.
  auto clamped = plugin.sample(far, 16, 1, SampleOptions().ood(OodOptions().policy(OodPolicy::clamp)));
  CHECK(torch::isfinite(clamped).all().item<bool>());
  const auto readout = plugin.attributes(clamped);
  CHECK(torch::isfinite(readout[1].value).all().item<bool>());
  // refuse: a ConfigError naming the attribute and the range.
  CHECK_THAT(plugen_test::error_message<ConfigError>(
                 [&] { plugin.sample(far, 4, 1, SampleOptions().ood(OodOptions().policy(OodPolicy::refuse))); }),
             Catch::Contains("age=") && Catch::Contains("above the training range"));
  CHECK_THAT(plugen_test::error_message<ConfigError>([&] {
               plugin.edit(data.latents.narrow(0, 1, 4), {{"age", 1e6}},
                           EditOptions().ood(OodOptions().policy(OodPolicy::refuse)));
             }),
             Catch::Contains("age="));
  // allow/warn: the flow is asked for the value as is; the result is finite or a NumericError, never inf/NaN.
  int warned = 0;
  const auto warn = OodOptions().policy(OodPolicy::warn).on_ood([&](const OodReport&) { ++warned; });
  for (const auto& ood : {OodOptions(), warn}) {
    try {
      CHECK(torch::isfinite(plugin.sample(far, 8, 2, SampleOptions().ood(ood))).all().item<bool>());
    } catch (const NumericError& e) {
      CHECK_THAT(std::string(e.what()), Catch::Contains("non-finite"));
    }
    try {
      CHECK(torch::isfinite(plugin.edit(data.latents.narrow(0, 1, 4), {{"age", 1e6}}, EditOptions().ood(ood)))
                .all()
                .item<bool>());
    } catch (const NumericError& e) {
      CHECK_THAT(std::string(e.what()), Catch::Contains("non-finite"));
    }
  }
  CHECK(warned == 2);
  CHECK(max_age < 1e6);
}

TEST_CASE("data sizing picks the largest ladder step within the parameter budget, the floor otherwise",
          "[train][train_plugin][sizing]") {
  const auto base = PluginTrainOptions().flow();
  auto size_of = [&](int64_t dim, int64_t rows, FlowKind kind = FlowKind::affine) {
    auto f = data_flow_size(kind, FlowOptions(base).dim(dim), rows);
    return std::make_pair(f.couplings(), f.conditioner().hidden());
  };
  auto params = [&](int64_t dim, FlowSize s) {
    auto f = FlowOptions(base).dim(dim).couplings(s.couplings);
    f.conditioner().hidden(s.hidden);
    return static_cast<double>(FlowImpl<AffineCoupling>::parameter_count(f));
  };
  // The benchmarks' cases: 64-d VAE latents with 54,000 training rows get the largest flow; 512-d latents with
  // 18,000 rows (the semi-synthetic task) keep the former fixed default, 2 x 128.
  CHECK(size_of(64, 54000) == std::make_pair<int64_t, int64_t>(4, 256));
  CHECK(size_of(512, 18000) == std::make_pair<int64_t, int64_t>(2, 128));
  CHECK(size_of(8, 1) == std::make_pair<int64_t, int64_t>(2, 128));  // the floor
  // At the budget boundary of the middle step: exactly enough rows for 4 x 128 (but not 4 x 256).
  const double middle = params(64, {4, 128});
  REQUIRE(params(64, {4, 256}) > middle);
  const auto rows = static_cast<int64_t>(std::ceil(middle / flow_parameters_per_row));
  CHECK(size_of(64, rows) == std::make_pair<int64_t, int64_t>(4, 128));
  CHECK(size_of(64, rows - 1) == std::make_pair<int64_t, int64_t>(2, 128));
  // The rest of the flow options is kept; other kinds are counted with their own conditioner outputs.
  auto kept = data_flow_size(FlowKind::additive, FlowOptions(base).dim(64).monotone(false), 54000);
  CHECK(kept.conditioner().layers() == base.conditioner().layers());
  CHECK(kept.linear() == base.linear());
  CHECK_FALSE(kept.monotone());
  CHECK_THROWS_AS(data_flow_size(FlowKind::affine, FlowOptions(base).dim(64), 0), ConfigError);
  CHECK(parse_flow_sizing("fixed") == FlowSizing::fixed);
  CHECK(std::string(to_string(FlowSizing::data)) == "data");
  CHECK_THROWS_AS(parse_flow_sizing("auto"), ConfigError);
}

TEST_CASE("an architecture set with flow(...) is used as given unless data sizing is asked for after it",
          "[train][train_plugin][sizing]") {
  CHECK(PluginTrainOptions().sizing() == FlowSizing::data);
  const auto set = PluginTrainOptions().flow(FlowOptions().couplings(6));
  CHECK(set.sizing() == FlowSizing::fixed);
  CHECK(set.flow().couplings() == 6);
  CHECK(PluginTrainOptions().sizing(FlowSizing::data).flow(FlowOptions()).sizing() == FlowSizing::fixed);
  CHECK(PluginTrainOptions().flow(FlowOptions()).sizing(FlowSizing::data).sizing() == FlowSizing::data);
}
