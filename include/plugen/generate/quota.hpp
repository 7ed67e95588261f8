#pragma once
/// @file
/// Quotas: the split of a job's samples over attribute combinations ("cells"), resolved against a plugin's
/// schema, and the arithmetic of global indices and shards. Cell c owns the contiguous global indices
/// [first, first + count); a job shard owns a contiguous run of whole chunks.

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plugen/data/labels.hpp"
#include "plugen/generate/spec.hpp"
#include "plugen/plugin/conditions.hpp"
#include "plugen/plugin/plugin.hpp"
#include "plugen/prior/schema.hpp"

namespace plugen {

/// One bin [low, high) of a continuous attribute (the last bin of a set also holds `high`).
struct Bin {
  /// Bin name, used in cell names and manifests.
  std::string name;
  /// Lower edge (label units).
  double low = 0.0;
  /// Upper edge (label units).
  double high = 0.0;
  /// True for the last bin of its attribute, which is closed on the right.
  bool closed = false;
  /// The value requested for the bin: its midpoint.
  double center() const { return 0.5 * (low + high); }
  /// Whether `v` falls in the bin.
  bool contains(double v) const { return v >= low && (v < high || (closed && v == high)); }
};

/// The value a job requests for bin `bin` of the continuous attribute `a` at draw `attempt` (0: the first
/// draw). The bin is first cut to the attribute's training range [a.stats.min, a.stats.max] (a request beyond
/// the data the plugin saw is rarely honoured; a bin wholly outside the range is kept as it is). The first draw
/// requests the middle of that interval; with `sweep`, redraw a >= 1 requests low + frac(a * phi) (high - low),
/// phi the golden ratio, so successive redraws spread evenly over the interval and a sample that was rejected
/// at one value is tried at others. A function of (bin, attribute statistics, attempt) alone: every sample of a
/// cell sees the same schedule, whatever the batch or shard.
inline double bin_request(const Bin& bin, const Attribute& a, int64_t attempt, bool sweep = true) {
  double low = std::max(bin.low, a.stats.min), high = std::min(bin.high, a.stats.max);
  if (!(high >= low)) low = bin.low, high = bin.high;
  if (attempt <= 0 || !sweep) return 0.5 * (low + high);
  const double golden = 0.6180339887498949;  // (sqrt(5) - 1) / 2
  const double u = std::fmod(static_cast<double>(attempt) * golden, 1.0);
  return low + u * (high - low);
}

/// The bins of a continuous attribute from a `BinsSpec`: `count` equal-width bins over the training range
/// [min, max] of `a` (edges min + k (max - min) / count, the last edge exactly max), or the explicit edges.
/// The bins are contiguous, increasing and cover [first edge, last edge]. `path` names the spec field.
inline std::vector<Bin> make_bins(const Attribute& a, const BinsSpec& spec, const std::string& path) {
  PLUGEN_CHECK(a.kind == AttributeKind::continuous, ConfigError,
               "{}: bins are for continuous attributes; '{}' is {}", path, a.name, to_string(a.kind));
  std::vector<double> edges = spec.edges;
  if (spec.count > 0) {
    PLUGEN_CHECK(a.stats.max > a.stats.min, ConfigError,
                 "{}: cannot split the training range of '{}' into {} bins: it is the single value {}", path, a.name,
                 spec.count, a.stats.min);
    for (int64_t k = 0; k <= spec.count; ++k)
      edges.push_back(k == spec.count ? a.stats.max
                                      : a.stats.min + (a.stats.max - a.stats.min) * static_cast<double>(k) /
                                                          static_cast<double>(spec.count));
  }
  std::vector<Bin> bins;
  for (size_t k = 0; k + 1 < edges.size(); ++k) {
    Bin b;
    b.name = spec.names.empty() ? fmt::format("bin{}", k) : spec.names[k];
    b.low = edges[k];
    b.high = edges[k + 1];
    b.closed = k + 2 == edges.size();
    PLUGEN_CHECK(b.high > b.low, ConfigError, "{}: bin '{}' is empty ([{}, {}])", path, b.name, b.low, b.high);
    bins.push_back(std::move(b));
  }
  return bins;
}

/// What a cell asks of one attribute.
struct CellTarget {
  /// Position of the attribute in the plugin's schema.
  int64_t attribute = 0;
  /// Attribute name.
  std::string name;
  /// Attribute kind.
  AttributeKind kind = AttributeKind::binary;
  /// The requested value in the `Labels` convention (binary 0/1, class index, continuous value; for a bin, the
  /// first draw's request: the middle of the bin within the training range, see `bin_request`).
  double value = 0.0;
  /// The bin of a binned continuous attribute.
  std::optional<Bin> bin;
  /// The value as written in cell names: 0/1, the class name, the bin name or the number.
  std::string text;
};

/// One quota cell: an attribute combination, its conditions and its range of global indices.
struct QuotaCell {
  /// "name=value,..." ("all" for the cell without conditions).
  std::string name;
  /// What the cell requests, in schema order.
  std::vector<CellTarget> targets;
  /// The same as sampling conditions.
  Conditions conditions;
  /// Number of samples.
  int64_t count = 0;
  /// Global index of the cell's first sample.
  int64_t first = 0;
  /// For balance quotas: how many rows of the label file had this combination (else 0).
  int64_t existing = 0;

  /// The cell as JSON: name, count, first index, requested values (bins with their edges).
  nlohmann::json to_json() const {
    nlohmann::json req = nlohmann::json::object();
    for (const auto& t : targets) {
      if (t.bin)
        req[t.name] = {{"bin", t.bin->name}, {"low", t.bin->low}, {"high", t.bin->high}, {"value", t.value}};
      else if (t.kind == AttributeKind::continuous)
        req[t.name] = t.value;
      else
        req[t.name] = t.text;
    }
    nlohmann::json j = {{"name", name}, {"count", count}, {"first", first}, {"requested", req}};
    if (existing > 0) j["existing"] = existing;
    return j;
  }
};

/// The cells of a job, covering global indices [0, total) in order.
struct QuotaPlan {
  /// How the cells were formed.
  QuotaMode mode = QuotaMode::none;
  /// The cells, in index order (cell c owns [first, first + count)).
  std::vector<QuotaCell> cells;
  /// Total number of samples (the sum of the counts).
  int64_t total = 0;

  /// The cell that owns global index `index` (in [0, total)).
  size_t cell_of(int64_t index) const {
    PLUGEN_CHECK(index >= 0 && index < total, ConfigError, "QuotaPlan::cell_of: index {} outside [0, {})", index,
                 total);
    auto it = std::upper_bound(cells.begin(), cells.end(), index,
                               [](int64_t i, const QuotaCell& c) { return i < c.first; });
    size_t c = static_cast<size_t>(it - cells.begin()) - 1;
    while (cells[c].count == 0 || index >= cells[c].first + cells[c].count) ++c;  // skip empty cells
    return c;
  }
  /// The cells as a JSON array.
  nlohmann::json to_json() const {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& c : cells) a.push_back(c.to_json());
    return a;
  }
};

namespace detail {

/// One attribute's values in a product of cells: discrete values or bins.
struct Axis {
  const Attribute* attribute = nullptr;
  std::vector<Bin> bins;  // continuous
  int64_t size() const { return attribute->kind == AttributeKind::continuous ? static_cast<int64_t>(bins.size())
                                                                             : attribute->cardinality(); }
  CellTarget target(int64_t schema_index, int64_t k) const {
    CellTarget t;
    t.attribute = schema_index;
    t.name = attribute->name;
    t.kind = attribute->kind;
    if (t.kind == AttributeKind::continuous) {
      t.bin = bins[static_cast<size_t>(k)];
      t.value = bin_request(*t.bin, *attribute, 0);
      t.text = t.bin->name;
    } else {
      t.value = static_cast<double>(k);
      t.text = LabelStats::value_name(*attribute, t.value);
    }
    return t;
  }
  /// Index of a label value along the axis, or -1 when it falls in no bin.
  int64_t index_of(double v) const {
    if (attribute->kind != AttributeKind::continuous) return static_cast<int64_t>(v);
    for (size_t k = 0; k < bins.size(); ++k)
      if (bins[k].contains(v)) return static_cast<int64_t>(k);
    return -1;
  }
};

inline QuotaCell make_cell(std::vector<CellTarget> targets) {
  std::sort(targets.begin(), targets.end(), [](const auto& a, const auto& b) { return a.attribute < b.attribute; });
  QuotaCell c;
  for (const auto& t : targets) {
    c.name += (c.name.empty() ? "" : ",") + t.name + "=" + t.text;
    if (t.kind == AttributeKind::continuous)
      c.conditions.set(t.name, t.value);
    else if (t.kind == AttributeKind::categorical)
      c.conditions.set(t.name, t.text);
    else
      c.conditions.set(t.name, t.value);
  }
  if (c.name.empty()) c.name = "all";
  c.targets = std::move(targets);
  return c;
}

inline std::vector<Axis> make_axes(const JobSpec& spec, const Schema& schema, const std::string& who) {
  std::vector<Axis> axes;
  for (size_t i = 0; i < spec.quotas.attributes.size(); ++i) {
    const auto& name = spec.quotas.attributes[i];
    int64_t index = -1;
    for (int64_t k = 0; k < schema.size(); ++k)
      if (schema[k].name == name) index = k;
    PLUGEN_CHECK(index >= 0, ConfigError, "{}: quotas.attributes[{}]: the plugin has no attribute '{}' (it has: {})",
                 who, i, name, schema.names_list());
    Axis axis{&schema[index], {}};
    auto bins = spec.quotas.bins.find(name);
    if (schema[index].kind == AttributeKind::continuous) {
      PLUGEN_CHECK(bins != spec.quotas.bins.end(), ConfigError,
                   "{}: quotas.bins.{}: missing: continuous attribute '{}' needs bins ({{\"count\": k}} or "
                   "{{\"edges\": [...], \"names\": [...]}})",
                   who, name, name);
      axis.bins = make_bins(schema[index], bins->second, fmt::format("{}: quotas.bins.{}", who, name));
    } else {
      PLUGEN_CHECK(bins == spec.quotas.bins.end(), ConfigError,
                   "{}: quotas.bins.{}: bins are for continuous attributes; '{}' is {}", who, name, name,
                   to_string(schema[index].kind));
    }
    axes.push_back(std::move(axis));
  }
  return axes;
}

/// The cells of the product of `axes`, the first axis varying slowest.
inline std::vector<QuotaCell> product_cells(const std::vector<Axis>& axes, const Schema& schema) {
  int64_t total = 1;
  for (const auto& a : axes) total *= a.size();
  PLUGEN_CHECK(total <= 1000000, ConfigError, "quotas: the product of the attributes has {} cells (at most 1000000)",
               total);
  std::vector<QuotaCell> cells;
  for (int64_t c = 0; c < total; ++c) {
    std::vector<CellTarget> targets;
    int64_t rest = c;
    for (size_t k = axes.size(); k-- > 0;) {
      const auto n = axes[k].size();
      targets.push_back(axes[k].target(schema.index_of(axes[k].attribute->name), rest % n));
      rest /= n;
    }
    std::reverse(targets.begin(), targets.end());
    cells.push_back(make_cell(std::move(targets)));
  }
  return cells;
}

}  // namespace detail

/// Splits `total` samples as evenly as possible over `cells` cells: every cell gets total / cells, and the
/// first total mod cells cells one more.
inline std::vector<int64_t> split_evenly(int64_t total, int64_t cells) {
  PLUGEN_CHECK(cells >= 1 && total >= 0, ConfigError, "split_evenly: expected cells >= 1 and total >= 0, got {} and {}",
               cells, total);
  std::vector<int64_t> counts(static_cast<size_t>(cells), total / cells);
  for (int64_t c = 0; c < total % cells; ++c) ++counts[static_cast<size_t>(c)];
  return counts;
}

/// Resolves the quotas of `spec` against a fitted `schema` (the plugin's): cell names, values, bins and counts,
/// and assigns each cell its range of global indices. Every problem is a ConfigError naming the spec field:
/// unknown attributes or classes, bins on discrete attributes or missing on continuous ones, a uniform count
/// smaller than the number of cells, a label file with nothing to balance. `who` names the spec (its file).
inline QuotaPlan plan_quotas(const JobSpec& spec, const Schema& schema, const std::string& who) {
  QuotaPlan plan;
  plan.mode = spec.quotas.mode;
  switch (spec.quotas.mode) {
    case QuotaMode::none: {
      plan.cells.push_back(detail::make_cell({}));
      plan.cells.back().count = spec.count.value_or(0);
      break;
    }
    case QuotaMode::explicit_counts: {
      std::map<std::string, std::vector<Bin>> bins;
      for (const auto& [name, b] : spec.quotas.bins) {
        int64_t index = -1;
        for (int64_t k = 0; k < schema.size(); ++k)
          if (schema[k].name == name) index = k;
        PLUGEN_CHECK(index >= 0, ConfigError, "{}: quotas.bins.{}: the plugin has no attribute '{}' (it has: {})", who,
                     name, name, schema.names_list());
        bins[name] = make_bins(schema[index], b, fmt::format("{}: quotas.bins.{}", who, name));
      }
      for (size_t i = 0; i < spec.quotas.cells.size(); ++i) {
        const auto& cs = spec.quotas.cells[i];
        std::vector<CellTarget> targets;
        for (const auto& [name, v] : cs.values) {
          const auto path = fmt::format("{}: quotas.cells[{}].values.{}", who, i, name);
          int64_t index = -1;
          for (int64_t k = 0; k < schema.size(); ++k)
            if (schema[k].name == name) index = k;
          PLUGEN_CHECK(index >= 0, ConfigError, "{}: the plugin has no attribute '{}' (it has: {})", path, name,
                       schema.names_list());
          const auto& a = schema[index];
          CellTarget t;
          t.attribute = index;
          t.name = name;
          t.kind = a.kind;
          auto b = bins.find(name);
          if (a.kind == AttributeKind::continuous && b != bins.end()) {
            PLUGEN_CHECK(v.is_text, ConfigError, "{}: expected a bin name of quotas.bins.{}, got {}", path, name,
                         v.to_string());
            std::string names;
            for (const auto& bin : b->second) {
              if (bin.name == v.text) t.bin = bin;
              names += (names.empty() ? "" : ", ") + bin.name;
            }
            PLUGEN_CHECK(t.bin.has_value(), ConfigError, "{}: no bin '{}' (bins: {})", path, v.text, names);
            t.value = bin_request(*t.bin, a, 0);
            t.text = t.bin->name;
          } else {
            const ConditionValue cv = v.is_text ? ConditionValue(v.text) : ConditionValue(v.number);
            t.value = detail::resolve_value(a, cv, path);
            t.text = a.kind == AttributeKind::continuous ? fmt::format("{}", t.value)
                                                         : LabelStats::value_name(a, t.value);
          }
          targets.push_back(std::move(t));
        }
        auto cell = detail::make_cell(std::move(targets));
        cell.count = cs.count;
        plan.cells.push_back(std::move(cell));
      }
      break;
    }
    case QuotaMode::uniform: {
      const auto axes = detail::make_axes(spec, schema, who);
      plan.cells = detail::product_cells(axes, schema);
      const auto n = static_cast<int64_t>(plan.cells.size());
      PLUGEN_CHECK(spec.count.value_or(0) >= n, ConfigError,
                   "{}: count: {} samples cannot fill the {} cells of the uniform quotas over [{}] (at least one each)",
                   who, spec.count.value_or(0), n, fmt::join(spec.quotas.attributes, ", "));
      const auto counts = split_evenly(*spec.count, n);
      for (size_t c = 0; c < plan.cells.size(); ++c) plan.cells[c].count = counts[c];
      break;
    }
    case QuotaMode::balance: {
      const auto axes = detail::make_axes(spec, schema, who);
      plan.cells = detail::product_cells(axes, schema);
      std::vector<Attribute> attrs;
      for (const auto& a : axes) attrs.push_back(*a.attribute);
      Schema sub(std::move(attrs));
      const auto path = spec.resolve_path(spec.quotas.labels);
      auto labels = read_labels(path, sub);
      auto values = labels.values.contiguous();
      auto mask = labels.mask.contiguous();
      auto v = values.accessor<double, 2>();
      auto m = mask.accessor<bool, 2>();
      int64_t counted = 0;
      for (int64_t r = 0; r < labels.rows(); ++r) {
        int64_t cell = 0;
        bool ok = true;
        for (size_t k = 0; k < axes.size() && ok; ++k) {
          const auto i = static_cast<int64_t>(k);
          const auto index = m[r][i] ? axes[k].index_of(v[r][i]) : -1;
          ok = index >= 0;
          cell = cell * axes[k].size() + index;
        }
        if (!ok) continue;
        ++plan.cells[static_cast<size_t>(cell)].existing;
        ++counted;
      }
      PLUGEN_CHECK(counted > 0, ConfigError,
                   "{}: quotas.labels: '{}' has no row with every attribute of [{}] known (and inside the bins)", who,
                   path, fmt::join(spec.quotas.attributes, ", "));
      int64_t largest = 0;
      for (const auto& c : plan.cells) largest = std::max(largest, c.existing);
      int64_t total = 0;
      for (auto& c : plan.cells) {
        c.count = largest - c.existing;
        total += c.count;
      }
      PLUGEN_CHECK(total > 0, ConfigError,
                   "{}: quotas.labels: '{}' is already balanced over [{}] ({} rows per cell): nothing to generate", who,
                   path, fmt::join(spec.quotas.attributes, ", "), largest);
      PLUGEN_CHECK(!spec.count || *spec.count == total, ConfigError,
                   "{}: count: {} does not equal the {} samples that balance '{}' (every cell up to {}); leave the "
                   "count out",
                   who, *spec.count, total, path, largest);
      break;
    }
  }
  int64_t first = 0;
  for (auto& c : plan.cells) {
    c.first = first;
    first += c.count;
  }
  plan.total = first;
  PLUGEN_CHECK(plan.total >= 1, ConfigError, "{}: count: nothing to generate", who);
  return plan;
}

/// A job shard: shard `index` of `count` (0-based), e.g. from "--shard 2/8" (the third of eight).
struct Shard {
  /// Which shard, in [0, count).
  int64_t index = 0;
  /// Number of shards (>= 1); 1 means the whole job.
  int64_t count = 1;
  /// "i/N".
  std::string to_string() const { return fmt::format("{}/{}", index, count); }
  /// Parses "i/N" with 0 <= i < N; a ConfigError otherwise.
  static Shard parse(const std::string& text) {
    const auto slash = text.find('/');
    auto number = [&](const std::string& s) -> std::optional<int64_t> {
      if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
      return std::stoll(s);
    };
    std::optional<int64_t> i, n;
    if (slash != std::string::npos) {
      i = number(text.substr(0, slash));
      n = number(text.substr(slash + 1));
    }
    PLUGEN_CHECK(i && n && *n >= 1 && *i < *n, ConfigError,
                 "--shard: expected i/N with 0 <= i < N (e.g. 0/4 is the first of four shards), got '{}'", text);
    return {*i, *n};
  }
};

/// The global indices [first, last) of `shard` in a job of `total` samples cut into chunks of `chunk_size`:
/// the chunks are dealt out in contiguous runs, shard i getting chunks [i C / N, (i + 1) C / N) of the C chunks.
/// The shards' ranges are disjoint and their union is [0, total).
inline std::pair<int64_t, int64_t> shard_range(int64_t total, int64_t chunk_size, const Shard& shard) {
  PLUGEN_CHECK(total >= 0 && chunk_size >= 1 && shard.count >= 1 && shard.index >= 0 && shard.index < shard.count,
               ConfigError, "shard_range: invalid arguments (total {}, chunk {}, shard {})", total, chunk_size,
               shard.to_string());
  const int64_t chunks = (total + chunk_size - 1) / chunk_size;
  const auto part = [&](int64_t i) { return static_cast<int64_t>(static_cast<__int128>(chunks) * i / shard.count); };
  const int64_t a = part(shard.index), b = part(shard.index + 1);
  return {std::min(a * chunk_size, total), std::min(b * chunk_size, total)};
}

}  // namespace plugen
