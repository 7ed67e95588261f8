// plugen export-torchscript: a plugin file as a TorchScript module (forward, inverse, metadata) for torch.jit.load.
#include "commands.hpp"
#include "common.hpp"

namespace plugen_cli {

void add_export_torchscript_command(CLI::App& app, Action& action) {
  struct Args {
    std::string plugin, out;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "export-torchscript",
      "Write a plugin as a TorchScript module: forward(w) -> z, inverse(z) -> w (standardization included), "
      "forward_and_log_det(w), and the plugin metadata as the JSON string attribute 'metadata'");
  cmd->add_option("--plugin", args->plugin, "Plugin file (.safetensors)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "TorchScript file to write (.pt)")->required();
  cmd->callback([args, &action] {
    action = [args] {
      const auto plugin = plugen::load_plugin(args->plugin);
      plugen::export_torchscript(args->out, plugin);
      print_json_line({{"torchscript", args->out},
                       {"plugin", args->plugin},
                       {"flow", plugen::to_string(plugin.flow_kind())},
                       {"dim", plugin.dim()},
                       {"latent_shape", plugin.layout().sample_shape()},
                       {"dtype", plugen::dtype_string(plugin.dtype())},
                       {"methods", {"forward", "forward_and_log_det", "inverse"}}});
      return 0;
    };
  });
}

}  // namespace plugen_cli
