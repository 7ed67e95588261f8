// plugen eval: how good a plugin's conditioning is, measured through a backbone and scorer modules, as JSON.
// Every part runs only when its inputs are given:
//   conditional generation  --plugin (or --baseline) --backbone --scorer and --request/--sweep
//   edits                   --plugin (or --baseline) --backbone --scorer --latents and --edit/--edit-sweep
//   round trip, NLL         --plugin --latents
//   agreement with labels   --labels with --latents + --backbone (decoded latents, e.g. a VAE's
//                           reconstructions: the ceiling) or with --inputs (real images)
#include <plugen/plugen.hpp>

#include <chrono>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"

namespace plugen_cli {

namespace {

struct EvalArgs {
  std::string plugin, baseline, backbone, kind = "auto", latents, labels, schema, inputs, out, device = "cpu";
  std::vector<std::string> scorers, requests, sweeps, edits, edit_sweeps;
  int64_t n = 500, edit_n = 0, levels = 5, batch = 256, bins = 10, diversity = 100, steps = 50;
  double spread = 1.5, tolerance = 0.1, style_temperature = 1.0;
  std::optional<double> temperature;
  uint64_t seed = 0;
  bool quiet = false;
};

// "a=1,b=coat" -> {a=1, b=coat}.
plugen::Conditions parse_request(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    parts.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return plugen::Conditions::parse(parts);
}

// "a,b" -> {"a", "b"}.
std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    out.push_back(plugen::detail::trim_copy(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<plugen::Conditions> requests_of(const plugen::Schema& schema, const std::vector<std::string>& explicit_,
                                            const std::vector<std::string>& sweeps, const plugen::SweepOptions& sweep) {
  std::vector<plugen::Conditions> out;
  for (const auto& r : explicit_) out.push_back(parse_request(r));
  for (const auto& s : sweeps)
    for (auto& c : plugen::sweep(schema, split_names(s), sweep)) out.push_back(std::move(c));
  return out;
}

int run_eval(const EvalArgs& a) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  auto progress = [&a](const char* part) {
    return [&a, part](int64_t done, int64_t total, const std::string& line) {
      if (!a.quiet) std::fprintf(stderr, "plugen eval: %s %lld/%lld %s\n", part, static_cast<long long>(done),
                                 static_cast<long long>(total), line.c_str());
    };
  };
  const bool conditional = !a.requests.empty() || !a.sweeps.empty();
  const bool editing = !a.edits.empty() || !a.edit_sweeps.empty();
  PLUGEN_CHECK(conditional || editing || !a.latents.empty() || !a.inputs.empty(), ConfigError,
               "plugen eval: nothing to evaluate: give --request/--sweep (conditional generation), --edit/--edit-sweep "
               "with --latents (edits), --latents (round trip, NLL, agreement with --labels) or --inputs with --labels");
  PLUGEN_CHECK(a.plugin.empty() || a.baseline.empty(), ConfigError,
               "plugen eval: give --plugin or --baseline, not both (evaluate each in its own run)");
  PLUGEN_CHECK(!a.plugin.empty() || !a.baseline.empty() || (!conditional && !editing), ConfigError,
               "plugen eval: --request, --sweep, --edit and --edit-sweep need --plugin or --baseline");
  PLUGEN_CHECK(!editing || !a.latents.empty(), ConfigError, "plugen eval: --edit and --edit-sweep need --latents");
  PLUGEN_CHECK(!(conditional || editing) || (!a.backbone.empty() && !a.scorers.empty()), ConfigError,
               "plugen eval: conditional generation and edits need --backbone and at least one --scorer");
  PLUGEN_CHECK(a.inputs.empty() || !a.labels.empty(), ConfigError, "plugen eval: --inputs needs --labels");
  PLUGEN_CHECK(a.labels.empty() || !a.scorers.empty(), ConfigError, "plugen eval: --labels needs --scorer");
  PLUGEN_CHECK(a.labels.empty() || !a.inputs.empty() || (!a.latents.empty() && !a.backbone.empty()), ConfigError,
               "plugen eval: --labels is compared with the scores of --inputs, or of --latents decoded by --backbone");

  std::optional<plugen::Plugin> plugin;
  if (!a.plugin.empty()) plugin.emplace(plugen::load_plugin(a.plugin));
  std::optional<plugen::LinearDirections> baseline;
  if (!a.baseline.empty()) baseline.emplace(plugen::load_linear(a.baseline));
  std::optional<plugen::AnyBackbone> backbone;
  if (!a.backbone.empty()) {
    auto options = plugen::BackboneOptions().diffusion(plugen::DiffusionOptions().steps(a.steps));
    options.device(plugen::parse_device(a.device)).decode_batch(a.batch);
    backbone.emplace(plugen::load_backbone(a.backbone, a.kind, options));
  }
  std::optional<plugen::Scorer> scorer;
  if (!a.scorers.empty()) {
    auto copts = plugen::ClassifierOptions().device(plugen::parse_device(a.device)).batch(a.batch);
    if (backbone) copts.input_shape(backbone->output_shape());
    scorer.emplace(plugen::Scorer::load(a.scorers, copts));
  }
  torch::Tensor latents;
  if (!a.latents.empty()) latents = read_latents(a.latents);

  auto options = plugen::EvalOptions()
                     .n(a.n)
                     .seed(a.seed)
                     .batch(a.batch)
                     .compare(plugen::CompareOptions().tolerance(a.tolerance).calibration_bins(a.bins))
                     .diversity_samples(a.diversity)
                     .style_temperature(a.style_temperature);
  if (a.temperature) options.label_temperature(*a.temperature);
  const auto sweep = plugen::SweepOptions().levels(a.levels).spread(a.spread);

  nlohmann::json report = nlohmann::json::object();
  if (plugin) report["plugin"] = a.plugin;
  if (baseline) report["baseline"] = a.baseline;
  if (backbone) report["backbone"] = backbone->describe();
  if (scorer) report["scorer"] = scorer->describe();
  // Conditional generation and edits, by the same code for a plugin and for the linear baseline.
  auto conditioning = [&](const auto& conditioner) {
    if (conditional) {
      const auto requests = requests_of(conditioner.schema(), a.requests, a.sweeps, sweep);
      report["conditional"] = plugen::evaluate_conditional(conditioner, *backbone, *scorer, requests,
                                                           plugen::EvalOptions(options).on_progress(progress("conditional")));
    }
    if (editing) {
      const auto edits = requests_of(conditioner.schema(), a.edits, a.edit_sweeps, sweep);
      auto w = a.edit_n > 0 && a.edit_n < latents.size(0) ? latents.narrow(0, 0, a.edit_n) : latents;
      report["edits"] = plugen::evaluate_edits(conditioner, *backbone, *scorer, w, edits,
                                               plugen::EvalOptions(options).on_progress(progress("edits")));
    }
  };
  if (plugin) conditioning(*plugin);
  if (baseline) conditioning(*baseline);
  if (plugin && latents.defined()) {
    report["roundtrip"] = plugen::roundtrip_error(*plugin, latents);
    report["nll_per_dim"] = plugen::detail::json_number(plugen::nll_per_dim(*plugin, latents));
    report["held_out"] = latents.size(0);
  }
  if (!a.labels.empty()) {
    // The labels' schema: --schema, else the plugin's or baseline's (fitted: tolerances use its training range),
    // else inferred from the CSV.
    plugen::Schema schema = !a.schema.empty() ? plugen::read_schema(a.schema)
                            : plugin          ? plugin->schema()
                            : baseline        ? baseline->schema()
                                              : plugen::Schema();
    const auto target = plugen::read_labels(a.labels, schema);
    // Per-attribute scores under "<part>_vs_labels", and the fraction of rows meeting every known label (as a
    // request's joint accuracy) under "<part>_joint_accuracy".
    auto compare = [&](const plugen::Labels& measured, const std::string& source, const std::string& part) {
      PLUGEN_CHECK(measured.rows() == target.rows(), ShapeError, "plugen eval: --labels '{}' has {} rows but {} has {}",
                   a.labels, target.rows(), source, measured.rows());
      auto aligned = plugen::align_labels(scorer->schema(), measured, schema, "plugen eval --labels");
      report[part + "_vs_labels"] = plugen::compare_labels(schema, target, aligned, options.compare());
      report[part + "_joint_accuracy"] = plugen::detail::json_number(
          target.rows() > 0
              ? plugen::targets_met(schema, target, aligned, options.compare()).to(torch::kFloat64).mean().item<double>()
              : std::numeric_limits<double>::quiet_NaN());
    };
    if (!a.inputs.empty()) {
      auto x = plugen::read_npy(a.inputs);
      x = x.scalar_type() == torch::kUInt8 ? x.to(torch::kFloat32) / 255.0 : x.to(torch::kFloat32);
      compare(scorer->predict(x), "--inputs '" + a.inputs + "'", "inputs");
    }
    if (latents.defined() && backbone)
      compare(plugen::score_latents(*backbone, *scorer, latents, a.batch), "--latents '" + a.latents + "'", "decoded");
  }
  report["seconds"] = std::chrono::duration<double>(clock::now() - t0).count();
  if (!a.out.empty()) plugen::write_file_atomic(a.out, report.dump(2) + "\n");
  print_json_line(report);
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand(
      "eval",
      "Measure a plugin: conditional accuracy / Pearson r / calibration, edit success and side effects, "
      "round trip, held-out NLL, agreement of scores with labels (JSON)");
  cmd->add_option("--plugin", args->plugin, "Plugin file")->check(CLI::ExistingFile);
  cmd->add_option("--baseline", args->baseline,
                  "Linear-direction baseline file (plugen baseline fit), measured instead of a plugin by the same code "
                  "(conditional generation and edits; its label temperature defaults to 0)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--backbone", args->backbone, "TorchScript backbone that decodes latents")->check(CLI::ExistingFile);
  cmd->add_option("--kind", args->kind, "Backbone kind")
      ->check(CLI::IsMember({"auto", "gan", "vae", "diffusion"}))
      ->capture_default_str();
  cmd->add_option("--scorer", args->scorers,
                  "TorchScript scorer (repeatable): outputs -> scores; columns mapped by its 'score_attributes' "
                  "JSON, else one categorical 'class' over all columns")
      ->check(CLI::ExistingFile);
  cmd->add_option("--request", args->requests, "A request to sample, repeatable: 'name=value[,name=value...]'");
  cmd->add_option("--sweep", args->sweeps,
                  "Requests for every value of attributes, repeatable: 'class' (each class), 'brightness' (--levels "
                  "values), 'class,brightness' (crossed)");
  cmd->add_option("--levels", args->levels, "Values of a continuous attribute in a sweep")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--spread", args->spread,
                  "Continuous sweeps cover mean +- spread * sd of the training labels (within their range)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--n", args->n, "Samples per request")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed (request r samples with seed derived from (seed, r))")
      ->capture_default_str();
  cmd->add_option("--temperature", args->temperature, "Label temperature (default: the plugin's final sigma)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--style-temperature", args->style_temperature, "Spread of the style coordinates")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--latents", args->latents, "Held-out latents .npy (edits, round trip, NLL, decoded agreement)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--edit", args->edits, "An edit of every held-out latent, repeatable: 'name=value[,...]'");
  cmd->add_option("--edit-sweep", args->edit_sweeps, "Edits to every value of attributes (as --sweep)");
  cmd->add_option("--edit-n", args->edit_n, "Edit only the first N held-out latents (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--labels", args->labels, "Labels (.csv) of --latents or --inputs, compared with their scores")
      ->check(CLI::ExistingFile);
  cmd->add_option("--schema", args->schema, "Schema JSON of --labels (default: the plugin's or baseline's, else inferred)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--inputs", args->inputs, "Real inputs .npy (N, C, H, W), float in [0, 1] or uint8, scored directly")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tolerance", args->tolerance,
                  "Continuous targets count as reached within tolerance * (training max - min)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--bins", args->bins, "Calibration bins")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--diversity-samples", args->diversity, "Samples per request in the diversity measure (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--batch", args->batch, "Samples decoded and scored at a time")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--steps", args->steps, "DDIM steps (diffusion)")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--device", args->device, "Device: cpu, cuda, cuda:N")->capture_default_str();
  cmd->add_option("--out", args->out, "Also write the report to this JSON file");
  cmd->add_flag("--quiet", args->quiet, "No progress lines");
  cmd->callback([&action, args] { action = [args] { return run_eval(*args); }; });
}

}  // namespace plugen_cli
