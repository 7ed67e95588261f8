#pragma once
/// @file
/// Import of official PluGeN checkpoints (github gmum/plugen): PyTorch state_dicts of additive couplings
/// with full-width masked MLPs, converted exactly into plugen's NICE flow and wrapped into a `Plugin`.
///
/// The official coupling k keeps the even coordinates when k is even, the odd ones when k is odd, and maps
/// `y = x + (1 - mask) * MLP(mask * x)` with an MLP `D -> H -> ... -> H -> D` (L linear layers,
/// LeakyReLU(0.1) between them). plugen's conditioner takes only the kept coordinates (sorted) and emits
/// only the changed ones (sorted), so the conversion slices the first layer's weight columns to the kept
/// indices and the last layer's weight rows and bias to the changed indices; the masked-out entries never
/// contributed, so the conversion is exact.

#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "plugen/core/check.hpp"
#include "plugen/data/safetensors.hpp"
#include "plugen/flow/flow.hpp"
#include "plugen/plugin/plugin.hpp"
#include "plugen/prior/schema.hpp"

namespace plugen {

/// Architecture of an official PluGeN flow: width, number of couplings, linear layers per conditioner and
/// hidden width. Unset fields (0) are inferred from the state_dict; set ones are checked against it.
struct OfficialFlowOptions {
  /// Width D of the latents (0: infer).
  TORCH_ARG(int64_t, dim) = 0;
  /// Number of coupling layers (0: infer).
  TORCH_ARG(int64_t, couplings) = 0;
  /// Linear layers per conditioner (0: infer).
  TORCH_ARG(int64_t, layers) = 0;
  /// Hidden width of the conditioners (0: infer).
  TORCH_ARG(int64_t, hidden) = 0;

 public:
  /// The architecture of a published run: "stylegan" (StyleGAN2 W: D 512, 4 couplings, L 4, H 512),
  /// "celeba-vae" (D 2048, 4, 4, 256), "charvae" (molecules: D 100, 6, 6, 256), or "custom" (all inferred).
  /// Throws ConfigError for another name.
  static OfficialFlowOptions preset(const std::string& name) {
    if (name == "stylegan") return OfficialFlowOptions().dim(512).couplings(4).layers(4).hidden(512);
    if (name == "celeba-vae") return OfficialFlowOptions().dim(2048).couplings(4).layers(4).hidden(256);
    if (name == "charvae") return OfficialFlowOptions().dim(100).couplings(6).layers(6).hidden(256);
    if (name == "custom") return OfficialFlowOptions();
    throw ConfigError(
        fmt::format("official preset: expected one of stylegan, celeba-vae, charvae, custom, got '{}'", name));
  }
};

/// Options of `import_official`: the architecture, the prior's sigma and the latent layout.
struct ImportOfficialOptions {
  /// The official flow's architecture (a preset, or inferred).
  TORCH_ARG(OfficialFlowOptions, flow) = {};
  /// Sigma of the label coordinates; the official StyleGAN run ends at 0.4 * 0.999^1000 ~ 0.147.
  TORCH_ARG(double, sigma) = 0.4 * 0.36769542477096373;  // 0.999^1000
  /// Rows per sample for per-layer latents such as StyleGAN W+ (0: (N, D) latents).
  TORCH_ARG(int64_t, latent_layers) = 0;
  /// How per-layer latents go through the flow (the official code drives it with one row: shared).
  TORCH_ARG(LatentMode, latent_mode) = LatentMode::shared;
};

/// Reads the tensors of an official checkpoint: a `torch.save` file of a state_dict (read with LibTorch's
/// unpickler), or a .safetensors file written by `examples/python/convert_official.py`. Tensors come back
/// as contiguous float32 CPU tensors. Throws IoError naming the file when it is neither.
inline std::map<std::string, torch::Tensor> read_official_state_dict(const std::filesystem::path& path) {
  const std::string who = "read_official_state_dict " + path.string();
  std::ifstream in(path, std::ios::binary);
  PLUGEN_CHECK(in.good(), IoError, "{}: cannot open the file", who);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::map<std::string, torch::Tensor> out;
  if (bytes.size() >= 4 && bytes[0] == 'P' && bytes[1] == 'K') {  // torch.save's zip format
    torch::IValue value;
    try {
      value = torch::pickle_load(bytes);
    } catch (const c10::Error& e) {
      throw IoError(
          fmt::format("{}: LibTorch cannot read this torch.save file ({}); convert it with "
                      "examples/python/convert_official.py and import the .safetensors file instead",
                      who, e.what_without_backtrace()));
    }
    PLUGEN_CHECK(value.isGenericDict(), IoError,
                 "{}: expected a state_dict (a dict of name -> tensor), found a pickled {}; convert it with "
                 "examples/python/convert_official.py",
                 who, value.tagKind());
    for (const auto& item : value.toGenericDict()) {
      PLUGEN_CHECK(item.key().isString(), IoError, "{}: expected string keys in the state_dict, found a {}", who,
                   item.key().tagKind());
      const auto name = item.key().toStringRef();
      PLUGEN_CHECK(item.value().isTensor(), IoError, "{}: entry '{}' is a {}, expected a tensor", who, name,
                   item.value().tagKind());
      out[name] = item.value().toTensor();
    }
  } else {
    out = read_safetensors(path).tensors;
  }
  for (auto& [name, t] : out) {
    PLUGEN_CHECK(t.is_floating_point(), IoError, "{}: tensor '{}' has dtype {}, expected floating point", who, name,
                 dtype_string(t.scalar_type()));
    t = t.to(torch::kCPU, torch::kFloat32).contiguous();
  }
  return out;
}

/// Converts an official state_dict (`coupling_layers.{k}.a.{0,2,4,...}.{weight,bias}`) into an equivalent
/// plugen NICE flow (alternating partitions, leaky_relu 0.1, no LU layers, no monotone step): forward and
/// inverse agree with the official flow up to float32 rounding. The architecture is read off the keys and
/// shapes; fields set in `expected` must agree. Throws ConfigError naming the key or field that does not fit.
inline NICE convert_official_flow(const std::map<std::string, torch::Tensor>& state_dict,
                                  const OfficialFlowOptions& expected = {}, const std::string& who = "state_dict") {
  const std::regex key_re(R"(coupling_layers\.(\d+)\.a\.(\d+)\.(weight|bias))");
  std::map<int64_t, std::map<int64_t, std::pair<torch::Tensor, torch::Tensor>>> layers;  // k -> module index
  for (const auto& [name, t] : state_dict) {
    std::smatch m;
    PLUGEN_CHECK(std::regex_match(name, m, key_re), ConfigError,
                 "convert_official_flow {}: unexpected key '{}' (expected coupling_layers.{{k}}.a.{{i}}.weight/bias "
                 "of an official additive flow)",
                 who, name);
    auto& slot = layers[std::stoll(m[1])][std::stoll(m[2])];
    (m[3] == "weight" ? slot.first : slot.second) = t;
  }
  PLUGEN_CHECK(!layers.empty(), ConfigError, "convert_official_flow {}: no coupling_layers.* tensors", who);
  const auto n_couplings = static_cast<int64_t>(layers.size());
  PLUGEN_CHECK(layers.rbegin()->first == n_couplings - 1, ConfigError,
               "convert_official_flow {}: coupling indices are not 0..{} (found {} couplings, last index {})", who,
               n_couplings - 1, n_couplings, layers.rbegin()->first);
  const auto& first = layers.begin()->second;
  const auto n_layers = static_cast<int64_t>(first.size());
  PLUGEN_CHECK(first.begin()->second.first.defined() && first.begin()->second.first.dim() == 2, ConfigError,
               "convert_official_flow {}: coupling_layers.0.a.{}.weight is missing or not 2-d", who,
               first.begin()->first);
  const int64_t dim = first.begin()->second.first.size(1);
  const int64_t hidden = n_layers > 1 ? first.begin()->second.first.size(0) : 1;

  auto agree = [&](const char* field, int64_t want, int64_t found) {
    PLUGEN_CHECK(want == 0 || want == found, ConfigError,
                 "convert_official_flow {}: expected {} = {} (preset or option), the state_dict has {}", who, field,
                 want, found);
  };
  agree("dim", expected.dim(), dim);
  agree("couplings", expected.couplings(), n_couplings);
  agree("layers", expected.layers(), n_layers);
  if (n_layers > 1) agree("hidden", expected.hidden(), hidden);

  auto options = FlowOptions(dim)
                     .couplings(n_couplings)
                     .conditioner(ConditionerOptions()
                                      .hidden(hidden)
                                      .layers(n_layers)
                                      .activation(Activation::leaky_relu)
                                      .negative_slope(0.1))
                     .partition(PartitionKind::alternating)
                     .linear(LinearPlacement::none)
                     .monotone(false);
  NICE flow(options);
  torch::NoGradGuard no_grad;
  for (int64_t k = 0; k < n_couplings; ++k) {
    const auto& modules = layers.at(k);
    PLUGEN_CHECK(static_cast<int64_t>(modules.size()) == n_layers, ConfigError,
                 "convert_official_flow {}: coupling {} has {} linear layers, coupling 0 has {}", who, k,
                 modules.size(), n_layers);
    const auto& coupling = flow->couplings()[static_cast<size_t>(k)];
    const auto& p = coupling->options().partition();
    const auto kept = torch::tensor(p.kept, torch::kInt64);
    const auto changed = torch::tensor(p.changed, torch::kInt64);
    const auto& linears = coupling->conditioner()->linears();
    int64_t l = 0;
    for (const auto& [index, wb] : modules) {
      const auto& [weight, bias] = wb;
      const auto key = fmt::format("coupling_layers.{}.a.{}", k, index);
      PLUGEN_CHECK(index == 2 * l, ConfigError,
                   "convert_official_flow {}: expected the linear layers at a.0, a.2, a.4, ...; found '{}' as layer {}",
                   who, key, l);
      PLUGEN_CHECK(weight.defined() && bias.defined(), ConfigError,
                   "convert_official_flow {}: '{}' needs both weight and bias", who, key);
      const int64_t in = l == 0 ? dim : hidden;
      const int64_t out = l + 1 == n_layers ? dim : hidden;
      PLUGEN_CHECK(
          weight.dim() == 2 && weight.size(0) == out && weight.size(1) == in && bias.dim() == 1 && bias.size(0) == out,
          ConfigError, "convert_official_flow {}: '{}' has weight {} and bias {}, expected ({}, {}) and ({},)", who,
          key, shape_string(weight.sizes()), shape_string(bias.sizes()), out, in, out);
      auto w = weight;
      auto b = bias;
      if (l == 0) w = w.index_select(1, kept);  // inputs: the kept coordinates, sorted
      if (l + 1 == n_layers) {                  // outputs: the changed coordinates, sorted
        w = w.index_select(0, changed);
        b = b.index_select(0, changed);
      }
      const auto& linear = linears[static_cast<size_t>(l)];
      linear->weight.copy_(w);
      linear->bias.copy_(b);
      ++l;
    }
  }
  return flow;
}

/// Gives every attribute of `schema` without statistics neutral ones, for a plugin whose training labels
/// are unknown: binary and categorical attributes uniform frequencies, continuous ones the range [-1, 1]
/// (labels already min-max scaled, as in the official runs) with the moments of a uniform label
/// (normalized mean 0, variance 1/3). Attributes that have statistics keep them.
inline Schema with_neutral_stats(const Schema& schema) {
  std::vector<Attribute> attributes = schema.attributes();
  for (auto& a : attributes) {
    const bool has_stats = a.kind == AttributeKind::continuous ? a.stats.known > 0 : !a.stats.frequencies.empty();
    if (has_stats) continue;
    a.stats = AttributeStats{};
    if (a.kind == AttributeKind::continuous) {
      a.stats.min = -1.0;
      a.stats.max = 1.0;
      a.stats.normalized_mean = 0.0;
      a.stats.normalized_var = 1.0 / 3.0;
    } else {
      const auto c = static_cast<size_t>(a.cardinality());
      a.stats.frequencies.assign(c, 1.0 / static_cast<double>(c));
    }
  }
  return Schema(std::move(attributes));
}

/// Builds a plugin from an official state_dict: identity standardization (the official flows have none),
/// the converted NICE flow, and a prior over `schema` (neutral statistics filled in, see
/// `with_neutral_stats`) with sigma from `options`. Throws ConfigError if the schema needs more label
/// coordinates than the latent width, or the state_dict does not fit the architecture.
inline Plugin import_official(const std::map<std::string, torch::Tensor>& state_dict, const Schema& schema,
                              const ImportOfficialOptions& options = {}, const std::string& who = "state_dict") {
  NICE flow = convert_official_flow(state_dict, options.flow(), who);
  const int64_t dim = flow->dim();
  PLUGEN_CHECK(options.latent_layers() >= 0, ConfigError, "import_official {}: expected latent_layers >= 0, got {}",
               who, options.latent_layers());
  LatentLayout layout;
  layout.dim = dim;
  layout.layers = options.latent_layers();
  layout.mode = options.latent_mode();
  return Plugin(layout, Standardize(dim), FlowKind::additive, AnyFlow(std::move(flow)),
                TargetPrior(with_neutral_stats(schema), dim, PriorOptions().sigma(options.sigma())));
}

}  // namespace plugen
