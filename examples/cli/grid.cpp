// plugen grid: a contact sheet of conditional samples: one attribute's values down the rows, another's across
// the columns (e.g. every class x brightness from low to high). Each row keeps its style noise, so along a
// row only the column attribute changes.
#include <plugen/plugen.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "conditioning.hpp"

namespace plugen_cli {

namespace {

struct GridArgs {
  std::string plugin, backbone, kind = "auto", rows, cols, out, latents_out, device = "cpu";
  std::vector<std::string> sets;
  int64_t levels = 8, repeats = 1, batch = 256, steps = 50, scale = 1;
  double spread = 1.5, style_temperature = 1.0;
  std::optional<double> temperature;
  uint64_t seed = 0;
};

int run_grid(const GridArgs& a) {
  const auto plugin = plugen::load_plugin(a.plugin);
  const auto& schema = plugin.schema();
  const auto sweep = plugen::SweepOptions().levels(a.levels).spread(a.spread);
  const auto row_values = plugen::sweep_values(schema[schema.index_of(a.rows)], sweep);
  const auto col_values = plugen::sweep_values(schema[schema.index_of(a.cols)], sweep);
  PLUGEN_CHECK(a.rows != a.cols, ConfigError, "--rows and --cols name the same attribute '{}'", a.rows);
  const auto fixed = plugen::Conditions::parse(a.sets);
  auto options = plugen::SampleOptions().style_temperature(a.style_temperature);
  if (a.temperature) options.label_temperature(*a.temperature);

  // Cell (r, c) of repeat k: sample index r * repeats + k of the seed, whatever the column: the style and
  // unrequested coordinates stay fixed along a row.
  std::vector<torch::Tensor> cells;
  std::vector<std::string> col_names;
  for (const auto& v : col_values) col_names.push_back(v.to_string());
  for (size_t r = 0; r < row_values.size(); ++r)
    for (int64_t k = 0; k < a.repeats; ++k)
      for (const auto& cv : col_values) {
        auto conditions = fixed;
        conditions.set(a.rows, row_values[r]).set(a.cols, cv);
        const int64_t index = static_cast<int64_t>(r) * a.repeats + k;
        cells.push_back(plugin.sample(conditions, 1, a.seed, plugen::SampleOptions(options).first_index(index)));
      }
  auto w = torch::cat(cells, 0).to(torch::kCPU, torch::kFloat32);
  auto bopts = plugen::BackboneOptions().diffusion(plugen::DiffusionOptions().steps(a.steps));
  bopts.device(plugen::parse_device(a.device)).decode_batch(a.batch);
  auto backbone = plugen::load_backbone(a.backbone, a.kind, bopts);
  plugen::write_grid(a.out, backbone.decode(w), plugen::GridOptions().columns(static_cast<int64_t>(col_values.size())).scale(a.scale));
  if (!a.latents_out.empty()) plugen::write_npy(a.latents_out, w);
  std::vector<std::string> row_names;
  for (const auto& v : row_values) row_names.push_back(v.to_string());
  print_json_line({{"out", a.out},
                   {"rows", {{"attribute", a.rows}, {"values", row_names}, {"repeats", a.repeats}}},
                   {"cols", {{"attribute", a.cols}, {"values", col_names}}},
                   {"fixed", fixed.to_string()},
                   {"seed", a.seed}});
  return 0;
}

}  // namespace

void add_grid_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<GridArgs>();
  auto* cmd = app.add_subcommand(
      "grid", "PNG grid of conditional samples: the values of one attribute down, of another across");
  cmd->add_option("--plugin", args->plugin, "Plugin file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--backbone", args->backbone, "TorchScript backbone that decodes the latents")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--kind", args->kind, "Backbone kind")
      ->check(CLI::IsMember({"auto", "gan", "vae", "diffusion"}))
      ->capture_default_str();
  cmd->add_option("--rows", args->rows, "Attribute down the rows (every class/value, or --levels values)")->required();
  cmd->add_option("--cols", args->cols, "Attribute across the columns")->required();
  add_set_option(cmd, args->sets, "Attribute value fixed in every cell, repeatable");
  cmd->add_option("--levels", args->levels, "Values of a continuous attribute")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--spread", args->spread,
                  "Continuous values cover mean +- spread * sd of the training labels (within their range)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--repeats", args->repeats, "Rows per row value (different style noise)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed of the style noise")->capture_default_str();
  cmd->add_option("--temperature", args->temperature, "Label temperature (default: the plugin's final sigma)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--style-temperature", args->style_temperature, "Spread of the style coordinates")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--batch", args->batch, "Latents decoded at a time")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--steps", args->steps, "DDIM steps (diffusion)")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--device", args->device, "Device: cpu, cuda, cuda:N")->capture_default_str();
  cmd->add_option("--scale", args->scale, "Grid pixels per image pixel (nearest neighbour)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--latents-out", args->latents_out, "Also write the grid's latents (.npy, row-major)");
  cmd->add_option("--out", args->out, "PNG file")->required();
  cmd->callback([&action, args] { action = [args] { return run_grid(*args); }; });
}

}  // namespace plugen_cli
