// plugen generate: run a dataset generation job spec (or one shard of it), resuming what an earlier run left.
// plugen merge-manifests: check shard manifests for missing or duplicated indices and combine them.
#include <plugen/generate.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"

namespace plugen_cli {

namespace {

volatile std::sig_atomic_t generate_interrupted = 0;

// First Ctrl-C: finish the batches in flight and stop; a second one kills as usual.
extern "C" void on_generate_sigint(int) {
  generate_interrupted = 1;
  std::signal(SIGINT, SIG_DFL);
}

struct GenerateArgs {
  std::string spec, shard = "0/1", device = "cpu";
  int64_t batch = 0, writers = 0;
  bool quiet = false, fsync = false;
};

int run_generate(const GenerateArgs& a) {
  auto options = plugen::GenerateOptions()
                     .shard(plugen::Shard::parse(a.shard))
                     .writers(a.writers)
                     .sync(a.fsync ? plugen::FileSync::full : plugen::FileSync::none)
                     .device(plugen::parse_device(a.device))
                     .stop([] { return generate_interrupted != 0; });
  if (a.batch > 0) options.batch_size(a.batch);
  if (!a.quiet) options.on_progress(plugen::GenerateProgressBar("plugen generate"));
  generate_interrupted = 0;
  std::signal(SIGINT, on_generate_sigint);
  const auto report = plugen::generate(std::filesystem::path(a.spec), options);
  std::signal(SIGINT, SIG_DFL);
  print_json_line(report.to_json());
  if (report.status == "interrupted") {
    std::fprintf(stderr, "plugen generate: interrupted after %lld samples; run the same command again to resume\n",
                 static_cast<long long>(report.written));
    return 130;
  }
  return 0;
}

struct MergeArgs {
  std::vector<std::string> inputs;
  std::string out;
};

int run_merge(const MergeArgs& a) {
  std::vector<std::filesystem::path> inputs(a.inputs.begin(), a.inputs.end());
  const auto check = plugen::merge_manifests(inputs, a.out);
  print_json_line(check.to_json());
  PLUGEN_CHECK(check.complete(), IoError,
               "the manifests of {} (total {}) are not complete: {} missing indices{}, {} duplicated, {} out of range",
               a.inputs.front(), check.total, check.missing_count(),
               check.missing.empty() ? std::string()
                                     : fmt::format(" (first: {}..{})", check.missing.front().first,
                                                   check.missing.front().second),
               check.duplicated.size(), check.out_of_range.size());
  return 0;
}

}  // namespace

void add_generate_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand(
      "generate",
      "Run a dataset generation job (JSON spec): balanced, seeded, sharded, resumable, verified; see docs/generate.md");
  cmd->add_option("spec", args->spec, "Job spec (JSON)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--shard", args->shard, "Run shard i of N (0-based), e.g. 3/8; shards share the output folder")
      ->capture_default_str();
  cmd->add_option("--batch", args->batch, "Override the spec's batch_size (outputs do not depend on it)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--writers", args->writers,
                  "Threads that read back, encode and write samples (0: one per core beyond the first, at most 8; "
                  "16 with --fsync)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--fsync", args->fsync,
                "fsync every file and folder written, so that outputs also survive a power loss (slower: bound by "
                "the disk's sync latency); without it files are still renamed into place only when complete, so a "
                "killed process never leaves a partial file");
  cmd->add_option("--device", args->device, "Device: cpu, cuda, cuda:N")->capture_default_str();
  cmd->add_flag("--quiet", args->quiet, "No progress bar");
  cmd->callback([&action, args] { action = [args] { return run_generate(*args); }; });
}

void add_merge_manifests_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<MergeArgs>();
  auto* cmd = app.add_subcommand(
      "merge-manifests", "Check shard manifests for missing or duplicated indices and merge them into one manifest");
  cmd->add_option("manifests", args->inputs, "Shard manifests (.jsonl)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "Merged manifest to write (only when complete)");
  cmd->callback([&action, args] { action = [args] { return run_merge(*args); }; });
}

}  // namespace plugen_cli
