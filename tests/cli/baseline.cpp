// Tests of `plugen baseline fit|sample|edit` (examples/cli/baseline.cpp): the built binary against the
// library's LinearDirections on the same files. Skipped when the examples are not built.
#include "plugen/baseline.hpp"
#include "plugen/data.hpp"
#include "support.hpp"

#ifdef PLUGEN_CLI_PATH

using namespace plugen;

TEST_CASE("plugen baseline fit, sample and edit give the library's results", "[cli][baseline]") {
  plugen_test::TempDir dir("cli_baseline");
  auto gen = make_generator(5);
  const int64_t n = 600;
  auto w = torch::randn({n, 6}, gen, torch::kFloat32) * 2 + 1;
  auto x = w.to(torch::kFloat64);
  auto up = (x.select(1, 0) + 0.5 * x.select(1, 1) > 1.5);
  auto cls = torch::stack({x.select(1, 2), x.select(1, 3), -x.select(1, 2)}, 1).argmax(1);
  auto size = torch::round((10 + 2 * x.select(1, 4)) * 4) / 4;  // quarter steps: exact in the CSV
  CsvTable table;
  table.columns = {"up", "kind", "size"};
  const char* kinds[] = {"a", "b", "c"};
  for (int64_t r = 0; r < n; ++r)
    table.rows.push_back({up[r].item<bool>() ? "1" : (r % 7 == 0 ? "" : "0"), kinds[cls[r].item<int64_t>()],
                          fmt::format("{}", size[r].item<double>())});
  write_csv(dir / "labels.csv", table);
  write_npy(dir / "w.npy", w);
  auto run = plugen_test::run_plugen_cli(dir, {"baseline", "fit", "--latents", (dir / "w.npy").string(), "--labels",
                                    (dir / "labels.csv").string(), "--out", (dir / "lin.safetensors").string()});
  INFO(run.err);
  REQUIRE(run.status == 0);
  CHECK(nlohmann::json::parse(run.out)["rows"].size() == 5);  // up, kind:a, kind:b, kind:c, size

  Schema schema;
  auto labels = read_labels(dir / "labels.csv", schema);
  auto expected = LinearDirections::fit(schema, w, labels);
  auto fitted = load_linear(dir / "lin.safetensors");
  CHECK(fitted.schema().to_json() == expected.schema().to_json());
  CHECK(torch::allclose(fitted.weight(), expected.weight(), 1e-9, 1e-9));

  run = plugen_test::run_plugen_cli(dir, {"baseline", "sample", "--baseline", (dir / "lin.safetensors").string(), "-n", "40",
                               "--set", "kind=b", "--set", "size=11", "--seed", "4", "--out", (dir / "s.npy").string()});
  REQUIRE(run.status == 0);
  auto sampled = read_npy(dir / "s.npy");
  CHECK(torch::allclose(sampled, expected.sample({{"kind", "b"}, {"size", 11}}, 40, 4), 1e-5, 1e-5));
  const auto kind = fitted.schema().index_of("kind");
  auto read = fitted.attributes(sampled);
  CHECK((read[kind].value == *fitted.schema()[kind].class_index("b")).all().item<bool>());

  run = plugen_test::run_plugen_cli(dir, {"baseline", "edit", "--baseline", (dir / "lin.safetensors").string(), "--latents",
                               (dir / "w.npy").string(), "--set", "up=0.5", "--shift", "--out",
                               (dir / "e.npy").string()});
  REQUIRE(run.status == 0);
  auto edited = read_npy(dir / "e.npy");
  CHECK(edited.scalar_type() == torch::kFloat32);
  CHECK(torch::allclose(edited, expected.edit(w, Edits().shift("up", 0.5)), 1e-5, 1e-5));

  run = plugen_test::run_plugen_cli(dir, {"baseline", "sample", "--baseline", (dir / "lin.safetensors").string(), "-n", "2",
                               "--set", "colour=red", "--out", (dir / "x.npy").string()});
  CHECK(run.status == 1);
  CHECK_THAT(run.err, Catch::Contains("plugen baseline: config error") && Catch::Contains("up, kind, size"));
  run = plugen_test::run_plugen_cli(dir, {"baseline", "sample", "--baseline", (dir / "labels.csv").string(), "-n", "2", "--out",
                               (dir / "x.npy").string()});
  CHECK(run.status == 1);
  CHECK_THAT(run.err, Catch::Contains("plugen baseline: io error") && Catch::Contains("labels.csv"));
}

#endif  // PLUGEN_CLI_PATH
