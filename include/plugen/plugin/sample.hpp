/// @file
/// Conditional sampling (DESIGN.md 1.1 item 6): label coordinates of the requested attributes from their
/// conditional prior, the others from their training marginal, style from N(0, tau_s^2 I), then
/// w = sigma_w * F^-1(z) + mu. Per-sample counter-based seeding makes sample i of a stream the same bits
/// whatever the batch size, chunking or thread count.

// Plugin's conditioning methods are defined here, so plugin.hpp includes this header at its end, after the
// class. Including plugin.hpp first, and guarding with #ifndef rather than #pragma once, makes the class
// complete here whichever of these headers is included first.
#include "plugen/plugin/plugin.hpp"

#ifndef PLUGEN_PLUGIN_SAMPLE_HPP
#define PLUGEN_PLUGIN_SAMPLE_HPP

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "plugen/plugin/detail/noise.hpp"
#include "plugen/plugin/ood.hpp"

namespace plugen {

namespace detail {

/// Samples per flow batch when sampling. Batches are aligned on global sample indices and always this
/// size (padded with zeros), so a sample's row sits at the same position of a same-shaped batch whatever
/// the request: matrix products then give it the same bits.
inline constexpr int64_t sample_block = 256;

/// Target-space rows z (count * rows, D) float64 on the CPU for samples first .. first + count - 1.
/// Binary: y requested or drawn with P(y = 1) from the training frequencies, c ~ N(+-1, s+-) with the
/// prior's s+- scaled by tau_c / sigma. Categorical: class requested or drawn from the frequencies, +1 at
/// its coordinate and -1 elsewhere, each plus N(0, tau_c^2). Continuous: N(normalized value, tau_c^2)
/// when requested, else the moment-matched marginal N(mean, var + tau_c^2). Style: N(0, tau_s^2 I).
inline torch::Tensor draw_targets(const Plugin& plugin, const std::vector<ResolvedCondition>& conditions, uint64_t seed,
                                  int64_t first, int64_t count, int64_t rows, double tau_c, double tau_s) {
  const auto& schema = plugin.schema();
  const int64_t dim = plugin.dim(), k = schema.label_dim(), m = count * rows;
  auto [eps, uni] = counter_noise(seed, first, count, rows, dim, schema.size());
  auto z = torch::empty({m, dim}, torch::kFloat64);
  z.narrow(1, k, dim - k).copy_(eps.narrow(1, k, dim - k) * tau_s);
  std::vector<const ResolvedCondition*> wanted(static_cast<size_t>(schema.size()), nullptr);
  for (const auto& c : conditions) wanted[static_cast<size_t>(c.index)] = &c;
  const double scale = tau_c / plugin.prior().options().sigma();
  for (int64_t i = 0; i < schema.size(); ++i) {
    const auto& a = schema[i];
    const auto* req = wanted[static_cast<size_t>(i)];
    auto e = eps.narrow(1, a.offset, a.width());
    auto u = uni.select(1, i);
    auto c = z.narrow(1, a.offset, a.width());
    switch (a.kind) {
      case AttributeKind::binary: {
        auto [s0, s1] = plugin.prior().binary_sigmas(a);
        auto y = req ? torch::full({m}, req->value > 0.5, torch::kBool) : u < a.stats.frequencies.at(1);
        auto e0 = e.select(1, 0);
        c.select(1, 0).copy_(torch::where(y, 1.0 + (s1 * scale) * e0, -1.0 + (s0 * scale) * e0));
        break;
      }
      case AttributeKind::categorical: {
        torch::Tensor cls;
        if (req) {
          cls = torch::full({m}, static_cast<int64_t>(req->value), torch::kInt64);
        } else {
          auto cumulative = torch::tensor(a.stats.frequencies, torch::kFloat64).cumsum(0).narrow(0, 0, a.width() - 1);
          cls = (u.unsqueeze(1) >= cumulative.unsqueeze(0)).sum(1).clamp_max(a.width() - 1);
        }
        auto mean = torch::full({m, a.width()}, -1.0, torch::kFloat64).scatter_(1, cls.unsqueeze(1), 1.0);
        c.copy_(mean + tau_c * e);
        break;
      }
      case AttributeKind::continuous: {
        if (req)
          c.copy_(a.normalize(req->value) + tau_c * e);
        else
          c.copy_(a.stats.normalized_mean + std::sqrt(a.stats.normalized_var + tau_c * tau_c) * e);
        break;
      }
    }
  }
  return z;
}

}  // namespace detail

/// Draws `n` latents of the plugin's layout under `conditions` (DESIGN.md 1.1 item 6). Requested attributes
/// take their conditional prior with label temperature tau_c (`SampleOptions::label_temperature`, default
/// the plugin's final sigma): binary N(+1, s+) or N(-1, s-) (balanced priors scale s+- like the prior,
/// by tau_c / sigma), categorical +1 for the class and -1 elsewhere, continuous the min-max normalized
/// value, each with noise tau_c. Unrequested attributes come from their training marginal (a mixture by
/// training frequencies; continuous: the moment-matched Gaussian N(mean, var + tau_c^2)). Style coordinates
/// are N(0, tau_s^2 I). Then w = sigma_w * F^-1(z) + mu.
///
/// Seeding: sample g (g = first_index + i for the i-th returned sample) takes its noise only from
/// derive_seed(seed, g) through a counter-based generator (detail::counter_noise), and the flow sees it at
/// the same position of a same-shaped batch whatever the request, so it is bitwise the same whatever n,
/// chunking (`first_index`) or thread count, for a given plugin, device, dtype and build. Per-layer
/// latents: shared mode writes one row to every layer; per_layer mode draws every layer's row
/// independently (the flow models rows independently), all under the same conditions.
///
/// Out-of-distribution requests are handled by `options.ood()` (see `OodPolicy`); whatever the policy, a
/// request whose latents would not be finite is a NumericError naming the sample, never inf or NaN.
/// Unknown names and wrong values are config errors (see `Conditions::resolve`).
/// @return (n, D) or (n, L, D) latents on the plugin's device, in its dtype.
inline torch::Tensor sample(const Plugin& plugin, const Conditions& conditions, int64_t n, uint64_t seed = 0,
                            const SampleOptions& options = {}) {
  const std::string who = "Plugin::sample";
  PLUGEN_CHECK(n >= 0, ConfigError, "{}: expected a number of samples n >= 0, got {}", who, n);
  PLUGEN_CHECK(options.first_index() >= 0, ConfigError, "SampleOptions::first_index: expected >= 0, got {}",
               options.first_index());
  const double tau_c = options.label_temperature().value_or(plugin.prior().options().sigma());
  const double tau_s = options.style_temperature();
  PLUGEN_CHECK(std::isfinite(tau_c) && tau_c >= 0, ConfigError,
               "SampleOptions::label_temperature: expected a finite value >= 0, got {}", tau_c);
  PLUGEN_CHECK(std::isfinite(tau_s) && tau_s >= 0, ConfigError,
               "SampleOptions::style_temperature: expected a finite value >= 0, got {}", tau_s);
  auto resolved = detail::apply_ood_policy(plugin, conditions.resolve(plugin.schema(), who), options.ood(), who);

  torch::NoGradGuard no_grad;
  const auto& layout = plugin.layout();
  const int64_t rows = layout.layers > 0 && layout.mode == LatentMode::per_layer ? layout.layers : 1;
  const int64_t dim = plugin.dim(), block = detail::sample_block;
  const int64_t first = options.first_index(), end = first + n;
  std::vector<torch::Tensor> parts;
  for (int64_t g = first; g < end;) {
    const int64_t start = g / block * block, stop = std::min(start + block, end);
    auto z = detail::draw_targets(plugin, resolved, seed, g, stop - g, rows, tau_c, tau_s);
    auto padded = torch::zeros({block * rows, dim}, torch::kFloat64);
    padded.narrow(0, (g - start) * rows, (stop - g) * rows).copy_(z);
    auto w = plugin.inverse_rows(padded.to(plugin.device(), plugin.dtype()));
    parts.push_back(w.narrow(0, (g - start) * rows, (stop - g) * rows));
    g = stop;
  }
  auto w = parts.empty() ? torch::empty({0, dim}, torch::TensorOptions().dtype(plugin.dtype()).device(plugin.device()))
           : parts.size() == 1 ? parts.front().contiguous()
                               : torch::cat(parts);
  auto finite = torch::isfinite(w).all(1);
  if (w.size(0) > 0 && !finite.all().item<bool>()) {
    const int64_t row = (~finite).nonzero()[0][0].item<int64_t>();
    throw NumericError(fmt::format(
        "{}: the flow produced non-finite latents for sample {} (seed {}) under [{}]; the requested values lie too "
        "far from the training data (see Plugin::check; OodPolicy::clamp keeps continuous values in range)",
        who, first + row / rows, seed, conditions.to_string()));
  }
  return plugin.latents_of(w);
}

inline torch::Tensor Plugin::sample(const Conditions& conditions, int64_t n, uint64_t seed,
                                    const SampleOptions& options) const {
  return plugen::sample(*this, conditions, n, seed, options);
}

}  // namespace plugen

#endif  // PLUGEN_PLUGIN_SAMPLE_HPP
