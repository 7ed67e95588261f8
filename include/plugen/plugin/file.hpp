#pragma once
/// @file
/// The plugin file: one .safetensors file holding the standardization, the flow weights and partitions,
/// and in its `__metadata__` the format version, flow options, schema with normalization, prior,
/// training label statistics, training report and optional backbone fingerprint. Data only (no pickle):
/// safe to load from untrusted sources; loading validates every field and tensor.

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "plugen/core/version.hpp"
#include "plugen/data/safetensors.hpp"
#include "plugen/plugin/plugin.hpp"

namespace plugen {

namespace detail {

inline nlohmann::json flow_options_json(FlowKind kind, const FlowOptions& o) {
  return {{"kind", to_string(kind)},
          {"dim", o.dim()},
          {"couplings", o.couplings()},
          {"hidden", o.conditioner().hidden()},
          {"layers", o.conditioner().layers()},
          {"activation", to_string(o.conditioner().activation())},
          {"negative_slope", o.conditioner().negative_slope()},
          {"partition", to_string(o.partition())},
          {"partition_seed", o.partition_seed()},
          {"scale_bound", o.scale_bound()},
          {"linear", to_string(o.linear())},
          {"monotone", o.monotone()}};
}

/// `FlowOptions` from validated flow metadata.
inline FlowOptions flow_options_of(const FlowSpec& f) {
  return FlowOptions(f.dim)
      .couplings(f.couplings)
      .conditioner(ConditionerOptions()
                       .hidden(f.hidden)
                       .layers(f.layers)
                       .activation(f.activation)
                       .negative_slope(f.negative_slope))
      .partition(f.partition)
      .partition_seed(f.partition_seed)
      .scale_bound(f.scale_bound)
      .linear(f.linear)
      .monotone(f.monotone);
}

}  // namespace detail

/// The metadata a plugin file stores, as one JSON object: "format", "format_version" (integer),
/// "plugen_version", "dtype", "flow", "latent", "schema" (with its training statistics), "prior",
/// "label_stats", "report" and, when known, "backbone_sha256". The plugin file keeps each top-level value as
/// one string of the safetensors `__metadata__` (strings as they are, everything else as compact JSON); the
/// TorchScript export (plugin/export.hpp) keeps the whole object as one JSON string.
inline nlohmann::json plugin_metadata(const Plugin& plugin) {
  nlohmann::json meta = nlohmann::json::object();
  meta["format"] = plugin_format_name;
  meta["format_version"] = plugin_format_version;
  meta["plugen_version"] = version_string;
  meta["dtype"] = dtype_string(plugin.dtype());
  meta["flow"] = detail::flow_options_json(plugin.flow_kind(), plugin.flow_options());
  meta["latent"] = {
      {"dim", plugin.layout().dim}, {"layers", plugin.layout().layers}, {"mode", to_string(plugin.layout().mode)}};
  meta["schema"] = plugin.schema().to_json(true);
  meta["prior"] = {{"sigma", plugin.prior().options().sigma()}, {"balanced", plugin.prior().options().balanced()}};
  meta["label_stats"] = plugin.label_stats().to_json();
  meta["report"] = plugin.report().to_json(/*with_history=*/true, /*with_timing=*/false);
  if (!plugin.backbone_sha256().empty()) meta["backbone_sha256"] = plugin.backbone_sha256();
  return meta;
}

/// Writes `plugin` to `path` as a plugin file, atomically (temporary file, then rename). Refuses
/// (NumericError) to write non-finite weights.
inline void save_plugin(const std::filesystem::path& path, const Plugin& plugin) {
  const std::string who = path.string();
  std::map<std::string, torch::Tensor> tensors;
  tensors["standardize.mean"] = plugin.standardize()->mean();
  tensors["standardize.std"] = plugin.standardize()->std();
  std::visit(
      [&](const auto& f) {
        for (const auto& p : f->named_parameters()) tensors["flow." + p.key()] = p.value().detach();
        for (const auto& b : f->named_buffers()) tensors["flow." + b.key()] = b.value().detach();
        for (size_t k = 0; k < f->linears().size(); ++k)
          if (f->linears()[k]) tensors[fmt::format("flow.linear{}.perm", k)] = f->linears()[k]->permutation();
      },
      plugin.flow());
  const auto partitions = std::visit([](const auto& f) { return f->partitions(); }, plugin.flow());
  for (size_t k = 0; k < partitions.size(); ++k)
    tensors[fmt::format("flow.partition{}.kept", k)] = torch::tensor(partitions[k].kept, torch::kInt64);
  for (const auto& [name, t] : tensors)
    if (t.is_floating_point())
      PLUGEN_CHECK(torch::isfinite(t).all().item<bool>(), NumericError,
                   "save_plugin {}: tensor '{}' has NaN or inf values; refusing to write a broken plugin", who, name);

  std::map<std::string, std::string> meta;
  const auto metadata = plugin_metadata(plugin);
  for (const auto& [key, value] : metadata.items())
    meta[key] = value.is_string() ? value.get<std::string>() : value.dump();
  write_safetensors(path, tensors, meta);
}

namespace detail {

/// The plugin held by the safetensors content `file` of the plugin file `who`; see `load_plugin`.
inline Plugin plugin_from_safetensors(SafetensorsFile file, const std::string& who) {
  auto metadata = detail::read_plugin_metadata(file.metadata, who);
  const auto dtype = metadata.dtype == "float32" ? torch::kFloat32 : torch::kFloat64;
  const auto kind = metadata.flow.kind;
  const auto flow_options = detail::flow_options_of(metadata.flow);
  const auto layout = metadata.layout;

  auto& tensors = file.tensors;
  // The metadata sizes the flow; building it allocates. Bound every size by what the file holds first, so a
  // 2 KB file cannot ask for terabytes.
  double file_values = 0;
  for (const auto& [name, t] : tensors) file_values += static_cast<double>(t.numel());
  detail::check_plugin_sizes(metadata.flow, file_values, tensors.size(), who);
  std::set<std::string> used;
  auto take = [&](const std::string& name, at::IntArrayRef shape, torch::Dtype expected) {
    auto it = tensors.find(name);
    PLUGEN_CHECK(it != tensors.end(), IoError, "{}: tensor '{}' is missing", who, name);
    PLUGEN_CHECK(it->second.sizes() == shape, IoError, "{}: tensor '{}' has shape {}, expected {}", who, name,
                 shape_string(it->second.sizes()), shape_string(shape));
    PLUGEN_CHECK(it->second.scalar_type() == expected, IoError, "{}: tensor '{}' has dtype {}, expected {}", who, name,
                 dtype_string(it->second.scalar_type()), dtype_string(expected));
    if (it->second.is_floating_point())
      PLUGEN_CHECK(torch::isfinite(it->second).all().item<bool>(), IoError, "{}: tensor '{}' has NaN or inf values",
                   who, name);
    used.insert(name);
    return it->second;
  };

  std::vector<Partition> partitions;
  for (int64_t k = 0; k < flow_options.couplings(); ++k) {
    const auto name = fmt::format("flow.partition{}.kept", k);
    auto it = tensors.find(name);
    PLUGEN_CHECK(it != tensors.end() && it->second.dim() == 1 && it->second.scalar_type() == torch::kInt64, IoError,
                 "{}: tensor '{}' is missing or not a 1-d int64 tensor", who, name);
    used.insert(name);
    auto kept = it->second.contiguous();
    std::vector<int64_t> idx(kept.data_ptr<int64_t>(), kept.data_ptr<int64_t>() + kept.numel());
    try {
      partitions.push_back(Partition::from_kept(flow_options.dim(), idx));
    } catch (const ConfigError& e) {
      throw IoError(fmt::format("{}: tensor '{}' is not a valid partition: {}", who, name, e.what()));
    }
  }
  {
    std::vector<std::pair<size_t, size_t>> splits;
    for (const auto& p : partitions) splits.emplace_back(p.kept.size(), p.changed.size());
    detail::check_plugin_parameter_bound(metadata.flow, splits, file_values, who);
  }
  AnyFlow flow = make_flow(kind, flow_options, partitions);
  std::visit(
      [&](auto& f) {
        f->to(dtype);
        torch::NoGradGuard no_grad;
        for (auto& p : f->named_parameters()) p.value().copy_(take("flow." + p.key(), p.value().sizes(), dtype));
        // Format 1 had no fixed permutation and signs in the LU layers: identity and +1 then.
        if (metadata.format_version >= 2) {
          for (auto& b : f->named_buffers()) b.value().copy_(take("flow." + b.key(), b.value().sizes(), dtype));
          for (size_t k = 0; k < f->linears().size(); ++k) {
            if (!f->linears()[k]) continue;
            const auto name = fmt::format("flow.linear{}.perm", k);
            auto perm = take(name, {layout.dim}, torch::kInt64).contiguous();
            const auto sign = f->linears()[k]->sign();
            PLUGEN_CHECK(((sign == 1) | (sign == -1)).all().template item<bool>(), IoError,
                         "{}: tensor 'flow.linear{}.sign' must hold only +1 and -1", who, k);
            try {
              f->linears()[k]->set_permutation(
                  std::vector<int64_t>(perm.template data_ptr<int64_t>(), perm.template data_ptr<int64_t>() + perm.numel()));
            } catch (const ConfigError& e) {
              throw IoError(fmt::format("{}: tensor '{}' is not a permutation: {}", who, name, e.what()));
            }
          }
        }
      },
      flow);
  auto mean = take("standardize.mean", {layout.dim}, dtype);
  auto std = take("standardize.std", {layout.dim}, dtype);
  PLUGEN_CHECK((std > 0).all().item<bool>(), IoError, "{}: tensor 'standardize.std' has non-positive entries", who);
  for (const auto& [name, t] : tensors)
    PLUGEN_CHECK(used.count(name), IoError, "{}: unexpected tensor '{}' (not part of a {} flow with these options)",
                 who, name, to_string(kind));

  Plugin plugin(layout, Standardize(mean, std), kind, std::move(flow),
                TargetPrior(std::move(metadata.schema), layout.dim,
                            PriorOptions().sigma(metadata.sigma).balanced(metadata.balanced)),
                std::move(metadata.label_stats), std::move(metadata.report));
  if (!metadata.backbone_sha256.empty()) plugin.set_backbone_sha256(metadata.backbone_sha256);
  return plugin;
}

}  // namespace detail

/// Reads and validates a plugin file. Every problem — not a plugin file, a newer format version, a missing
/// or malformed metadata field, a missing, unexpected, wrongly shaped or non-finite tensor, metadata that
/// disagrees with the tensors — is an IoError naming the file and the field or tensor.
inline Plugin load_plugin(const std::filesystem::path& path) {
  return detail::plugin_from_safetensors(read_safetensors(path), path.string());
}

/// The plugin whose plugin file content is `bytes` (validated exactly as `load_plugin` validates a file);
/// `name` stands for the file in error messages.
inline Plugin parse_plugin(std::string_view bytes, const std::string& name) {
  return detail::plugin_from_safetensors(parse_safetensors(bytes, name), name);
}

}  // namespace plugen
