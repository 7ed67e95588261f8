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

/// Name written in every plugin file's metadata under "format".
inline constexpr const char* plugin_format_name = "plugen.plugin";
/// The plugin file format version this plugen writes and the newest it reads.
inline constexpr int plugin_format_version = 2;

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

inline std::pair<FlowKind, FlowOptions> flow_options_from_json(const nlohmann::json& j, const std::string& who) {
  auto need = [&](const char* key, auto check, const char* what) -> const nlohmann::json& {
    PLUGEN_CHECK(j.contains(key) && check(j[key]), IoError, "{}: metadata 'flow': expected {} \"{}\"", who, what, key);
    return j[key];
  };
  // Integers only (a float would be cast, and an out-of-range cast is undefined behaviour); sizes are
  // validated by FlowOptions::validate below.
  auto is_int = [](const nlohmann::json& v) { return v.is_number_integer(); };
  auto is_seed = [](const nlohmann::json& v) {
    return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
  };
  auto is_num = [](const nlohmann::json& v) { return v.is_number(); };
  auto is_str = [](const nlohmann::json& v) { return v.is_string(); };
  PLUGEN_CHECK(j.is_object(), IoError, "{}: metadata 'flow' is not a JSON object", who);
  try {
    const auto kind = parse_flow_kind(need("kind", is_str, "a string").get<std::string>());
    FlowOptions o(need("dim", is_int, "an integer").get<int64_t>());
    o.couplings(need("couplings", is_int, "an integer").get<int64_t>());
    o.conditioner(ConditionerOptions()
                      .hidden(need("hidden", is_int, "an integer").get<int64_t>())
                      .layers(need("layers", is_int, "an integer").get<int64_t>())
                      .activation(parse_activation(need("activation", is_str, "a string").get<std::string>()))
                      .negative_slope(need("negative_slope", is_num, "a number").get<double>()));
    o.partition(parse_partition(need("partition", is_str, "a string").get<std::string>()));
    o.partition_seed(need("partition_seed", is_seed, "a non-negative integer").get<uint64_t>());
    o.scale_bound(need("scale_bound", is_num, "a number").get<double>());
    o.linear(parse_linear_placement(need("linear", is_str, "a string").get<std::string>()));
    o.monotone(need(
                   "monotone", [](const nlohmann::json& v) { return v.is_boolean(); }, "a boolean")
                   .get<bool>());
    o.validate();
    return {kind, o};
  } catch (const ConfigError& e) {
    throw IoError(fmt::format("{}: metadata 'flow' is invalid: {}", who, e.what()));
  }
}

inline nlohmann::json parse_metadata_json(const std::map<std::string, std::string>& meta, const std::string& key,
                                          const std::string& who) {
  auto it = meta.find(key);
  PLUGEN_CHECK(it != meta.end(), IoError, "{}: not a plugen plugin file: metadata '{}' is missing", who, key);
  try {
    return nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    throw IoError(fmt::format("{}: metadata '{}' is not valid JSON ({})", who, key, e.what()));
  }
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
  const auto& meta = file.metadata;
  auto format = meta.find("format");
  PLUGEN_CHECK(format != meta.end() && format->second == plugin_format_name, IoError,
               "{}: not a plugen plugin file (metadata 'format' is {}, expected '{}')", who,
               format == meta.end() ? std::string("missing") : "'" + format->second + "'", plugin_format_name);
  auto version = meta.find("format_version");
  PLUGEN_CHECK(version != meta.end(), IoError, "{}: metadata 'format_version' is missing", who);
  int v = 0;
  try {
    v = std::stoi(version->second);
  } catch (const std::exception&) {
    throw IoError(fmt::format("{}: metadata 'format_version' is '{}', expected an integer", who, version->second));
  }
  PLUGEN_CHECK(v >= 1 && v <= plugin_format_version, IoError,
               "{}: plugin format version {} is not supported (this plugen {} reads versions 1 to {}); {}", who, v,
               version_string, plugin_format_version, v > plugin_format_version ? "upgrade plugen" : "corrupt file");
  auto dtype_it = meta.find("dtype");
  PLUGEN_CHECK(dtype_it != meta.end() && (dtype_it->second == "float32" || dtype_it->second == "float64"), IoError,
               "{}: metadata 'dtype' must be 'float32' or 'float64'", who);
  const auto dtype = dtype_it->second == "float32" ? torch::kFloat32 : torch::kFloat64;

  auto [kind, flow_options] = detail::flow_options_from_json(detail::parse_metadata_json(meta, "flow", who), who);
  const auto latent = detail::parse_metadata_json(meta, "latent", who);
  LatentLayout layout;
  try {
    PLUGEN_CHECK(latent.is_object() && latent.contains("dim") && latent["dim"].is_number_integer() &&
                     latent.contains("layers") && latent["layers"].is_number_integer(),
                 IoError, "{}: metadata 'latent' must be an object with integers \"dim\" and \"layers\"", who);
    layout.dim = latent.at("dim").get<int64_t>();
    layout.layers = latent.at("layers").get<int64_t>();
    layout.mode = parse_latent_mode(latent.at("mode").get<std::string>());
  } catch (const IoError&) {
    throw;
  } catch (const std::exception& e) {
    throw IoError(fmt::format("{}: metadata 'latent' is invalid: {}", who, e.what()));
  }
  PLUGEN_CHECK(layout.dim == flow_options.dim() && layout.layers >= 0, IoError,
               "{}: metadata 'latent' (dim {}) disagrees with metadata 'flow' (dim {})", who, layout.dim,
               flow_options.dim());

  Schema schema;
  LabelStats label_stats;
  TrainReport report;
  PriorOptions prior_options;
  try {
    schema = Schema::from_json(detail::parse_metadata_json(meta, "schema", who), who + ": metadata 'schema'");
    label_stats = LabelStats::from_json(detail::parse_metadata_json(meta, "label_stats", who), who);
    report = TrainReport::from_json(detail::parse_metadata_json(meta, "report", who));
    const auto prior = detail::parse_metadata_json(meta, "prior", who);
    prior_options.sigma(prior.at("sigma").get<double>()).balanced(prior.at("balanced").get<bool>());
    PLUGEN_CHECK(prior_options.sigma() > 0 && std::isfinite(prior_options.sigma()), IoError,
                 "{}: metadata 'prior': sigma must be positive and finite", who);
  } catch (const IoError&) {
    throw;
  } catch (const std::exception& e) {
    throw IoError(fmt::format("{}: invalid metadata: {}", who, e.what()));
  }
  PLUGEN_CHECK(schema.label_dim() <= layout.dim, IoError,
               "{}: metadata 'schema' needs {} label coordinates but the latent width is {}", who, schema.label_dim(),
               layout.dim);
  for (const auto& a : schema.attributes())
    if (a.kind != AttributeKind::continuous)
      PLUGEN_CHECK(!a.stats.frequencies.empty(), IoError, "{}: metadata 'schema': attribute '{}' has no statistics",
                   who, a.name);

  auto& tensors = file.tensors;
  // The metadata sizes the flow; building it allocates. Bound every size by what the file holds first, so a
  // 2 KB file cannot ask for terabytes (every plugin stores a mean of `dim` values and a partition per coupling).
  double file_values = 0;
  for (const auto& [name, t] : tensors) file_values += static_cast<double>(t.numel());
  PLUGEN_CHECK(static_cast<double>(layout.dim) <= file_values &&
                   flow_options.couplings() <= static_cast<int64_t>(tensors.size()),
               IoError,
               "{}: metadata 'flow' (dim {}, {} couplings) is larger than the {} tensors of {} values the file holds",
               who, layout.dim, flow_options.couplings(), tensors.size(), file_values);
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
    // A lower bound (one conditioner output per changed coordinate) of the flow's parameter count, in double so
    // hostile sizes cannot overflow; the file must hold at least that many values.
    const auto h = static_cast<double>(flow_options.conditioner().hidden());
    const auto layers = static_cast<double>(flow_options.conditioner().layers());
    double needed = 0;
    for (const auto& p : partitions) {
      const auto in = static_cast<double>(p.kept.size()), out = static_cast<double>(p.changed.size());
      needed += layers == 1 ? in * out + out : in * h + h + (layers - 2) * (h * h + h) + h * out + out;
    }
    PLUGEN_CHECK(
        needed <= file_values, IoError,
        "{}: metadata 'flow' (hidden {}, layers {}) implies at least {} parameters, but the file holds only {} "
        "values",
        who, flow_options.conditioner().hidden(), flow_options.conditioner().layers(), needed, file_values);
  }
  AnyFlow flow = make_flow(kind, flow_options, partitions);
  std::visit(
      [&](auto& f) {
        f->to(dtype);
        torch::NoGradGuard no_grad;
        for (auto& p : f->named_parameters()) p.value().copy_(take("flow." + p.key(), p.value().sizes(), dtype));
        // Format 1 had no fixed permutation and signs in the LU layers: identity and +1 then.
        if (v >= 2) {
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
                TargetPrior(std::move(schema), layout.dim, prior_options), std::move(label_stats), std::move(report));
  if (auto it = meta.find("backbone_sha256"); it != meta.end()) plugin.set_backbone_sha256(it->second);
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
