#pragma once
/// @file
/// The generation job spec as JSON: the data types of `JobSpec` and its strict parser. Torch-free (only
/// nlohmann::json and fmt), so the parser can be fuzzed on its own. Every error is a ConfigError whose message
/// starts with the spec's name (its file) and names the offending field as a JSON path, e.g.
/// `job.json: quotas.cells[2].count: expected an integer >= 0, got -3`. Unknown fields are rejected.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plugen/core/check.hpp"

namespace plugen {

/// How a job's total count is split over attribute combinations ("quota cells").
enum class QuotaMode {
  none,      ///< one cell with no condition: every attribute follows the training data
  explicit_counts, ///< the cells and their counts are listed
  uniform,   ///< the product of the chosen attributes' values (continuous ones: named bins), equal counts
  balance,   ///< the product of the chosen attributes, each cell filled up to the largest cell of a label file
};

/// Name of a quota mode as written in specs ("none", "explicit", "uniform", "balance").
inline const char* to_string(QuotaMode m) noexcept {
  switch (m) {
    case QuotaMode::none:
      return "none";
    case QuotaMode::explicit_counts:
      return "explicit";
    case QuotaMode::uniform:
      return "uniform";
    case QuotaMode::balance:
      return "balance";
  }
  return "unknown";
}

/// A requested attribute value as written in a spec: a number (or JSON boolean, read as 1/0) or a text (a
/// class name, "true"/"false", or the name of a continuous attribute's bin).
struct SpecValue {
  /// True when the value was a JSON string.
  bool is_text = false;
  /// The number (when not text).
  double number = 0.0;
  /// The text (when text).
  std::string text;
  /// The value as written in messages and cell names.
  std::string to_string() const { return is_text ? text : fmt::format("{}", number); }
  /// Equality of kind and value.
  bool operator==(const SpecValue& o) const {
    return is_text == o.is_text && (is_text ? text == o.text : number == o.number);
  }
};

/// Bins of a continuous attribute: either `count` equal-width bins over the plugin's training range (named
/// "bin0", "bin1", ... unless `names` are given), or explicit increasing `edges` with one name per bin.
struct BinsSpec {
  /// Equal-width bins over the training range [min, max] (0 when `edges` are given).
  int64_t count = 0;
  /// Explicit bin edges, strictly increasing; bin k is [edges[k], edges[k+1]) (the last one closed).
  std::vector<double> edges;
  /// Bin names (count or edges.size() - 1 of them, unique); empty: "bin0", "bin1", ...
  std::vector<std::string> names;
};

/// One explicitly listed quota cell.
struct CellSpec {
  /// Attribute name -> requested value (a continuous attribute with bins takes a bin name).
  std::map<std::string, SpecValue> values;
  /// Number of samples of this cell (>= 0).
  int64_t count = 0;
};

/// The `quotas` section of a spec.
struct QuotaSpec {
  /// How the count is split.
  QuotaMode mode = QuotaMode::none;
  /// Attributes whose product forms the cells (uniform, balance), in order (the first varies slowest).
  std::vector<std::string> attributes;
  /// Bins of continuous attributes, by name.
  std::map<std::string, BinsSpec> bins;
  /// Listed cells (explicit).
  std::vector<CellSpec> cells;
  /// Label file to balance against (balance): CSV with a header of attribute names.
  std::string labels;
};

/// The `classifier` section: the TorchScript classifier used to verify samples, and how its score columns map
/// to attributes (the JSON of `ClassifierAttribute`; empty: one categorical "class" over all columns).
struct ClassifierSpec {
  /// Classifier file.
  std::string file;
  /// Array of {name, kind, columns, classes?} objects, kept as JSON; checked when the classifier is loaded.
  nlohmann::json attributes = nlohmann::json::array();
};

/// The `output` section: where and what to write.
struct OutputSpec {
  /// Output folder (created if missing).
  std::string dir;
  /// One PNG per sample.
  bool png = true;
  /// `.npy` shards of decoded outputs and latents, one pair per chunk.
  bool npy = false;
  /// A CSV copy of the manifest next to the JSON-lines one.
  bool csv = false;
  /// File name prefix of the PNGs.
  std::string prefix = "sample_";
  /// Samples per chunk: the unit of `.npy` shards and of the split into job shards (`--shard i/N` gets whole
  /// chunks).
  int64_t chunk_size = 1000;
};

/// The `sampling` section: temperatures of `SampleOptions`.
struct SamplingSpec {
  /// Label temperature tau_c; unset: the plugin's final sigma.
  std::optional<double> label_temperature;
  /// Style temperature tau_s.
  double style_temperature = 1.0;
};

/// The `verify` section: rejection of samples whose classifier-measured attributes miss the request.
struct VerifySpec {
  /// Draws per sample at most (>= 1); the last draw is kept, flagged not accepted, when none passed.
  int64_t max_attempts = 10;
  /// Accepted distance |measured - requested| of continuous attributes requested by value (label units), by
  /// name; a continuous attribute requested by value without a tolerance is not verified. Binned attributes are
  /// verified by their bin.
  std::map<std::string, double> tolerance;
  /// Redraws of binned attributes request values spread over the bin (within the plugin's training range)
  /// rather than its centre again: attempt a >= 1 requests low + frac(a * golden ratio) * (high - low) (see
  /// `bin_request`). The acceptance check is the same: the measured value must fall in the bin.
  bool sweep_bins = true;
  /// Style temperature of the last allowed attempt, as a multiple of `sampling.style_temperature`, in
  /// (0, 4]: redraws move linearly from 1 (attempt 0) to this factor (attempt max_attempts - 1). Above 1
  /// heats: rare combinations are often atypical samples (e.g. bright sandals), which cooler style noise
  /// almost never produces; below 1 cools towards typical samples. 1 (the default) keeps the temperature.
  double retry_style_scale = 1.0;
};

/// A dataset generation job: what to generate, from which models, how many of each kind, and where to write
/// it. Read from JSON by `parse_job_spec` / `read_job_spec`; see docs/generate.md for the format.
struct JobSpec {
  /// Backbone file (TorchScript).
  std::string backbone;
  /// Backbone adapter: "auto", "gan", "vae" or "diffusion".
  std::string backbone_kind = "auto";
  /// Plugin file.
  std::string plugin;
  /// Optional verifying classifier.
  std::optional<ClassifierSpec> classifier;
  /// Total number of samples (unset for explicit and balance quotas, which imply it).
  std::optional<int64_t> count;
  /// The split of the count over attribute combinations.
  QuotaSpec quotas;
  /// Outputs.
  OutputSpec output;
  /// Seed of the job: sample i's latent depends only on (seed, i, its cell, its attempt).
  uint64_t seed = 0;
  /// Samples per pipeline step (sampling, queueing, manifest parts); does not change any output.
  int64_t batch_size = 256;
  /// Samples per backbone, classifier and flow call; every sample sits at position (index mod decode_block) of
  /// a zero-padded block, so outputs do not depend on the batch size. Changing it may change the last bits.
  int64_t decode_block = 64;
  /// Sampling temperatures.
  SamplingSpec sampling;
  /// Out-of-distribution policy of the cells' requests: "allow", "warn", "clamp" or "refuse".
  std::string ood = "warn";
  /// Verification policy (used when a classifier is given).
  VerifySpec verify;
  /// The folder relative file names in the spec are taken from (the spec file's folder; empty: the working
  /// directory). Not part of the JSON.
  std::filesystem::path base_dir;
  /// The spec's name in messages (its file name). Not part of the JSON.
  std::string source = "generation spec";

  /// `name` resolved against `base_dir` when relative.
  std::string resolve_path(const std::string& name) const {
    const std::filesystem::path p(name);
    return p.is_absolute() || base_dir.empty() ? p.string() : (base_dir / p).string();
  }
};

namespace detail {

/// Field-checking helpers of the spec parser; `who` is the spec's name, `path` the JSON path of a field.
struct SpecReader {
  std::string who;

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw ConfigError(fmt::format("{}: {}: {}", who, path, what));
  }

  static std::string describe(const nlohmann::json& v) {
    std::string text = v.dump();
    if (text.size() > 60) text = text.substr(0, 57) + "...";
    return fmt::format("{} {}", v.type_name(), text);
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  void object(const nlohmann::json& v, const std::string& path, const std::set<std::string>& allowed) const {
    if (!v.is_object()) fail(path.empty() ? "the spec" : path, "expected a JSON object, got " + describe(v));
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (allowed.count(it.key())) continue;
      std::string names;
      for (const auto& a : allowed) names += (names.empty() ? "" : ", ") + a;
      fail(join(path, it.key()), fmt::format("unknown field (expected one of: {})", names));
    }
  }

  std::string string(const nlohmann::json& v, const std::string& path, bool allow_empty = false) const {
    if (!v.is_string()) fail(path, "expected a string, got " + describe(v));
    auto s = v.get<std::string>();
    if (!allow_empty && s.empty()) fail(path, "expected a non-empty string");
    return s;
  }

  bool boolean(const nlohmann::json& v, const std::string& path) const {
    if (!v.is_boolean()) fail(path, "expected true or false, got " + describe(v));
    return v.get<bool>();
  }

  int64_t integer(const nlohmann::json& v, const std::string& path, int64_t min, int64_t max) const {
    const auto range = max == std::numeric_limits<int64_t>::max() ? fmt::format(">= {}", min)
                                                                  : fmt::format("in [{}, {}]", min, max);
    if (v.is_number_unsigned()) {
      // Non-negative JSON integers parse as unsigned: check both ends here too.
      const auto u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(max) || static_cast<int64_t>(u) < min)
        fail(path, fmt::format("expected an integer {}, got {}", range, u));
      return static_cast<int64_t>(u);
    }
    if (!v.is_number_integer()) fail(path, fmt::format("expected an integer {}, got {}", range, describe(v)));
    const auto i = v.get<int64_t>();
    if (i < min || i > max) fail(path, fmt::format("expected an integer {}, got {}", range, i));
    return i;
  }

  double number(const nlohmann::json& v, const std::string& path) const {
    if (!v.is_number()) fail(path, "expected a number, got " + describe(v));
    const double d = v.get<double>();
    if (!std::isfinite(d)) fail(path, "expected a finite number");
    return d;
  }

  SpecValue value(const nlohmann::json& v, const std::string& path) const {
    SpecValue out;
    if (v.is_string()) {
      out.is_text = true;
      out.text = v.get<std::string>();
      if (out.text.empty()) fail(path, "expected a value, got an empty string");
    } else if (v.is_boolean()) {
      out.number = v.get<bool>() ? 1.0 : 0.0;
    } else if (v.is_number()) {
      out.number = number(v, path);
    } else {
      fail(path, "expected a number, a boolean or a string (class or bin name), got " + describe(v));
    }
    return out;
  }

  std::vector<std::string> names(const nlohmann::json& v, const std::string& path, bool allow_empty_list) const {
    if (!v.is_array()) fail(path, "expected an array of names, got " + describe(v));
    if (!allow_empty_list && v.empty()) fail(path, "expected at least one name");
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (size_t i = 0; i < v.size(); ++i) {
      auto s = string(v[i], fmt::format("{}[{}]", path, i));
      if (!seen.insert(s).second) fail(fmt::format("{}[{}]", path, i), fmt::format("'{}' is listed twice", s));
      out.push_back(std::move(s));
    }
    return out;
  }

  BinsSpec bins(const nlohmann::json& v, const std::string& path) const {
    object(v, path, {"count", "edges", "names"});
    BinsSpec b;
    if (v.contains("count") == v.contains("edges")) fail(path, "expected exactly one of \"count\" and \"edges\"");
    if (v.contains("count")) b.count = integer(v["count"], path + ".count", 1, 1000000);
    if (v.contains("edges")) {
      const auto& e = v["edges"];
      if (!e.is_array() || e.size() < 2)
        fail(path + ".edges", "expected an array of at least 2 increasing numbers, got " + describe(e));
      if (e.size() > 1000001) fail(path + ".edges", "expected at most 1000001 edges");
      for (size_t i = 0; i < e.size(); ++i) {
        b.edges.push_back(number(e[i], fmt::format("{}.edges[{}]", path, i)));
        if (i > 0 && !(b.edges[i] > b.edges[i - 1]))
          fail(fmt::format("{}.edges[{}]", path, i),
               fmt::format("expected strictly increasing edges, got {} after {}", b.edges[i], b.edges[i - 1]));
      }
    }
    if (v.contains("names")) {
      b.names = names(v["names"], path + ".names", false);
      const auto bins = b.count > 0 ? static_cast<size_t>(b.count) : b.edges.size() - 1;
      if (b.names.size() != bins)
        fail(path + ".names", fmt::format("expected {} names (one per bin), got {}", bins, b.names.size()));
    }
    return b;
  }
};

}  // namespace detail

/// Parses a job spec from JSON text; `who` names it in messages (the file name). Relative file names are kept
/// as written (see `JobSpec::base_dir`). Every problem is a ConfigError naming the field; the checks that need
/// the plugin (attribute names, classes, bin ranges) happen when the job is planned.
inline JobSpec parse_job_spec(std::string_view text, const std::string& who) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(fmt::format("{}: not valid JSON: {}", who, e.what()));
  }
  const detail::SpecReader r{who};
  r.object(j, "", {"backbone", "backbone_kind", "plugin", "classifier", "count", "quotas", "output", "seed",
                   "batch_size", "decode_block", "sampling", "ood", "verify", "comment"});
  JobSpec s;
  s.source = who;
  for (const char* key : {"backbone", "plugin", "output"})
    if (!j.contains(key)) r.fail(key, "missing (a required field)");
  s.backbone = r.string(j["backbone"], "backbone");
  s.plugin = r.string(j["plugin"], "plugin");
  if (j.contains("comment")) (void)r.string(j["comment"], "comment", true);
  if (j.contains("backbone_kind")) {
    s.backbone_kind = r.string(j["backbone_kind"], "backbone_kind");
    if (s.backbone_kind != "auto" && s.backbone_kind != "gan" && s.backbone_kind != "vae" &&
        s.backbone_kind != "diffusion")
      r.fail("backbone_kind", fmt::format("expected auto, gan, vae or diffusion, got '{}'", s.backbone_kind));
  }
  if (j.contains("classifier")) {
    const auto& c = j["classifier"];
    ClassifierSpec cs;
    if (c.is_string()) {
      cs.file = r.string(c, "classifier");
    } else {
      r.object(c, "classifier", {"file", "attributes"});
      if (!c.contains("file")) r.fail("classifier.file", "missing (a required field)");
      cs.file = r.string(c["file"], "classifier.file");
      if (c.contains("attributes")) {
        const auto& a = c["attributes"];
        if (!a.is_array() || a.empty())
          r.fail("classifier.attributes", "expected a non-empty array of {name, kind, columns, classes?} objects");
        for (size_t i = 0; i < a.size(); ++i) {
          const auto path = fmt::format("classifier.attributes[{}]", i);
          r.object(a[i], path, {"name", "kind", "columns", "classes"});
          for (const char* key : {"name", "kind", "columns"})
            if (!a[i].contains(key)) r.fail(path + "." + key, "missing (a required field)");
          (void)r.string(a[i]["name"], path + ".name");
          (void)r.string(a[i]["kind"], path + ".kind");
          const auto& cols = a[i]["columns"];
          if (cols.is_array()) {
            if (cols.empty()) r.fail(path + ".columns", "expected at least one column");
            for (size_t k = 0; k < cols.size(); ++k)
              (void)r.integer(cols[k], fmt::format("{}.columns[{}]", path, k), 0, 1 << 20);
          } else {
            (void)r.integer(cols, path + ".columns", 0, 1 << 20);
          }
          if (a[i].contains("classes")) (void)r.names(a[i]["classes"], path + ".classes", false);
        }
        cs.attributes = a;
      }
    }
    s.classifier = std::move(cs);
  }
  if (j.contains("count")) s.count = r.integer(j["count"], "count", 1, int64_t{1} << 40);
  if (j.contains("seed")) {
    if (!j["seed"].is_number_unsigned())
      r.fail("seed", "expected an integer in [0, 2^64), got " + detail::SpecReader::describe(j["seed"]));
    s.seed = j["seed"].get<uint64_t>();
  }
  if (j.contains("batch_size")) s.batch_size = r.integer(j["batch_size"], "batch_size", 1, 1 << 20);
  if (j.contains("decode_block")) s.decode_block = r.integer(j["decode_block"], "decode_block", 1, 1 << 16);
  if (j.contains("ood")) {
    s.ood = r.string(j["ood"], "ood");
    if (s.ood != "allow" && s.ood != "warn" && s.ood != "clamp" && s.ood != "refuse")
      r.fail("ood", fmt::format("expected allow, warn, clamp or refuse, got '{}'", s.ood));
  }

  // output
  {
    const auto& o = j["output"];
    r.object(o, "output", {"dir", "png", "npy", "csv", "prefix", "chunk_size"});
    if (!o.contains("dir")) r.fail("output.dir", "missing (a required field)");
    s.output.dir = r.string(o["dir"], "output.dir");
    if (o.contains("png")) s.output.png = r.boolean(o["png"], "output.png");
    if (o.contains("npy")) s.output.npy = r.boolean(o["npy"], "output.npy");
    if (o.contains("csv")) s.output.csv = r.boolean(o["csv"], "output.csv");
    if (o.contains("prefix")) {
      s.output.prefix = r.string(o["prefix"], "output.prefix", true);
      for (char c : s.output.prefix)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
          r.fail("output.prefix", fmt::format("expected letters, digits, '_' or '-', got '{}'", s.output.prefix));
    }
    if (o.contains("chunk_size")) s.output.chunk_size = r.integer(o["chunk_size"], "output.chunk_size", 1, 1 << 24);
    if (!s.output.png && !s.output.npy) r.fail("output", "expected at least one of \"png\" and \"npy\" to be true");
  }

  // sampling
  if (j.contains("sampling")) {
    const auto& o = j["sampling"];
    r.object(o, "sampling", {"label_temperature", "style_temperature"});
    if (o.contains("label_temperature")) {
      const double t = r.number(o["label_temperature"], "sampling.label_temperature");
      if (t < 0) r.fail("sampling.label_temperature", fmt::format("expected a value >= 0, got {}", t));
      s.sampling.label_temperature = t;
    }
    if (o.contains("style_temperature")) {
      const double t = r.number(o["style_temperature"], "sampling.style_temperature");
      if (t < 0) r.fail("sampling.style_temperature", fmt::format("expected a value >= 0, got {}", t));
      s.sampling.style_temperature = t;
    }
  }

  // verify
  if (j.contains("verify")) {
    const auto& o = j["verify"];
    r.object(o, "verify", {"max_attempts", "tolerance", "sweep_bins", "retry_style_scale"});
    if (o.contains("max_attempts")) s.verify.max_attempts = r.integer(o["max_attempts"], "verify.max_attempts", 1, 1000);
    if (o.contains("sweep_bins")) s.verify.sweep_bins = r.boolean(o["sweep_bins"], "verify.sweep_bins");
    if (o.contains("retry_style_scale")) {
      const double f = r.number(o["retry_style_scale"], "verify.retry_style_scale");
      if (!(f > 0 && f <= 4)) r.fail("verify.retry_style_scale", fmt::format("expected a value in (0, 4], got {}", f));
      s.verify.retry_style_scale = f;
    }
    if (o.contains("tolerance")) {
      const auto& t = o["tolerance"];
      if (!t.is_object()) r.fail("verify.tolerance", "expected an object {attribute: tolerance}, got " +
                                                          detail::SpecReader::describe(t));
      for (auto it = t.begin(); it != t.end(); ++it) {
        const auto path = "verify.tolerance." + it.key();
        const double v = r.number(it.value(), path);
        if (v < 0) r.fail(path, fmt::format("expected a tolerance >= 0, got {}", v));
        s.verify.tolerance[it.key()] = v;
      }
    }
    if (!s.classifier) r.fail("verify", "verification needs a \"classifier\"");
  }

  // quotas
  if (j.contains("quotas")) {
    const auto& q = j["quotas"];
    r.object(q, "quotas", {"mode", "attributes", "bins", "cells", "labels"});
    if (!q.contains("mode")) r.fail("quotas.mode", "missing (expected explicit, uniform or balance)");
    const auto mode = r.string(q["mode"], "quotas.mode");
    if (mode == "explicit") {
      s.quotas.mode = QuotaMode::explicit_counts;
    } else if (mode == "uniform") {
      s.quotas.mode = QuotaMode::uniform;
    } else if (mode == "balance") {
      s.quotas.mode = QuotaMode::balance;
    } else {
      r.fail("quotas.mode", fmt::format("expected explicit, uniform or balance, got '{}'", mode));
    }
    auto forbid = [&](const char* key) {
      if (q.contains(key)) r.fail(fmt::format("quotas.{}", key), fmt::format("not used by mode '{}'", mode));
    };
    if (q.contains("bins")) {
      const auto& b = q["bins"];
      if (!b.is_object()) r.fail("quotas.bins", "expected an object {attribute: {count | edges, names?}}, got " +
                                                     detail::SpecReader::describe(b));
      for (auto it = b.begin(); it != b.end(); ++it)
        s.quotas.bins[it.key()] = r.bins(it.value(), "quotas.bins." + it.key());
    }
    if (s.quotas.mode == QuotaMode::explicit_counts) {
      forbid("attributes");
      forbid("labels");
      if (!q.contains("cells")) r.fail("quotas.cells", "missing (explicit quotas list their cells)");
      const auto& cells = q["cells"];
      if (!cells.is_array() || cells.empty())
        r.fail("quotas.cells", "expected a non-empty array of {values, count} objects, got " +
                                   detail::SpecReader::describe(cells));
      int64_t total = 0;
      for (size_t i = 0; i < cells.size(); ++i) {
        const auto path = fmt::format("quotas.cells[{}]", i);
        r.object(cells[i], path, {"values", "count"});
        if (!cells[i].contains("values")) r.fail(path + ".values", "missing (a required field)");
        if (!cells[i].contains("count")) r.fail(path + ".count", "missing (a required field)");
        CellSpec c;
        c.count = r.integer(cells[i]["count"], path + ".count", 0, int64_t{1} << 40);
        const auto& values = cells[i]["values"];
        if (!values.is_object())
          r.fail(path + ".values", "expected an object {attribute: value}, got " + detail::SpecReader::describe(values));
        for (auto it = values.begin(); it != values.end(); ++it)
          c.values[it.key()] = r.value(it.value(), path + ".values." + it.key());
        for (size_t k = 0; k < s.quotas.cells.size(); ++k)
          if (s.quotas.cells[k].values == c.values)
            r.fail(path + ".values", fmt::format("the same combination as quotas.cells[{}]", k));
        total += c.count;
        s.quotas.cells.push_back(std::move(c));
      }
      if (total == 0) r.fail("quotas.cells", "every count is 0: nothing to generate");
      if (s.count && *s.count != total)
        r.fail("count", fmt::format("{} does not equal the sum {} of the explicit quotas.cells counts (the count "
                                    "may be left out)",
                                    *s.count, total));
      s.count = total;
    } else {
      forbid("cells");
      if (!q.contains("attributes")) r.fail("quotas.attributes", "missing (the attributes whose product forms the cells)");
      s.quotas.attributes = r.names(q["attributes"], "quotas.attributes", false);
      for (const auto& [name, b] : s.quotas.bins) {
        (void)b;
        if (std::find(s.quotas.attributes.begin(), s.quotas.attributes.end(), name) == s.quotas.attributes.end())
          r.fail("quotas.bins." + name, "bins of an attribute that is not in quotas.attributes");
      }
      if (s.quotas.mode == QuotaMode::uniform) {
        forbid("labels");
        if (!s.count) r.fail("count", "missing (uniform quotas split the count over the cells)");
      } else {
        if (!q.contains("labels")) r.fail("quotas.labels", "missing (the label file to balance against)");
        s.quotas.labels = r.string(q["labels"], "quotas.labels");
      }
    }
  } else if (!s.count) {
    r.fail("count", "missing (the number of samples to generate)");
  }
  return s;
}

}  // namespace plugen
