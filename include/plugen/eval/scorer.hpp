#pragma once
/// @file
/// `Scorer`: one or several frozen TorchScript modules that map decoded images to attribute values (a
/// classifier's class, measured pixel attributes, ...), read as one set of named attributes. It is the
/// judge of the evaluation metrics (eval/evaluate.hpp) and the labeller of `auto_label`.
///
/// Each module is an `AttributeClassifier` (backbone/classifier.hpp): `forward(x) -> scores (N, W)`.
/// Which columns are which attribute comes from, in order: the caller's `ClassifierOptions::attributes`;
/// a module string attribute `score_attributes` holding the mapping as JSON (a list of
/// `{"name", "kind", "columns", "classes"?}`); otherwise one categorical attribute `class` over all columns
/// (class names from the module's `class_names`, when it has them).

#include <torch/script.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "plugen/backbone/classifier.hpp"
#include "plugen/backbone/detail/torchscript.hpp"
#include "plugen/core/check.hpp"
#include "plugen/prior/schema.hpp"

namespace plugen {

/// Name of the module string attribute by which a scorer module declares its column mapping (JSON).
inline constexpr const char* score_attributes_name = "score_attributes";

/// The column mapping a scorer module declares: its `score_attributes` JSON string when present, else one
/// categorical attribute `class` over all `width` score columns. `source` names the file in messages.
inline std::vector<ClassifierAttribute> declared_attributes(const torch::jit::Module& module, int64_t width,
                                                            const std::string& source) {
  if (module.hasattr(score_attributes_name)) {
    auto v = module.attr(score_attributes_name);
    PLUGEN_CHECK(v.isString(), BackboneError, "scorer '{}': attribute '{}' holds {}, expected a JSON string", source,
                 score_attributes_name, detail::ivalue_kind(v));
    try {
      return nlohmann::json::parse(v.toStringRef()).get<std::vector<ClassifierAttribute>>();
    } catch (const nlohmann::json::exception& e) {
      throw BackboneError(fmt::format("scorer '{}': attribute '{}' is not a list of {{name, kind, columns}}: {}", source,
                                      score_attributes_name, e.what()));
    } catch (const ConfigError& e) {
      throw BackboneError(fmt::format("scorer '{}': attribute '{}': {}", source, score_attributes_name, e.what()));
    }
  }
  PLUGEN_CHECK(width >= 2, BackboneError,
               "scorer '{}': returns {} score column(s) and declares no '{}' mapping; a module without a mapping is "
               "read as one categorical attribute 'class' and needs >= 2 columns",
               source, width, score_attributes_name);
  return {ClassifierAttribute::categorical("class", 0, width)};
}

/// Loads a scorer module as an `AttributeClassifier`; when `options.attributes()` is empty, the module's
/// declared mapping (see `declared_attributes`) is used.
inline AttributeClassifier load_scorer(const std::string& path, ClassifierOptions options = {}) {
  if (!options.attributes().empty()) return AttributeClassifier(path, std::move(options));
  auto module = detail::load_module(path, options.device(), "load_scorer");
  // Probe the width with a placeholder mapping (column 0 exists in any non-empty output).
  AttributeClassifier probe(module, ClassifierOptions(options).attributes({ClassifierAttribute::continuous("_", 0)}),
                            path);
  options.attributes(declared_attributes(module, probe.width(), path));
  return AttributeClassifier(std::move(module), std::move(options), path);
}

/// Several attribute modules read as one: `predict(images)` concatenates every module's labels, in the
/// order the modules were added. Attribute names must be unique across modules.
class Scorer {
 public:
  /// An empty scorer (add modules with `add`).
  Scorer() = default;
  /// A scorer over the given modules.
  explicit Scorer(std::vector<AttributeClassifier> parts) {
    for (auto& p : parts) add(std::move(p));
  }
  /// Loads each path with `load_scorer(path, options)` (the options' attributes must be empty).
  static Scorer load(const std::vector<std::string>& paths, const ClassifierOptions& options = {}) {
    PLUGEN_CHECK(options.attributes().empty(), ConfigError,
                 "Scorer::load: attribute mappings come from each module; give no ClassifierOptions::attributes");
    Scorer s;
    for (const auto& p : paths) s.add(load_scorer(p, options));
    return s;
  }

  /// Adds a module; a ConfigError when an attribute name is already scored or the input shape differs.
  Scorer& add(AttributeClassifier part) {
    if (!parts_.empty())
      PLUGEN_CHECK(part.input_shape() == parts_.front().input_shape(), ConfigError,
                   "Scorer: '{}' takes inputs ({}) but '{}' takes ({})", part.source(),
                   fmt::join(part.input_shape(), ", "), parts_.front().source(),
                   fmt::join(parts_.front().input_shape(), ", "));
    for (const auto& a : part.attributes())
      for (const auto& q : parts_)
        for (const auto& b : q.attributes())
          PLUGEN_CHECK(a.name != b.name, ConfigError, "Scorer: attribute '{}' is scored by both '{}' and '{}'", a.name,
                       q.source(), part.source());
    parts_.push_back(std::move(part));
    return *this;
  }

  /// Labels of inputs (N, *input_shape) in [0, 1]: every module's attributes, in order (see
  /// `AttributeClassifier::labels`); the mask is all true.
  Labels predict(const torch::Tensor& inputs) const {
    PLUGEN_CHECK(!parts_.empty(), ConfigError, "Scorer::predict: the scorer has no module");
    std::vector<torch::Tensor> values;
    for (const auto& p : parts_) values.push_back(p.predict(inputs).values);
    auto v = torch::cat(values, 1);
    return {v, torch::ones(v.sizes(), v.options().dtype(torch::kBool))};
  }

  /// The (unfitted) schema of every scored attribute, in `predict` order.
  Schema schema() const {
    std::vector<Attribute> attributes;
    for (const auto& p : parts_)
      for (const auto& a : p.attributes()) attributes.push_back(a.schema_attribute());
    return Schema(std::move(attributes));
  }

  /// Per-sample input shape (that of the first module).
  std::vector<int64_t> input_shape() const {
    PLUGEN_CHECK(!parts_.empty(), ConfigError, "Scorer::input_shape: the scorer has no module");
    return parts_.front().input_shape();
  }
  /// The modules.
  const std::vector<AttributeClassifier>& parts() const { return parts_; }
  /// True when no module was added.
  bool empty() const { return parts_.empty(); }
  /// One line per module, joined by "; ".
  std::string describe() const {
    std::vector<std::string> lines;
    for (const auto& p : parts_) lines.push_back(p.describe());
    return fmt::format("{}", fmt::join(lines, "; "));
  }

 private:
  std::vector<AttributeClassifier> parts_;
};

}  // namespace plugen
