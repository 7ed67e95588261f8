/// @file
/// Out-of-distribution checks of a request (DESIGN.md 1.1 item 9): how far requested continuous values lie
/// outside the training range, how often the requested discrete combination occurred in training, and the
/// policies (allow, warn, clamp, refuse) that sampling and editing apply.

// Plugin's conditioning methods are defined here, so plugin.hpp includes this header at its end, after the
// class. Including plugin.hpp first, and guarding with #ifndef rather than #pragma once, makes the class
// complete here whichever of these headers is included first.
#include "plugen/plugin/plugin.hpp"

#ifndef PLUGEN_PLUGIN_OOD_HPP
#define PLUGEN_PLUGIN_OOD_HPP

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace plugen {

namespace detail {

/// Splits a `LabelStats` combination key ("1,coat,0") into value indices, one per discrete attribute, by
/// matching each attribute's value names in turn (class names may contain ','); false when no split works.
inline bool split_combination_key(const std::string& key, size_t pos, size_t attr,
                                  const std::vector<std::vector<std::string>>& names, std::vector<int64_t>& out) {
  if (attr == names.size()) return pos == key.size();
  for (size_t v = 0; v < names[attr].size(); ++v) {
    const auto& name = names[attr][v];
    if (key.compare(pos, name.size(), name) != 0) continue;
    size_t next = pos + name.size();
    if (attr + 1 < names.size()) {
      if (next >= key.size() || key[next] != ',') continue;
      ++next;
    }
    out[attr] = static_cast<int64_t>(v);
    if (split_combination_key(key, next, attr + 1, names, out)) return true;
  }
  return false;
}

/// The OOD report of conditions already resolved against the plugin's schema.
inline OodReport ood_report(const Plugin& plugin, const std::vector<ResolvedCondition>& conditions,
                            const OodOptions& options) {
  PLUGEN_CHECK(options.min_count() >= 1, ConfigError, "OodOptions::min_count: expected >= 1, got {}",
               options.min_count());
  const auto& schema = plugin.schema();
  OodReport report;
  std::vector<std::string> reasons;
  std::map<std::string, int64_t> wanted;  // discrete attribute name -> requested value index
  for (const auto& c : conditions) {
    const auto& a = schema[c.index];
    if (a.kind != AttributeKind::continuous) {
      wanted[a.name] = static_cast<int64_t>(c.value);
      report.combination.push_back(fmt::format("{}={}", a.name, LabelStats::value_name(a, c.value)));
      continue;
    }
    ContinuousOod o;
    o.attribute = a.name;
    o.value = c.value;
    o.min = a.stats.min;
    o.max = a.stats.max;
    o.distance = c.value < o.min ? o.min - c.value : c.value > o.max ? c.value - o.max : 0.0;
    const double width = o.max > o.min ? o.max - o.min : 1.0;
    o.fraction = o.distance / width;
    if (o.distance > 0)
      reasons.push_back(fmt::format("{}={} lies {:.6g} ({:.3g} x the range) {} the training range [{:.6g}, {:.6g}]",
                                    a.name, c.value, o.distance, o.fraction, c.value < o.min ? "below" : "above", o.min,
                                    o.max));
    report.continuous.push_back(o);
  }

  const auto& stats = plugin.label_stats();
  report.training_rows = stats.rows;
  bool known = !wanted.empty() && stats.rows > 0;
  std::vector<std::vector<std::string>> names;
  std::vector<int64_t> wanted_at;  // per stats.discrete position: the requested value index, or -1
  for (const auto& name : stats.discrete) {
    int64_t index = -1;
    for (int64_t i = 0; i < schema.size(); ++i)
      if (schema[i].name == name) index = i;
    if (index < 0) {
      known = false;
      break;
    }
    const auto& a = schema[index];
    names.emplace_back();
    for (int64_t v = 0; v < a.cardinality(); ++v) names.back().push_back(LabelStats::value_name(a, v));
    auto it = wanted.find(name);
    wanted_at.push_back(it == wanted.end() ? -1 : it->second);
  }
  for (const auto& [name, value] : wanted) {
    (void)value;
    if (std::find(stats.discrete.begin(), stats.discrete.end(), name) == stats.discrete.end()) known = false;
  }
  if (known) {
    int64_t count = 0;
    std::vector<int64_t> split(names.size());
    for (const auto& [key, n] : stats.combinations) {
      if (!split_combination_key(key, 0, 0, names, split)) continue;
      bool match = true;
      for (size_t j = 0; j < split.size() && match; ++j) match = wanted_at[j] < 0 || wanted_at[j] == split[j];
      if (match) count += n;
    }
    report.combination_count = count;
    report.combination_fraction = static_cast<double>(count) / static_cast<double>(stats.rows);
    if (count < options.min_count()) {
      std::string combo;
      for (const auto& c : report.combination) combo += (combo.empty() ? "" : ", ") + c;
      reasons.push_back(
          count == 0 ? fmt::format("the combination ({}) never occurred in the {} training rows", combo, stats.rows)
                     : fmt::format("the combination ({}) occurred only {} times in the {} training rows "
                                   "(min_count {})",
                                   combo, count, stats.rows, options.min_count()));
    }
  }
  report.out_of_distribution = !reasons.empty();
  for (const auto& r : reasons) report.reason += (report.reason.empty() ? "" : "; ") + r;
  return report;
}

/// Applies `options.policy` to resolved conditions: returns them unchanged (allow, warn), with continuous
/// values clamped into the training range (clamp), or throws a ConfigError (refuse). `who` names the caller.
inline std::vector<ResolvedCondition> apply_ood_policy(const Plugin& plugin, std::vector<ResolvedCondition> conditions,
                                                       const OodOptions& options, const std::string& who) {
  if (options.policy() == OodPolicy::allow || conditions.empty()) return conditions;
  const auto report = ood_report(plugin, conditions, options);
  if (!report.out_of_distribution) return conditions;
  switch (options.policy()) {
    case OodPolicy::allow:
      break;
    case OodPolicy::warn:
      if (options.on_ood())
        options.on_ood()(report);
      else
        std::fprintf(stderr, "plugen warning: %s: out-of-distribution request: %s\n", who.c_str(),
                     report.reason.c_str());
      break;
    case OodPolicy::clamp:
      if (options.on_ood()) options.on_ood()(report);
      for (auto& c : conditions) {
        const auto& a = plugin.schema()[c.index];
        if (a.kind == AttributeKind::continuous) c.value = std::min(std::max(c.value, a.stats.min), a.stats.max);
      }
      break;
    case OodPolicy::refuse:
      throw ConfigError(
          fmt::format("{}: refused an out-of-distribution request (ood policy 'refuse'): {}", who, report.reason));
  }
  return conditions;
}

}  // namespace detail

/// The out-of-distribution report of `conditions` for `plugin`: per requested continuous attribute, the
/// distance of the value outside the training [min, max] (in label units and as a fraction of the range);
/// for the requested discrete attributes, how many training rows had that (partial) combination, from
/// `Plugin::label_stats` (rows whose discrete labels were all known), and the fraction; the overall flag
/// and reason. Names and values are validated as in `Conditions::resolve`.
inline OodReport check(const Plugin& plugin, const Conditions& conditions, const OodOptions& options = {}) {
  return detail::ood_report(plugin, conditions.resolve(plugin.schema(), "Plugin::check"), options);
}

inline OodReport Plugin::check(const Conditions& conditions, const OodOptions& options) const {
  return plugen::check(*this, conditions, options);
}

}  // namespace plugen

#endif  // PLUGEN_PLUGIN_OOD_HPP
