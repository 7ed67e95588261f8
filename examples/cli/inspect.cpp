// plugen inspect: a plugin file's metadata as JSON.
#include "commands.hpp"
#include "common.hpp"

namespace plugen_cli {

void add_inspect_command(CLI::App& app, Action& action) {
  auto path = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("inspect", "Print a plugin file's metadata as JSON (after validating the file)");
  cmd->add_option("plugin", *path, "Plugin file (.safetensors)")->required()->check(CLI::ExistingFile);
  cmd->callback([path, &action] {
    action = [path] {
      (void)plugen::load_plugin(*path);  // full validation first: inspect never pretty-prints a broken file
      auto file = plugen::read_safetensors(*path);
      nlohmann::json out = nlohmann::json::object();
      for (const auto& [key, value] : file.metadata) {
        try {
          out[key] = nlohmann::json::parse(value);
        } catch (const nlohmann::json::exception&) {
          out[key] = value;
        }
        if (out[key].is_number() && key == "format_version") out[key] = value;
      }
      nlohmann::json tensors = nlohmann::json::object();
      for (const auto& [name, t] : file.tensors)
        tensors[name] = {{"dtype", plugen::dtype_string(t.scalar_type())}, {"shape", t.sizes().vec()}};
      out["tensors"] = tensors;
      out["sha256"] = plugen::sha256_file(*path);
      std::printf("%s\n", out.dump(2).c_str());
      return 0;
    };
  });
}

}  // namespace plugen_cli
