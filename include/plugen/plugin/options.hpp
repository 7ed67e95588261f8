#pragma once
/// @file
/// Options of a plugin's conditioning methods (`SampleOptions`, `EditOptions`, `OodOptions`) and the
/// out-of-distribution report (`OodReport`) that `Plugin::check` returns and OOD policies act on.

#include <torch/arg.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "plugen/core/check.hpp"

namespace plugen {

/// What sampling and editing do with a request that lies outside the training data (`OodReport`).
enum class OodPolicy {
  allow,   ///< go ahead silently (PluGeN can produce unseen combinations: that is its point)
  warn,    ///< go ahead, and hand the report to `OodOptions::on_ood` (stderr when unset)
  clamp,   ///< clamp continuous values into their training range [min, max]; hand the report to `on_ood` if set
  refuse,  ///< throw a ConfigError with the report's reason
};

/// Name of an OOD policy ("allow", "warn", "clamp", "refuse").
inline const char* to_string(OodPolicy p) noexcept {
  switch (p) {
    case OodPolicy::allow:
      return "allow";
    case OodPolicy::warn:
      return "warn";
    case OodPolicy::clamp:
      return "clamp";
    case OodPolicy::refuse:
      return "refuse";
  }
  return "unknown";
}

/// Parses an OOD policy name; a config error lists the valid names.
inline OodPolicy parse_ood_policy(const std::string& s) {
  for (auto p : {OodPolicy::allow, OodPolicy::warn, OodPolicy::clamp, OodPolicy::refuse})
    if (s == to_string(p)) return p;
  throw ConfigError(fmt::format("ood option: expected 'allow', 'warn', 'clamp' or 'refuse', got '{}'", s));
}

/// How far one requested continuous value lies outside the training labels.
struct ContinuousOod {
  /// Attribute name.
  std::string attribute;
  /// The requested value, in label units.
  double value = 0.0;
  /// The training range [min, max] (label units).
  double min = 0.0, max = 0.0;
  /// Distance from the value to the training range, in label units (0 inside).
  double distance = 0.0;
  /// `distance` as a fraction of the range width max - min (taken as 1 label unit when the training labels
  /// are constant).
  double fraction = 0.0;
};

/// An out-of-distribution report for a request: how far requested continuous values lie outside the training
/// range, and how often the requested values of the discrete attributes occurred together in training.
struct OodReport {
  /// One entry per requested continuous attribute, in schema order.
  std::vector<ContinuousOod> continuous;
  /// The requested discrete values as "name=value" (binary 0/1, categorical class name), in schema order.
  std::vector<std::string> combination;
  /// Training rows (of `training_rows`) whose discrete labels had every value of `combination` (a partial
  /// combination: other discrete attributes may have any value). Unset when no discrete attribute is
  /// requested or the plugin has no label statistics. 0 means never seen.
  std::optional<int64_t> combination_count;
  /// Training rows whose discrete labels were all known (what the combination counts cover).
  int64_t training_rows = 0;
  /// `combination_count / training_rows` (0 when unset).
  double combination_fraction = 0.0;
  /// True when a continuous value lies outside its training range, or the combination occurred fewer than
  /// `OodOptions::min_count` times.
  bool out_of_distribution = false;
  /// Why the request is out of distribution, in one line (empty when it is not).
  std::string reason;

  /// The report as JSON: {out_of_distribution, reason, continuous: [...], combination: {...} or null}.
  nlohmann::json to_json() const {
    nlohmann::json cont = nlohmann::json::array();
    for (const auto& c : continuous)
      cont.push_back({{"attribute", c.attribute},
                      {"value", c.value},
                      {"min", c.min},
                      {"max", c.max},
                      {"distance", c.distance},
                      {"fraction", c.fraction}});
    nlohmann::json comb = nullptr;
    if (combination_count)
      comb = {{"values", combination},
              {"count", *combination_count},
              {"training_rows", training_rows},
              {"fraction", combination_fraction}};
    return {
        {"out_of_distribution", out_of_distribution}, {"reason", reason}, {"continuous", cont}, {"combination", comb}};
  }
};

/// Options of out-of-distribution handling in sampling and editing, and of `Plugin::check`.
struct OodOptions {
  /// What to do with an out-of-distribution request.
  TORCH_ARG(OodPolicy, policy) = OodPolicy::allow;
  /// Receives the report of an out-of-distribution request under `warn` (and `clamp`, before clamping).
  /// Unset under `warn`: the reason is written to stderr. Called on the calling thread.
  TORCH_ARG(std::function<void(const OodReport&)>, on_ood) = nullptr;
  /// A discrete combination seen fewer times than this in training is out of distribution (>= 1; the
  /// default flags only combinations never seen).
  TORCH_ARG(int64_t, min_count) = 1;
};

/// Options of `Plugin::sample`.
struct SampleOptions {
  /// Label temperature tau_c: standard deviation of the label coordinates around their targets (binary
  /// balanced priors scale their s+/s- by tau_c / sigma, as the prior does). Unset: the plugin's final
  /// training sigma. 0 puts every requested coordinate exactly on its target.
  TORCH_ARG(std::optional<double>, label_temperature) = std::nullopt;
  /// Style temperature tau_s: style coordinates are drawn from N(0, tau_s^2 I).
  TORCH_ARG(double, style_temperature) = 1.0;
  /// Global index of the first sample: a request for n samples returns samples first_index .. first_index +
  /// n - 1 of the stream `seed`, so a large request can be produced in chunks (or resumed) bit for bit.
  TORCH_ARG(int64_t, first_index) = 0;
  /// Out-of-distribution handling of the conditions.
  TORCH_ARG(OodOptions, ood) = {};
};

/// Options of `Plugin::edit`.
struct EditOptions {
  /// Out-of-distribution handling of the values set (shifts are relative and not checked).
  TORCH_ARG(OodOptions, ood) = {};
};

}  // namespace plugen
