#pragma once
// A small generation job for the tests of plugen/generate: the exact linear VAE of the backbone fixtures
// (latent 6, images 1x4x4), the toy classifier (bright: binary, region: 3 classes, mean: continuous) and a
// plugin trained on the fixture's latents labelled by that classifier (once per process, about a second).

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "backbone/fixtures.hpp"
#include "plugen/backbone.hpp"
#include "plugen/generate.hpp"
#include "plugen/plugin.hpp"
#include "plugen/train.hpp"
#include "support.hpp"

namespace plugen_generate_test {

namespace fs = std::filesystem;

/// The classifier's attribute mapping, as a spec writes it.
inline nlohmann::json classifier_attributes() {
  return nlohmann::json::parse(R"([
    {"name": "bright", "kind": "binary", "columns": [0]},
    {"name": "region", "kind": "categorical", "columns": [1, 2, 3], "classes": ["r0", "r1", "r2"]},
    {"name": "mean", "kind": "continuous", "columns": [4]}])");
}

/// Files of the fixture job: backbone, classifier, plugin.
struct Models {
  std::string backbone, classifier, plugin;
};

/// The fixture models, saved once per process.
inline const Models& models() {
  static const Models m = [] {
    namespace fx = plugen_backbone_fixtures;
    Models out;
    auto vae = fx::linear_vae(6);
    out.backbone = fx::save(vae, "generate_vae.pt");
    auto cls = fx::toy_classifier();
    out.classifier = fx::save(cls, "generate_classifier.pt");
    // Latents of the VAE prior labelled by the classifier: a linear backbone makes the attributes nearly linear.
    plugen::VaeBackbone backbone(out.backbone);
    std::vector<plugen::ClassifierAttribute> attrs = classifier_attributes().get<std::vector<plugen::ClassifierAttribute>>();
    plugen::AttributeClassifier classifier(out.classifier, plugen::ClassifierOptions().attributes(attrs));
    auto w = backbone.sample_latents(3000, 5);
    auto labels = classifier.predict(backbone.decode(w));
    auto schema = classifier.schema();
    auto options = plugen::PluginTrainOptions()
                       .sizing(plugen::FlowSizing::fixed)
                       .flow(plugen::FlowOptions().couplings(2).conditioner(plugen::ConditionerOptions().hidden(32).layers(2)))
                       .train(plugen::TrainOptions().epochs(8).batch_size(100).lr(5e-3).sigma(0.4).sigma_decay(0.8).min_sigma(0.1))
                       .seed(1);
    auto plugin = plugen::train_plugin({w, labels}, schema, options);
    out.plugin = fx::temp_path("generate_plugin.safetensors");
    plugen::save_plugin(out.plugin, plugin);
    return out;
  }();
  return m;
}

/// A job spec over the fixture models writing into `dir`.
inline nlohmann::json base_spec(const fs::path& dir, int64_t count = 60, bool with_classifier = false) {
  const auto& m = models();
  nlohmann::json j = {{"backbone", m.backbone},
                      {"backbone_kind", "vae"},
                      {"plugin", m.plugin},
                      {"count", count},
                      {"seed", 7},
                      {"batch_size", 16},
                      {"decode_block", 8},
                      {"output", {{"dir", dir.string()}, {"png", true}, {"npy", false}, {"chunk_size", 10}}},
                      {"quotas", {{"mode", "uniform"}, {"attributes", {"region"}}}}};
  if (with_classifier) j["classifier"] = {{"file", m.classifier}, {"attributes", classifier_attributes()}};
  return j;
}

/// Parses a spec given as JSON.
inline plugen::JobSpec spec_of(const nlohmann::json& j) {
  return plugen::parse_job_spec(j.dump(), "test.json");
}

/// The bytes of every output file (PNGs and .npy shards) of a folder, by name; manifests, reports and hidden
/// files excluded.
inline std::map<std::string, std::string> output_files(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    const auto ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".png" || ext == ".npy") && name[0] != '.') {
      std::ifstream in(e.path(), std::ios::binary);
      files[name] = std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
  }
  return files;
}

/// The whole content of a file.
inline std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// The manifest's records (header first).
inline std::vector<nlohmann::json> manifest_records(const fs::path& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace plugen_generate_test
