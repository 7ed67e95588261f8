// Tests of examples/python/read_plugin.py: a plugin file written by plugen (plugen/plugin/file.hpp) reads in
// Python with nothing but numpy, json and struct, and its forward map agrees with plugen's.
#include "plugen/data.hpp"
#include "plugen/plugin.hpp"
#include "plugin/toy_plugins.hpp"
#include "support.hpp"

using namespace plugen;

namespace {

// A coupling-only plugin (no LU layer, which the reader does not cover) with a non-trivial standardization.
Plugin python_reader_plugin(FlowKind kind, torch::Dtype dtype) {
  plugen_test::Seeded seeded(21);
  const int64_t dim = 8;
  auto schema = plugen_test::toy_schema();
  schema.fit(plugen_test::toy_labels(200, 4));
  auto flow = make_flow(kind, FlowOptions(dim).couplings(3).conditioner(ConditionerOptions().hidden(16).layers(3)));
  std::visit(
      [&](auto& f) {
        plugen_test::randomize(*f, 0.5);
        f->to(dtype);
      },
      flow);
  Standardize standardize(torch::randn({dim}).to(dtype), (torch::rand({dim}) + 0.5).to(dtype));
  return Plugin(LatentLayout{dim, 0, LatentMode::shared}, standardize, kind, flow,
                TargetPrior(schema, dim, PriorOptions().sigma(0.3)));
}

}  // namespace

TEST_CASE("read_plugin.py reads a plugin file and reproduces its forward map", "[plugin][file][python]") {
  if (!plugen_test::have_python("numpy")) {
    WARN("skipped: /usr/bin/python3 with numpy is not available");
    return;
  }
  torch::set_num_threads(1);
  const std::string reader = std::string(PLUGEN_SOURCE_DIR) + "/examples/python/read_plugin.py";
  for (auto [kind, dtype] :
       {std::pair{FlowKind::affine, torch::kFloat64}, std::pair{FlowKind::additive, torch::kFloat32}}) {
    INFO("flow " << to_string(kind) << ", " << dtype_string(dtype));
    plugen_test::TempDir dir("read_plugin_py");
    const auto plugin = python_reader_plugin(kind, dtype);
    save_plugin(dir / "p.safetensors", plugin);
    const auto w = torch::randn({50, 8}).to(dtype);
    write_npy(dir / "w.npy", w);
    const std::string cmd = std::string(plugen_test::system_python) + " '" + reader + "' '" +
                            (dir / "p.safetensors").string() + "' '" + (dir / "w.npy").string() + "' '" +
                            (dir / "z.npy").string() + "'";
    REQUIRE(std::system(cmd.c_str()) == 0);
    auto [z, log_det] = plugin.forward(w);
    const auto z_py = read_npy(dir / "z.npy");
    CHECK(z_py.scalar_type() == dtype);
    CHECK((z_py - z).abs().max().item<double>() < (dtype == torch::kFloat64 ? 1e-12 : 1e-5));
    // One tensor, bit for bit, and the metadata the reader parsed.
    REQUIRE(plugen_test::run_python(dir.path(), "one_tensor.py",
                                    "import sys, numpy as np\n"
                                    "sys.path.insert(0, sys.argv[1])\n"
                                    "from read_plugin import read_plugin\n"
                                    "t, m = read_plugin(sys.argv[2])\n"
                                    "assert m['format'] == 'plugen.plugin' and m['flow']['couplings'] == 3, m\n"
                                    "assert [a['name'] for a in m['schema']['attributes']][0] == 'Smiling'\n"
                                    "np.save(sys.argv[3], t['standardize.std'])\n",
                                    {std::string(PLUGEN_SOURCE_DIR) + "/examples/python",
                                     (dir / "p.safetensors").string(), (dir / "std.npy").string()}) == 0);
    CHECK(torch::equal(read_npy(dir / "std.npy"), plugin.standardize()->std()));
  }
}
