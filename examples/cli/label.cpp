// plugen label: a labelled latent data set from a backbone and a classifier alone. Samples the backbone's
// prior, decodes, classifies, and writes latents.npy, labels.csv and schema.json into a folder.
#include <plugen/backbone.hpp>
#include <plugen/core/atomic_file.hpp>
#include <plugen/data/csv.hpp>
#include <plugen/data/npy.hpp>
#include <plugen/eval/scorer.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"

namespace plugen_cli {

namespace {

struct LabelArgs {
  std::string backbone, kind = "auto", classifier, attributes, out, device = "cpu";
  std::vector<std::string> scorers;
  int64_t n = 1000, batch = 256, steps = 50;
  uint64_t seed = 0;
};

// One CSV cell per label: binary 0/1, categorical the class name, continuous the value; empty when unknown.
plugen::CsvTable labels_table(const plugen::Schema& schema, const plugen::Labels& labels) {
  plugen::CsvTable table;
  for (const auto& a : schema.attributes()) table.columns.push_back(a.name);
  auto values = labels.values.to(torch::kFloat64).contiguous();
  auto mask = labels.mask.contiguous();
  auto v = values.accessor<double, 2>();
  auto m = mask.accessor<bool, 2>();
  for (int64_t i = 0; i < values.size(0); ++i) {
    std::vector<std::string> row;
    for (int64_t k = 0; k < schema.size(); ++k) {
      row.push_back(m[i][k] ? format_value(schema[k], v[i][k]) : std::string());
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

int run_label(const LabelArgs& a) {
  auto options = plugen::BackboneOptions().diffusion(plugen::DiffusionOptions().steps(a.steps));
  options.device(plugen::parse_device(a.device)).decode_batch(a.batch);
  auto backbone = plugen::load_backbone(a.backbone, a.kind, options);
  PLUGEN_CHECK(backbone.can_sample(), ConfigError, "--backbone '{}': a {} backbone without a prior to sample",
               a.backbone, backbone.kind());

  auto copts = plugen::ClassifierOptions().device(plugen::parse_device(a.device)).batch(a.batch);
  // The classifier sees what the backbone decodes, unless it declares its own input shape.
  copts.input_shape(backbone.output_shape());
  std::vector<plugen::ClassifierAttribute> attributes;
  if (!a.attributes.empty()) {
    const auto text = plugen::read_file(a.attributes, 16u << 20);
    try {
      attributes = nlohmann::json::parse(text).get<std::vector<plugen::ClassifierAttribute>>();
    } catch (const nlohmann::json::exception& e) {
      throw plugen::ConfigError(fmt::format("--attributes '{}': {}", a.attributes, e.what()));
    }
  }
  // Without a mapping, the module's declared one (see plugen::load_scorer): e.g. a 'class' over all columns.
  plugen::Scorer scorer;
  scorer.add(plugen::load_scorer(a.classifier, plugen::ClassifierOptions(copts).attributes(attributes)));
  for (const auto& s : a.scorers) scorer.add(plugen::load_scorer(s, copts));

  auto data = plugen::auto_label(backbone, scorer, a.n, a.seed, a.batch);
  auto schema = scorer.schema();
  std::error_code ec;
  std::filesystem::create_directories(a.out, ec);
  PLUGEN_CHECK(!ec && std::filesystem::is_directory(a.out), IoError, "--out '{}': cannot create the folder: {}", a.out,
               ec ? ec.message() : std::string("exists and is not a folder"));
  const std::filesystem::path dir(a.out);
  plugen::write_npy(dir / "latents.npy", data.latents);
  plugen::write_csv(dir / "labels.csv", labels_table(schema, data.labels));
  plugen::write_file_atomic(dir / "schema.json", schema.to_json(/*with_stats=*/false).dump(2) + "\n");
  std::printf(
      "{\"backbone\": \"%s\", \"classifier\": \"%s\", \"n\": %lld, \"seed\": %llu, \"out\": \"%s\", "
      "\"latents\": \"%s\"}\n",
      backbone.describe().c_str(), scorer.describe().c_str(), static_cast<long long>(a.n),
      static_cast<unsigned long long>(a.seed), a.out.c_str(), plugen::shape_string(data.latents.sizes()).c_str());
  return 0;
}

}  // namespace

void add_label_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<LabelArgs>();
  auto* cmd = app.add_subcommand(
      "label",
      "Auto-label a latent data set: sample a backbone's prior, decode, classify; write latents.npy, "
      "labels.csv, schema.json");
  cmd->add_option("--backbone", args->backbone, "TorchScript backbone file (.pt)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--kind", args->kind, "Backbone kind")
      ->check(CLI::IsMember({"auto", "gan", "vae", "diffusion"}))
      ->capture_default_str();
  cmd->add_option("--classifier", args->classifier, "TorchScript attribute classifier (.pt)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--attributes", args->attributes,
                  "JSON list of {name, kind, columns, classes?} mapping score columns to attributes "
                  "(default: one categorical 'class' over all columns)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--scorer", args->scorers,
                  "More TorchScript scorers labelling the decoded samples (repeatable; columns mapped by the module's "
                  "'score_attributes' JSON), e.g. measured pixel attributes")
      ->check(CLI::ExistingFile);
  cmd->add_option("--n", args->n, "Number of samples")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed: sample i depends only on (seed, i)")->capture_default_str();
  cmd->add_option("--out", args->out, "Output folder")->required();
  cmd->add_option("--batch", args->batch, "Samples per module call")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--steps", args->steps, "DDIM steps (diffusion)")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--device", args->device, "Device: cpu, cuda, cuda:N")->capture_default_str();
  cmd->callback([&action, args] { action = [args] { return run_label(*args); }; });
}

}  // namespace plugen_cli
