#pragma once
/// @file
/// Requests to a plugin by attribute name: `Conditions` (the values wanted when sampling or checking) and
/// `Edits` (values to set, or coordinate shifts, when editing latents), parsed from "name=value" text or
/// built in code, and resolved against a plugin's `Schema` into the label convention of `Labels`. No LibTorch
/// needed: the Eigen inference path takes the same requests.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "plugen/core/check.hpp"
#include "plugen/data/detail/number.hpp"
#include "plugen/prior/detail/schema.hpp"

namespace plugen {

/// A requested attribute value as given: a number or a text, interpreted once the attribute is known.
/// Binary attributes take 1/0 or true/false; categorical ones a class name or a class index; continuous
/// ones a number in the label's own units (text must be a plain decimal number).
class ConditionValue {
 public:
  /// A number (`bool` becomes 1 or 0).
  template <class T, std::enable_if_t<std::is_arithmetic_v<T>, int> = 0>
  ConditionValue(T number) : number_(static_cast<double>(number)) {}  // NOLINT: implicit by design
  /// A text, e.g. a class name or "true".
  ConditionValue(std::string text) : text_(std::move(text)), is_text_(true) {}  // NOLINT: implicit by design
  /// A text, e.g. a class name or "true".
  ConditionValue(const char* text) : ConditionValue(std::string(text)) {}  // NOLINT: implicit by design

  /// True when the value was given as text.
  bool is_text() const { return is_text_; }
  /// The number (0 when the value is text).
  double number() const { return number_; }
  /// The text (empty when the value is a number).
  const std::string& text() const { return text_; }
  /// The value as written in messages: the text, or the number in shortest form.
  std::string to_string() const { return is_text_ ? text_ : fmt::format("{}", number_); }

 private:
  double number_ = 0.0;
  std::string text_;
  bool is_text_ = false;
};

/// One requested attribute value, by attribute name.
struct Condition {
  /// Attribute name, as in the plugin's schema.
  std::string attribute;
  /// The value wanted.
  ConditionValue value;
};

/// A condition resolved against a schema: the attribute's position and its value in the convention of
/// `Labels` (binary 0/1, categorical class index, continuous value in label units).
struct ResolvedCondition {
  /// Position of the attribute in the schema.
  int64_t index = 0;
  /// Value: 0/1, a class index, or a label value.
  double value = 0.0;
};

namespace detail {

inline std::string trim_copy(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

inline std::string lower_copy(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

/// "name=value" split at the first '=', both sides trimmed; a config error when malformed.
inline Condition parse_assignment(const std::string& text, const std::string& who) {
  const auto eq = text.find('=');
  PLUGEN_CHECK(eq != std::string::npos, ConfigError, "{}: expected name=value, got '{}'", who, text);
  Condition c{trim_copy(text.substr(0, eq)), trim_copy(text.substr(eq + 1))};
  PLUGEN_CHECK(!c.attribute.empty(), ConfigError, "{}: expected an attribute name before '=' in '{}'", who, text);
  PLUGEN_CHECK(!c.value.text().empty(), ConfigError, "{}: expected a value after '=' in '{}'", who, text);
  return c;
}

/// The value of `condition` for attribute `a` in the `Labels` convention; config errors name the
/// attribute, its kind and what it accepts.
inline double resolve_value(const Attribute& a, const ConditionValue& v, const std::string& who) {
  const std::string given = v.to_string();
  auto number = v.is_text() ? try_parse_number(v.text()) : std::optional<double>(v.number());
  switch (a.kind) {
    case AttributeKind::binary: {
      if (v.is_text()) {
        const auto t = lower_copy(v.text());
        if (t == "true") return 1.0;
        if (t == "false") return 0.0;
      }
      PLUGEN_CHECK(number && (*number == 0.0 || *number == 1.0), ConfigError,
                   "{}: binary attribute '{}' expects 1, 0, true or false, got '{}'", who, a.name, given);
      return *number;
    }
    case AttributeKind::categorical: {
      if (v.is_text())
        if (auto k = a.class_index(v.text())) return static_cast<double>(*k);
      std::string classes;
      for (size_t k = 0; k < a.classes.size(); ++k) classes += fmt::format("{}{} ({})", k ? ", " : "", a.classes[k], k);
      PLUGEN_CHECK(
          number && *number == std::floor(*number) && *number >= 0 && *number < static_cast<double>(a.classes.size()),
          ConfigError, "{}: categorical attribute '{}' expects a class name or index among {}, got '{}'", who, a.name,
          classes, given);
      return *number;
    }
    case AttributeKind::continuous: {
      PLUGEN_CHECK(number && std::isfinite(*number), ConfigError,
                   "{}: continuous attribute '{}' expects a finite number in label units (training range [{}, {}]), "
                   "got '{}'",
                   who, a.name, a.stats.min, a.stats.max, given);
      PLUGEN_CHECK(std::isfinite(a.normalize(*number)), ConfigError,
                   "{}: continuous attribute '{}': the value {} overflows when normalized with the training range "
                   "[{}, {}]",
                   who, a.name, *number, a.stats.min, a.stats.max);
      return *number;
    }
  }
  return 0.0;
}

}  // namespace detail

/// The attribute values a request asks for, by name: `{{"Smiling", 1}, {"class", "coat"}, {"age", 42.5}}`
/// in code, or `Conditions::parse({"Smiling=1", "class=coat", "age=42.5"})` from text. Names and values are
/// checked only when resolved against a plugin's schema (`resolve`), so one request can be built before
/// the plugin is loaded. Attributes left out are drawn from their training marginal when sampling.
class Conditions {
 public:
  /// No condition: every attribute is drawn from its marginal.
  Conditions() = default;
  /// The given conditions; a name given twice is a config error.
  Conditions(std::initializer_list<Condition> conditions) {
    for (const auto& c : conditions) add(c, "Conditions");
  }

  /// Parses "name=value" assignments (e.g. the CLI's repeated --set); a name given twice, a missing '=' or
  /// an empty side is a config error.
  static Conditions parse(const std::vector<std::string>& assignments) {
    Conditions out;
    for (const auto& text : assignments) out.add(detail::parse_assignment(text, "condition"), "condition");
    return out;
  }

  /// Sets (or replaces) the value wanted for `attribute`.
  Conditions& set(std::string attribute, ConditionValue value) {
    for (auto& c : entries_)
      if (c.attribute == attribute) {
        c.value = std::move(value);
        return *this;
      }
    entries_.push_back({std::move(attribute), std::move(value)});
    return *this;
  }

  /// The conditions in the order given.
  const std::vector<Condition>& entries() const { return entries_; }
  /// Number of conditions.
  size_t size() const { return entries_.size(); }
  /// True when nothing is requested.
  bool empty() const { return entries_.empty(); }
  /// Iteration over the conditions.
  std::vector<Condition>::const_iterator begin() const { return entries_.begin(); }
  /// Iteration over the conditions.
  std::vector<Condition>::const_iterator end() const { return entries_.end(); }

  /// The conditions as "name=value, ..." for messages.
  std::string to_string() const {
    std::string out;
    for (const auto& c : entries_)
      out += fmt::format("{}{}={}", out.empty() ? "" : ", ", c.attribute, c.value.to_string());
    return out.empty() ? "(no conditions)" : out;
  }

  /// Resolves names and values against `schema`, sorted by schema position. Unknown names are config
  /// errors listing the valid names; values of the wrong kind (2 for a binary attribute, an unknown class,
  /// text for a continuous attribute, NaN) are config errors naming the attribute. `who` prefixes messages.
  std::vector<ResolvedCondition> resolve(const Schema& schema, const std::string& who) const {
    std::vector<ResolvedCondition> out;
    for (const auto& c : entries_) {
      int64_t index = 0;
      try {
        index = schema.index_of(c.attribute);
      } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("{}: {}", who, e.what()));
      }
      out.push_back({index, detail::resolve_value(schema[index], c.value, who)});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
    return out;
  }

 private:
  void add(Condition c, const std::string& who) {
    for (const auto& e : entries_)
      PLUGEN_CHECK(e.attribute != c.attribute, ConfigError, "{}: attribute '{}' is given twice ({}={} and {}={})", who,
                   c.attribute, e.attribute, e.value.to_string(), c.attribute, c.value.to_string());
    entries_.push_back(std::move(c));
  }

  std::vector<Condition> entries_;
};

/// How an edit changes an attribute's label coordinate(s) of z.
enum class EditMode {
  /// Replace with the target of a value (as in `Conditions`): binary 1 -> +1, 0 -> -1; categorical: +1 at the
  /// class's coordinate, -1 at the others; continuous: the value min-max normalized with the training range.
  set,
  /// Add a delta to the coordinate, in coordinate (normalized) units: binary attributes live around -1 (0)
  /// and +1 (1), so +2 moves a typical "0" to a typical "1"; for continuous attributes the training range
  /// spans 2 units, so a delta d changes the value by d * (max - min) / 2 label units. Categorical
  /// attributes cannot be shifted (their C coordinates have no single direction): set a class instead.
  shift,
};

/// Name of an edit mode ("set", "shift").
inline const char* to_string(EditMode m) noexcept {
  return m == EditMode::set ? "set" : "shift";
}

/// One edit of one attribute.
struct Edit {
  /// Attribute name, as in the plugin's schema.
  std::string attribute;
  /// Set: the value (as in `Conditions`). Shift: the delta in coordinate units (a number).
  ConditionValue value;
  /// Whether the value replaces the coordinate(s) or shifts the coordinate.
  EditMode mode = EditMode::set;
};

/// An edit resolved against a schema: attribute position, mode, and the value (set: `Labels` convention;
/// shift: the coordinate delta).
struct ResolvedEdit {
  /// Position of the attribute in the schema.
  int64_t index = 0;
  /// Set or shift.
  EditMode mode = EditMode::set;
  /// Set: 0/1, class index, or label value. Shift: the delta in coordinate units.
  double value = 0.0;
};

/// Edits of one or several attributes: `Edits().set("Smiling", 1).shift("age", 0.5)`, or any `Conditions`
/// (every condition becomes a `set`). Each attribute may be edited once.
class Edits {
 public:
  /// No edit.
  Edits() = default;
  /// Set edits from conditions given in code, e.g. `{{"Smiling", 1}, {"class", "coat"}}`.
  Edits(std::initializer_list<Condition> conditions) : Edits(Conditions(conditions)) {}
  /// Set edits from conditions: every condition replaces its attribute's coordinate(s).
  Edits(const Conditions& conditions) {  // NOLINT: implicit by design
    for (const auto& c : conditions) set(c.attribute, c.value);
  }
  /// Shift edits from conditions whose values are deltas in coordinate units (the CLI's `--shift`).
  static Edits shifts(const Conditions& deltas) {
    Edits out;
    for (const auto& c : deltas) out.put({c.attribute, c.value, EditMode::shift});
    return out;
  }

  /// Sets `attribute` to `value` (replacing an earlier edit of it).
  Edits& set(std::string attribute, ConditionValue value) {
    put({std::move(attribute), std::move(value), EditMode::set});
    return *this;
  }
  /// Shifts `attribute`'s coordinate by `delta` coordinate units (replacing an earlier edit of it).
  Edits& shift(std::string attribute, double delta) {
    put({std::move(attribute), delta, EditMode::shift});
    return *this;
  }

  /// The edits in the order given.
  const std::vector<Edit>& entries() const { return entries_; }
  /// Number of edits.
  size_t size() const { return entries_.size(); }
  /// True when nothing is edited.
  bool empty() const { return entries_.empty(); }

  /// The set edits as conditions (what out-of-distribution checks look at).
  Conditions set_conditions() const {
    Conditions out;
    for (const auto& e : entries_)
      if (e.mode == EditMode::set) out.set(e.attribute, e.value);
    return out;
  }

  /// Resolves against `schema`, sorted by schema position. Unknown names and wrong values are config
  /// errors as in `Conditions::resolve`; shifting a categorical attribute, or by a non-finite or
  /// non-numeric delta, is a config error.
  std::vector<ResolvedEdit> resolve(const Schema& schema, const std::string& who) const {
    std::vector<ResolvedEdit> out;
    for (const auto& e : entries_) {
      int64_t index = 0;
      try {
        index = schema.index_of(e.attribute);
      } catch (const ConfigError& err) {
        throw ConfigError(fmt::format("{}: {}", who, err.what()));
      }
      const auto& a = schema[index];
      if (e.mode == EditMode::set) {
        out.push_back({index, EditMode::set, detail::resolve_value(a, e.value, who)});
        continue;
      }
      PLUGEN_CHECK(a.kind != AttributeKind::categorical, ConfigError,
                   "{}: cannot shift categorical attribute '{}' (one coordinate per class, no single direction); set "
                   "a class instead, e.g. {}={}",
                   who, a.name, a.name, a.classes.front());
      auto delta = e.value.is_text() ? try_parse_number(e.value.text()) : std::optional<double>(e.value.number());
      PLUGEN_CHECK(delta && std::isfinite(*delta), ConfigError,
                   "{}: shifting '{}' expects a finite number of coordinate units, got '{}'", who, a.name,
                   e.value.to_string());
      out.push_back({index, EditMode::shift, *delta});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
    return out;
  }

 private:
  void put(Edit e) {
    for (auto& x : entries_)
      if (x.attribute == e.attribute) {
        x = std::move(e);
        return;
      }
    entries_.push_back(std::move(e));
  }

  std::vector<Edit> entries_;
};

}  // namespace plugen
