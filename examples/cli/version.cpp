// plugen version: library version, thread count and BLAS in effect.
#include <plugen/core.hpp>

#include <cstdio>

#include "commands.hpp"

namespace plugen_cli {

void add_version_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("version", "Print the plugen version and the LibTorch thread count");
  cmd->callback([&action] {
    action = [] {
      std::printf("{\"plugen\": \"%s\", \"threads\": %d}\n", plugen::version_string, plugen::num_threads());
      return 0;
    };
  });
}

}  // namespace plugen_cli
