// plugen version: library version, thread count and BLAS in effect.
#include "commands.hpp"
#include "common.hpp"

namespace plugen_cli {

void add_version_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("version", "Print the plugen version, the LibTorch thread count and the BLAS kernels");
  cmd->callback([&action] {
    action = [] {
      const auto blas = plugen::blas_info();
      nlohmann::json out = {{"plugen", plugen::version_string},
                            {"threads", plugen::num_threads()},
                            {"blas", {{"library", blas.library},
                                      {"core", blas.core},
                                      {"config", blas.config},
                                      {"OPENBLAS_CORETYPE", blas.coretype}}}};
      print_json_line(out);
      return 0;
    };
  });
}

}  // namespace plugen_cli
