// plugen edit: set or shift attributes of existing latents.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <plugen/eval/evaluate.hpp>

#include "commands.hpp"
#include "conditioning.hpp"
#include "images.hpp"

namespace plugen_cli {

void add_edit_command(CLI::App& app, Action& action) {
  struct Args {
    ImageArgs image;
    std::string plugin, latents, out, ood = "warn";
    std::vector<std::string> sets;
    std::string sweep;
    int64_t levels = 8;
    double spread = 1.5;
    bool shift = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("edit", "Set or shift attributes of latents, keeping everything else");
  cmd->add_option("--plugin", args->plugin, "Plugin file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--latents", args->latents, "Input .npy latents, (N, D) or (N, L, D)")
      ->required()
      ->check(CLI::ExistingFile);
  add_set_option(cmd, args->sets,
                 "Attribute value to set, repeatable (as for sample); with --shift, a delta in coordinate units");
  cmd->add_option("--sweep", args->sweep,
                  "Instead of --set: per input, its unedited latent and one edit to each value of this attribute "
                  "(every class, or --levels values); output (N * (1 + values), ...), one input per grid row");
  cmd->add_option("--levels", args->levels, "Values of a continuous --sweep attribute")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--spread", args->spread,
                  "A continuous --sweep covers mean +- spread * sd of the training labels (within their range)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--shift", args->shift,
                "Add the values to the attribute coordinates instead of setting them: binary attributes sit at "
                "-1 (0) and +1 (1); a continuous attribute's training range spans 2 units; categorical "
                "attributes cannot be shifted");
  add_ood_option(cmd, args->ood);
  add_image_options(cmd, args->image);
  cmd->add_option("--out", args->out, "Output .npy file (same shape and dtype as the input)")->required();
  cmd->callback([args, &action] {
    action = [args] {
      const auto plugin = plugen::load_plugin(args->plugin);
      PLUGEN_CHECK(args->sets.empty() != args->sweep.empty(), ConfigError,
                   "plugen edit: give either --set (one edit of every latent) or --sweep (edits to every value)");
      const auto conditions = plugen::Conditions::parse(args->sets);
      const auto edits = args->shift ? plugen::Edits::shifts(conditions) : plugen::Edits(conditions);
      PLUGEN_CHECK(!args->shift || args->sweep.empty(), ConfigError, "plugen edit: --shift applies to --set only");
      auto [w, dtype] = read_latents(args->latents, plugin);
      const auto ood = plugen::EditOptions().ood(ood_options(args->ood, "edit"));
      torch::Tensor edited;
      if (args->sweep.empty()) {
        edited = plugin.edit(w, edits, ood).to(torch::kCPU, dtype);
      } else {
        const auto& schema = plugin.schema();
        const auto values = plugen::sweep_values(schema[schema.index_of(args->sweep)],
                                                 plugen::SweepOptions().levels(args->levels).spread(args->spread));
        std::vector<torch::Tensor> columns{w};
        for (const auto& v : values) columns.push_back(plugin.edit(w, plugen::Edits().set(args->sweep, v), ood));
        // (N, 1 + V, ...) -> row-major: input i's unedited latent, then its V edits.
        auto stacked = torch::stack(columns, 1);
        auto shape = w.sizes().vec();
        shape[0] = w.size(0) * static_cast<int64_t>(columns.size());
        edited = stacked.reshape(shape).to(torch::kCPU, dtype);
      }
      plugen::write_npy(args->out, edited);
      nlohmann::json summary = {{"out", args->out},
                                {"shape", edited.sizes().vec()},
                                {"edits", args->sweep.empty() ? conditions.to_string() : "sweep " + args->sweep},
                                {"mode", args->shift ? "shift" : "set"}};
      summary["images"] = write_images(args->image, edited, 0, "plugen edit");
      std::printf("%s\n", summary.dump().c_str());
      return 0;
    };
  });
}

}  // namespace plugen_cli
