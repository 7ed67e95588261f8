#pragma once
/// @file
/// The plugin file's metadata without LibTorch: flow kind, latent layout, label statistics, and the reader that
/// validates every metadata field of a plugin file. Shared by `load_plugin` and the torch-free (Eigen)
/// inference path, so both accept and reject exactly the same metadata with the same messages.

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "plugen/core/check.hpp"
#include "plugen/core/version.hpp"
#include "plugen/flow/detail/kinds.hpp"
#include "plugen/prior/detail/schema.hpp"
#include "plugen/train/report.hpp"

namespace plugen {

/// Name written in every plugin file's metadata under "format".
inline constexpr const char* plugin_format_name = "plugen.plugin";
/// The plugin file format version this plugen writes and the newest it reads.
inline constexpr int plugin_format_version = 2;

/// Kind of coupling a plugin's flow uses (chosen at run time, e.g. from a plugin file).
enum class FlowKind {
  affine,    ///< RealNVP
  additive,  ///< NICE (the official PluGeN flows)
};

/// Name of a flow kind as stored in plugin files ("affine", "additive").
inline const char* to_string(FlowKind k) noexcept {
  return k == FlowKind::affine ? "affine" : "additive";
}

/// Parses a flow kind: "affine"/"realnvp" or "additive"/"nice".
inline FlowKind parse_flow_kind(const std::string& s) {
  if (s == "affine" || s == "realnvp") return FlowKind::affine;
  if (s == "additive" || s == "nice") return FlowKind::additive;
  throw ConfigError(fmt::format("flow option: expected 'realnvp' (affine) or 'nice' (additive), got '{}'", s));
}

/// How per-layer latents (N, L, D), e.g. StyleGAN W+, go through the flow.
enum class LatentMode {
  shared,     ///< row 0 drives the flow; results are written to every row of a new tensor (official)
  per_layer,  ///< every row is mapped independently
};

/// Name of a latent mode ("shared", "per_layer").
inline const char* to_string(LatentMode m) noexcept {
  return m == LatentMode::shared ? "shared" : "per_layer";
}

/// Parses a latent mode name.
inline LatentMode parse_latent_mode(const std::string& s) {
  if (s == "shared") return LatentMode::shared;
  if (s == "per_layer") return LatentMode::per_layer;
  throw ConfigError(fmt::format("latent mode option: expected 'shared' or 'per_layer', got '{}'", s));
}

/// Statistics of the training labels needed for out-of-distribution checks: how often each combination
/// of discrete attribute values occurred (rows whose discrete labels are all known).
struct LabelStats {
  /// Names of the discrete (binary, categorical) attributes, in schema order.
  std::vector<std::string> discrete;
  /// Count per combination; key: the values joined by ',' (binary 0/1, categorical class name).
  std::map<std::string, int64_t> combinations;
  /// Rows whose discrete labels were all known (the total of `combinations`).
  int64_t rows = 0;

  /// Counts the combinations in `labels` for `schema` (defined in plugen/plugin/plugin.hpp: it needs LibTorch).
  static LabelStats count(const Schema& schema, const Labels& labels);

  /// The name of a discrete value as used in combination keys.
  static std::string value_name(const Attribute& a, double value) {
    const auto k = static_cast<int64_t>(value);
    if (a.kind == AttributeKind::categorical && k >= 0 && k < a.width()) return a.classes[static_cast<size_t>(k)];
    return std::to_string(k);
  }

  /// As JSON.
  nlohmann::json to_json() const { return {{"discrete", discrete}, {"combinations", combinations}, {"rows", rows}}; }
  /// From JSON written by `to_json`.
  static LabelStats from_json(const nlohmann::json& j, const std::string& who) {
    PLUGEN_CHECK(j.is_object() && j.contains("discrete") && j["discrete"].is_array() && j.contains("combinations") &&
                     j["combinations"].is_object() && j.contains("rows") && j["rows"].is_number_integer(),
                 ConfigError, "{}: label_stats: expected discrete, combinations and rows", who);
    LabelStats s;
    for (const auto& d : j["discrete"]) {
      PLUGEN_CHECK(d.is_string(), ConfigError, "{}: label_stats.discrete: expected strings", who);
      s.discrete.push_back(d.get<std::string>());
    }
    for (auto it = j["combinations"].begin(); it != j["combinations"].end(); ++it) {
      PLUGEN_CHECK(it.value().is_number_integer() && it.value().get<int64_t>() >= 0, ConfigError,
                   "{}: label_stats.combinations['{}']: expected a count", who, it.key());
      s.combinations[it.key()] = it.value().get<int64_t>();
    }
    s.rows = j["rows"].get<int64_t>();
    PLUGEN_CHECK(s.rows >= 0, ConfigError, "{}: label_stats.rows: expected a count, got {}", who, j["rows"].dump());
    return s;
  }
};

/// The shape of one sample's latent and how the flow treats it.
struct LatentLayout {
  /// Width D of the flow.
  int64_t dim = 0;
  /// Rows per sample: 0 for (N, D) latents, L for per-layer (N, L, D) latents.
  int64_t layers = 0;
  /// How per-layer latents go through the flow.
  LatentMode mode = LatentMode::shared;

  /// The per-sample shape as a string, e.g. "(512,)" or "(18, 512)".
  std::string sample_shape() const {
    return layers > 0 ? fmt::format("({}, {})", layers, dim) : fmt::format("({},)", dim);
  }
};

namespace detail {

/// A plugin's flow options as stored in its metadata (plain values: the torch path turns them into
/// `FlowOptions`, the Eigen path reads them directly).
struct FlowSpec {
  /// Coupling kind.
  FlowKind kind = FlowKind::affine;
  /// Width D.
  int64_t dim = 0;
  /// Number of couplings.
  int64_t couplings = 0;
  /// Hidden units of every conditioner layer.
  int64_t hidden = 0;
  /// Linear layers per conditioner.
  int64_t layers = 0;
  /// Conditioner nonlinearity.
  Activation activation = Activation::leaky_relu;
  /// Negative slope of leaky_relu.
  double negative_slope = 0.1;
  /// Partition kind.
  PartitionKind partition = PartitionKind::alternating;
  /// Seed of random partitions.
  uint64_t partition_seed = 0;
  /// Affine log-scale bound.
  double scale_bound = 2.0;
  /// Placement of LU layers.
  LinearPlacement linear = LinearPlacement::none;
  /// Whether a monotone step ends the flow.
  bool monotone = false;

  /// True when coupling `k` is preceded by an LU layer.
  bool has_linear(int64_t k) const {
    return linear == LinearPlacement::each || (linear == LinearPlacement::first && k == 0);
  }
};

/// Reads and validates the "flow" metadata object; every problem is an IoError naming `who` and the key.
inline FlowSpec flow_spec_from_json(const nlohmann::json& j, const std::string& who) {
  auto need = [&](const char* key, auto check, const char* what) -> const nlohmann::json& {
    PLUGEN_CHECK(j.contains(key) && check(j[key]), IoError, "{}: metadata 'flow': expected {} \"{}\"", who, what, key);
    return j[key];
  };
  auto is_int = [](const nlohmann::json& v) { return v.is_number_integer(); };
  auto is_num = [](const nlohmann::json& v) { return v.is_number(); };
  auto is_str = [](const nlohmann::json& v) { return v.is_string(); };
  PLUGEN_CHECK(j.is_object(), IoError, "{}: metadata 'flow' is not a JSON object", who);
  try {
    FlowSpec f;
    f.kind = parse_flow_kind(need("kind", is_str, "a string").get<std::string>());
    f.dim = need("dim", is_int, "an integer").get<int64_t>();
    f.couplings = need("couplings", is_int, "an integer").get<int64_t>();
    f.hidden = need("hidden", is_int, "an integer").get<int64_t>();
    f.layers = need("layers", is_int, "an integer").get<int64_t>();
    f.activation = parse_activation(need("activation", is_str, "a string").get<std::string>());
    f.negative_slope = need("negative_slope", is_num, "a number").get<double>();
    f.partition = parse_partition(need("partition", is_str, "a string").get<std::string>());
    // A non-negative integer, never a float or negative number cast to one (undefined behaviour).
    auto is_seed = [](const nlohmann::json& v) {
      return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
    };
    f.partition_seed = need("partition_seed", is_seed, "a non-negative integer").get<uint64_t>();
    f.scale_bound = need("scale_bound", is_num, "a number").get<double>();
    f.linear = parse_linear_placement(need("linear", is_str, "a string").get<std::string>());
    f.monotone = need(
                     "monotone", [](const nlohmann::json& v) { return v.is_boolean(); }, "a boolean")
                     .get<bool>();
    validate_flow_options(f.dim, f.couplings, f.hidden, f.layers, f.negative_slope, f.scale_bound);
    return f;
  } catch (const ConfigError& e) {
    throw IoError(fmt::format("{}: metadata 'flow' is invalid: {}", who, e.what()));
  }
}

/// The JSON value of metadata entry `key`; a missing entry or invalid JSON is an IoError naming `who`.
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

/// Everything a plugin file's metadata says, validated.
struct PluginMetadata {
  /// The file's format version (1 to `plugin_format_version`).
  int format_version = plugin_format_version;
  /// "float32" or "float64": the dtype of the stored weights.
  std::string dtype;
  /// The flow options.
  FlowSpec flow;
  /// The latent layout.
  LatentLayout layout;
  /// The schema with training statistics.
  Schema schema;
  /// Training label statistics.
  LabelStats label_stats;
  /// The training report.
  TrainReport report;
  /// The prior's final sigma.
  double sigma = 0.4;
  /// Whether binary attributes use balanced sigmas.
  bool balanced = false;
  /// sha256 of the backbone file (empty when not recorded).
  std::string backbone_sha256;
};

/// Reads and validates the metadata of a plugin file named `who`: format name and version, dtype, flow,
/// latent layout, schema (with statistics for every discrete attribute, no wider than the latent), label
/// statistics, report and prior. Every problem is an IoError naming `who` and the field.
inline PluginMetadata read_plugin_metadata(const std::map<std::string, std::string>& meta, const std::string& who) {
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
  PluginMetadata out;
  out.format_version = v;
  auto dtype_it = meta.find("dtype");
  PLUGEN_CHECK(dtype_it != meta.end() && (dtype_it->second == "float32" || dtype_it->second == "float64"), IoError,
               "{}: metadata 'dtype' must be 'float32' or 'float64'", who);
  out.dtype = dtype_it->second;

  out.flow = flow_spec_from_json(parse_metadata_json(meta, "flow", who), who);
  const auto latent = parse_metadata_json(meta, "latent", who);
  try {
    // Integers only: a float would be cast, and an out-of-range cast is undefined behaviour.
    PLUGEN_CHECK(latent.is_object() && latent.contains("dim") && latent["dim"].is_number_integer() &&
                     latent.contains("layers") && latent["layers"].is_number_integer(),
                 IoError, "{}: metadata 'latent' must be an object with integers \"dim\" and \"layers\"", who);
    out.layout.dim = latent.at("dim").get<int64_t>();
    out.layout.layers = latent.at("layers").get<int64_t>();
    out.layout.mode = parse_latent_mode(latent.at("mode").get<std::string>());
  } catch (const std::exception& e) {
    throw IoError(fmt::format("{}: metadata 'latent' is invalid: {}", who, e.what()));
  }
  PLUGEN_CHECK(out.layout.dim == out.flow.dim && out.layout.layers >= 0, IoError,
               "{}: metadata 'latent' (dim {}) disagrees with metadata 'flow' (dim {})", who, out.layout.dim,
               out.flow.dim);

  try {
    out.schema = Schema::from_json(parse_metadata_json(meta, "schema", who), who + ": metadata 'schema'");
    out.label_stats = LabelStats::from_json(parse_metadata_json(meta, "label_stats", who), who);
    out.report = TrainReport::from_json(parse_metadata_json(meta, "report", who));
    const auto prior = parse_metadata_json(meta, "prior", who);
    out.sigma = prior.at("sigma").get<double>();
    out.balanced = prior.at("balanced").get<bool>();
    PLUGEN_CHECK(out.sigma > 0 && std::isfinite(out.sigma), IoError,
                 "{}: metadata 'prior': sigma must be positive and finite", who);
  } catch (const IoError&) {
    throw;
  } catch (const std::exception& e) {
    throw IoError(fmt::format("{}: invalid metadata: {}", who, e.what()));
  }
  PLUGEN_CHECK(out.schema.label_dim() <= out.layout.dim, IoError,
               "{}: metadata 'schema' needs {} label coordinates but the latent width is {}", who,
               out.schema.label_dim(), out.layout.dim);
  for (const auto& a : out.schema.attributes())
    if (a.kind != AttributeKind::continuous)
      PLUGEN_CHECK(!a.stats.frequencies.empty(), IoError, "{}: metadata 'schema': attribute '{}' has no statistics",
                   who, a.name);
  if (auto it = meta.find("backbone_sha256"); it != meta.end()) out.backbone_sha256 = it->second;
  return out;
}

/// Checks, before anything is allocated from the metadata's sizes, that a file holding `tensors` tensors of
/// `values` values in all can be a plugin with these options: every plugin stores a mean of `dim` values and a
/// partition per coupling. Throws an IoError naming `who` otherwise.
inline void check_plugin_sizes(const FlowSpec& flow, double values, size_t tensors, const std::string& who) {
  PLUGEN_CHECK(static_cast<double>(flow.dim) <= values && flow.couplings <= static_cast<int64_t>(tensors), IoError,
               "{}: metadata 'flow' (dim {}, {} couplings) is larger than the {} tensors of {} values the file holds",
               who, flow.dim, flow.couplings, tensors, values);
}

/// The second size check, once the partitions are known (`splits`: kept and changed sizes per coupling): the
/// conditioners need at least one output per changed coordinate, a lower bound of the parameter count computed
/// in double so hostile sizes cannot overflow; the file must hold that many values, else an IoError.
inline void check_plugin_parameter_bound(const FlowSpec& flow, const std::vector<std::pair<size_t, size_t>>& splits,
                                         double values, const std::string& who) {
  const auto h = static_cast<double>(flow.hidden);
  const auto layers = static_cast<double>(flow.layers);
  double needed = 0;
  for (const auto& [n_kept, n_changed] : splits) {
    const auto in = static_cast<double>(n_kept), out = static_cast<double>(n_changed);
    needed += layers == 1 ? in * out + out : in * h + h + (layers - 2) * (h * h + h) + h * out + out;
  }
  PLUGEN_CHECK(needed <= values, IoError,
               "{}: metadata 'flow' (hidden {}, layers {}) implies at least {} parameters, but the file holds only {} "
               "values",
               who, flow.hidden, flow.layers, needed, values);
}

}  // namespace detail

}  // namespace plugen
