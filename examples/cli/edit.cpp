// plugen edit: set or shift attributes of existing latents.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "conditioning.hpp"
#include "images.hpp"

namespace plugen_cli {

void add_edit_command(CLI::App& app, Action& action) {
  struct Args {
    ImageArgs image;
    std::string plugin, latents, out, ood = "warn";
    std::vector<std::string> sets;
    bool shift = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("edit", "Set or shift attributes of latents, keeping everything else");
  cmd->add_option("--plugin", args->plugin, "Plugin file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--latents", args->latents, "Input .npy latents, (N, D) or (N, L, D)")
      ->required()
      ->check(CLI::ExistingFile);
  add_set_option(cmd, args->sets,
                 "Attribute value to set, repeatable (as for sample); with --shift, a delta in coordinate units")
      ->required();
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
      const auto conditions = plugen::Conditions::parse(args->sets);
      const auto edits = args->shift ? plugen::Edits::shifts(conditions) : plugen::Edits(conditions);
      auto [w, dtype] = read_latents(args->latents, plugin);
      const auto edited =
          plugin.edit(w, edits, plugen::EditOptions().ood(ood_options(args->ood, "edit"))).to(torch::kCPU, dtype);
      plugen::write_npy(args->out, edited);
      nlohmann::json summary = {{"out", args->out},
                                {"shape", edited.sizes().vec()},
                                {"edits", conditions.to_string()},
                                {"mode", args->shift ? "shift" : "set"}};
      summary["images"] = write_images(args->image, edited, 0, "plugen edit");
      std::printf("%s\n", summary.dump().c_str());
      return 0;
    };
  });
}

}  // namespace plugen_cli
