// The bad-input corpus (tests/data/bad/cases.json, written by tests/data/bad/make_corpus.py): every case must
// fail with its expected plugen error kind and a message naming the file — never a crash, a foreign exception
// or a success.

#include <torch/script.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "plugen/backbone/load.hpp"
#include "plugen/data/dataset.hpp"
#include "plugen/data/labels.hpp"
#include "plugen/data/npy.hpp"
#include "plugen/data/safetensors.hpp"
#include "plugen/generate/quota.hpp"
#include "plugen/generate/spec.hpp"
#include "plugen/plugin/file.hpp"
#include "support.hpp"

namespace {

namespace fs = std::filesystem;

const fs::path bad_corpus_dir = fs::path(PLUGEN_SOURCE_DIR) / "tests" / "data" / "bad";

nlohmann::json bad_corpus_manifest() {
  std::ifstream in(bad_corpus_dir / "cases.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

// A small GAN-shaped TorchScript module (z: (N, 4) -> (N, 1, 2, 2)) with `forward_body` as its forward.
torch::jit::Module bad_corpus_module(const std::string& forward_body, bool with_latent_dim = true) {
  torch::jit::Module m("BadCorpus");
  m.register_parameter("weight", torch::ones({4, 4}) * 0.1, false);
  if (with_latent_dim) m.register_attribute("latent_dim", c10::IntType::get(), int64_t{4});
  if (!forward_body.empty()) m.define("def forward(self, z):\n" + forward_body);
  return m;
}

// Writes the TorchScript file of a "generate" case to `path`.
void bad_corpus_generate(const std::string& what, const fs::path& path) {
  const std::string ok = "    return torch.tanh(torch.matmul(z, self.weight)).view(-1, 1, 2, 2)\n";
  if (what == "truncated") {
    bad_corpus_module(ok).save(path.string());
    const auto size = fs::file_size(path);
    fs::resize_file(path, size / 2);
  } else if (what == "no_forward") {
    auto m = bad_corpus_module("");
    m.define("def other(self, z):\n" + ok);
    m.save(path.string());
  } else if (what == "returns_string") {
    bad_corpus_module("    return 'an image'\n").save(path.string());
  } else if (what == "returns_1d") {
    bad_corpus_module("    return z.sum(1)\n").save(path.string());
  } else if (what == "vae_no_encode") {
    auto m = bad_corpus_module(ok);
    m.define("def decode(self, z):\n" + ok);
    m.save(path.string());
  } else if (what == "forward_raises") {
    // define() resolves no Python exception names: fail at run time with a shape error for every input.
    bad_corpus_module("    return torch.matmul(z, torch.ones(7, 3))\n").save(path.string());
  } else {
    FAIL("unknown generated case '" << what << "'");
  }
}

// Runs the loader of one case on its files.
void bad_corpus_load(const nlohmann::json& c, const std::vector<fs::path>& files) {
  const std::string loader = c.at("loader");
  if (loader == "npy") {
    (void)plugen::read_npy(files.at(0));
  } else if (loader == "dataset") {
    auto w = plugen::read_npy(files.at(0));
    plugen::Schema schema;
    auto labels = plugen::read_labels(files.at(1), schema);
    plugen::LatentDataset{w, labels}.validate(files.at(0).string() + " + " + files.at(1).string());
  } else if (loader == "labels") {
    plugen::Schema schema;
    if (c.contains("schema")) schema = plugen::read_schema(bad_corpus_dir / c.at("schema").get<std::string>());
    (void)plugen::read_labels(files.at(0), schema);
  } else if (loader == "schema") {
    (void)plugen::read_schema(files.at(0));
  } else if (loader == "safetensors") {
    (void)plugen::read_safetensors(files.at(0));
  } else if (loader == "plugin") {
    (void)plugen::load_plugin(files.at(0));
  } else if (loader == "generate_spec") {
    (void)plugen::read_job_spec(files.at(0));
  } else if (loader == "generate_plan") {
    const auto spec = plugen::read_job_spec(files.at(0));
    const auto plugin = plugen::load_plugin(bad_corpus_dir / "plugin" / "base.safetensors");
    (void)plugen::plan_quotas(spec, plugin.schema(), spec.source);
  } else if (loader == "torchscript") {
    (void)plugen::load_backbone(files.at(0).string(), c.value("backbone", std::string("gan")));
  } else {
    FAIL("unknown loader '" << loader << "'");
  }
}

TEST_CASE("bad-input corpus: every case fails with its error kind and names its file", "[data][bad_inputs]") {
  plugen_test::TempDir tmp("bad_corpus");
  const auto manifest = bad_corpus_manifest();
  const auto& cases = manifest.at("cases");
  REQUIRE(cases.size() >= 40);
  for (const auto& c : cases) {
    const std::string name = c.at("name");
    const std::string expected = c.at("kind");
    std::vector<fs::path> files;
    for (const auto& f : c.at("files")) files.push_back(bad_corpus_dir / f.get<std::string>());
    if (c.contains("generate")) {
      files.at(0) = tmp / (name + ".pt");
      bad_corpus_generate(c.at("generate"), files.at(0));
    }
    INFO("case " << name << " (" << c.value("why", "") << "): " << files.at(0).string());
    std::optional<plugen::Error> caught;
    try {
      bad_corpus_load(c, files);
    } catch (const plugen::Error& e) {
      caught = e;
    } catch (const std::exception& e) {
      FAIL("a foreign exception escaped: " << e.what());
    }
    REQUIRE(caught.has_value());
    INFO("message: " << caught->what());
    CHECK(plugen::to_string(caught->kind()) == expected);
    CHECK(std::string(caught->what()).find(files.at(0).string()) != std::string::npos);
  }
}

TEST_CASE("bad-input corpus: the base plugin the plugin cases corrupt is valid", "[data][bad_inputs]") {
  // Guards the corpus itself: the plugin cases fail because of their one corruption, not because the base is stale.
  const auto plugin = plugen::load_plugin(bad_corpus_dir / "plugin" / "base.safetensors");
  CHECK(plugin.layout().dim == 4);
}

}  // namespace
