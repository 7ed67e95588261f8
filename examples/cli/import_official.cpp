// plugen import-official: an official PluGeN checkpoint (PyTorch state_dict of additive couplings) as a plugin file.
#include "commands.hpp"
#include "common.hpp"

namespace plugen_cli {

namespace {
struct ImportOfficialArgs {
  std::string state_dict, preset = "custom", schema, out, latent_mode = "shared";
  int64_t dim = 0, couplings = 0, layers = 0, hidden = 0, latent_layers = 0;
  double sigma = plugen::ImportOfficialOptions().sigma();
};
}  // namespace

void add_import_official_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<ImportOfficialArgs>();
  auto* cmd = app.add_subcommand(
      "import-official",
      "Convert an official PluGeN flow (torch.save state_dict of additive couplings, or its .safetensors from "
      "examples/python/convert_official.py) into a plugin file");
  cmd->add_option("--state-dict", args->state_dict, "Official checkpoint (.pt from torch.save, or .safetensors)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--preset", args->preset,
                  "Architecture: stylegan (D 512, K 4, L 4, H 512), celeba-vae (2048, 4, 4, 256), charvae "
                  "(100, 6, 6, 256) or custom (read off the state_dict)")
      ->check(CLI::IsMember({"stylegan", "celeba-vae", "charvae", "custom"}))
      ->capture_default_str();
  cmd->add_option("--dim", args->dim, "Latent width D (custom; checked against the state_dict)");
  cmd->add_option("--couplings", args->couplings, "Number of couplings (custom; checked)");
  cmd->add_option("--layers", args->layers, "Linear layers per conditioner (custom; checked)");
  cmd->add_option("--hidden", args->hidden, "Hidden width (custom; checked)");
  cmd->add_option("--schema", args->schema,
                  "Schema JSON of the attributes, in label-coordinate order; attributes without \"stats\" get "
                  "neutral ones (uniform frequencies; continuous range [-1, 1])")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--sigma", args->sigma, "Prior sigma of the label coordinates (official final: 0.4 * 0.999^1000)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--latent-layers", args->latent_layers, "Rows per sample of per-layer latents, e.g. 18 for W+")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--latent-mode", args->latent_mode, "shared (official) or per_layer")
      ->check(CLI::IsMember({"shared", "per_layer"}))
      ->capture_default_str();
  cmd->add_option("--out", args->out, "Plugin file to write (.safetensors)")->required();
  cmd->callback([args, &action] {
    action = [args] {
      const auto& a = *args;
      auto flow = plugen::OfficialFlowOptions::preset(a.preset);
      if (a.dim) flow.dim(a.dim);
      if (a.couplings) flow.couplings(a.couplings);
      if (a.layers) flow.layers(a.layers);
      if (a.hidden) flow.hidden(a.hidden);
      auto options = plugen::ImportOfficialOptions()
                         .flow(flow)
                         .sigma(a.sigma)
                         .latent_layers(a.latent_layers)
                         .latent_mode(plugen::parse_latent_mode(a.latent_mode));
      const auto schema = plugen::read_schema(a.schema);
      const auto plugin =
          plugen::import_official(plugen::read_official_state_dict(a.state_dict), schema, options, a.state_dict);
      plugen::save_plugin(a.out, plugin);
      const auto& o = plugin.flow_options();
      print_json_line({{"plugin", a.out},
                       {"dim", o.dim()},
                       {"couplings", o.couplings()},
                       {"layers", o.conditioner().layers()},
                       {"hidden", o.conditioner().hidden()},
                       {"attributes", plugin.schema().size()},
                       {"sigma", a.sigma}});
      return 0;
    };
  });
}

}  // namespace plugen_cli
