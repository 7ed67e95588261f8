// plugen check: out-of-distribution report of a request, as JSON.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "conditioning.hpp"

namespace plugen_cli {

void add_check_command(CLI::App& app, Action& action) {
  struct Args {
    std::string plugin;
    std::vector<std::string> sets;
    int64_t min_count = 1;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "check", "Report how far a request lies from the training data (JSON on stdout; exit 0 either way)");
  cmd->add_option("--plugin", args->plugin, "Plugin file")->required()->check(CLI::ExistingFile);
  add_set_option(cmd, args->sets, "Attribute value, repeatable (as for sample)")->required();
  cmd->add_option("--min-count", args->min_count,
                  "Discrete combinations seen fewer times than this in training are out of distribution")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->callback([args, &action] {
    action = [args] {
      const auto plugin = plugen::load_plugin(args->plugin);
      const auto conditions = plugen::Conditions::parse(args->sets);
      auto report = plugin.check(conditions, plugen::OodOptions().min_count(args->min_count)).to_json();
      report["request"] = conditions.to_string();
      std::printf("%s\n", report.dump(2).c_str());
      return 0;
    };
  });
}

}  // namespace plugen_cli
