// Tests of the `plugen sample`, `plugen edit` and `plugen check` commands (examples/cli): they run the
// built binary on a saved plugin and compare with the library. Skipped when the examples are not built.
#include "plugen/data.hpp"
#include "plugen/plugin.hpp"
#include "plugin/toy_plugins.hpp"
#include "support.hpp"

#ifdef PLUGEN_CLI_PATH

using namespace plugen;

TEST_CASE("plugen sample writes the library's samples, chunk by chunk", "[cli]") {
  plugen_test::TempDir dir("cli_sample");
  const auto path = (dir / "toy.plugin").string();
  save_plugin(path, plugen_test::random_plugin(torch::kFloat32));
  const auto plugin = load_plugin(path);
  auto run = plugen_test::run_plugen_cli(dir, {"sample", "--plugin", path, "--n", "5", "--set", "Smiling=1", "--set", "class=shoe",
                                  "--seed", "3", "--temperature", "0.2", "--out", (dir / "w.npy").string()});
  INFO(run.err);
  REQUIRE(run.status == 0);
  auto expected = plugin.sample({{"Smiling", 1}, {"class", "shoe"}}, 5, 3, SampleOptions().label_temperature(0.2));
  CHECK(torch::equal(read_npy(dir / "w.npy"), expected));
  CHECK(nlohmann::json::parse(run.out)["shape"] == std::vector<int64_t>{5, 8});
  // A chunk: latents 2..4 of the same stream.
  run =
      plugen_test::run_plugen_cli(dir, {"sample", "--plugin", path, "--n", "3", "--first-index", "2", "--set", "Smiling=1", "--set",
                           "class=shoe", "--seed", "3", "--temperature", "0.2", "--out", (dir / "c.npy").string()});
  REQUIRE(run.status == 0);
  CHECK(torch::equal(read_npy(dir / "c.npy"), expected.narrow(0, 2, 3)));
}

TEST_CASE("plugen sample: unknown names are config errors listing the valid ones; --ood refuse refuses", "[cli]") {
  plugen_test::TempDir dir("cli_sample_errors");
  const auto path = (dir / "toy.plugin").string();
  save_plugin(path, plugen_test::random_plugin(torch::kFloat32));
  auto run = plugen_test::run_plugen_cli(
      dir, {"sample", "--plugin", path, "--n", "2", "--set", "Smile=1", "--out", (dir / "x.npy").string()});
  CHECK(run.status == 1);
  CHECK_THAT(run.err,
             Catch::Contains("plugen sample: config error") && Catch::Contains("Smiling, Glasses, class, age"));
  run = plugen_test::run_plugen_cli(dir, {"sample", "--plugin", path, "--n", "2", "--set", "age=1e6", "--ood", "refuse", "--out",
                             (dir / "x.npy").string()});
  CHECK(run.status == 1);
  CHECK_THAT(run.err, Catch::Contains("refused an out-of-distribution request"));
  CHECK(!std::filesystem::exists(dir / "x.npy"));
}

TEST_CASE("plugen edit sets or shifts attributes like the library", "[cli]") {
  plugen_test::TempDir dir("cli_edit");
  const auto path = (dir / "toy.plugin").string();
  save_plugin(path, plugen_test::random_plugin(torch::kFloat32));
  const auto plugin = load_plugin(path);
  auto w = plugin.sample({}, 4, 1);
  // A float64 file: edited in the plugin's dtype (float32), written back as float64.
  write_npy(dir / "w.npy", w.to(torch::kFloat64));
  auto run = plugen_test::run_plugen_cli(dir, {"edit", "--plugin", path, "--latents", (dir / "w.npy").string(), "--set", "age=30",
                                  "--set", "Glasses=true", "--out", (dir / "e.npy").string()});
  INFO(run.err);
  REQUIRE(run.status == 0);
  auto edited = read_npy(dir / "e.npy");
  CHECK(edited.scalar_type() == torch::kFloat64);
  CHECK(torch::equal(edited, plugin.edit(w, {{"age", 30}, {"Glasses", 1}}).to(torch::kFloat64)));
  run = plugen_test::run_plugen_cli(dir, {"edit", "--plugin", path, "--latents", (dir / "w.npy").string(), "--set", "Smiling=2",
                             "--shift", "--out", (dir / "s.npy").string()});
  REQUIRE(run.status == 0);
  CHECK(torch::equal(read_npy(dir / "s.npy"), plugin.edit(w, Edits().shift("Smiling", 2)).to(torch::kFloat64)));
}

TEST_CASE("plugen edit: NaN latents are a numeric error naming file and row; unknown classes a config error", "[cli]") {
  plugen_test::TempDir dir("cli_edit_errors");
  const auto path = (dir / "toy.plugin").string();
  save_plugin(path, plugen_test::random_plugin(torch::kFloat32));
  auto w = plugen_test::random_plugin(torch::kFloat32).sample({}, 4, 1);
  write_npy(dir / "w.npy", w);
  w[2][5] = std::nan("");
  write_npy(dir / "nan.npy", w);
  auto run = plugen_test::run_plugen_cli(dir, {"edit", "--plugin", path, "--latents", (dir / "nan.npy").string(), "--set", "age=30",
                                  "--out", (dir / "x.npy").string()});
  CHECK(run.status == 1);
  CHECK_THAT(run.err, Catch::Contains("numeric error") && Catch::Contains("nan.npy") && Catch::Contains("row 2"));
  run = plugen_test::run_plugen_cli(dir, {"edit", "--plugin", path, "--latents", (dir / "w.npy").string(), "--set", "class=hat",
                             "--out", (dir / "x.npy").string()});
  CHECK(run.status == 1);
  CHECK_THAT(run.err, Catch::Contains("config error") && Catch::Contains("'hat'"));
}

TEST_CASE("plugen check prints the OOD report as JSON", "[cli]") {
  plugen_test::TempDir dir("cli_check");
  const auto path = (dir / "toy.plugin").string();
  save_plugin(path, plugen_test::random_plugin(torch::kFloat32));
  auto run = plugen_test::run_plugen_cli(dir, {"check", "--plugin", path, "--set", "Smiling=0", "--set", "Glasses=1", "--set",
                                  "class=shoe", "--set", "age=70"});
  INFO(run.err);
  REQUIRE(run.status == 0);
  auto j = nlohmann::json::parse(run.out);
  CHECK(j["out_of_distribution"] == true);
  CHECK(j["combination"]["count"] == 0);
  CHECK(j["continuous"][0]["distance"] == 10.0);
  CHECK(j["request"] == "Smiling=0, Glasses=1, class=shoe, age=70");
}

#endif  // PLUGEN_CLI_PATH
