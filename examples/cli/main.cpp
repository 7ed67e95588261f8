// Entry point of the `plugen` command-line tool.
#include <plugen/core.hpp>

#include <cstdio>
#include <exception>

#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"plugen: attribute conditioning for frozen generative models (PluGeN)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", plugen::version_string);
  int threads = 0;
  app.add_option("--threads", threads, "LibTorch intra-op threads (default: all cores, or PLUGEN_NUM_THREADS)")
      ->check(CLI::NonNegativeNumber);

  plugen_cli::Action action;
  plugen_cli::add_version_command(app, action);
  plugen_cli::add_train_command(app, action);
  plugen_cli::add_inspect_command(app, action);
  plugen_cli::add_attributes_command(app, action);
  plugen_cli::add_sample_command(app, action);
  plugen_cli::add_edit_command(app, action);
  plugen_cli::add_check_command(app, action);
  plugen_cli::add_encode_command(app, action);
  plugen_cli::add_label_command(app, action);
  plugen_cli::add_eval_command(app, action);
  plugen_cli::add_grid_command(app, action);
  plugen_cli::add_import_official_command(app, action);
  plugen_cli::add_export_torchscript_command(app, action);
  plugen_cli::add_generate_command(app, action);
  plugen_cli::add_merge_manifests_command(app, action);
  plugen_cli::add_baseline_command(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  const std::string name = app.get_subcommands().empty() ? "" : app.get_subcommands().front()->get_name();
  try {
    plugen::set_num_threads(threads);
    return action ? action() : 0;
  } catch (const plugen::Error& e) {
    std::fprintf(stderr, "plugen %s: %s error: %s\n", name.c_str(), plugen::to_string(e.kind()), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plugen %s: error: %s\n", name.c_str(), e.what());
    return 1;
  }
}
