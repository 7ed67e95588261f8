// Tests that the Python export recipes in examples/export/ produce files the C++ adapters load. Runs
// Debian's /usr/bin/python3 once (all four recipes in one process, ~3 s; -B: no __pycache__ in the sources); skipped
// with a warning when python3 with torch is not installed.
#include <cstdlib>
#include <fstream>

#include "backbone/fixtures.hpp"
#include "plugen/backbone.hpp"
#include "support.hpp"

namespace backbone_export_test {

using namespace plugen;
namespace fx = plugen_backbone_fixtures;
using Catch::Contains;

// The recipes' output folder, exported once per process (Catch re-enters the test case for every SECTION).
struct Exported {
  bool skipped = false;  // no python3 with torch
  std::string error;     // the recipes failed: their output
  std::string dir;
};

const Exported& exported() {
  static const Exported result = [] {
    Exported e;
    if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0) {
      e.skipped = true;
      return e;
    }
    e.dir = fx::temp_path("exported");
    const std::string recipes = std::string(PLUGEN_SOURCE_DIR) + "/examples/export";
    // One Python start-up: the four recipes, plus a torch.save'd state dict (what not to give plugen).
    const std::string cmd = "/usr/bin/python3 -B -c \"import sys; sys.path.insert(0, '" + recipes +
                            "'); import export_all, torch; export_all.main('" + e.dir +
                            "'); torch.save({'weight': torch.ones(2)}, '" + e.dir + "/state_dict.pt')\" > " + e.dir +
                            ".log 2>&1";
    if (const int rc = std::system(cmd.c_str()); rc != 0) {
      std::ifstream log(e.dir + ".log");
      e.error = "export recipes failed (" + std::to_string(rc) +
                "): " + std::string((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    }
    return e;
  }();
  return result;
}

TEST_CASE("the export recipes produce modules the adapters load", "[backbone][export]") {
  const auto& e = exported();
  if (e.skipped) {
    WARN("skipped: /usr/bin/python3 with torch (Debian python3-torch) is not installed");
    return;
  }
  if (!e.error.empty()) FAIL(e.error);
  const std::string& out = e.dir;

  SECTION("gan.py: Z, W and W+") {
    GanBackbone z(out + "/gan.pt");
    CHECK(z.latent_shape() == std::vector<int64_t>{32});
    CHECK(z.output_shape() == std::vector<int64_t>{1, 28, 28});
    GanBackbone wplus(out + "/gan.pt", GanOptions().space(LatentSpace::w_plus));
    CHECK(wplus.latent_shape() == std::vector<int64_t>{2, 32});
    auto x = z.decode(z.sample_latents(3, 1));
    CHECK(torch::allclose(wplus.decode(wplus.sample_latents(3, 1)), x, 1e-5, 1e-6));
    CHECK(x.min().item<double>() >= 0.0);
    CHECK(x.max().item<double>() <= 1.0);
  }
  SECTION("vae.py: encode returns (mean, logvar)") {
    VaeBackbone vae(out + "/vae.pt");
    CHECK(vae.latent_shape() == std::vector<int64_t>{16});
    CHECK(vae.output_shape() == std::vector<int64_t>{1, 28, 28});
    auto x = vae.decode(vae.sample_latents(4, 2));
    CHECK(vae.encode(x).sizes() == torch::IntArrayRef({4, 16}));
  }
  SECTION("diffusion.py: eps-net with alphas_cumprod and sample_shape") {
    DiffusionBackbone d(out + "/diffusion.pt", DiffusionOptions().steps(4));
    CHECK(d.latent_shape() == std::vector<int64_t>{1, 28, 28});
    CHECK(d.alphas_cumprod().size(0) == 1000);
    auto x = d.decode(d.sample_latents(2, 3));
    CHECK(x.sizes() == torch::IntArrayRef({2, 1, 28, 28}));
    CHECK(d.encode(x).sizes() == torch::IntArrayRef({2, 1, 28, 28}));
    CHECK(load_backbone(out + "/diffusion.pt", "auto").kind() == "diffusion");
  }
  SECTION("classifier.py: scores and the JSON column mapping") {
    std::ifstream json_file(out + "/classifier.json");
    auto attributes = nlohmann::json::parse(json_file).get<std::vector<ClassifierAttribute>>();
    REQUIRE(attributes.size() == 3);
    CHECK(attributes[0].classes.size() == 10);
    AttributeClassifier classifier(out + "/classifier.pt", ClassifierOptions().attributes(attributes));
    CHECK(classifier.width() == 12);
    CHECK(classifier.input_shape() == std::vector<int64_t>{1, 28, 28});
    auto labels = classifier.predict(torch::full({2, 1, 28, 28}, 0.75));
    CHECK(labels.values.sizes() == torch::IntArrayRef({2, 3}));
    CHECK(labels.values[0][1].item<double>() == 1.0);
    CHECK(labels.values[0][2].item<double>() == Approx(0.75));
    CHECK(classifier.schema()[0].classes.at(9) == "boot");
  }
  SECTION("a torch.save'd state dict is not a TorchScript module") {
    auto msg = plugen_test::error_message<BackboneError>([&] { VaeBackbone v(out + "/state_dict.pt"); });
    CHECK_THAT(msg, Contains("state_dict.pt") && Contains("not a loadable TorchScript module"));
  }
}

}  // namespace backbone_export_test
