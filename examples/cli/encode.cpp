// plugen encode: encode real inputs with a backbone's encoder (a VAE's posterior mean, or DDIM inversion
// of a diffusion model) into a latent .npy file, for pairing with the user's labels.
#include <plugen/backbone.hpp>
#include <plugen/data/csv.hpp>
#include <plugen/data/npy.hpp>
#include <plugen/eval/scorer.hpp>

#include <algorithm>

#include <cstdio>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"

namespace plugen_cli {

namespace {

struct EncodeArgs {
  std::string backbone, kind = "auto", inputs, out, device = "cpu", labels, labels_out;
  std::vector<std::string> scorers;
  int64_t batch = 256, steps = 50, refinement = 0;
};

int run_encode(const EncodeArgs& a) {
  auto x = plugen::read_npy(a.inputs);
  if (x.scalar_type() == torch::kUInt8) {
    x = x.to(torch::kFloat32) / 255.0;  // 8-bit images: 0..255 -> [0, 1]
  } else {
    PLUGEN_CHECK(x.is_floating_point(), ShapeError,
                 "--inputs '{}': expected float images in [0, 1] or uint8 images in 0..255, got dtype {}", a.inputs,
                 plugen::dtype_string(x.scalar_type()));
    x = x.to(torch::kFloat32);
  }
  PLUGEN_CHECK(x.dim() >= 2, ShapeError, "--inputs '{}': expected a batch (N, C, H, W), got shape {}", a.inputs,
               plugen::shape_string(x.sizes()));
  plugen::check_finite(x.reshape({x.size(0), -1}), "--inputs '" + a.inputs + "'");

  auto options =
      plugen::BackboneOptions().diffusion(plugen::DiffusionOptions().steps(a.steps).inversion_refinement(a.refinement));
  options.device(plugen::parse_device(a.device)).decode_batch(a.batch);
  // A diffusion model's sample shape is its input shape: image batches tell it, even without a module attribute.
  if (x.dim() >= 3) options.diffusion().sample_shape(x.sizes().slice(1).vec());
  auto backbone = plugen::load_backbone(a.backbone, a.kind, options);
  PLUGEN_CHECK(backbone.can_encode(), ConfigError,
               "--backbone '{}' is a {} backbone without an encoder; encode needs --kind vae (with an encode method) "
               "or diffusion",
               a.backbone, backbone.kind());
  // Labels of the inputs: the given columns (verbatim), then the scorers' measurements of the inputs.
  if (!a.labels_out.empty()) {
    plugen::CsvTable table;
    if (!a.labels.empty()) {
      table = plugen::read_csv(a.labels);
      PLUGEN_CHECK(static_cast<int64_t>(table.rows.size()) == x.size(0), ShapeError,
                   "--labels '{}': {} rows, but --inputs '{}' holds {} inputs", a.labels, table.rows.size(), a.inputs,
                   x.size(0));
    } else {
      table.rows.resize(static_cast<size_t>(x.size(0)));
    }
    if (!a.scorers.empty()) {
      auto copts = plugen::ClassifierOptions().device(plugen::parse_device(a.device)).batch(a.batch);
      copts.input_shape(x.sizes().slice(1).vec());
      const auto scorer = plugen::Scorer::load(a.scorers, copts);
      const auto schema = scorer.schema();
      for (const auto& attr : schema.attributes()) {
        PLUGEN_CHECK(std::find(table.columns.begin(), table.columns.end(), attr.name) == table.columns.end(),
                     ConfigError, "--scorer measures '{}', which --labels '{}' already has", attr.name, a.labels);
        table.columns.push_back(attr.name);
      }
      auto v = scorer.predict(x).values.contiguous();
      auto acc = v.accessor<double, 2>();
      for (int64_t i = 0; i < v.size(0); ++i)
        for (int64_t k = 0; k < schema.size(); ++k) table.rows[static_cast<size_t>(i)].push_back(format_value(schema[k], acc[i][k]));
    }
    PLUGEN_CHECK(!table.columns.empty(), ConfigError, "--labels-out needs --labels or at least one --scorer");
    plugen::write_csv(a.labels_out, table);
  }
  auto w = plugen::detail::dataset_latents(backbone.encode(x));
  plugen::write_npy(a.out, w);
  std::printf("{\"backbone\": \"%s\", \"inputs\": %lld, \"latents\": \"%s\", \"shape\": \"%s\"}\n",
              backbone.describe().c_str(), static_cast<long long>(x.size(0)), a.out.c_str(),
              plugen::shape_string(w.sizes()).c_str());
  return 0;
}

}  // namespace

void add_encode_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<EncodeArgs>();
  auto* cmd = app.add_subcommand(
      "encode", "Encode inputs (N, C, H, W) in [0, 1] (.npy) to backbone latents (.npy): VAE mean or DDIM inversion");
  cmd->add_option("--backbone", args->backbone, "TorchScript backbone file (.pt)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--kind", args->kind, "Backbone kind")
      ->check(CLI::IsMember({"auto", "vae", "diffusion", "gan"}))
      ->capture_default_str();
  cmd->add_option(
         "--inputs", args->inputs,
         "Inputs .npy: float in [0, 1] or uint8 in 0..255, (N, C, H, W) (also the sample shape of a diffusion model)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "Output latents .npy: float32 (N, D), or (N, L, D) for W+")->required();
  cmd->add_option("--labels", args->labels, "Labels .csv of the inputs, copied into --labels-out")
      ->check(CLI::ExistingFile);
  cmd->add_option("--scorer", args->scorers,
                  "TorchScript scorer measuring attributes of the inputs into --labels-out (repeatable)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--labels-out", args->labels_out, "Labels .csv to write: --labels columns, then scored columns");
  cmd->add_option("--batch", args->batch, "Samples per module call")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--steps", args->steps, "DDIM steps (diffusion)")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--refine", args->refinement, "Fixed-point refinements per DDIM inversion step (diffusion)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--device", args->device, "Device: cpu, cuda, cuda:N")->capture_default_str();
  cmd->callback([&action, args] { action = [args] { return run_encode(*args); }; });
}

}  // namespace plugen_cli
