// plugen sample: draw latents with chosen attributes from a trained plugin.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "conditioning.hpp"
#include "images.hpp"

namespace plugen_cli {

void add_sample_command(CLI::App& app, Action& action) {
  struct Args {
    ImageArgs image;
    std::string plugin, out, ood = "warn";
    int64_t n = 0, first_index = 0;
    uint64_t seed = 0;
    std::vector<std::string> sets;
    std::optional<double> temperature;
    double style_temperature = 1.0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd =
      app.add_subcommand("sample", "Draw latents with chosen attributes (unset attributes follow the training data)");
  cmd->add_option("--plugin", args->plugin, "Plugin file")->required()->check(CLI::ExistingFile);
  cmd->add_option("-n,--n", args->n, "Number of latents")->required()->check(CLI::NonNegativeNumber);
  add_set_option(cmd, args->sets,
                 "Attribute value, repeatable: binary 1/0/true/false, categorical class name or index, continuous "
                 "value in label units");
  cmd->add_option("--seed", args->seed, "Seed: latent i depends only on (seed, i)")->capture_default_str();
  cmd->add_option("--first-index", args->first_index,
                  "Index of the first latent, to produce a large set in chunks (chunks equal one big run bit for bit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--temperature", args->temperature,
                  "Label temperature: spread of the attribute coordinates (default: the plugin's final sigma)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--style-temperature", args->style_temperature, "Spread of the style coordinates")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  add_ood_option(cmd, args->ood);
  add_image_options(cmd, args->image);
  cmd->add_option("--out", args->out, "Output .npy file: (n, D) or (n, L, D) latents")->required();
  cmd->callback([args, &action] {
    action = [args] {
      const auto plugin = plugen::load_plugin(args->plugin);
      const auto conditions = plugen::Conditions::parse(args->sets);
      auto options = plugen::SampleOptions()
                         .style_temperature(args->style_temperature)
                         .first_index(args->first_index)
                         .ood(ood_options(args->ood, "sample"));
      if (args->temperature) options.label_temperature(*args->temperature);
      const auto w = plugin.sample(conditions, args->n, args->seed, options);
      plugen::write_npy(args->out, w);
      nlohmann::json summary = {{"out", args->out},
                                {"shape", w.sizes().vec()},
                                {"seed", args->seed},
                                {"first_index", args->first_index},
                                {"conditions", conditions.to_string()}};
      summary["images"] = write_images(args->image, w, args->first_index, "plugen sample");
      std::printf("%s\n", summary.dump().c_str());
      return 0;
    };
  });
}

}  // namespace plugen_cli
