#pragma once
// Helpers the conditioning subcommands (sample, edit, check) share: --set/--ood options, the warning
// printer, and reading/writing latent files against a plugin's layout.

#include <plugen/data.hpp>
#include <plugen/plugin.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"

namespace plugen_cli {

/// Adds the repeatable `--set name=value` option.
inline CLI::Option* add_set_option(CLI::App* cmd, std::vector<std::string>& sets, const std::string& what) {
  return cmd->add_option("--set", sets, what)->type_name("NAME=VALUE")->allow_extra_args(false);
}

/// Adds `--ood allow|warn|clamp|refuse`.
inline CLI::Option* add_ood_option(CLI::App* cmd, std::string& policy) {
  return cmd
      ->add_option("--ood", policy,
                   "Out-of-distribution requests: allow, warn (to stderr), clamp (continuous values into the "
                   "training range) or refuse (exit 1)")
      ->check(CLI::IsMember({"allow", "warn", "clamp", "refuse"}))
      ->capture_default_str();
}

/// OOD options for `policy`; warnings go to stderr as "plugen <command>: warning: ...".
inline plugen::OodOptions ood_options(const std::string& policy, const std::string& command) {
  return plugen::OodOptions().policy(plugen::parse_ood_policy(policy)).on_ood([command](const plugen::OodReport& r) {
    std::fprintf(stderr, "plugen %s: warning: out-of-distribution request: %s\n", command.c_str(), r.reason.c_str());
  });
}

/// Latents of `path` (checked by `read_latents(path)`) in the plugin's dtype and on its device, checked
/// against its layout; errors name the file. Returns the latents and the file's dtype (results are written
/// back in it).
inline std::pair<torch::Tensor, torch::Dtype> read_latents(const std::filesystem::path& path,
                                                           const plugen::Plugin& plugin) {
  auto w = read_latents(path.string());
  const auto& layout = plugin.layout();
  const bool ok = layout.layers > 0 ? (w.dim() == 3 && w.size(1) == layout.layers && w.size(2) == layout.dim)
                                    : (w.dim() == 2 && w.size(1) == layout.dim);
  PLUGEN_CHECK(ok, ShapeError, "{}: expected latents of shape (N, {}) for this plugin, got {}", path.string(),
               layout.layers > 0 ? fmt::format("{}, {}", layout.layers, layout.dim) : std::to_string(layout.dim),
               plugen::shape_string(w.sizes()));
  const auto dtype = w.scalar_type();
  return {w.to(plugin.device(), plugin.dtype()), dtype};
}

}  // namespace plugen_cli
