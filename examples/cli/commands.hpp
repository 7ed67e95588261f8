#pragma once
// The `plugen` command-line tool: each subcommand lives in its own file and registers itself here.
// Every subcommand has --help; bad arguments exit non-zero with a one-line reason; plugen errors are
// reported as "plugen <command>: <kind> error: <message>" with exit code 1.

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace plugen_cli {

/// The action a subcommand runs after parsing; returns the process exit code.
using Action = std::function<int()>;

/// Registers `plugen version`.
void add_version_command(CLI::App& app, Action& action);
/// Registers `plugen train`.
void add_train_command(CLI::App& app, Action& action);
/// Registers `plugen inspect`.
void add_inspect_command(CLI::App& app, Action& action);
/// Registers `plugen attributes`.
void add_attributes_command(CLI::App& app, Action& action);
/// Registers `plugen sample`: latents with chosen attributes from a plugin file.
void add_sample_command(CLI::App& app, Action& action);
/// Registers `plugen edit`: set or shift attributes of latents from a .npy file.
void add_edit_command(CLI::App& app, Action& action);
/// Registers `plugen check`: the out-of-distribution report of a request, as JSON.
void add_check_command(CLI::App& app, Action& action);

/// Registers `plugen encode`.
void add_encode_command(CLI::App& app, Action& action);

/// Registers `plugen label`.
void add_label_command(CLI::App& app, Action& action);

/// Registers `plugen eval`: conditional accuracy, edits, round trip, NLL, agreement with labels (JSON).
void add_eval_command(CLI::App& app, Action& action);

/// Registers `plugen grid`: a contact sheet of conditional samples, one attribute down, one across.
void add_grid_command(CLI::App& app, Action& action);
/// Registers `plugen generate`: a dataset generation job (or one shard of it).
void add_generate_command(CLI::App& app, Action& action);
/// Registers `plugen merge-manifests`: checks and combines shard manifests.
void add_merge_manifests_command(CLI::App& app, Action& action);

/// Registers `plugen import-official`: an official PluGeN state_dict as a plugin file.
void add_import_official_command(CLI::App& app, Action& action);

/// Registers `plugen export-torchscript`: a plugin file as a TorchScript module for torch.jit.load.
void add_export_torchscript_command(CLI::App& app, Action& action);
/// Registers `plugen baseline fit|sample|edit`: the linear-direction baseline.
void add_baseline_command(CLI::App& app, Action& action);

}  // namespace plugen_cli
