// Tests of plugen/plugin/edit.hpp: edits touch only their label coordinates of z, identity edits, shifts,
// traversals and interpolations from the original z, per-layer latents, and input checks.
#include "plugen/plugin.hpp"
#include "support.hpp"
#include "toy_plugins.hpp"

using namespace plugen;
using plugen_test::error_message;

namespace {

torch::Tensor edit_z(const Plugin& p, const torch::Tensor& w) {
  return std::get<0>(p.forward(w));
}

// Max |difference| over the coordinates of z outside [offset, offset + width).
double edit_untouched_diff(const torch::Tensor& a, const torch::Tensor& b,
                           std::vector<std::pair<int64_t, int64_t>> edited) {
  auto keep = torch::ones({a.size(1)}, torch::kBool);
  for (auto [offset, width] : edited) keep.narrow(0, offset, width).fill_(false);
  return (a - b).index({torch::indexing::Slice(), keep}).abs().max().item<double>();
}

}  // namespace

TEST_CASE("an edit changes only the requested label coordinates of z", "[edit]") {
  auto plugin = plugen_test::random_plugin();
  const auto& schema = plugin.schema();
  plugen_test::Seeded seeded(5);
  for (int trial = 0; trial < 3; ++trial) {
    auto w = plugin.sample({}, 64, 100 + trial);
    auto z = edit_z(plugin, w);
    // One attribute, every kind.
    auto e1 = edit_z(plugin, plugin.edit(w, {{"Smiling", 1}}));
    CHECK(e1.select(1, 0).sub(1.0).abs().max().item<double>() < 1e-9);
    CHECK(edit_untouched_diff(e1, z, {{0, 1}}) < 1e-9);
    auto e2 = edit_z(plugin, plugin.edit(w, {{"class", "coat"}}));
    CHECK(e2.narrow(1, 2, 3).sub(torch::tensor({1.0, -1.0, -1.0}, torch::kFloat64)).abs().max().item<double>() < 1e-9);
    CHECK(edit_untouched_diff(e2, z, {{2, 3}}) < 1e-9);
    auto e3 = edit_z(plugin, plugin.edit(w, {{"age", 25}}));
    CHECK(e3.select(1, 5).sub(schema[3].normalize(25)).abs().max().item<double>() < 1e-9);
    CHECK(edit_untouched_diff(e3, z, {{5, 1}}) < 1e-9);
    // Several at once, with a shift.
    auto e4 = edit_z(plugin, plugin.edit(w, Edits().set("Glasses", 0).shift("age", 0.25).set("class", 2)));
    CHECK(e4.select(1, 1).add(1.0).abs().max().item<double>() < 1e-9);
    CHECK((e4.select(1, 5) - z.select(1, 5) - 0.25).abs().max().item<double>() < 1e-9);
    CHECK(e4.select(1, 4).sub(1.0).abs().max().item<double>() < 1e-9);
    CHECK(edit_untouched_diff(e4, z, {{1, 1}, {2, 3}, {5, 1}}) < 1e-9);
    // The input is not modified, and the result is a new tensor.
    CHECK(torch::equal(edit_z(plugin, w), z));
  }
}

TEST_CASE("editing with the current value returns the input", "[edit]") {
  auto plugin = plugen_test::random_plugin();
  // Samples drawn at label temperature 0 sit exactly on their targets: setting the same values is the identity.
  Conditions c{{"Smiling", 0}, {"class", "shoe"}, {"age", 47.5}};
  auto w = plugin.sample(c, 32, 8, SampleOptions().label_temperature(0.0));
  CHECK((plugin.edit(w, c) - w).abs().max().item<double>() < 1e-9);
  // A continuous attribute set to the value the plugin reads off: the identity for any latent.
  auto v = plugin.sample({}, 1, 9);
  const double age = plugin.attributes(v)[3].value.item<double>();
  CHECK((plugin.edit(v, {{"age", age}}) - v).abs().max().item<double>() < 1e-9);
  // Shifting by 0, and no edit at all.
  CHECK((plugin.edit(v, Edits().shift("Smiling", 0)) - v).abs().max().item<double>() < 1e-9);
  CHECK((plugin.edit(v, Edits()) - v).abs().max().item<double>() < 1e-9);
  // Float32, trained plugin: within float tolerance.
  const auto& trained = plugen_test::trained_toy_plugin();
  auto t = trained.sample(c, 32, 8, SampleOptions().label_temperature(0.0));
  CHECK(torch::allclose(trained.edit(t, c), t, 1e-4, 1e-4));
}

TEST_CASE("shifts move a binary or continuous coordinate in coordinate units", "[edit]") {
  auto plugin = plugen_test::random_plugin();
  auto w = plugin.sample({}, 16, 4);
  auto z = edit_z(plugin, w);
  auto shifted = edit_z(plugin, plugin.edit(w, Edits::shifts(Conditions::parse({"Smiling=2", "age=-0.5"}))));
  CHECK((shifted.select(1, 0) - z.select(1, 0) - 2.0).abs().max().item<double>() < 1e-9);
  CHECK((shifted.select(1, 5) - z.select(1, 5) + 0.5).abs().max().item<double>() < 1e-9);
  // -0.5 coordinate units of age = -0.5 * (60 - 20) / 2 = -10 years as read by the plugin.
  auto before = plugin.attributes(w)[3].value,
       after = plugin.attributes(plugin.edit(w, Edits().shift("age", -0.5)))[3].value;
  CHECK(((after - before) + 10.0).abs().max().item<double>() < 1e-6);
}

TEST_CASE("the trained plugin's edits flip the ground truth of the edited attribute only", "[edit]") {
  const auto& plugin = plugen_test::trained_toy_plugin();
  auto task = plugen_test::ToyTask::make();
  auto held_out = task.data(500, 0, 99);
  auto w = held_out.latents;
  auto edited = plugin.edit(w, {{"Smiling", 1}});
  auto before = task.truth(w), after = task.truth(edited);
  // Smiling is set to 1 on every latent; the learned boundary is linear and sharp, so >= 0.9 is safe.
  CHECK(after.select(1, 0).eq(1).to(torch::kFloat64).mean().item<double>() > 0.9);
  // The other discrete attributes mostly stay (their coordinates are untouched; what moves them is the flow's
  // imperfect disentanglement near their boundaries): > 0.85 each.
  for (int a = 1; a < 3; ++a)
    CHECK(after.select(1, a).eq(before.select(1, a)).to(torch::kFloat64).mean().item<double>() > 0.85);
}

TEST_CASE("traversals start from the original z and end at direct edits", "[edit]") {
  auto plugin = plugen_test::random_plugin();
  const auto& schema = plugin.schema();
  auto w = plugin.sample({}, 5, 12);
  auto t = plugin.traverse(w, "Smiling", -1.0, 1.0, 5);
  REQUIRE(t.sizes() == torch::IntArrayRef({5, 5, 8}));
  CHECK((t.select(1, 0) - plugin.edit(w, {{"Smiling", 0}})).abs().max().item<double>() < 1e-9);
  CHECK((t.select(1, 4) - plugin.edit(w, {{"Smiling", 1}})).abs().max().item<double>() < 1e-9);
  // Steps are evenly spaced on the coordinate; everything else is the original z.
  auto z = edit_z(plugin, w);
  for (int k = 0; k < 5; ++k) {
    auto zk = edit_z(plugin, t.select(1, k));
    CHECK(zk.select(1, 0).sub(-1.0 + 0.5 * k).abs().max().item<double>() < 1e-9);
    CHECK(edit_untouched_diff(zk, z, {{0, 1}}) < 1e-9);
  }
  // Continuous: coordinates -1 and +1 are the training min and max.
  auto a = plugin.traverse(w, "age", schema[3].normalize(25), schema[3].normalize(55), 3);
  CHECK((a.select(1, 0) - plugin.edit(w, {{"age", 25}})).abs().max().item<double>() < 1e-9);
  CHECK((a.select(1, 2) - plugin.edit(w, {{"age", 55}})).abs().max().item<double>() < 1e-9);
  CHECK(plugin.traverse(w, "age", 0.3, 0.9, 1).sizes() == torch::IntArrayRef({5, 1, 8}));
  CHECK_THAT(error_message<ConfigError>([&] { plugin.traverse(w, "class", -1, 1, 3); }),
             Catch::Contains("'class' is categorical"));
  CHECK_THROWS_AS(plugin.traverse(w, "Smiling", -1, 1, 0), ConfigError);
  CHECK_THROWS_AS(plugin.traverse(w, "Smiling", -1, std::nan(""), 3), ConfigError);
  CHECK_THAT(error_message<ConfigError>([&] { plugin.traverse(w, "smiling", -1, 1, 3); }),
             Catch::Contains("Smiling, Glasses, class, age"));
}

TEST_CASE("interpolations are linear in z; style_only keeps the first latent's labels", "[edit]") {
  auto plugin = plugen_test::random_plugin();
  auto a = plugin.sample({{"Smiling", 1}}, 4, 1);
  auto b = plugin.sample({{"Smiling", 0}}, 4, 2);
  auto path = plugin.interpolate(a, b, 5);
  REQUIRE(path.sizes() == torch::IntArrayRef({4, 5, 8}));
  CHECK((path.select(1, 0) - a).abs().max().item<double>() < 1e-9);
  CHECK((path.select(1, 4) - b).abs().max().item<double>() < 1e-9);
  auto za = edit_z(plugin, a), zb = edit_z(plugin, b);
  CHECK((edit_z(plugin, path.select(1, 2)) - 0.5 * (za + zb)).abs().max().item<double>() < 1e-9);
  auto style = plugin.interpolate(a, b, 3, /*style_only=*/true);
  auto z_end = edit_z(plugin, style.select(1, 2));
  CHECK((z_end.narrow(1, 0, 6) - za.narrow(1, 0, 6)).abs().max().item<double>() < 1e-9);
  CHECK((z_end.narrow(1, 6, 2) - zb.narrow(1, 6, 2)).abs().max().item<double>() < 1e-9);
  CHECK_THROWS_AS(plugin.interpolate(a, b.narrow(0, 0, 2), 3), ShapeError);
  CHECK_THROWS_AS(plugin.interpolate(a, b, 0), ConfigError);
}

TEST_CASE("NaN in input latents is a numeric error naming the row; shapes and dtypes are checked", "[edit]") {
  auto plugin = plugen_test::random_plugin();
  auto w = plugin.sample({}, 6, 3);
  w[3][2] = std::nan("");
  CHECK_THAT(error_message<NumericError>([&] {
               plugin.edit(w, {{"Smiling", 1}});
             }),
             Catch::Contains("Plugin::edit") && Catch::Contains("row 3"));
  CHECK_THAT(error_message<NumericError>([&] { plugin.traverse(w, "Smiling", -1, 1, 3); }), Catch::Contains("row 3"));
  CHECK_THAT(error_message<NumericError>([&] { plugin.interpolate(w, w, 3); }), Catch::Contains("row 3"));
  CHECK_THROWS_AS(plugin.edit(torch::zeros({2, 7}, torch::kFloat64), {{"Smiling", 1}}), ShapeError);
  CHECK_THROWS_AS(plugin.edit(torch::zeros({2, 8}, torch::kFloat32), {{"Smiling", 1}}), ShapeError);
  CHECK_THROWS_AS(plugin.edit(torch::zeros({2, 8}, torch::kFloat64), Edits().shift("class", 1)), ConfigError);
}

TEST_CASE("edits apply out-of-distribution policies to the values they set", "[edit][ood]") {
  auto plugin = plugen_test::random_plugin();
  auto w = plugin.sample({}, 4, 3);
  CHECK_THROWS_AS(plugin.edit(w, {{"age", 100}}, EditOptions().ood(OodOptions().policy(OodPolicy::refuse))),
                  ConfigError);
  auto clamped = plugin.edit(w, {{"age", 100}}, EditOptions().ood(OodOptions().policy(OodPolicy::clamp)));
  CHECK((clamped - plugin.edit(w, {{"age", 60}})).abs().max().item<double>() < 1e-12);
  // Shifts are relative: not checked even under refuse.
  CHECK_NOTHROW(plugin.edit(w, Edits().shift("age", 5.0), EditOptions().ood(OodOptions().policy(OodPolicy::refuse))));
  CHECK(torch::isfinite(plugin.edit(w, {{"age", 1e6}})).all().item<bool>());
}

TEST_CASE("per-layer latents round-trip through sample and edit in shared and per_layer modes", "[edit]") {
  for (auto mode : {LatentMode::shared, LatentMode::per_layer}) {
    INFO(to_string(mode));
    const auto& plugin = plugen_test::per_layer_toy_plugin(mode);
    Conditions c{{"Glasses", 1}, {"class", "coat"}};
    auto w = plugin.sample(c, 6, 2, SampleOptions().label_temperature(0.0));
    REQUIRE(w.sizes() == torch::IntArrayRef({6, 3, 8}));
    // Setting the values the samples were drawn with gives them back (float32 round trip).
    auto same = plugin.edit(w, c);
    REQUIRE(same.sizes() == w.sizes());
    CHECK(torch::allclose(same, w, 1e-4, 1e-4));
    // An edit reaches every layer: shared writes the edited row 0 to all rows of a new tensor; per_layer edits each.
    auto edited = plugin.edit(w, {{"Glasses", 0}});
    auto z = std::get<0>(plugin.forward(edited));
    CHECK(z.select(1, 1).add(1.0).abs().max().item<double>() < 1e-4);
    if (mode == LatentMode::shared)
      for (int l = 1; l < 3; ++l) CHECK(torch::equal(edited.select(1, l), edited.select(1, 0)));
    auto t = plugin.traverse(w, "age", -1, 1, 4);
    CHECK(t.sizes() == torch::IntArrayRef({6, 4, 3, 8}));
    CHECK(torch::allclose(t.select(1, 3), plugin.edit(w, {{"age", plugin.schema()[3].stats.max}}), 1e-4, 1e-4));
    auto path = plugin.interpolate(w, edited, 3);
    CHECK(path.sizes() == torch::IntArrayRef({6, 3, 3, 8}));
    CHECK(torch::allclose(path.select(1, 0), w, 1e-4, 1e-4));
    // Per-layer input whose rows differ: per_layer mode keeps each row (identity edit); shared mode follows row 0.
    auto mixed = w.clone();
    mixed.select(1, 2).add_(0.05);
    auto back = plugin.edit(mixed, Edits());
    if (mode == LatentMode::per_layer)
      CHECK(torch::allclose(back, mixed, 1e-4, 1e-4));
    else
      CHECK(torch::allclose(back.select(1, 2), mixed.select(1, 0), 1e-4, 1e-4));
    CHECK_THROWS_AS(plugin.edit(w.select(1, 0), c), ShapeError);
  }
}
