// plugen baseline fit|sample|edit: the linear-direction baseline (InterFaceGAN-style) on the same latents and
// labels as a plugin, so the two can be compared with the same commands.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "conditioning.hpp"
#include "images.hpp"

namespace plugen_cli {

namespace {

/// (N, D) latents of `path` for the baseline, checked against its width; returns them and the file's dtype.
std::pair<torch::Tensor, torch::Dtype> read_baseline_latents(const std::string& path,
                                                             const plugen::LinearDirections& lin) {
  auto w = read_latents(path);
  PLUGEN_CHECK(w.dim() == 2 && w.size(1) == lin.dim(), ShapeError,
               "{}: expected latents of shape (N, {}) for this baseline, got {}", path, lin.dim(),
               plugen::shape_string(w.sizes()));
  return {w, w.scalar_type()};
}

void add_fit(CLI::App* group, Action& action) {
  struct Args {
    plugen::LinearOptions defaults;
    std::string latents, labels, mask, schema, out;
    std::vector<std::string> ignore;
    double l2 = defaults.l2();
    int64_t max_iterations = defaults.max_iterations();
  };
  auto args = std::make_shared<Args>();
  auto* cmd = group->add_subcommand(
      "fit", "Fit one linear model per attribute (logistic, one-vs-rest per class, least squares) on latents");
  cmd->add_option("--latents", args->latents, "Latents .npy, (N, D)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--labels", args->labels, "Labels .csv (header of attribute names) or .npy")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--mask", args->mask, "Known-label mask .npy for .npy labels")->check(CLI::ExistingFile);
  cmd->add_option("--schema", args->schema, "Schema JSON (default: inferred from the CSV)")->check(CLI::ExistingFile);
  cmd->add_option("--ignore-column", args->ignore, "CSV columns that are not attributes (e.g. an id)");
  cmd->add_option("--l2", args->l2, "L2 penalty on the weights (standardized latents)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-iterations", args->max_iterations, "Newton iterations per logistic model")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--out", args->out, "Baseline file to write (.safetensors)")->required();
  cmd->callback([args, &action] {
    action = [args] {
      const auto& a = *args;
      plugen::Schema schema;
      if (!a.schema.empty()) schema = plugen::read_schema(a.schema);
      auto w = read_latents(a.latents);
      PLUGEN_CHECK(w.dim() == 2, ShapeError, "{}: the linear baseline takes (N, D) latents, got {}", a.latents,
                   plugen::shape_string(w.sizes()));
      plugen::Labels labels;
      if (a.schema.empty() && !a.ignore.empty()) {
        auto table = plugen::read_csv(a.labels);
        schema = plugen::infer_schema(table, a.ignore);
        labels = plugen::labels_from_csv(table, schema);
      } else {
        labels = plugen::read_labels(a.labels, schema,
                                     a.mask.empty() ? std::nullopt : std::optional<std::filesystem::path>(a.mask));
      }
      PLUGEN_CHECK(labels.rows() == w.size(0), ShapeError, "{} has {} rows but {} has {} rows", a.latents, w.size(0),
                   a.labels, labels.rows());
      auto lin = plugen::LinearDirections::fit(
          schema, w, labels, plugen::LinearOptions().l2(a.l2).max_iterations(a.max_iterations));
      plugen::save_linear(a.out, lin);
      auto report = lin.report().to_json();
      report["out"] = a.out;
      print_json_line(report);
      return 0;
    };
  });
}

void add_sample(CLI::App* group, Action& action) {
  struct Args {
    ImageArgs image;
    std::string baseline, out;
    int64_t n = 0, first_index = 0;
    uint64_t seed = 0;
    std::vector<std::string> sets;
    double temperature = 0.0, style_temperature = 1.0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = group->add_subcommand(
      "sample", "Draw latents from the Gaussian of the training latents and move them onto the requested values");
  cmd->add_option("--baseline", args->baseline, "Baseline file (plugen baseline fit)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("-n,--n", args->n, "Number of latents")->required()->check(CLI::NonNegativeNumber);
  add_set_option(cmd, args->sets, "Attribute value, repeatable (as for plugen sample)");
  cmd->add_option("--seed", args->seed, "Seed: latent i depends only on (seed, i)")->capture_default_str();
  cmd->add_option("--first-index", args->first_index, "Index of the first latent")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--temperature", args->temperature,
                  "Spread of the requested scores around their targets, in coordinate units")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--style-temperature", args->style_temperature, "Spread of the prior draws")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  add_image_options(cmd, args->image);
  cmd->add_option("--out", args->out, "Output .npy file: (n, D) latents")->required();
  cmd->callback([args, &action] {
    action = [args] {
      const auto lin = plugen::load_linear(args->baseline);
      const auto conditions = plugen::Conditions::parse(args->sets);
      const auto w = lin.sample(conditions, args->n, args->seed,
                                plugen::LinearSampleOptions()
                                    .label_temperature(args->temperature)
                                    .style_temperature(args->style_temperature)
                                    .first_index(args->first_index));
      plugen::write_npy(args->out, w);
      nlohmann::json summary = {{"out", args->out},
                                {"shape", w.sizes().vec()},
                                {"seed", args->seed},
                                {"first_index", args->first_index},
                                {"conditions", conditions.to_string()}};
      summary["images"] = write_images(args->image, w, args->first_index, "plugen baseline sample");
      print_json_line(summary);
      return 0;
    };
  });
}

void add_edit(CLI::App* group, Action& action) {
  struct Args {
    ImageArgs image;
    std::string baseline, latents, out;
    std::vector<std::string> sets;
    bool shift = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = group->add_subcommand("edit", "Move latents along the attribute normals onto the requested values");
  cmd->add_option("--baseline", args->baseline, "Baseline file (plugen baseline fit)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--latents", args->latents, "Input .npy latents, (N, D)")->required()->check(CLI::ExistingFile);
  add_set_option(cmd, args->sets, "Attribute value to set, repeatable; with --shift, a delta in coordinate units")
      ->required();
  cmd->add_flag("--shift", args->shift, "Add the values to the attribute scores, in coordinate units");
  add_image_options(cmd, args->image);
  cmd->add_option("--out", args->out, "Output .npy file (same shape and dtype as the input)")->required();
  cmd->callback([args, &action] {
    action = [args] {
      const auto lin = plugen::load_linear(args->baseline);
      const auto conditions = plugen::Conditions::parse(args->sets);
      const auto edits = args->shift ? plugen::Edits::shifts(conditions) : plugen::Edits(conditions);
      auto [w, dtype] = read_baseline_latents(args->latents, lin);
      const auto edited = lin.edit(w, edits).to(dtype);
      plugen::write_npy(args->out, edited);
      nlohmann::json summary = {{"out", args->out},
                                {"shape", edited.sizes().vec()},
                                {"edits", conditions.to_string()},
                                {"mode", args->shift ? "shift" : "set"}};
      summary["images"] = write_images(args->image, edited, 0, "plugen baseline edit");
      print_json_line(summary);
      return 0;
    };
  });
}

}  // namespace

void add_baseline_command(CLI::App& app, Action& action) {
  auto* group = app.add_subcommand(
      "baseline", "The linear-direction baseline (InterFaceGAN-style): fit, sample and edit on the same files");
  group->require_subcommand(1);
  add_fit(group, action);
  add_sample(group, action);
  add_edit(group, action);
}

}  // namespace plugen_cli
