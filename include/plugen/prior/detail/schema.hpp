#pragma once
/// @file
/// The attribute schema without LibTorch: attributes, kinds, label coordinates, training statistics and the
/// JSON form. `Schema::fit` and `Schema::check_labels` take LibTorch `Labels` and are defined in
/// plugen/prior/schema.hpp; everything else here is shared with the torch-free inference path.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "plugen/core/check.hpp"

namespace plugen {

/// Kind of an attribute, which fixes its label coordinates and prior.
enum class AttributeKind {
  binary,       ///< y in {0, 1}; one coordinate, N(+1, s+) if y = 1, N(-1, s-) if y = 0
  categorical,  ///< y one of C named classes; C coordinates, N(+1, s) for the true class, N(-1, s) for others
  continuous,   ///< y real; one coordinate, N(y_hat, s) with y_hat min-max normalized to [-1, 1]
};

/// Name of an attribute kind ("binary", "categorical", "continuous").
inline const char* to_string(AttributeKind k) noexcept {
  switch (k) {
    case AttributeKind::binary:
      return "binary";
    case AttributeKind::categorical:
      return "categorical";
    case AttributeKind::continuous:
      return "continuous";
  }
  return "unknown";
}

/// Parses an attribute kind name; a config error lists the valid names.
inline AttributeKind parse_attribute_kind(const std::string& s, const std::string& who) {
  if (s == "binary") return AttributeKind::binary;
  if (s == "categorical") return AttributeKind::categorical;
  if (s == "continuous") return AttributeKind::continuous;
  throw ConfigError(fmt::format("{}: expected kind 'binary', 'categorical' or 'continuous', got '{}'", who, s));
}

/// Statistics of one attribute on the training split; they define its normalization and marginal.
struct AttributeStats {
  /// Number of training rows whose label is known.
  int64_t known = 0;
  /// Continuous: smallest and largest known training label (the normalization range).
  double min = 0.0, max = 1.0;
  /// Continuous: mean and variance of the normalized known labels (for the missing-label marginal).
  double normalized_mean = 0.0, normalized_var = 0.0;
  /// Discrete: relative frequency of each value (binary: [P(y=0), P(y=1)]; categorical: per class).
  std::vector<double> frequencies;
};

/// One attribute: its name, kind, classes (categorical), label coordinates and fitted statistics.
struct Attribute {
  /// Name, as in the label file's header.
  std::string name;
  /// Kind of attribute.
  AttributeKind kind = AttributeKind::binary;
  /// Class names of a categorical attribute (in coordinate order); empty otherwise.
  std::vector<std::string> classes;
  /// Index of the attribute's first label coordinate in z.
  int64_t offset = 0;
  /// Statistics from the training split (valid once the schema is fitted).
  AttributeStats stats;

  /// Number of label coordinates: C for categorical, 1 otherwise.
  int64_t width() const { return kind == AttributeKind::categorical ? static_cast<int64_t>(classes.size()) : 1; }
  /// Number of discrete values (2 for binary, C for categorical, 0 for continuous).
  int64_t cardinality() const {
    return kind == AttributeKind::binary ? 2 : kind == AttributeKind::categorical ? width() : 0;
  }
  /// Continuous: maps a label to [-1, 1] with the training min/max.
  double normalize(double y) const {
    const double range = stats.max - stats.min;
    return range > 0 ? 2.0 * (y - stats.min) / range - 1.0 : 0.0;
  }
  /// Continuous: maps a normalized coordinate back to label units.
  double denormalize(double v) const { return stats.min + (v + 1.0) * 0.5 * (stats.max - stats.min); }
  /// Index of class `name` (categorical), or nullopt.
  std::optional<int64_t> class_index(const std::string& cls) const {
    auto it = std::find(classes.begin(), classes.end(), cls);
    if (it == classes.end()) return std::nullopt;
    return static_cast<int64_t>(it - classes.begin());
  }
};

/// Labels of N samples (LibTorch tensors; defined in plugen/prior/schema.hpp).
struct Labels;

/// The attributes a plugin conditions on, in label-coordinate order.
class Schema {
 public:
  Schema() = default;
  /// Builds a schema and assigns label coordinates in order; throws ConfigError on duplicate or
  /// empty names, or categorical attributes with fewer than 2 (or duplicate) classes.
  explicit Schema(std::vector<Attribute> attributes) : attributes_(std::move(attributes)) {
    int64_t offset = 0;
    for (size_t i = 0; i < attributes_.size(); ++i) {
      auto& a = attributes_[i];
      PLUGEN_CHECK(!a.name.empty(), ConfigError, "Schema: attribute {} has an empty name", i);
      for (size_t j = 0; j < i; ++j)
        PLUGEN_CHECK(attributes_[j].name != a.name, ConfigError, "Schema: attribute name '{}' appears twice", a.name);
      if (a.kind == AttributeKind::categorical) {
        PLUGEN_CHECK(a.classes.size() >= 2, ConfigError,
                     "Schema: categorical attribute '{}' needs at least 2 classes, got {}", a.name, a.classes.size());
        for (size_t c = 0; c < a.classes.size(); ++c)
          for (size_t d = 0; d < c; ++d)
            PLUGEN_CHECK(a.classes[c] != a.classes[d], ConfigError,
                         "Schema: categorical attribute '{}' lists class '{}' twice", a.name, a.classes[c]);
      } else {
        PLUGEN_CHECK(a.classes.empty(), ConfigError, "Schema: {} attribute '{}' must not list classes",
                     to_string(a.kind), a.name);
      }
      a.offset = offset;
      offset += a.width();
    }
    label_dim_ = offset;
  }

  /// The attributes in order.
  const std::vector<Attribute>& attributes() const { return attributes_; }
  /// Number of attributes A.
  int64_t size() const { return static_cast<int64_t>(attributes_.size()); }
  /// Number of label coordinates K (the first K coordinates of z).
  int64_t label_dim() const { return label_dim_; }
  /// The attribute at position i.
  const Attribute& operator[](int64_t i) const { return attributes_.at(static_cast<size_t>(i)); }
  /// Position of the attribute called `name`; throws ConfigError listing the valid names.
  int64_t index_of(const std::string& name) const {
    for (size_t i = 0; i < attributes_.size(); ++i)
      if (attributes_[i].name == name) return static_cast<int64_t>(i);
    throw ConfigError(fmt::format("unknown attribute '{}': expected one of {}", name, names_list()));
  }
  /// The attribute names, comma-separated, for messages.
  std::string names_list() const {
    std::string out;
    for (const auto& a : attributes_) out += (out.empty() ? "" : ", ") + a.name;
    return out.empty() ? "(no attributes)" : out;
  }

  /// Fits every attribute's statistics on the known labels of `labels` (the training split).
  /// Throws ConfigError if a continuous attribute has no known label, or a label is out of domain.
  /// (Defined in plugen/prior/schema.hpp: it needs LibTorch.)
  void fit(const Labels& labels);

  /// Checks labels against the schema: shapes (N, A), dtypes, finite known values, binary in {0, 1},
  /// categorical an integer class index. `who` names the caller or file in messages.
  /// (Defined in plugen/prior/schema.hpp: it needs LibTorch.)
  void check_labels(const Labels& labels, const std::string& who) const;

  /// The schema as JSON (with statistics when `with_stats`), the format `from_json` reads.
  nlohmann::json to_json(bool with_stats = true) const {
    nlohmann::json attrs = nlohmann::json::array();
    for (const auto& a : attributes_) {
      nlohmann::json j = {{"name", a.name}, {"kind", to_string(a.kind)}};
      if (a.kind == AttributeKind::categorical) j["classes"] = a.classes;
      if (with_stats) {
        nlohmann::json s = {{"known", a.stats.known}};
        if (a.kind == AttributeKind::continuous) {
          s["min"] = a.stats.min;
          s["max"] = a.stats.max;
          s["normalized_mean"] = a.stats.normalized_mean;
          s["normalized_var"] = a.stats.normalized_var;
        } else {
          s["frequencies"] = a.stats.frequencies;
        }
        j["stats"] = s;
      }
      attrs.push_back(j);
    }
    return {{"attributes", attrs}};
  }

  /// Reads a schema from JSON `{"attributes": [{"name", "kind", "classes"?, "stats"?}, ...]}`; `who`
  /// (e.g. the file name) prefixes messages. Statistics, when present, are validated.
  static Schema from_json(const nlohmann::json& j, const std::string& who) {
    PLUGEN_CHECK(j.is_object() && j.contains("attributes") && j["attributes"].is_array(), ConfigError,
                 "{}: expected an object with an \"attributes\" array", who);
    std::vector<Attribute> attrs;
    for (size_t i = 0; i < j["attributes"].size(); ++i) {
      const auto& e = j["attributes"][i];
      const auto where = fmt::format("{}: attributes[{}]", who, i);
      PLUGEN_CHECK(e.is_object(), ConfigError, "{}: expected an object", where);
      for (auto it = e.begin(); it != e.end(); ++it)
        PLUGEN_CHECK(it.key() == "name" || it.key() == "kind" || it.key() == "classes" || it.key() == "stats",
                     ConfigError, "{}: unknown field '{}' (expected name, kind, classes, stats)", where, it.key());
      PLUGEN_CHECK(e.contains("name") && e["name"].is_string(), ConfigError, "{}: expected a string \"name\"", where);
      PLUGEN_CHECK(e.contains("kind") && e["kind"].is_string(), ConfigError, "{}: expected a string \"kind\"", where);
      Attribute a;
      a.name = e["name"].get<std::string>();
      a.kind = parse_attribute_kind(e["kind"].get<std::string>(), where);
      if (e.contains("classes")) {
        PLUGEN_CHECK(e["classes"].is_array(), ConfigError, "{}: expected \"classes\" to be an array of strings", where);
        for (const auto& c : e["classes"]) {
          PLUGEN_CHECK(c.is_string(), ConfigError, "{}: expected \"classes\" to be an array of strings", where);
          a.classes.push_back(c.get<std::string>());
        }
      }
      if (e.contains("stats")) a.stats = parse_stats(e["stats"], a, where);
      attrs.push_back(std::move(a));
    }
    return Schema(std::move(attrs));
  }

 private:
  static AttributeStats parse_stats(const nlohmann::json& s, const Attribute& a, const std::string& where) {
    auto number = [&](const char* key) {
      PLUGEN_CHECK(s.contains(key) && s[key].is_number(), ConfigError, "{}.stats: expected a number \"{}\"", where,
                   key);
      const double v = s[key].get<double>();
      PLUGEN_CHECK(std::isfinite(v), ConfigError, "{}.stats.{}: expected a finite number", where, key);
      return v;
    };
    PLUGEN_CHECK(s.is_object(), ConfigError, "{}: expected \"stats\" to be an object", where);
    AttributeStats st;
    // A count: an integer, never a float cast to one (out-of-range casts are undefined behaviour).
    PLUGEN_CHECK(s.contains("known") && (s["known"].is_number_unsigned() ||
                                         (s["known"].is_number_integer() && s["known"].get<int64_t>() >= 0)),
                 ConfigError, "{}.stats: expected a non-negative integer \"known\"", where);
    PLUGEN_CHECK(s["known"].get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                 ConfigError, "{}.stats.known: {} is too large", where, s["known"].dump());
    st.known = s["known"].get<int64_t>();
    if (a.kind == AttributeKind::continuous) {
      st.min = number("min");
      st.max = number("max");
      st.normalized_mean = number("normalized_mean");
      st.normalized_var = number("normalized_var");
      PLUGEN_CHECK(st.min <= st.max && st.normalized_var >= 0, ConfigError,
                   "{}.stats: expected min <= max and normalized_var >= 0", where);
    } else {
      PLUGEN_CHECK(s.contains("frequencies") && s["frequencies"].is_array(), ConfigError,
                   "{}.stats: expected a \"frequencies\" array", where);
      double total = 0;
      for (const auto& f : s["frequencies"]) {
        PLUGEN_CHECK(f.is_number() && f.get<double>() > 0 && f.get<double>() <= 1, ConfigError,
                     "{}.stats.frequencies: expected numbers in (0, 1]", where);
        st.frequencies.push_back(f.get<double>());
        total += f.get<double>();
      }
      const int64_t c = a.kind == AttributeKind::binary ? 2 : static_cast<int64_t>(a.classes.size());
      PLUGEN_CHECK(static_cast<int64_t>(st.frequencies.size()) == c && std::abs(total - 1.0) < 1e-6, ConfigError,
                   "{}.stats.frequencies: expected {} frequencies summing to 1, got {} summing to {}", where, c,
                   st.frequencies.size(), total);
    }
    return st;
  }

  std::vector<Attribute> attributes_;
  int64_t label_dim_ = 0;
};

}  // namespace plugen
