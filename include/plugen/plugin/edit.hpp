/// @file
/// Editing latents through a plugin (DESIGN.md 1.1 item 7): z = F(u); set or shift label coordinates;
/// w' = sigma_w * F^-1(z') + mu. Traversals and interpolations always start from the original z.

// Plugin's conditioning methods are defined here, so plugin.hpp includes this header at its end, after the
// class. Including plugin.hpp first, and guarding with #ifndef rather than #pragma once, makes the class
// complete here whichever of these headers is included first.
#include "plugen/plugin/plugin.hpp"

#ifndef PLUGEN_PLUGIN_EDIT_HPP
#define PLUGEN_PLUGIN_EDIT_HPP

#include <torch/torch.h>

#include <string>
#include <vector>

#include "plugen/plugin/ood.hpp"

namespace plugen {

namespace detail {

/// Applies resolved edits to the label coordinates of z (M, D) in place.
inline void apply_edits(const Schema& schema, torch::Tensor& z, const std::vector<ResolvedEdit>& edits) {
  for (const auto& e : edits) {
    const auto& a = schema[e.index];
    auto c = z.narrow(1, a.offset, a.width());
    if (e.mode == EditMode::shift) {
      c.add_(e.value);
      continue;
    }
    switch (a.kind) {
      case AttributeKind::binary:
        c.fill_(e.value > 0.5 ? 1.0 : -1.0);
        break;
      case AttributeKind::categorical:
        c.fill_(-1.0);
        c.select(1, static_cast<int64_t>(e.value)).fill_(1.0);
        break;
      case AttributeKind::continuous:
        c.fill_(a.normalize(e.value));
        break;
    }
  }
}

/// Throws a NumericError naming the first sample whose flow rows (M, D) are not finite.
inline void check_result_finite(const Plugin& plugin, const torch::Tensor& rows, const std::string& who,
                                const std::string& what) {
  if (rows.numel() == 0) return;
  auto finite = torch::isfinite(rows).reshape({rows.size(0), -1}).all(1);
  if (finite.all().item<bool>()) return;
  const auto& layout = plugin.layout();
  const int64_t per_sample = layout.layers > 0 && layout.mode == LatentMode::per_layer ? layout.layers : 1;
  const int64_t row = (~finite).nonzero()[0][0].item<int64_t>();
  throw NumericError(
      fmt::format("{}: the flow produced non-finite latents for row {} ({}); the requested coordinates "
                  "lie too far from the training data",
                  who, row / per_sample, what));
}

/// Latents of the plugin's layout for `steps` variants of each sample, from flow rows (M * steps, D) ordered
/// (flow row, step): (N, steps, D) or (N, steps, L, D).
inline torch::Tensor stepped_latents(const Plugin& plugin, const torch::Tensor& w, int64_t flow_rows, int64_t steps) {
  const auto& layout = plugin.layout();
  auto x = w.reshape({flow_rows, steps, layout.dim});
  if (layout.layers == 0) return x;
  if (layout.mode == LatentMode::shared)
    return x.unsqueeze(2).expand({flow_rows, steps, layout.layers, layout.dim}).contiguous();
  return x.reshape({flow_rows / layout.layers, layout.layers, steps, layout.dim}).permute({0, 2, 1, 3}).contiguous();
}

/// `steps` values k / (steps - 1) in [0, 1], float64 (exactly 0 and 1 at the ends; {0} for one step).
inline torch::Tensor unit_steps(int64_t steps) {
  auto k = torch::arange(steps, torch::kFloat64);
  return steps == 1 ? k : k / static_cast<double>(steps - 1);
}

}  // namespace detail

/// Edits latents of the plugin's layout (DESIGN.md 1.1 item 7): z = F((w - mu) / sigma_w); each edit sets
/// (replaces) or shifts its attribute's label coordinate(s) (see `EditMode` for the units); every other
/// coordinate of z is kept; w' = sigma_w * F^-1(z') + mu. Setting an attribute to the value its coordinate
/// already has returns the input within float tolerance. Set values go through `options.ood()` (shifts are
/// relative and are not checked). Per-layer latents: shared mode edits row 0 and writes the result to every
/// row of a new tensor; per_layer mode edits every row. NaN or inf in `latents` is a NumericError naming
/// the row; unknown names and wrong values are config errors.
/// @return new latents, same shape as `latents`.
inline torch::Tensor edit(const Plugin& plugin, const torch::Tensor& latents, const Edits& edits,
                          const EditOptions& options = {}) {
  const std::string who = "Plugin::edit";
  auto resolved = edits.resolve(plugin.schema(), who);
  std::vector<ResolvedCondition> set_values;
  for (const auto& e : resolved)
    if (e.mode == EditMode::set) set_values.push_back({e.index, e.value});
  set_values = detail::apply_ood_policy(plugin, std::move(set_values), options.ood(), who);
  for (auto& e : resolved)
    for (const auto& s : set_values)
      if (e.mode == EditMode::set && e.index == s.index) e.value = s.value;

  torch::NoGradGuard no_grad;
  auto rows = plugin.rows_of(latents, who);
  auto z = std::get<0>(plugin.forward_rows(rows)).clone();
  detail::apply_edits(plugin.schema(), z, resolved);
  auto w = plugin.inverse_rows(z);
  std::string what;
  for (const auto& e : edits.entries())
    what += fmt::format("{}{} {}={}", what.empty() ? "" : ", ", to_string(e.mode), e.attribute, e.value.to_string());
  detail::check_result_finite(plugin, w, who, what);
  return plugin.latents_of(w);
}

/// A traversal of one binary or continuous attribute: for each latent, `steps` latents whose label
/// coordinate goes linearly from `from` to `to` (coordinate units, as `EditMode::shift`: binary -1 is a
/// typical 0 and +1 a typical 1; continuous -1 and +1 are the training min and max), all derived from the
/// original z, so the endpoints equal direct edits (e.g. Smiling from -1 to +1: `set` 0 and 1). Categorical
/// attributes are a config error (edit them with a class name). `steps` >= 1 (one step gives `from`).
/// @return (N, steps, D) or (N, steps, L, D) latents.
inline torch::Tensor traverse(const Plugin& plugin, const torch::Tensor& latents, const std::string& attribute,
                              double from, double to, int64_t steps) {
  const std::string who = "Plugin::traverse";
  int64_t index = 0;
  try {
    index = plugin.schema().index_of(attribute);
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: {}", who, e.what()));
  }
  const auto& a = plugin.schema()[index];
  PLUGEN_CHECK(a.kind != AttributeKind::categorical, ConfigError,
               "{}: attribute '{}' is categorical (one coordinate per class); traverse a binary or continuous "
               "attribute, or edit it with a class name",
               who, a.name);
  PLUGEN_CHECK(std::isfinite(from) && std::isfinite(to), ConfigError,
               "{}: expected finite coordinates, got from {} to {}", who, from, to);
  PLUGEN_CHECK(steps >= 1, ConfigError, "{}: expected steps >= 1, got {}", who, steps);

  torch::NoGradGuard no_grad;
  auto rows = plugin.rows_of(latents, who);
  auto z = std::get<0>(plugin.forward_rows(rows));
  const int64_t m = z.size(0);
  auto zs = z.unsqueeze(1).repeat({1, steps, 1});
  // (1 - t) from + t to: exactly `from` at t = 0 and exactly `to` at t = 1.
  auto t = detail::unit_steps(steps);
  auto values = ((1.0 - t) * from + t * to).to(z.options());
  zs.select(2, a.offset).copy_(values.unsqueeze(0).expand({m, steps}));
  auto w = plugin.inverse_rows(zs.reshape({m * steps, plugin.dim()}));
  detail::check_result_finite(plugin, w.reshape({m, -1}), who, fmt::format("{} from {} to {}", a.name, from, to));
  return detail::stepped_latents(plugin, w, m, steps);
}

/// An interpolation from latents `a` to latents `b` (same shape) in z: z_t = (1 - t) z_a + t z_b for `steps`
/// values of t evenly spaced in [0, 1] (steps >= 1; one step gives t = 0). With `style_only`, the label
/// coordinates stay those of `a` and only the style moves. Derived from the original z of each input.
/// @return (N, steps, D) or (N, steps, L, D) latents.
inline torch::Tensor interpolate(const Plugin& plugin, const torch::Tensor& a, const torch::Tensor& b, int64_t steps,
                                 bool style_only = false) {
  const std::string who = "Plugin::interpolate";
  PLUGEN_CHECK(steps >= 1, ConfigError, "{}: expected steps >= 1, got {}", who, steps);
  torch::NoGradGuard no_grad;
  auto rows_a = plugin.rows_of(a, who + " (a)");
  auto rows_b = plugin.rows_of(b, who + " (b)");
  PLUGEN_CHECK(a.sizes() == b.sizes(), ShapeError, "{}: expected latents a and b of the same shape, got {} and {}", who,
               shape_string(a.sizes()), shape_string(b.sizes()));
  auto za = std::get<0>(plugin.forward_rows(rows_a));
  auto zb = std::get<0>(plugin.forward_rows(rows_b));
  const int64_t m = za.size(0);
  auto t = detail::unit_steps(steps).to(za.options()).view({1, steps, 1});
  auto zs = (1.0 - t) * za.unsqueeze(1) + t * zb.unsqueeze(1);
  if (style_only) {
    const int64_t k = plugin.schema().label_dim();
    zs.narrow(2, 0, k).copy_(za.narrow(1, 0, k).unsqueeze(1).expand({m, steps, k}));
  }
  auto w = plugin.inverse_rows(zs.reshape({m * steps, plugin.dim()}));
  detail::check_result_finite(plugin, w.reshape({m, -1}), who, "interpolation");
  return detail::stepped_latents(plugin, w, m, steps);
}

inline torch::Tensor Plugin::edit(const torch::Tensor& latents, const Edits& edits, const EditOptions& options) const {
  return plugen::edit(*this, latents, edits, options);
}

inline torch::Tensor Plugin::traverse(const torch::Tensor& latents, const std::string& attribute, double from,
                                      double to, int64_t steps) const {
  return plugen::traverse(*this, latents, attribute, from, to, steps);
}

inline torch::Tensor Plugin::interpolate(const torch::Tensor& a, const torch::Tensor& b, int64_t steps,
                                         bool style_only) const {
  return plugen::interpolate(*this, a, b, steps, style_only);
}

}  // namespace plugen

#endif  // PLUGEN_PLUGIN_EDIT_HPP
