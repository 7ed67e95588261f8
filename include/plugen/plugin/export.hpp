#pragma once
/// @file
/// A plugin as a TorchScript module, for Python and LibTorch users who do not link plugen:
/// `forward(w) -> z`, `inverse(z) -> w`, `forward_and_log_det(w) -> (z, log_det)`, with the standardization
/// included (w is the backbone latent) and the plugin metadata as the JSON string attribute `metadata`.
///
/// LibTorch's C++ API cannot script a C++ module, so the exporter writes the flow's TorchScript source (straight-line
/// code, one block per layer, the same tensor operations in the same order as plugen/flow) and compiles it with
/// `torch::jit::Module::define` into a module holding the plugin's tensors. Results agree with `Plugin::forward`
/// and `Plugin::inverse` to floating-point rounding.

#include <torch/script.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "plugen/core/atomic_file.hpp"
#include "plugen/plugin/file.hpp"
#include "plugen/plugin/plugin.hpp"

namespace plugen {

/// Qualified name of the class of exported modules.
inline constexpr const char* torchscript_class_name = "__torch__.plugen.ExportedPlugin";

namespace detail {

/// A float literal TorchScript parses back to the same double (shortest round-trip form, always with a '.' or
/// an exponent so it is not read as an integer).
inline std::string script_float(double v) {
  PLUGEN_CHECK(std::isfinite(v), NumericError, "export_torchscript: constant {} is not finite", v);
  auto s = fmt::format("{}", v);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

/// TorchScript for one conditioner activation applied to the variable `h`.
inline std::string script_activation(const ConditionerOptions& o) {
  switch (o.activation()) {
    case Activation::relu:
      return "torch.relu(h)";
    case Activation::leaky_relu:
      return fmt::format("torch.leaky_relu(h, {})", script_float(o.negative_slope()));
    case Activation::tanh:
      return "torch.tanh(h)";
    case Activation::elu:
      return "torch.elu(h)";
    case Activation::gelu:
      return "torch.gelu(h)";
    case Activation::silu:
      return "torch.silu(h)";
  }
  throw ConfigError(fmt::format("export_torchscript: activation '{}' has no TorchScript form", to_string(o.activation())));
}

/// Attribute name of a flow parameter in the exported module: "flow_" + its name with '.' -> '_'.
inline std::string script_attribute(const std::string& parameter) {
  std::string out = "flow_" + parameter;
  for (auto& c : out)
    if (c == '.') c = '_';
  return out;
}

/// The tensors and source of an exported plugin.
struct ScriptParts {
  /// Trainable flow weights (registered as parameters).
  std::vector<std::pair<std::string, torch::Tensor>> parameters;
  /// Standardization statistics and partition indices (registered as buffers).
  std::vector<std::pair<std::string, torch::Tensor>> buffers;
  /// The TorchScript source of the methods.
  std::string source;
};

/// Builds the TorchScript source and tensor list of `plugin`'s maps. Every operation mirrors plugen/flow
/// (Standardize, Coupling<Affine|Additive>, Conditioner, InvertibleLinear, MonotoneStep) and Plugin's latent layout.
template <class FlowHolder>
ScriptParts script_parts(const Plugin& plugin, const FlowHolder& flow) {
  ScriptParts parts;
  const auto cpu = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU).clone(); };
  const auto& o = flow->options();
  const int64_t dim = plugin.dim();
  const auto& layout = plugin.layout();
  using Transform = typename std::decay_t<decltype(*flow)>::transform_type;
  constexpr bool affine = std::is_same_v<Transform, Affine>;

  std::map<std::string, torch::Tensor> params;
  for (const auto& p : flow->named_parameters()) params[p.key()] = p.value();
  auto param = [&](const std::string& name) {
    auto it = params.find(name);
    PLUGEN_CHECK(it != params.end(), ConfigError, "export_torchscript: the flow has no parameter '{}'", name);
    return "self." + script_attribute(name);
  };
  for (const auto& [name, t] : params) parts.parameters.emplace_back(script_attribute(name), cpu(t));
  parts.buffers.emplace_back("standardize_mean", cpu(plugin.standardize()->mean()));
  parts.buffers.emplace_back("standardize_std", cpu(plugin.standardize()->std()));

  std::string fwd, inv;  // bodies of the flow's forward (on u, accumulating log_det) and inverse (on z)
  std::vector<std::string> inverse_blocks;
  for (int64_t k = 0; k < o.couplings(); ++k) {
    const auto& coupling = flow->couplings()[static_cast<size_t>(k)];
    const auto& partition = coupling->options().partition();
    const auto c = fmt::format("coupling{}", k);
    std::vector<int64_t> order(partition.kept);
    order.insert(order.end(), partition.changed.begin(), partition.changed.end());
    std::vector<int64_t> unsplit(order.size());
    for (size_t i = 0; i < order.size(); ++i) unsplit[static_cast<size_t>(order[i])] = static_cast<int64_t>(i);
    parts.buffers.emplace_back(c + "_kept", torch::tensor(partition.kept, torch::kInt64));
    parts.buffers.emplace_back(c + "_changed", torch::tensor(partition.changed, torch::kInt64));
    parts.buffers.emplace_back(c + "_unsplit", torch::tensor(unsplit, torch::kInt64));
    const auto nb = static_cast<int64_t>(partition.changed.size());
    const bool linear = o.linear() == LinearPlacement::each || (o.linear() == LinearPlacement::first && k == 0);

    // The conditioner on the kept side `a` (x_a in forward, y_a in inverse), leaving its output in h.
    auto conditioner = [&](const std::string& a) {
      std::string s;
      const auto layers = o.conditioner().layers();
      for (int64_t l = 0; l < layers; ++l) {
        const auto lin = fmt::format("{}.conditioner.linear{}", c, l);
        s += fmt::format("        h = torch.linear({}, {}, {})\n", l == 0 ? a : "h", param(lin + ".weight"),
                         param(lin + ".bias"));
        if (l + 1 < layers) s += fmt::format("        h = {}\n", script_activation(o.conditioner()));
      }
      return s;
    };
    const auto bound = script_float(coupling->options().scale_bound());

    std::string f;
    // The LU layer's factors L and U' = triu(lu, 1) + diag(sign * exp(log_s)), as `lower` and `upper`.
    std::string lu_factors;
    if (linear) {
      const auto layer = flow->linears()[static_cast<size_t>(k)];  // a holder (shared), not a reference into a temporary
      parts.buffers.emplace_back(fmt::format("linear{}_sign", k), cpu(layer->sign()));
      parts.buffers.emplace_back(fmt::format("linear{}_perm", k), cpu(layer->permutation()));
      parts.buffers.emplace_back(fmt::format("linear{}_inverse_perm", k), cpu(layer->inverse_permutation()));
      const auto lu = param(fmt::format("linear{}.lu", k)), log_s = param(fmt::format("linear{}.log_s", k));
      lu_factors = fmt::format("        eye = torch.eye({d}, dtype={lu}.dtype, device={lu}.device)\n"
                               "        lower = torch.tril({lu}, -1) + eye\n"
                               "        upper = torch.triu({lu}, 1) + torch.diag(self.linear{k}_sign * torch.exp({ls}))\n",
                               fmt::arg("k", k), fmt::arg("d", dim), fmt::arg("lu", lu), fmt::arg("ls", log_s));
      f += fmt::format("        # invertible linear layer {k}: x W^T, W = P L (U + diag(sign * exp(log_s)))\n", fmt::arg("k", k));
      f += lu_factors;
      f += fmt::format("        x = torch.index_select(torch.matmul(x, torch.matmul(lower, upper).t()), 1, self.linear{k}_perm)\n"
                       "        log_det = log_det + {ls}.sum().expand([x.size(0)])\n",
                       fmt::arg("k", k), fmt::arg("ls", log_s));
    }
    f += fmt::format("        # coupling {k} ({kind})\n"
                     "        xa = torch.index_select(x, 1, self.{c}_kept)\n"
                     "        xb = torch.index_select(x, 1, self.{c}_changed)\n",
                     fmt::arg("k", k), fmt::arg("kind", Transform::name), fmt::arg("c", c));
    f += conditioner("xa");
    if constexpr (affine) {
      f += fmt::format("        log_s = {b} * torch.tanh(torch.narrow(h, 1, 0, {nb}) / {b})\n"
                       "        yb = xb * torch.exp(log_s) + torch.narrow(h, 1, {nb}, {nb})\n"
                       "        log_det = log_det + log_s.sum(1)\n",
                       fmt::arg("b", bound), fmt::arg("nb", nb));
    } else {
      f += "        yb = xb + h\n";
    }
    f += fmt::format("        x = torch.index_select(torch.cat([xa, yb], 1), 1, self.{}_unsplit)\n", c);
    fwd += f;

    std::string i = fmt::format("        # coupling {k} ({kind}), inverted\n"
                                "        ya = torch.index_select(x, 1, self.{c}_kept)\n"
                                "        yb = torch.index_select(x, 1, self.{c}_changed)\n",
                                fmt::arg("k", k), fmt::arg("kind", Transform::name), fmt::arg("c", c));
    i += conditioner("ya");
    if constexpr (affine) {
      i += fmt::format("        log_s = {b} * torch.tanh(torch.narrow(h, 1, 0, {nb}) / {b})\n"
                       "        xb = (yb - torch.narrow(h, 1, {nb}, {nb})) * torch.exp(-log_s)\n",
                       fmt::arg("b", bound), fmt::arg("nb", nb));
    } else {
      i += "        xb = yb - h\n";
    }
    i += fmt::format("        x = torch.index_select(torch.cat([ya, xb], 1), 1, self.{}_unsplit)\n", c);
    if (linear) {
      i += fmt::format("        # invertible linear layer {}, inverted: undo P, then two triangular solves\n", k);
      i += lu_factors;
      i += fmt::format("        x = torch.index_select(x, 1, self.linear{k}_inverse_perm)\n"
                       "        x = torch.linalg_solve_triangular(lower.t(), x, upper=True, left=False, "
                       "unitriangular=True)\n"
                       "        x = torch.linalg_solve_triangular(upper.t(), x, upper=False, left=False, "
                       "unitriangular=False)\n",
                       fmt::arg("k", k));
    }
    inverse_blocks.push_back(std::move(i));
  }
  if (o.monotone()) {
    const auto b = param("monotone.b"), m = param("monotone.m"), r = param("monotone.r");
    fwd += fmt::format("        # monotone step: x + a tanh((x - m) / s)\n"
                       "        s = torch.softplus({r}) + 0.001\n"
                       "        a = s * torch.expm1({b})\n"
                       "        t = torch.tanh((x - {m}) / s)\n"
                       "        x = x + a * t\n"
                       "        log_det = log_det + torch.log1p(torch.expm1({b}) * (1 - t * t)).sum(1)\n",
                       fmt::arg("b", b), fmt::arg("m", m), fmt::arg("r", r));
    inv += fmt::format("        # monotone step, inverted: bisection on [y - |a|, y + |a|], then one Newton step\n"
                       "        s = torch.softplus({r}) + 0.001\n"
                       "        a = s * torch.expm1({b})\n"
                       "        lo = x - a.abs()\n"
                       "        hi = x + a.abs()\n"
                       "        iterations = 32\n"
                       "        if x.element_size() == 8:  # float64\n"
                       "            iterations = 64\n"
                       "        for i in range(iterations):\n"
                       "            mid = 0.5 * (lo + hi)\n"
                       "            above = (mid + a * torch.tanh((mid - {m}) / s)) > x\n"
                       "            hi = torch.where(above, mid, hi)\n"
                       "            lo = torch.where(above, lo, mid)\n"
                       "        y = x\n"
                       "        x = 0.5 * (lo + hi)\n"
                       "        t = torch.tanh((x - {m}) / s)\n"
                       "        g = x + a * t - y\n"
                       "        dg = 1 + torch.expm1({b}) * (1 - t * t)\n"
                       "        x = x - g / dg\n",
                       fmt::arg("b", b), fmt::arg("m", m), fmt::arg("r", r));
  }
  for (auto it = inverse_blocks.rbegin(); it != inverse_blocks.rend(); ++it) inv += *it;

  // The latent layout: (N, D), or per-layer (N, L, D) with row 0 (shared) or every row (per_layer) in the flow.
  const auto shape = layout.layers > 0 ? fmt::format("(N, {}, {})", layout.layers, dim) : fmt::format("(N, {})", dim);
  std::string rows, latents;
  if (layout.layers == 0) {
    rows = fmt::format("        assert w.dim() == 2 and w.size(1) == {}", dim);
    latents = "        return rows\n";
  } else {
    rows = fmt::format("        assert w.dim() == 3 and w.size(1) == {} and w.size(2) == {}", layout.layers, dim);
    latents = layout.mode == LatentMode::shared
                  ? fmt::format("        return rows.unsqueeze(1).expand([rows.size(0), {}, {}]).contiguous()\n",
                                layout.layers, dim)
                  : fmt::format("        return rows.reshape([-1, {}, {}])\n", layout.layers, dim);
  }
  rows += fmt::format(", \"plugen plugin: expected latents of shape {}\"\n", shape);
  rows +=
      "        assert w.dtype == self.standardize_mean.dtype, \"plugen plugin: expected latents of the module's dtype "
      "(that of standardize_mean)\"\n"
      "        assert bool(torch.isfinite(w).all()), \"plugen plugin: latents have NaN or inf values\"\n";
  if (layout.layers > 0)
    rows += layout.mode == LatentMode::shared ? "        return w.select(1, 0)\n"
                                              : fmt::format("        return w.reshape([-1, {}])\n", dim);
  else
    rows += "        return w\n";

  parts.source = fmt::format(
      "def _rows(self, w: Tensor) -> Tensor:\n{rows}\n"
      "def _latents(self, rows: Tensor) -> Tensor:\n{latents}\n"
      "def forward_and_log_det(self, w: Tensor) -> Tuple[Tensor, Tensor]:\n"
      "        w = self._rows(w)\n"
      "        x = (w - self.standardize_mean) / self.standardize_std\n"
      "        log_det_std = (-torch.log(self.standardize_std).sum()).expand([w.size(0)])\n"
      "        log_det = torch.zeros([w.size(0)], dtype=x.dtype, device=x.device)\n"
      "{fwd}"
      "        return x, log_det_std + log_det\n\n"
      "def forward(self, w: Tensor) -> Tensor:\n"
      "        z, log_det = self.forward_and_log_det(w)\n"
      "        return z\n\n"
      "def inverse(self, z: Tensor) -> Tensor:\n"
      "        assert z.dim() == 2 and z.size(1) == {dim}, \"plugen plugin: expected target-space points of shape "
      "(N, {dim})\"\n"
      "        assert z.dtype == self.standardize_mean.dtype, \"plugen plugin: expected points of the module's dtype "
      "(that of standardize_mean)\"\n"
      "        x = z\n"
      "{inv}"
      "        return self._latents(x * self.standardize_std + self.standardize_mean)\n",
      fmt::arg("rows", rows), fmt::arg("latents", latents), fmt::arg("fwd", fwd), fmt::arg("inv", inv),
      fmt::arg("dim", dim));
  return parts;
}

}  // namespace detail

/// The TorchScript source of the methods of `plugin`'s exported module (what `to_torchscript` compiles).
inline std::string torchscript_source(const Plugin& plugin) {
  return std::visit([&](const auto& f) { return detail::script_parts(plugin, f).source; }, plugin.flow());
}

/// `plugin` as a TorchScript module on the CPU (class `__torch__.plugen.ExportedPlugin`, in eval mode):
/// - `forward(w) -> z` and `forward_and_log_det(w) -> (z, log_det)`: latents of the plugin's layout ((N, D), or
///   (N, L, D) per-layer latents) to target-space rows (M, D) and log|det dz/dw| per row, as `Plugin::forward`;
/// - `inverse(z) -> w`: rows (M, D) back to latents of the plugin's layout, as `Plugin::inverse_rows` followed
///   by the layout (shared per-layer plugins write the row to every layer);
/// - `metadata`: a string attribute, the JSON object `plugin_metadata(plugin)` (format, flow options, schema with
///   its statistics, prior, training report, ...);
/// - the flow weights as parameters `flow_<name>` (plugin-file names with '.' -> '_'), the standardization as
///   buffers `standardize_mean` and `standardize_std`, the partitions as int64 buffers `coupling<k>_kept` etc.
/// Inputs of the wrong shape or dtype, or with NaN/inf values, fail an assertion in the module (a `c10::Error` in
/// LibTorch, `torch.jit.Error` in Python) whose message starts with "plugen plugin: ".
inline torch::jit::Module to_torchscript(const Plugin& plugin) {
  auto parts = std::visit([&](const auto& f) { return detail::script_parts(plugin, f); }, plugin.flow());
  torch::jit::Module module{c10::QualifiedName(torchscript_class_name)};
  try {
    module.register_attribute("training", c10::BoolType::get(), false);
    for (auto& [name, t] : parts.parameters) module.register_parameter(name, t, /*is_buffer=*/false);
    for (auto& [name, t] : parts.buffers) module.register_buffer(name, t);
    module.register_attribute("metadata", c10::StringType::get(), plugin_metadata(plugin).dump());
    module.define(parts.source);
  } catch (const c10::Error& e) {
    throw ConfigError(fmt::format("to_torchscript: the generated TorchScript does not compile: {}",
                                  e.what_without_backtrace()));
  }
  return module;
}

/// Writes `plugin` as a TorchScript file (see `to_torchscript`) to `path`, atomically. Python loads it with
/// `torch.jit.load(path)` (no plugen needed), LibTorch with `torch::jit::load`. Refuses (NumericError) to export
/// non-finite weights; an unwritable path is an IoError naming it.
inline void export_torchscript(const std::filesystem::path& path, const Plugin& plugin) {
  auto check_finite_tensor = [&](const torch::Tensor& t, const std::string& name) {
    PLUGEN_CHECK(torch::isfinite(t).all().item<bool>(), NumericError,
                 "export_torchscript {}: tensor '{}' has NaN or inf values; refusing to write a broken plugin",
                 path.string(), name);
  };
  check_finite_tensor(plugin.standardize()->mean(), "standardize.mean");
  check_finite_tensor(plugin.standardize()->std(), "standardize.std");
  std::visit(
      [&](const auto& f) {
        for (const auto& p : f->named_parameters()) check_finite_tensor(p.value(), "flow." + p.key());
      },
      plugin.flow());
  const auto module = to_torchscript(plugin);
  write_file_atomic(path, [&](std::ostream& out) { module.save(out); });
}

}  // namespace plugen
