// Tests of plugen/plugin/sample.hpp: counter-based per-sample seeding, the conditional and marginal
// priors of sampling, temperatures, and out-of-distribution policies.
#include "plugen/plugin.hpp"
#include "support.hpp"
#include "toy_plugins.hpp"

using namespace plugen;
using plugen_test::error_message;

namespace {

torch::Tensor sample_z(const Plugin& p, const torch::Tensor& w) {
  return std::get<0>(p.forward(w));
}

struct SampleThreadRestore {
  int saved = num_threads();
  ~SampleThreadRestore() { set_num_threads(saved); }
};

}  // namespace

TEST_CASE("counter noise is standard normal and uniform, and depends only on (seed, sample, position)", "[sample]") {
  auto [n, u] = plugen::detail::counter_noise(42, 0, 2000, 1, 40, 10);
  REQUIRE(n.sizes() == torch::IntArrayRef({2000, 40}));
  // 80,000 normals: the sample mean has sd 0.0035 and the variance sd 0.005; 0.02 is > 4 sd for both.
  CHECK(std::abs(n.mean().item<double>()) < 0.02);
  CHECK(std::abs(n.var().item<double>() - 1.0) < 0.03);
  // 20,000 uniforms: mean sd 0.002, P(u < 0.3) sd 0.0032.
  CHECK(std::abs(u.mean().item<double>() - 0.5) < 0.01);
  CHECK(std::abs((u < 0.3).to(torch::kFloat64).mean().item<double>() - 0.3) < 0.015);
  CHECK(u.min().item<double>() >= 0.0);
  CHECK(u.max().item<double>() < 1.0);
  // Neighbouring samples and positions are uncorrelated (|r| sd 0.007 over 2000 pairs... 0.1 is far off).
  auto col0 = n.select(1, 0), col1 = n.select(1, 1);
  CHECK(std::abs(torch::corrcoef(torch::stack({col0, col1}))[0][1].item<double>()) < 0.1);
  // A chunk starting at sample 500 reproduces rows 500.. exactly.
  auto [n2, u2] = plugen::detail::counter_noise(42, 500, 3, 1, 40, 10);
  CHECK(torch::equal(n2, n.narrow(0, 500, 3)));
  CHECK(torch::equal(u2, u.narrow(0, 500, 3)));
  auto [n3, u3] = plugen::detail::counter_noise(43, 500, 3, 1, 40, 10);
  CHECK(!torch::equal(n3, n2));
}

TEST_CASE("sample i is bitwise the same whatever n, chunking and thread count", "[sample]") {
  SampleThreadRestore restore;
  auto plugin = plugen_test::random_plugin(torch::kFloat32);
  Conditions c{{"Smiling", 1}, {"age", 33}};
  auto reference = plugin.sample(c, 600, 9);  // crosses two sampling blocks (256 samples each)
  REQUIRE(reference.sizes() == torch::IntArrayRef({600, 8}));
  CHECK(torch::isfinite(reference).all().item<bool>());
  for (int64_t n : {1, 7, 300}) CHECK(torch::equal(plugin.sample(c, n, 9), reference.narrow(0, 0, n)));
  // Chunks of uneven sizes, starting anywhere.
  std::vector<torch::Tensor> chunks;
  for (int64_t first = 0; first < 600;) {
    const int64_t count = std::min<int64_t>(first % 3 == 0 ? 97 : 131, 600 - first);
    chunks.push_back(plugin.sample(c, count, 9, SampleOptions().first_index(first)));
    first += count;
  }
  CHECK(torch::equal(torch::cat(chunks), reference));
  CHECK(torch::equal(plugin.sample(c, 1, 9, SampleOptions().first_index(511)), reference.narrow(0, 511, 1)));
  // Thread count.
  set_num_threads(2);
  CHECK(torch::equal(plugin.sample(c, 600, 9), reference));
  set_num_threads(1);
  CHECK(torch::equal(plugin.sample(c, 600, 9), reference));
  // Another seed gives other samples; no sample is empty.
  CHECK(!torch::equal(plugin.sample(c, 600, 10), reference));
  CHECK(plugin.sample(c, 0, 9).sizes() == torch::IntArrayRef({0, 8}));
}

TEST_CASE("requested attributes take their conditional prior, others their marginal", "[sample]") {
  auto plugin = plugen_test::random_plugin();
  const auto& schema = plugin.schema();
  // Label temperature 0: requested coordinates sit exactly on their targets (up to the flow round trip).
  auto w =
      plugin.sample({{"Smiling", 0}, {"class", "shirt"}, {"age", 50}}, 200, 1, SampleOptions().label_temperature(0.0));
  auto z = sample_z(plugin, w);
  const double tol = 1e-8;
  CHECK(z.select(1, 0).add(1.0).abs().max().item<double>() < tol);
  auto cls = z.narrow(1, 2, 3);
  CHECK(cls.select(1, 0).add(1.0).abs().max().item<double>() < tol);
  CHECK(cls.select(1, 1).sub(1.0).abs().max().item<double>() < tol);
  CHECK(cls.select(1, 2).add(1.0).abs().max().item<double>() < tol);
  CHECK(z.select(1, 5).sub(schema[3].normalize(50)).abs().max().item<double>() < tol);
  // Unrequested Glasses comes from its marginal: +1 with the training frequency P(Glasses=1) (~0.23 here).
  // With tau_c = 0 every coordinate is exactly +-1. 4000 draws: sd of the rate 0.0067; 0.035 is > 5 sd.
  auto zm = sample_z(plugin, plugin.sample({}, 4000, 2, SampleOptions().label_temperature(0.0)));
  auto glasses = zm.select(1, 1);
  CHECK(((glasses - 1).abs().lt(tol) | (glasses + 1).abs().lt(tol)).all().item<bool>());
  const double rate = glasses.gt(0).to(torch::kFloat64).mean().item<double>();
  CHECK(std::abs(rate - schema[1].stats.frequencies[1]) < 0.035);
  // Classes by their frequencies (each ~1/3; sd 0.0075, tolerance 0.04).
  auto class_rates = zm.narrow(1, 2, 3).argmax(1).bincount({}, 3).to(torch::kFloat64) / 4000.0;
  for (int k = 0; k < 3; ++k) CHECK(std::abs(class_rates[k].item<double>() - schema[2].stats.frequencies[k]) < 0.04);
  // Unrequested continuous: the moment-matched marginal N(mean, var + tau_c^2); with tau_c = 0 its moments
  // are the training ones (mean sd sqrt(var / 4000) < 0.01; tolerance 0.05).
  auto age = zm.select(1, 5);
  CHECK(std::abs(age.mean().item<double>() - schema[3].stats.normalized_mean) < 0.05);
  CHECK(std::abs(age.var().item<double>() - schema[3].stats.normalized_var) < 0.05);
}

TEST_CASE("temperatures scale the label and style noise", "[sample]") {
  auto plugin = plugen_test::random_plugin();
  // Balanced prior (sigma 0.3): a requested binary coordinate has the prior's s+ or s- scaled by tau_c / sigma.
  // The sample sd of 4000 draws has a relative sd of 1/sqrt(2 * 4000) = 1.1%: 5% is > 4 sd.
  auto [s0, s1] = plugin.prior().binary_sigmas(plugin.schema()[0]);
  auto z = sample_z(plugin, plugin.sample({{"Smiling", 1}}, 4000, 3, SampleOptions().label_temperature(0.6)));
  const double expected = s1 * 0.6 / 0.3;
  CHECK(z.select(1, 0).std().item<double>() == Approx(expected).epsilon(0.05));
  CHECK(z.select(1, 0).mean().item<double>() == Approx(1.0).margin(0.05));
  auto z0 = sample_z(plugin, plugin.sample({{"Smiling", 0}}, 4000, 3, SampleOptions().label_temperature(0.6)));
  CHECK(z0.select(1, 0).std().item<double>() == Approx(s0 * 2).epsilon(0.05));
  // Default label temperature: the plugin's final sigma.
  auto zd = sample_z(plugin, plugin.sample({{"age", 40}}, 4000, 4));
  CHECK(zd.select(1, 5).std().item<double>() == Approx(0.3).epsilon(0.05));
  // Style temperature: style coordinates ~ N(0, tau_s^2); tau_s = 0 puts them at 0.
  auto zs = sample_z(plugin, plugin.sample({}, 4000, 5, SampleOptions().style_temperature(0.5)));
  CHECK(zs.narrow(1, 6, 2).std().item<double>() == Approx(0.5).epsilon(0.05));
  auto zs0 = sample_z(plugin, plugin.sample({}, 50, 5, SampleOptions().style_temperature(0.0)));
  CHECK(zs0.narrow(1, 6, 2).abs().max().item<double>() < 1e-8);
}

TEST_CASE("sample options and conditions are validated", "[sample]") {
  auto plugin = plugen_test::random_plugin();
  CHECK_THROWS_AS(plugin.sample({}, -1), ConfigError);
  CHECK_THROWS_AS(plugin.sample({}, 2, 0, SampleOptions().label_temperature(-0.1)), ConfigError);
  CHECK_THROWS_AS(plugin.sample({}, 2, 0, SampleOptions().style_temperature(std::nan(""))), ConfigError);
  CHECK_THROWS_AS(plugin.sample({}, 2, 0, SampleOptions().first_index(-3)), ConfigError);
  CHECK_THAT(error_message<ConfigError>([&] {
               plugin.sample({{"Smile", 1}}, 2);
             }),
             Catch::Contains("Plugin::sample") && Catch::Contains("Smiling, Glasses, class, age"));
  CHECK_THAT(error_message<ConfigError>([&] { plugin.sample({{"class", "hat"}}, 2); }), Catch::Contains("'hat'"));
}

TEST_CASE("out-of-distribution policies when sampling; extreme values never give inf or NaN", "[sample][ood]") {
  auto plugin = plugen_test::random_plugin(torch::kFloat32);
  Conditions far{{"age", 1e6}};
  // allow: finite latents.
  auto w = plugin.sample(far, 20, 1);
  CHECK(torch::isfinite(w).all().item<bool>());
  // clamp: age clamped to the training max, i.e. coordinate +1.
  auto zc = sample_z(
      plugin,
      plugin.sample(far, 20, 1, SampleOptions().label_temperature(0.0).ood(OodOptions().policy(OodPolicy::clamp))));
  CHECK(zc.select(1, 5).sub(1.0).abs().max().item<double>() < 1e-4);
  // warn: the callback gets the report once; sampling goes ahead.
  int calls = 0;
  OodReport seen;
  auto warned =
      plugin.sample(far, 5, 1, SampleOptions().ood(OodOptions().policy(OodPolicy::warn).on_ood([&](const OodReport& r) {
        ++calls;
        seen = r;
      })));
  CHECK(calls == 1);
  CHECK(seen.out_of_distribution);
  CHECK(torch::equal(warned, w.narrow(0, 0, 5)));
  // An in-distribution request does not call it.
  plugin.sample({{"age", 30}}, 5, 1,
                SampleOptions().ood(OodOptions().policy(OodPolicy::warn).on_ood([&](const OodReport&) { ++calls; })));
  CHECK(calls == 1);
  // refuse: a config error with the reason.
  CHECK_THAT(error_message<ConfigError>(
                 [&] { plugin.sample(far, 5, 1, SampleOptions().ood(OodOptions().policy(OodPolicy::refuse))); }),
             Catch::Contains("refuse") && Catch::Contains("age=") && Catch::Contains("above the training range"));
  // Whatever the value: finite latents or a NumericError, never inf/NaN.
  for (double v : {-1e6, 1e12, 1e20, 1e30, -1e36}) {
    try {
      auto x = plugin.sample({{"age", v}}, 8, 2);
      CHECK(torch::isfinite(x).all().item<bool>());
    } catch (const NumericError& e) {
      CHECK_THAT(std::string(e.what()), Catch::Contains("non-finite") && Catch::Contains("sample 0"));
    }
  }
}

TEST_CASE("attributes of conditional samples are the requested values", "[sample]") {
  const auto& plugin = plugen_test::trained_toy_plugin();
  const auto task = plugen_test::ToyTask::make();
  REQUIRE(plugin.report().status == TrainStatus::completed);
  REQUIRE(plugin.prior().options().sigma() == Approx(0.4 * std::pow(0.95, 29)));
  const int64_t n = 500;
  // (Smiling=1, Glasses=1, class=shoe, age=45), a common combination, and the never-seen (Smiling=0, Glasses=1,
  // class=shoe), where the flow extrapolates.
  struct Request {
    Conditions conditions;
    double age_margin;  // years (of a 40-year range) allowed between the requested and the true mean age
  };
  for (const auto& request : {Request{{{"Smiling", 1}, {"Glasses", 1}, {"class", "shoe"}, {"age", 45}}, 3.0},
                              Request{{{"Smiling", 0}, {"Glasses", 1}, {"class", "shoe"}, {"age", 30}}, 6.0}}) {
    INFO(request.conditions.to_string());
    auto wanted = request.conditions.resolve(plugin.schema(), "test");
    auto w = plugin.sample(request.conditions, n, 21);
    // What the plugin reads off its own samples: the label coordinates it drew, within sigma (final sigma
    // 0.4 * 0.95^29 = 0.09, so a binary coordinate drawn at +-1 crosses 0 with probability ~1e-28, and the
    // categorical argmax is wrong with probability < 1e-14 per sample).
    auto read = plugin.attributes(w);
    CHECK(read[0].value.eq(wanted[0].value).all().item<bool>());
    CHECK(read[1].value.eq(wanted[1].value).all().item<bool>());
    CHECK(read[2].value.eq(wanted[2].value).all().item<bool>());
    // Continuous: N(value, sigma) in coordinates, i.e. sd 0.09 * 20 = 1.8 years; the mean of 500 has sd 0.1.
    CHECK(read[3].value.mean().item<double>() == Approx(wanted[3].value).margin(0.5));
    // The ground truth of the task on the produced latents. The flow learns these linear boundaries well
    // (>= 98% of the samples of either request have each requested discrete attribute with this seed);
    // samples are drawn at +-1, away from the boundaries, so 0.9 leaves a wide margin. The true age is a
    // regression through the flow: within 1 year for the common request, 3.5 for the never-seen one, where the
    // flow extrapolates (margins 3 and 6 years).
    auto truth = task.truth(w);
    for (int a = 0; a < 3; ++a) {
      INFO("attribute " << a);
      CHECK(truth.select(1, a).eq(wanted[a].value).to(torch::kFloat64).mean().item<double>() > 0.9);
    }
    CHECK(truth.select(1, 3).mean().item<double>() == Approx(wanted[3].value).margin(request.age_margin));
  }
}

TEST_CASE("per-layer plugins sample in their layout", "[sample]") {
  const auto& shared = plugen_test::per_layer_toy_plugin(LatentMode::shared);
  auto w = shared.sample({{"Smiling", 1}}, 10, 3);
  REQUIRE(w.sizes() == torch::IntArrayRef({10, 3, 8}));
  for (int l = 1; l < 3; ++l) CHECK(torch::equal(w.select(1, l), w.select(1, 0)));  // shared: one row per layer
  CHECK(torch::equal(shared.sample({{"Smiling", 1}}, 3, 3, SampleOptions().first_index(7)), w.narrow(0, 7, 3)));

  const auto& per_layer = plugen_test::per_layer_toy_plugin(LatentMode::per_layer);
  auto v = per_layer.sample({{"Smiling", 1}}, 10, 3, SampleOptions().label_temperature(0.0));
  REQUIRE(v.sizes() == torch::IntArrayRef({10, 3, 8}));
  CHECK(!torch::equal(v.select(1, 1), v.select(1, 0)));  // per_layer: every row drawn independently
  CHECK(torch::equal(per_layer.sample({{"Smiling", 1}}, 4, 3, SampleOptions().label_temperature(0.0).first_index(6)),
                     v.narrow(0, 6, 4)));
  // Every row carries the condition.
  auto z = std::get<0>(per_layer.forward(v));
  REQUIRE(z.size(0) == 30);
  CHECK(z.select(1, 0).sub(1.0).abs().max().item<double>() < 1e-3);
}
