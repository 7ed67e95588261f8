#pragma once
/// @file
/// `AttributeClassifier`: a TorchScript module mapping backbone outputs (e.g. images) to attribute
/// scores, with a mapping of its output columns to named binary, categorical and continuous attributes.

#include <torch/script.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "plugen/backbone/backbone.hpp"
#include "plugen/backbone/detail/torchscript.hpp"
#include "plugen/core/seed.hpp"
#include "plugen/prior/schema.hpp"

namespace plugen {

/// Which output columns of a classifier score one attribute, and how to read them (by the attribute's
/// kind, the prior's `AttributeKind`): binary, one logit column, label = (logit > 0); categorical, C >= 2
/// logit columns, label = argmax (0 .. C-1); continuous, one column holding the value.
struct ClassifierAttribute {
  /// Attribute name, as in the plugin's schema.
  std::string name;
  /// How the columns are read.
  AttributeKind kind = AttributeKind::binary;
  /// The classifier output columns of this attribute (one, or one per class).
  std::vector<int64_t> columns;
  /// Optional class names of a categorical attribute (one per column; default "0", "1", ...).
  std::vector<std::string> classes;

  /// A binary attribute scored by the logit in `column`.
  static ClassifierAttribute binary(std::string name, int64_t column) {
    return {std::move(name), AttributeKind::binary, {column}, {}};
  }
  /// A categorical attribute scored by the logits in `columns` (one per class).
  static ClassifierAttribute categorical(std::string name, std::vector<int64_t> columns,
                                         std::vector<std::string> classes = {}) {
    return {std::move(name), AttributeKind::categorical, std::move(columns), std::move(classes)};
  }
  /// A categorical attribute scored by the `count` consecutive logits starting at `first`.
  static ClassifierAttribute categorical(std::string name, int64_t first, int64_t count,
                                         std::vector<std::string> classes = {}) {
    std::vector<int64_t> columns;
    for (int64_t c = 0; c < count; ++c) columns.push_back(first + c);
    return categorical(std::move(name), std::move(columns), std::move(classes));
  }
  /// A continuous attribute whose value is `column`.
  static ClassifierAttribute continuous(std::string name, int64_t column) {
    return {std::move(name), AttributeKind::continuous, {column}, {}};
  }
  /// The schema attribute this classifier attribute labels (name, kind, classes; statistics unfitted).
  Attribute schema_attribute() const {
    Attribute a;
    a.name = name;
    a.kind = kind;
    if (kind == AttributeKind::categorical) {
      a.classes = classes;
      if (a.classes.empty())
        for (size_t c = 0; c < columns.size(); ++c) a.classes.push_back(std::to_string(c));
    }
    return a;
  }
};

/// JSON form of a classifier attribute: `{"name": "smile", "kind": "binary", "columns": [3]}`, plus
/// `"classes": [...]` for named categorical classes.
inline void to_json(nlohmann::json& j, const ClassifierAttribute& a) {
  j = nlohmann::json{{"name", a.name}, {"kind", to_string(a.kind)}, {"columns", a.columns}};
  if (!a.classes.empty()) j["classes"] = a.classes;
}

/// Reads a classifier attribute from JSON; a ConfigError names the missing or ill-typed field.
inline void from_json(const nlohmann::json& j, ClassifierAttribute& a) {
  PLUGEN_CHECK(j.is_object(), ConfigError, "classifier attribute: expected a JSON object, got {}", j.dump());
  for (const char* key : {"name", "kind", "columns"})
    PLUGEN_CHECK(j.contains(key), ConfigError, "classifier attribute {}: missing field '{}'", j.dump(), key);
  try {
    a.name = j.at("name").get<std::string>();
    a.kind = parse_attribute_kind(j.at("kind").get<std::string>(), "classifier attribute");
    a.columns = j.at("columns").is_number() ? std::vector<int64_t>{j.at("columns").get<int64_t>()}
                                            : j.at("columns").get<std::vector<int64_t>>();
    a.classes = j.contains("classes") ? j.at("classes").get<std::vector<std::string>>() : std::vector<std::string>{};
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(fmt::format("classifier attribute {}: {}", j.dump(), e.what()));
  }
}

/// Options of an `AttributeClassifier`.
struct ClassifierOptions {
  /// Device the classifier runs on.
  TORCH_ARG(torch::Device, device) = torch::kCPU;
  /// Samples per call of the module.
  TORCH_ARG(int64_t, batch) = 256;
  /// Range the classifier expects its inputs in; inputs are given in [0, 1] and mapped to it.
  TORCH_ARG(ValueRange, input_range) = ValueRange::unit();
  /// Classifier method x -> scores (N, W).
  TORCH_ARG(std::string, method) = "forward";
  /// Per-sample input shape, e.g. {1, 28, 28} (a backbone's `output_shape()`); empty reads the module
  /// attribute `input_shape_attribute`.
  TORCH_ARG(std::vector<int64_t>, input_shape) = {};
  /// Name of the module attribute (a list of ints) holding the input shape.
  TORCH_ARG(std::string, input_shape_attribute) = "input_shape";
  /// The attributes and their columns; at least one.
  TORCH_ARG(std::vector<ClassifierAttribute>, attributes) = {};
  /// Name of a module attribute (a list of strings) naming the classes of a categorical attribute that has
  /// no class names of its own and as many columns as the list has names.
  TORCH_ARG(std::string, class_names_attribute) = "class_names";

 public:
  /// Throws a ConfigError naming the first invalid option (columns are checked against the module later).
  void validate() const {
    PLUGEN_CHECK(batch_ >= 1, ConfigError, "ClassifierOptions::batch: expected >= 1, got {}", batch_);
    input_range_.validate("ClassifierOptions::input_range");
    PLUGEN_CHECK(!attributes_.empty(), ConfigError,
                 "ClassifierOptions::attributes: expected at least one attribute (name, kind, columns)");
    std::set<std::string> names;
    std::set<int64_t> used;
    for (const auto& a : attributes_) {
      const auto who = fmt::format("ClassifierOptions::attributes['{}']", a.name);
      PLUGEN_CHECK(!a.name.empty(), ConfigError, "ClassifierOptions::attributes: an attribute has an empty name");
      PLUGEN_CHECK(names.insert(a.name).second, ConfigError, "{}: the name is used twice", who);
      if (a.kind == AttributeKind::categorical) {
        PLUGEN_CHECK(a.columns.size() >= 2, ConfigError, "{}: a categorical attribute needs >= 2 columns, got {}", who,
                     a.columns.size());
        PLUGEN_CHECK(a.classes.empty() || a.classes.size() == a.columns.size(), ConfigError,
                     "{}: {} class names for {} columns", who, a.classes.size(), a.columns.size());
      } else {
        PLUGEN_CHECK(a.columns.size() == 1, ConfigError, "{}: a {} attribute needs exactly 1 column, got {}", who,
                     to_string(a.kind), a.columns.size());
      }
      for (auto c : a.columns) {
        PLUGEN_CHECK(c >= 0, ConfigError, "{}: column {} is negative", who, c);
        PLUGEN_CHECK(used.insert(c).second, ConfigError, "{}: column {} is used by another attribute", who, c);
      }
    }
  }
};

/// A frozen TorchScript attribute classifier: backbone outputs in [0, 1] -> scores (N, W) -> labels.
///
/// Expected module (see examples/export/classifier.py): `forward(x) -> scores` with x (N, *input_shape)
/// in `input_range` and scores (N, W) (logits for binary and categorical attributes, values for
/// continuous ones). Loading probes it with a batch of 2 and checks every attribute's columns exist.
class AttributeClassifier {
 public:
  /// Loads and probes a classifier saved with `torch.jit.save`.
  AttributeClassifier(const std::string& path, ClassifierOptions options)
      : AttributeClassifier(detail::load_module(path, options.device(), "AttributeClassifier"), std::move(options),
                            path) {}

  /// Wraps and probes an already loaded module; `source` names it in messages.
  AttributeClassifier(torch::jit::Module module, ClassifierOptions options, std::string source = "<memory>")
      : module_(std::move(module)), options_(std::move(options)), source_(std::move(source)) {
    init();
  }

  /// Raw scores (N, width) of inputs (N, *input_shape) in [0, 1], float32, on the inputs' device.
  torch::Tensor forward(const torch::Tensor& inputs) const {
    const std::string who = "AttributeClassifier::forward";
    auto x = detail::shape_latents(inputs, input_shape_, who, "inputs");
    return detail::map_chunks(x, options_.batch(), options_.device(), {width_}, torch::kFloat32, who,
                              [&](const torch::Tensor& chunk) {
                                return raw(options_.input_range().from_unit(chunk.to(dtype_)), who).to(torch::kFloat32);
                              });
  }

  /// Labels of scores (N, width), one column per attribute in options order, as the prior's `Labels`:
  /// values (N, K) float64 hold 0/1 (binary: logit > 0), the class index (categorical: argmax) or the
  /// value (continuous); the mask is all true. They fit the schema of `schema()`.
  Labels labels(const torch::Tensor& scores) const {
    check_batch(scores, width_, torch::kFloat32, "AttributeClassifier::labels");
    std::vector<torch::Tensor> cols;
    for (size_t k = 0; k < attributes_.size(); ++k) {
      const auto& a = attributes_[k];
      auto s = scores.index_select(1, index_[k].to(scores.device()));
      switch (a.kind) {
        case AttributeKind::binary:
          cols.push_back((s.select(1, 0) > 0).to(torch::kFloat64));
          break;
        case AttributeKind::categorical:
          cols.push_back(s.argmax(1).to(torch::kFloat64));
          break;
        case AttributeKind::continuous:
          cols.push_back(s.select(1, 0).to(torch::kFloat64));
          break;
      }
    }
    auto values = torch::stack(cols, 1);
    return {values, torch::ones(values.sizes(), values.options().dtype(torch::kBool))};
  }

  /// The (unfitted) schema of the attributes this classifier labels, in options order.
  Schema schema() const {
    std::vector<Attribute> attributes;
    for (const auto& a : attributes_) attributes.push_back(a.schema_attribute());
    return Schema(std::move(attributes));
  }

  /// `labels(forward(inputs))`.
  Labels predict(const torch::Tensor& inputs) const { return labels(forward(inputs)); }

  /// The scores (N, columns) of one attribute, by name; a ConfigError lists the names when unknown.
  torch::Tensor attribute_scores(const torch::Tensor& scores, const std::string& name) const {
    check_batch(scores, width_, torch::kFloat32, "AttributeClassifier::attribute_scores");
    return scores.index_select(1, index_[attribute_index(name)].to(scores.device()));
  }

  /// Position of an attribute in options order; a ConfigError lists the names when unknown.
  size_t attribute_index(const std::string& name) const {
    std::string names;
    for (size_t k = 0; k < attributes_.size(); ++k) {
      if (attributes_[k].name == name) return k;
      names += (k ? ", " : "") + attributes_[k].name;
    }
    throw ConfigError(
        fmt::format("AttributeClassifier: no attribute '{}'; the classifier of '{}' has: {}", name, source_, names));
  }

  /// The attributes, in options order (categorical class names completed from the module).
  const std::vector<ClassifierAttribute>& attributes() const { return attributes_; }
  /// Number of score columns the module returns.
  int64_t width() const { return width_; }
  /// Per-sample input shape.
  std::vector<int64_t> input_shape() const { return input_shape_; }
  /// Device the module runs on.
  torch::Device device() const { return options_.device(); }
  /// One line for logs: file, shapes, attributes.
  std::string describe() const {
    std::vector<std::string> parts;
    for (const auto& a : attributes_) parts.push_back(a.name + ":" + to_string(a.kind));
    return fmt::format("classifier '{}': input ({}), {} scores, attributes {}, {}", source_,
                       fmt::join(input_shape_, ", "), width_, fmt::join(parts, ", "), options_.device().str());
  }
  /// The options it was loaded with.
  const ClassifierOptions& options() const { return options_; }
  /// The TorchScript module.
  const torch::jit::Module& module() const { return module_; }
  /// The file (or "<memory>") the module came from.
  const std::string& source() const { return source_; }

 private:
  void init() {
    const std::string who = "AttributeClassifier";
    options_.validate();
    dtype_ = detail::module_dtype(module_);
    method_ = detail::require_method(module_, options_.method(), 1, "(x)", "ClassifierOptions::method", source_, who);
    auto attr = detail::int_list_attribute(module_, options_.input_shape_attribute(), source_, who);
    if (!options_.input_shape().empty()) {
      PLUGEN_CHECK(!attr || *attr == options_.input_shape(), BackboneError,
                   "{}: wrong input shape: ClassifierOptions::input_shape is ({}) but attribute '{}' of '{}' is ({})",
                   who, fmt::join(options_.input_shape(), ", "), options_.input_shape_attribute(), source_,
                   fmt::join(attr.value_or(std::vector<int64_t>{}), ", "));
      input_shape_ = options_.input_shape();
    } else {
      PLUGEN_CHECK(attr.has_value(), BackboneError,
                   "{}: cannot tell the input shape of '{}': set ClassifierOptions::input_shape (e.g. the backbone's "
                   "output_shape()) or give the module an attribute '{}' (a list of ints)",
                   who, source_, options_.input_shape_attribute());
      input_shape_ = *attr;
    }
    torch::Tensor s;
    {
      c10::InferenceMode guard;
      auto x = options_.input_range().from_unit(
          torch::rand(detail::batch_shape(2, input_shape_), make_generator(0), torch::TensorOptions().dtype(dtype_)));
      s = raw(x.to(options_.device()), who,
              fmt::format("is the input shape ({}) right? (ClassifierOptions::input_shape)",
                          fmt::join(input_shape_, ", ")));
    }
    PLUGEN_CHECK(s.dim() == 2 && s.size(0) == 2 && s.is_floating_point(), BackboneError,
                 "{}: wrong output shape: method '{}' of '{}' returned {} {} for 2 inputs, expected floating scores "
                 "(2, W)",
                 who, options_.method(), source_, shape_string(s.sizes()), dtype_string(s.scalar_type()));
    width_ = s.size(1);
    attributes_ = options_.attributes();
    name_classes(who);
    for (const auto& a : attributes_) {
      for (auto c : a.columns)
        PLUGEN_CHECK(c < width_, BackboneError,
                     "{}: attribute '{}' uses column {}, but method '{}' of '{}' returns only {} score columns", who,
                     a.name, c, options_.method(), source_, width_);
      index_.push_back(torch::tensor(a.columns, torch::kInt64));
    }
  }

  // Categorical attributes without class names take them from the module's class-names attribute.
  void name_classes(const std::string& who) {
    const auto& name = options_.class_names_attribute();
    if (name.empty() || !module_.hasattr(name)) return;
    auto v = module_.attr(name);
    if (!v.isList()) return;
    std::vector<std::string> names;
    for (const auto& e : v.toListRef()) {
      PLUGEN_CHECK(e.isString(), BackboneError, "{}: attribute '{}' of '{}' holds {}, expected strings", who, name,
                   source_, detail::ivalue_kind(e));
      names.push_back(e.toStringRef());
    }
    for (auto& a : attributes_)
      if (a.kind == AttributeKind::categorical && a.classes.empty() && a.columns.size() == names.size())
        a.classes = names;
  }

  torch::Tensor raw(const torch::Tensor& x, const std::string& who, const std::string& hint = {}) const {
    auto s = detail::expect_tensor(detail::call_method(*method_, {x}, source_, who, hint), false, options_.method(),
                                   source_, who);
    return s.dim() == 1 ? s.unsqueeze(1) : s;
  }

  torch::jit::Module module_;
  ClassifierOptions options_;
  std::string source_;
  torch::Dtype dtype_ = torch::kFloat32;
  c10::optional<torch::jit::Method> method_;
  std::vector<int64_t> input_shape_;
  int64_t width_ = 0;
  std::vector<ClassifierAttribute> attributes_;
  std::vector<torch::Tensor> index_;
};

}  // namespace plugen
