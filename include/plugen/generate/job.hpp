#pragma once
/// @file
/// `generate`: runs a dataset generation job (`JobSpec`) — or one shard of it — as a streaming pipeline:
/// sampling latents per quota cell, decoding them in fixed blocks, reading them back with the plugin, verifying
/// them with a classifier (rejecting and redrawing), and a pool of writer threads that encode and write the files
/// and then the manifest rows. Crash-safe and resumable; see docs/generate.md.
///
/// ## Determinism
/// Sample i (a global index of the job) belongs to the quota cell that owns i; its latent at attempt a (0 for the
/// first draw) is `Plugin::sample(cell conditions, 1, seed_a, first_index = i)` with seed_0 = the job's seed and
/// seed_a = derive_seed(seed, a) — a function of (seed, i, cell, a) alone. Backbone, classifier and flow calls
/// see each sample at position (i mod decode_block) of a zero-padded block of decode_block samples, so results
/// do not depend on the batch size, the shard split, the thread count or the resume history.
///
/// ## Files
/// In the output folder: one PNG per sample (`<prefix><index>.png`), optionally `.npy` shards per chunk
/// (`latents-<first>.npy`, `outputs-<first>.npy`), the manifest (`manifest.jsonl`, or
/// `manifest-shard-<i>-of-<N>.jsonl` for a shard; optional `.csv` copy) and a report (`report.json`,
/// `report-shard-<i>-of-<N>.json`). While a job runs, manifest rows go to part files in
/// `<manifest stem>.parts/`, each written atomically after the files it lists are in place; the final manifest
/// merges them. Every file is written through `write_file_atomic`.

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

#include "plugen/backbone/classifier.hpp"
#include "plugen/backbone/image.hpp"
#include "plugen/backbone/load.hpp"
#include "plugen/core/atomic_file.hpp"
#include "plugen/core/seed.hpp"
#include "plugen/core/detail/prefetcher.hpp"
#include "plugen/core/sha256.hpp"
#include "plugen/core/version.hpp"
#include "plugen/data/npy.hpp"
#include "plugen/generate/manifest.hpp"
#include "plugen/generate/quota.hpp"
#include "plugen/generate/spec.hpp"
#include "plugen/plugin/file.hpp"
#include "plugen/plugin/plugin.hpp"

namespace plugen {

/// Progress of a running job, as handed to `GenerateOptions::on_progress`.
struct GenerateProgress {
  /// Samples of the shard in place (files and manifest rows), including those of earlier runs.
  int64_t done = 0;
  /// Samples of the shard.
  int64_t total = 0;
  /// Samples written by this run.
  int64_t written = 0;
  /// Seconds since this run started.
  double seconds = 0.0;
};

/// Options of `generate` that do not change what is generated.
struct GenerateOptions {
  /// The shard to produce (the whole job by default).
  TORCH_ARG(Shard, shard) = {};
  /// Overrides the spec's batch_size when set (outputs do not depend on it).
  TORCH_ARG(std::optional<int64_t>, batch_size) = std::nullopt;
  /// Threads that read the samples back with the plugin, build the manifest rows, encode and write files;
  /// 0 (the default) picks `default_writers(sync)`. The calling thread only decodes and verifies, and one
  /// more thread samples the next batch's latents.
  TORCH_ARG(int64_t, writers) = 0;
  /// Durability of every file the job writes (see `FileSync`). `none` (the default): files are still
  /// written under temporary names and renamed when complete, so a killed process (kill -9, Ctrl-C, OOM)
  /// never leaves a partial file under a final name and a rerun resumes; only a machine crash (power loss)
  /// may leave empty or truncated files behind. `full` fsyncs every file and its folder, which costs
  /// milliseconds per file on most disks and bounds the rate by the disk's sync latency.
  TORCH_ARG(FileSync, sync) = FileSync::none;
  /// Batches decoded ahead of the writers at most (bounds memory).
  TORCH_ARG(int64_t, max_pending) = 4;
  /// Device of the backbone, classifier and plugin.
  TORCH_ARG(torch::Device, device) = torch::kCPU;
  /// Checked before every batch: when it returns true the job stops after the batches in flight are written
  /// (e.g. set by a SIGINT handler). The report's status is then "interrupted"; rerunning resumes.
  TORCH_ARG(std::function<bool()>, stop) = nullptr;
  /// Called after every batch with the progress (e.g. `GenerateProgressBar`).
  TORCH_ARG(std::function<void(const GenerateProgress&)>, on_progress) = nullptr;
  /// Receives one line per warning (out-of-distribution cells); stderr when unset.
  TORCH_ARG(std::function<void(const std::string&)>, on_warning) = nullptr;
};

/// The writer threads `GenerateOptions::writers(0)` stands for: one per core beyond the first (the calling
/// thread decodes), at least 1 and at most 8; with `FileSync::full` at least 16, since fsync latency rather
/// than the CPU then bounds each writer and many syncs overlap.
inline int64_t default_writers(FileSync sync = FileSync::none) {
  const auto cores = static_cast<int64_t>(std::thread::hardware_concurrency());
  const int64_t cpu = std::min<int64_t>(std::max<int64_t>(cores - 1, 1), 8);
  return sync == FileSync::full ? std::max<int64_t>(cpu, 16) : cpu;
}

/// Acceptance figures of one quota cell.
struct CellReport {
  /// Cell name.
  std::string name;
  /// Samples of the cell in the manifest.
  int64_t count = 0;
  /// Draws made for them (the sum of their attempts).
  int64_t draws = 0;
  /// Samples whose final draw passed verification.
  int64_t accepted = 0;
  /// accepted / draws: the fraction of draws the classifier accepted (1 when nothing is verified).
  double acceptance_rate() const { return draws > 0 ? static_cast<double>(accepted) / static_cast<double>(draws) : 1.0; }
};

/// What a run of `generate` did.
struct GenerateReport {
  /// "completed", "interrupted" (stopped by `GenerateOptions::stop`) or "already_complete".
  std::string status;
  /// The shard run.
  Shard shard;
  /// Its global indices [first, last).
  int64_t first = 0, last = 0;
  /// Samples written by this run.
  int64_t written = 0;
  /// Samples found complete from earlier runs and skipped.
  int64_t resumed = 0;
  /// Files of incomplete samples from earlier runs that were removed (orphans and temporary files).
  int64_t removed = 0;
  /// Seconds this run took, and its rate in samples per second.
  double seconds = 0.0, rate = 0.0;
  /// True when a classifier verified the samples.
  bool verified = false;
  /// Per-cell figures over the whole shard (only when the shard is complete).
  std::vector<CellReport> cells;
  /// The manifest (once complete).
  std::string manifest;
  /// sha256 of the job's identity (models, quotas, seed and output-relevant settings).
  std::string job_sha256;

  /// As JSON.
  nlohmann::json to_json() const {
    nlohmann::json c = nlohmann::json::array();
    for (const auto& x : cells)
      c.push_back({{"cell", x.name},
                   {"count", x.count},
                   {"draws", x.draws},
                   {"accepted", x.accepted},
                   {"acceptance_rate", x.acceptance_rate()}});
    return {{"status", status},   {"shard", shard.to_string()}, {"first", first},       {"last", last},
            {"written", written}, {"resumed", resumed},         {"removed", removed},   {"seconds", seconds},
            {"rate", rate},       {"verified", verified},       {"cells", c},           {"manifest", manifest},
            {"job_sha256", job_sha256}};
  }
};

/// A progress line on stderr: redrawn on terminals, one line per ~10% otherwise; shows done/total, the rate of
/// this run and the ETA.
class GenerateProgressBar {
 public:
  /// A bar labelled `label`.
  explicit GenerateProgressBar(std::string label = "generate", std::FILE* stream = stderr)
      : label_(std::move(label)), stream_(stream), tty_(isatty(fileno(stream)) != 0) {}
  /// Draws the progress.
  void operator()(const GenerateProgress& p) {
    const double rate = p.seconds > 0 ? static_cast<double>(p.written) / p.seconds : 0.0;
    const double eta = rate > 0 ? static_cast<double>(p.total - p.done) / rate : NAN;
    const int decile = p.total > 0 ? static_cast<int>(10 * p.done / p.total) : 10;
    if (!tty_ && decile == last_decile_ && p.done < p.total) return;
    last_decile_ = decile;
    const int width = 24;
    const int filled = p.total > 0 ? static_cast<int>(static_cast<double>(width) * p.done / p.total) : width;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stream_, "%s%s [%s] %lld/%lld  %.0f samples/s  ETA %s%s", tty_ ? "\r\033[K" : "", label_.c_str(),
                 bar.c_str(), static_cast<long long>(p.done), static_cast<long long>(p.total), rate,
                 format_eta(eta).c_str(), tty_ && p.done < p.total ? "" : "\n");
    std::fflush(stream_);
  }

 private:
  static std::string format_eta(double s) {
    if (!std::isfinite(s) || s < 0) return "?";
    const auto t = static_cast<long long>(s + 0.5);
    if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
    if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
    return fmt::format("{}s", t);
  }
  std::string label_;
  std::FILE* stream_;
  bool tty_;
  int last_decile_ = -1;
};

namespace detail {

/// `fn` applied to the rows of `x` (n, ...) whose global indices are `index` (sorted), each row placed at
/// position (index mod block) of a zero-padded block of `block` rows: a row's result does not depend on which
/// other rows are computed with it. Returns the rows of fn's results, in the order of `index`.
inline torch::Tensor blockwise(const torch::Tensor& x, const std::vector<int64_t>& index, int64_t block,
                               const std::function<torch::Tensor(const torch::Tensor&)>& fn) {
  const auto n = static_cast<int64_t>(index.size());
  torch::Tensor out;
  auto sizes = x.sizes().vec();
  sizes[0] = block;
  for (int64_t p = 0; p < n;) {
    const int64_t b = index[static_cast<size_t>(p)] / block;
    int64_t q = p;
    std::vector<int64_t> src, dst;
    while (q < n && index[static_cast<size_t>(q)] / block == b) {
      src.push_back(q);
      dst.push_back(index[static_cast<size_t>(q)] % block);
      ++q;
    }
    auto s = torch::tensor(src, torch::kInt64), d = torch::tensor(dst, torch::kInt64);
    auto padded = torch::zeros(sizes, x.options());
    padded.index_copy_(0, d, x.index_select(0, s));
    auto y = fn(padded).to(torch::kCPU);
    PLUGEN_CHECK(y.dim() >= 1 && y.size(0) == block, ShapeError, "generate: a block of {} rows gave {} results", block,
                 y.size(0));
    if (!out.defined()) {
      auto out_sizes = y.sizes().vec();
      out_sizes[0] = n;
      out = torch::empty(out_sizes, y.options());
    }
    out.index_copy_(0, s, y.index_select(0, d));
    p = q;
  }
  return out;
}

/// A check of one requested attribute against the classifier's labels.
struct VerifyCheck {
  size_t column = 0;  // position of the attribute among the classifier's
  AttributeKind kind = AttributeKind::binary;
  double expected = 0;                      // binary 0/1, categorical class index of the classifier
  double low = 0, high = 0;                 // continuous: accepted interval
  bool closed_high = true;
  bool passes(double v) const {
    if (kind != AttributeKind::continuous) return v == expected;
    return v >= low && (v < high || (closed_high && v == high));
  }
};

/// Everything a job needs, loaded and resolved once.
struct JobContext {
  JobSpec spec;
  std::string who;
  Plugin plugin;
  AnyBackbone backbone;
  std::optional<AttributeClassifier> classifier;
  QuotaPlan plan;
  std::vector<std::vector<VerifyCheck>> checks;  // per cell
  std::vector<nlohmann::json> cell_ood;          // per cell
  nlohmann::json header;
  std::string job_sha256;
  std::vector<std::string> attributes;  // manifest attribute columns
  int digits = 6;
  int64_t rows_per_sample = 1;
};

inline uint64_t stream_seed(uint64_t seed, int64_t attempt) {
  return attempt == 0 ? seed : derive_seed(seed, static_cast<uint64_t>(attempt));
}

/// The value requested of target `t` at draw `attempt`: a bin's `bin_request`, else the cell's value.
inline double attempt_value(const CellTarget& t, const Schema& schema, const VerifySpec& verify, int64_t attempt) {
  if (!t.bin) return t.value;
  return bin_request(*t.bin, schema[t.attribute], attempt, verify.sweep_bins);
}

/// The cell's sampling conditions at draw `attempt` (binned values per `attempt_value`).
inline Conditions attempt_conditions(const QuotaCell& cell, const Schema& schema, const VerifySpec& verify,
                                     int64_t attempt) {
  if (attempt == 0) return cell.conditions;
  Conditions c = cell.conditions;
  for (const auto& t : cell.targets)
    if (t.bin) c.set(t.name, attempt_value(t, schema, verify, attempt));
  return c;
}

/// The factor of the style temperature at draw `attempt`: 1 at the first draw, then linearly to
/// verify.retry_style_scale at draw max_attempts - 1.
inline double retry_style_factor(const VerifySpec& verify, int64_t attempt) {
  if (attempt <= 0 || verify.max_attempts <= 1 || verify.retry_style_scale == 1.0) return 1.0;
  const double t = static_cast<double>(std::min(attempt, verify.max_attempts - 1)) /
                   static_cast<double>(verify.max_attempts - 1);
  return 1.0 - t * (1.0 - verify.retry_style_scale);
}

inline std::vector<ClassifierAttribute> classifier_attributes(const ClassifierSpec& c, const std::string& file,
                                                              const ClassifierOptions& base,
                                                              const std::string& who) {
  if (!c.attributes.empty()) {
    try {
      return c.attributes.get<std::vector<ClassifierAttribute>>();
    } catch (const ConfigError& e) {
      throw ConfigError(fmt::format("{}: classifier.attributes: {}", who, e.what()));
    } catch (const nlohmann::json::exception& e) {
      throw ConfigError(fmt::format("{}: classifier.attributes: {}", who, e.what()));
    }
  }
  // As `plugen label`: every score column is one class of a categorical attribute "class".
  AttributeClassifier probe(file, ClassifierOptions(base).attributes({ClassifierAttribute::binary("_", 0)}));
  return {ClassifierAttribute::categorical("class", 0, probe.width())};
}

inline JobContext load_job(const JobSpec& spec, const GenerateOptions& options) {
  const std::string& who = spec.source;
  const auto plugin_path = spec.resolve_path(spec.plugin);
  const auto backbone_path = spec.resolve_path(spec.backbone);
  // The backbone's fingerprint (23 ms for the bundled 7.5 MB VAE) is taken on another core while it loads.
  auto backbone_sha256 = std::async(std::launch::async, [&] { return sha256_file(backbone_path); });
  auto plugin = load_plugin(plugin_path);
  plugin.to(options.device(), plugin.dtype());
  auto backbone = load_backbone(
      backbone_path, spec.backbone_kind,
      BackboneOptions().decode_batch(spec.decode_block).device(options.device()));
  JobContext job{spec, who, std::move(plugin), std::move(backbone), std::nullopt, {}, {}, {}, {}, {}, {}, 6, 1};
  const auto& layout = job.plugin.layout();
  const int64_t plugin_width = layout.layers > 0 ? layout.layers * layout.dim : layout.dim;
  PLUGEN_CHECK(job.backbone.latent_dim() == plugin_width, ShapeError,
               "{}: the plugin '{}' works on latents of shape {} but the backbone '{}' takes ({})", who, plugin_path,
               layout.sample_shape(), backbone_path, fmt::join(job.backbone.latent_shape(), ", "));
  job.rows_per_sample = layout.layers > 0 && layout.mode == LatentMode::per_layer ? layout.layers : 1;
  const auto out_shape = job.backbone.output_shape();
  PLUGEN_CHECK(!spec.output.png || (out_shape.size() == 3 && (out_shape[0] == 1 || out_shape[0] == 3)), ConfigError,
               "{}: output.png: the backbone '{}' decodes to ({}), not images (C, H, W) with C = 1 or 3; set "
               "\"png\": false and \"npy\": true",
               who, backbone_path, fmt::join(out_shape, ", "));

  std::string classifier_path;
  if (spec.classifier) {
    classifier_path = spec.resolve_path(spec.classifier->file);
    auto copts = ClassifierOptions().device(options.device()).batch(spec.decode_block).input_shape(out_shape);
    copts.attributes(classifier_attributes(*spec.classifier, classifier_path, copts, who));
    job.classifier.emplace(classifier_path, copts);
  }
  job.plan = plan_quotas(spec, job.plugin.schema(), who);

  // Out-of-distribution cells: decided once per cell, not per batch.
  const auto policy = parse_ood_policy(spec.ood);
  for (auto& cell : job.plan.cells) {
    const auto report = job.plugin.check(cell.conditions);
    job.cell_ood.push_back(report.to_json());
    if (!report.out_of_distribution || cell.count == 0) continue;
    const auto line = fmt::format("cell '{}' is out of distribution: {}", cell.name, report.reason);
    if (policy == OodPolicy::refuse)
      throw ConfigError(fmt::format("{}: ood: refused (policy 'refuse'): {}", who, line));
    if (policy == OodPolicy::warn || policy == OodPolicy::clamp) {
      if (options.on_warning())
        options.on_warning()(line);
      else
        std::fprintf(stderr, "plugen generate: warning: %s\n", line.c_str());
    }
    if (policy == OodPolicy::clamp) {
      for (auto& t : cell.targets) {
        const auto& a = job.plugin.schema()[t.attribute];
        if (t.kind == AttributeKind::continuous) {
          t.value = std::min(std::max(t.value, a.stats.min), a.stats.max);
          cell.conditions.set(t.name, t.value);
        }
      }
    }
  }

  // Verification checks per cell: every requested attribute the classifier measures.
  std::vector<std::string> verified_attributes;
  for (const auto& cell : job.plan.cells) {
    std::vector<VerifyCheck> checks;
    if (job.classifier) {
      const auto& attrs = job.classifier->attributes();
      for (const auto& t : cell.targets) {
        size_t k = 0;
        while (k < attrs.size() && attrs[k].name != t.name) ++k;
        if (k == attrs.size()) continue;
        const auto& ca = attrs[k];
        PLUGEN_CHECK(ca.kind == t.kind, ConfigError,
                     "{}: classifier attribute '{}' is {} but the plugin's is {}", who, t.name, to_string(ca.kind),
                     to_string(t.kind));
        VerifyCheck c;
        c.column = k;
        c.kind = t.kind;
        if (t.kind == AttributeKind::binary) {
          c.expected = t.value;
        } else if (t.kind == AttributeKind::categorical) {
          const auto classes = ca.schema_attribute().classes;
          auto it = std::find(classes.begin(), classes.end(), t.text);
          PLUGEN_CHECK(it != classes.end(), ConfigError,
                       "{}: classifier '{}' names the classes of '{}' [{}], which do not include the requested '{}'",
                       who, classifier_path, t.name, fmt::join(classes, ", "), t.text);
          c.expected = static_cast<double>(it - classes.begin());
        } else if (t.bin) {
          c.low = t.bin->low;
          c.high = t.bin->high;
          c.closed_high = t.bin->closed;
        } else {
          auto tol = spec.verify.tolerance.find(t.name);
          if (tol == spec.verify.tolerance.end()) continue;
          c.low = t.value - tol->second;
          c.high = t.value + tol->second;
        }
        checks.push_back(c);
        if (std::find(verified_attributes.begin(), verified_attributes.end(), t.name) == verified_attributes.end())
          verified_attributes.push_back(t.name);
      }
    }
    job.checks.push_back(std::move(checks));
  }
  for (const auto& [name, tol] : spec.verify.tolerance) {
    (void)tol;
    PLUGEN_CHECK(job.classifier && [&] {
      for (const auto& a : job.classifier->attributes())
        if (a.name == name) return true;
      return false;
    }(), ConfigError, "{}: verify.tolerance.{}: the classifier measures no attribute '{}'", who, name, name);
  }

  // Manifest columns: the plugin's attributes, then those only the classifier measures.
  for (const auto& a : job.plugin.schema().attributes()) job.attributes.push_back(a.name);
  if (job.classifier)
    for (const auto& a : job.classifier->attributes())
      if (std::find(job.attributes.begin(), job.attributes.end(), a.name) == job.attributes.end())
        job.attributes.push_back(a.name);
  job.digits = std::max<int>(6, static_cast<int>(std::to_string(std::max<int64_t>(job.plan.total - 1, 0)).size()));

  // The job's identity: everything that decides the output bytes, nothing that does not (batch size, threads,
  // shard, folder).
  nlohmann::json sampling = {{"style_temperature", spec.sampling.style_temperature},
                             {"label_temperature", spec.sampling.label_temperature
                                                       ? nlohmann::json(*spec.sampling.label_temperature)
                                                       : nlohmann::json(nullptr)}};
  nlohmann::json identity = {
      {"plugin_sha256", sha256_file(plugin_path)},
      {"backbone_sha256", backbone_sha256.get()},
      {"backbone_kind", spec.backbone_kind},
      {"classifier_sha256", job.classifier ? nlohmann::json(sha256_file(classifier_path)) : nlohmann::json(nullptr)},
      {"classifier_attributes",
       job.classifier ? nlohmann::json(job.classifier->attributes()) : nlohmann::json(nullptr)},
      {"seed", spec.seed},
      {"total", job.plan.total},
      {"quota_mode", to_string(job.plan.mode)},
      {"cells", job.plan.to_json()},
      {"decode_block", spec.decode_block},
      {"sampling", sampling},
      {"ood", spec.ood},
      {"verify",
       {{"max_attempts", job.classifier ? spec.verify.max_attempts : 1},
        {"tolerance", spec.verify.tolerance},
        {"sweep_bins", spec.verify.sweep_bins},
        {"retry_style_scale", spec.verify.retry_style_scale}}},
      {"output", {{"png", spec.output.png}, {"npy", spec.output.npy}, {"prefix", spec.output.prefix},
                  {"chunk_size", spec.output.chunk_size}}},
      {"plugen_version", version_string}};
  job.job_sha256 = sha256_hex(identity.dump());
  nlohmann::json cells = job.plan.to_json();
  for (size_t c = 0; c < cells.size(); ++c) cells[c]["ood"] = job.cell_ood[c];
  job.header = {{"plugen_manifest", manifest_format_version},
                {"job_sha256", job.job_sha256},
                {"plugin", plugin_path},
                {"plugin_sha256", identity["plugin_sha256"]},
                {"backbone", backbone_path},
                {"backbone_sha256", identity["backbone_sha256"]},
                {"classifier", job.classifier ? nlohmann::json(classifier_path) : nlohmann::json(nullptr)},
                {"classifier_sha256", identity["classifier_sha256"]},
                {"verified", job.classifier.has_value()},
                {"verification",
                 job.classifier
                     ? fmt::format("samples whose classifier-measured [{}] miss the request are redrawn, at most {} "
                                   "draws each; the last draw is kept with \"accepted\": false when none passed",
                                   fmt::join(verified_attributes, ", "), spec.verify.max_attempts)
                     : std::string("none: no classifier was given, nothing was measured or rejected")},
                {"verified_attributes", verified_attributes},
                {"attributes", job.attributes},
                {"total", job.plan.total},
                {"seed", spec.seed},
                {"job", identity},
                {"cells", cells}};
  return job;
}

/// One batch in the writer pool: decoded and verified by the producer; read back, turned into manifest rows
/// and written by the writers.
struct PendingBatch {
  std::vector<int64_t> index;
  torch::Tensor latents;            // (n, ...) on the plugin's device: the final draw of every sample
  torch::Tensor outputs;            // CPU (n, ...) float32
  torch::Tensor measured;           // CPU (n, attributes) float64, when a classifier verified
  std::vector<int64_t> attempts;    // draws per sample
  std::vector<char> accepted;       // whether the final draw passed verification
  std::vector<std::string> files;   // PNG names (empty when png is off)
  int64_t chunk = -1;               // the chunk's first index when npy is on
  std::atomic<int64_t> remaining{0};
};

/// A chunk's .npy shards being assembled (npy output).
struct PendingChunk {
  int64_t first = 0, size = 0;
  torch::Tensor outputs, latents;
  std::vector<std::string> rows;  // in index order once complete
  int64_t filled = 0;
  int64_t batches_open = 0;  // batches handed over but not yet through the writers
};

}  // namespace detail

/// Runs the job `spec` (or one shard of it, `options.shard()`), resuming what an earlier run of the same job left
/// in the output folder. Returns what was done; throws a plugen error on bad specs, models or files (see
/// `parse_job_spec`, `plan_quotas`, `load_plugin`, `load_backbone`), when the output folder holds another job
/// (ConfigError), or when a file cannot be written (IoError).
inline GenerateReport generate(const JobSpec& spec, const GenerateOptions& options = {}) {
  namespace fs = std::filesystem;
  // Sampling and decoding allocate the same tensors batch after batch: keep freed blocks for reuse
  // (core/detail/caching_allocator.hpp), as training does.
  const detail::CachingAllocatorScope caching_allocator;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  PLUGEN_CHECK(options.writers() >= 0 && options.max_pending() >= 1, ConfigError,
               "GenerateOptions: expected writers >= 0 (0: automatic) and max_pending >= 1, got {} and {}",
               options.writers(), options.max_pending());
  const int64_t batch_size = options.batch_size().value_or(spec.batch_size);
  PLUGEN_CHECK(batch_size >= 1, ConfigError, "GenerateOptions::batch_size: expected >= 1, got {}", batch_size);

  auto job = detail::load_job(spec, options);
  const auto& plan = job.plan;
  const auto shard = options.shard();
  const auto [first, last] = shard_range(plan.total, spec.output.chunk_size, shard);
  const fs::path dir = spec.resolve_path(spec.output.dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  PLUGEN_CHECK(!ec && fs::is_directory(dir), IoError, "{}: output.dir: cannot create the folder '{}': {}", job.who,
               dir.string(), ec ? ec.message() : std::string("exists and is not a folder"));
  const auto manifest_name = manifest_file_name(shard.index, shard.count);
  const auto stem = manifest_name.substr(0, manifest_name.size() - 6);  // without ".jsonl"
  const fs::path manifest = dir / manifest_name;
  const fs::path csv = dir / (stem + ".csv");
  const fs::path report_path = dir / ("report" + stem.substr(8) + ".json");
  const fs::path parts = dir / (stem + ".parts");
  auto header = job.header;
  header["shard"] = {{"index", shard.index}, {"count", shard.count}, {"first", first}, {"last", last}};

  GenerateReport report;
  report.shard = shard;
  report.first = first;
  report.last = last;
  report.verified = job.classifier.has_value();
  report.job_sha256 = job.job_sha256;

  auto same_job = [&](const nlohmann::json& h, const fs::path& where) {
    PLUGEN_CHECK(h.contains("job_sha256") && h["job_sha256"] == job.job_sha256, ConfigError,
                 "{}: output.dir '{}' holds another job ('{}' has job_sha256 {}, this spec's is {}): use a new "
                 "folder, or remove the old outputs",
                 job.who, dir.string(), where.string(), h.contains("job_sha256") ? h["job_sha256"].dump() : "none",
                 job.job_sha256);
  };
  // The report's per-cell figures: this run's samples are counted as their rows are made (make_rows); rows
  // written by earlier runs are read back (count_row), which for 20,000 rows of JSON took 2% of a job's time.
  std::vector<CellReport> cell_counts;
  std::map<std::string, size_t> cell_by_name;
  for (size_t c = 0; c < plan.cells.size(); ++c) {
    cell_by_name[plan.cells[c].name] = c;
    cell_counts.push_back({plan.cells[c].name, 0, 0, 0});
  }
  std::mutex cell_counts_mutex;
  auto count_row = [&](const std::string& line) {
    const auto row = nlohmann::json::parse(line);
    auto it = cell_by_name.find(row.value("cell", std::string()));
    if (it == cell_by_name.end()) return;
    auto& c = cell_counts[it->second];
    ++c.count;
    c.draws += row.value("attempts", int64_t{1});
    if (!row.contains("accepted") || row["accepted"].is_null() || row["accepted"].get<bool>()) ++c.accepted;
  };
  auto summarize = [&] {
    report.cells = cell_counts;
    report.cells.erase(std::remove_if(report.cells.begin(), report.cells.end(),
                                      [](const CellReport& c) { return c.count == 0; }),
                       report.cells.end());
    report.manifest = manifest.string();
  };
  auto finish_outputs = [&] {
    if (spec.output.csv && !fs::exists(csv)) write_manifest_csv(manifest, csv);
    summarize();
    report.seconds = elapsed();
    report.rate = report.seconds > 0 ? static_cast<double>(report.written) / report.seconds : 0.0;
    write_file_atomic(report_path, report.to_json().dump(2) + "\n", options.sync());
    fs::remove_all(parts, ec);
  };

  // A complete manifest: the shard is done (its leftovers are tidied up).
  if (fs::exists(manifest)) {
    same_job(detail::read_manifest_header(manifest), manifest);
    if (const auto first_row = detail::first_row_index(manifest, true))
      detail::merge_rows({{manifest, *first_row, true}}, [&](int64_t, const std::string& line) { count_row(line); });
    report.status = "already_complete";
    report.resumed = last - first;
    finish_outputs();
    return report;
  }

  // Resume: the part files say which samples are complete; files of other samples of the shard are orphans.
  fs::create_directories(parts, ec);
  PLUGEN_CHECK(!ec, IoError, "{}: cannot create '{}': {}", job.who, parts.string(), ec.message());
  const fs::path job_file = parts / "job.json";
  if (fs::exists(job_file)) {
    nlohmann::json h;
    try {
      h = nlohmann::json::parse(read_file(job_file, 64u << 20));
    } catch (const nlohmann::json::exception& e) {
      throw IoError(fmt::format("{}: not valid JSON: {}", job_file.string(), e.what()));
    }
    same_job(h, job_file);
  } else {
    write_file_atomic(job_file, header.dump() + "\n", options.sync());
  }
  const int64_t n_shard = last - first;
  std::vector<char> done(static_cast<size_t>(n_shard), 0);
  std::vector<detail::RowSource> part_sources;
  for (const auto& e : fs::directory_iterator(parts)) {
    const auto name = e.path().filename().string();
    if (name.rfind("part-", 0) == 0 && name.size() > 11 && name.substr(name.size() - 6) == ".jsonl") {
      std::ifstream in(e.path(), std::ios::binary);
      std::string line;
      int64_t line_no = 0, part_first = -1;
      while (std::getline(in, line)) {
        ++line_no;
        if (line.empty()) continue;
        const auto index = detail::row_index(line, e.path(), line_no);
        PLUGEN_CHECK(index >= first && index < last, IoError, "{}: line {}: index {} is outside the shard [{}, {})",
                     e.path().string(), line_no, index, first, last);
        done[static_cast<size_t>(index - first)] = 1;
        if (part_first < 0) part_first = index;
      }
      if (part_first >= 0) part_sources.push_back({e.path(), part_first, false});
    } else if (name != "job.json") {
      fs::remove(e.path(), ec);  // temporary files of interrupted writes
      ++report.removed;
    }
  }
  for (char d : done) report.resumed += d;
  auto index_of_name = [&](const std::string& name, const std::string& prefix,
                           const std::string& suffix) -> std::optional<int64_t> {
    if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      return std::nullopt;
    const auto digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    return std::stoll(digits);
  };
  auto ours = [&](const std::string& name) -> std::optional<int64_t> {  // index of an output file of this job
    if (auto i = index_of_name(name, spec.output.prefix, ".png")) return i;
    if (auto i = index_of_name(name, "latents-", ".npy")) return i;
    if (auto i = index_of_name(name, "outputs-", ".npy")) return i;
    return std::nullopt;
  };
  for (const auto& e : fs::directory_iterator(dir)) {
    auto name = e.path().filename().string();
    bool temporary = false;
    if (name.size() > 1 && name[0] == '.') {  // ".<name>.tmp.<pid>.<n>" of write_file_atomic
      const auto tmp = name.find(".tmp.");
      if (tmp == std::string::npos) continue;
      name = name.substr(1, tmp - 1);
      temporary = true;
    }
    const auto index = ours(name);
    if (!index || *index < first || *index >= last) continue;
    if (temporary || !done[static_cast<size_t>(*index - first)]) {
      fs::remove(e.path(), ec);
      ++report.removed;
    }
  }

  // Work: the incomplete samples, in batches that do not cross chunks; with npy output, whole chunks.
  const int64_t chunk = spec.output.chunk_size;
  if (spec.output.npy)
    for (int64_t c = first; c < last; c += chunk) {
      const int64_t end = std::min(c + chunk, last);
      bool all = true;
      for (int64_t i = c; i < end && all; ++i) all = done[static_cast<size_t>(i - first)] != 0;
      if (!all) PLUGEN_CHECK(std::none_of(done.begin() + (c - first), done.begin() + (end - first), [](char d) { return d; }),
                             IoError, "{}: chunk {} is partly in the manifest parts but its .npy shards are not",
                             parts.string(), c);
    }

  // ---- the stages: sampling (one thread, a batch ahead), decoding and verification (the calling thread),
  // read-back, manifest rows and files (the writers)
  const auto sync = options.sync();
  // Draw `attempt` of every sample: the style temperature (redraws may change it, verify.retry_style_scale) and
  // the cell's requested values (redraws sweep the bins, verify.sweep_bins); see detail::attempt_schedule.
  auto sample_options = [&](int64_t first_index, int64_t attempt) {
    auto o = SampleOptions()
                 .style_temperature(spec.sampling.style_temperature *
                                    detail::retry_style_factor(spec.verify, attempt))
                 .first_index(first_index);
    if (spec.sampling.label_temperature) o.label_temperature(*spec.sampling.label_temperature);
    return o;
  };
  const int64_t block = spec.decode_block;
  // Latents of the samples `index` (sorted) at attempt `attempt`.
  auto draw = [&](const std::vector<int64_t>& index, int64_t attempt) {
    std::vector<torch::Tensor> parts_w;
    for (size_t p = 0; p < index.size();) {
      const auto c = plan.cell_of(index[p]);
      size_t q = p;
      while (q < index.size() && index[q] < plan.cells[c].first + plan.cells[c].count) ++q;
      const int64_t lo = index[p], hi = index[q - 1] + 1;
      auto w = job.plugin.sample(detail::attempt_conditions(plan.cells[c], job.plugin.schema(), spec.verify, attempt),
                                 hi - lo, detail::stream_seed(spec.seed, attempt), sample_options(lo, attempt));
      if (hi - lo == static_cast<int64_t>(q - p)) {
        parts_w.push_back(w);
      } else {
        std::vector<int64_t> rows;
        for (size_t k = p; k < q; ++k) rows.push_back(index[k] - lo);
        parts_w.push_back(w.index_select(0, torch::tensor(rows, torch::kInt64).to(w.device())));
      }
      p = q;
    }
    return parts_w.size() == 1 ? parts_w.front() : torch::cat(parts_w);
  };
  auto decode = [&](const torch::Tensor& w, const std::vector<int64_t>& index) {
    return detail::blockwise(w, index, block, [&](const torch::Tensor& x) { return job.backbone.decode(x); });
  };
  auto measure = [&](const torch::Tensor& outputs, const std::vector<int64_t>& index) {
    auto scores = detail::blockwise(outputs, index, block,
                                    [&](const torch::Tensor& x) { return job.classifier->forward(x); });
    return job.classifier->labels(scores).values.contiguous();
  };
  const auto& schema = job.plugin.schema();
  const int64_t latent_width = job.plugin.dim() * job.rows_per_sample;
  auto read_back = [&](const torch::Tensor& w, const std::vector<int64_t>& index) {
    // Per sample: the plugin's reading of every attribute (first flow row), then -log p(w) per dimension.
    return detail::blockwise(w, index, block, [&](const torch::Tensor& x) {
      torch::NoGradGuard no_grad;
      auto [z, log_det] = job.plugin.forward(x);
      auto log_p = (job.plugin.prior().marginal_log_prob(z) + log_det).reshape({block, -1}).sum(1);
      auto readout = job.plugin.prior().read(z);
      std::vector<torch::Tensor> cols;
      for (auto& r : readout) cols.push_back(r.value.to(torch::kFloat64).reshape({block, -1}).select(1, 0));
      cols.push_back((-log_p / static_cast<double>(latent_width)).to(torch::kFloat64));
      return torch::stack(cols, 1).cpu();
    });
  };
  auto value_json = [](const Attribute& a, double v) -> nlohmann::json {
    if (a.kind == AttributeKind::categorical) return LabelStats::value_name(a, v);
    if (a.kind == AttributeKind::binary) return static_cast<int64_t>(v);
    return v;
  };
  const auto classifier_schema = job.classifier ? job.classifier->schema() : Schema();
  // The manifest rows of a batch, in its order.
  auto make_rows = [&](const detail::PendingBatch& b) {
    const auto n = static_cast<int64_t>(b.index.size());
    const auto read_tensor = read_back(b.latents, b.index).contiguous();
    const auto read = read_tensor.accessor<double, 2>();
    const torch::Tensor measured_cpu = b.measured.defined() ? b.measured : torch::zeros({1, 1}, torch::kFloat64);
    const auto measured_at = measured_cpu.accessor<double, 2>();
    std::vector<std::string> rows;
    rows.reserve(static_cast<size_t>(n));
    std::vector<CellReport> counts(plan.cells.size());
    for (int64_t k = 0; k < n; ++k) {
      const auto i = b.index[static_cast<size_t>(k)];
      const auto& cell = plan.cells[plan.cell_of(i)];
      const auto attempts = b.attempts[static_cast<size_t>(k)];
      auto& count = counts[plan.cell_of(i)];
      ++count.count;
      count.draws += attempts;
      if (!job.classifier || b.accepted[static_cast<size_t>(k)] != 0) ++count.accepted;
      nlohmann::json row;
      row["index"] = i;
      row["file"] = spec.output.png ? nlohmann::json(b.files[static_cast<size_t>(k)]) : nlohmann::json(nullptr);
      if (spec.output.npy) {
        const auto c = (i / chunk) * chunk;
        const auto name = fmt::format("{:0{}d}.npy", c, job.digits);
        row["npy"] = {{"latents", "latents-" + name}, {"outputs", "outputs-" + name}, {"row", i - c}};
      }
      row["seed"] = detail::stream_seed(spec.seed, attempts - 1);
      row["attempts"] = attempts;
      row["accepted"] = job.classifier ? nlohmann::json(b.accepted[static_cast<size_t>(k)] != 0) : nlohmann::json();
      row["cell"] = cell.name;
      nlohmann::json req = nlohmann::json::object(), bins = nlohmann::json::object();
      for (const auto& t : cell.targets) {
        req[t.name] = value_json(schema[t.attribute], detail::attempt_value(t, schema, spec.verify, attempts - 1));
        if (t.bin) bins[t.name] = t.bin->name;
      }
      row["requested"] = req;
      if (!bins.empty()) row["bins"] = bins;
      nlohmann::json plugin_read = nlohmann::json::object();
      for (int64_t a = 0; a < schema.size(); ++a) plugin_read[schema[a].name] = value_json(schema[a], read[k][a]);
      row["plugin"] = plugin_read;
      if (job.classifier) {
        nlohmann::json m = nlohmann::json::object();
        const auto& attrs = job.classifier->attributes();
        for (size_t a = 0; a < attrs.size(); ++a)
          m[attrs[a].name] =
              value_json(classifier_schema[static_cast<int64_t>(a)], measured_at[k][static_cast<int64_t>(a)]);
        row["measured"] = m;
      } else {
        row["measured"] = nullptr;
      }
      row["ood_score"] = read[k][schema.size()];
      rows.push_back(row.dump());
    }
    std::lock_guard<std::mutex> lock(cell_counts_mutex);
    for (size_t c = 0; c < counts.size(); ++c) {
      cell_counts[c].count += counts[c].count;
      cell_counts[c].draws += counts[c].draws;
      cell_counts[c].accepted += counts[c].accepted;
    }
    return rows;
  };

  // ---- the writer pool
  std::mutex mutex;
  std::condition_variable work_cv, space_cv;
  std::deque<std::pair<std::shared_ptr<detail::PendingBatch>, int64_t>> tasks;
  std::map<int64_t, std::shared_ptr<detail::PendingChunk>> chunks;
  int64_t pending = 0;
  bool closing = false;
  std::exception_ptr failure;
  std::atomic<int64_t> written{0};
  auto write_part = [&](int64_t part_first, const std::vector<std::string>& rows) {
    write_file_atomic(
        parts / fmt::format("part-{:012d}.jsonl", part_first),
        [&](std::ostream& out) {
          for (const auto& r : rows) out << r << '\n';
        },
        sync);
  };
  // Once a batch's files are in place: its manifest rows (or its share of a chunk, whose shards and rows are
  // written by the batch that completes it).
  auto finish_batch = [&](detail::PendingBatch& b) {
    auto rows = make_rows(b);
    if (b.chunk < 0) {
      write_part(b.index.front(), rows);
    } else {
      std::shared_ptr<detail::PendingChunk> c;
      bool complete = false;
      {
        std::lock_guard<std::mutex> lock(mutex);
        c = chunks.at(b.chunk);
        if (!c->outputs.defined()) {
          auto os = b.outputs.sizes().vec();
          os[0] = c->size;
          c->outputs = torch::empty(os, b.outputs.options());
          auto ls = b.latents.sizes().vec();
          ls[0] = c->size;
          c->latents = torch::empty(ls, b.latents.options().device(torch::kCPU));
          c->rows.resize(static_cast<size_t>(c->size));
        }
        auto pos = torch::tensor(b.index, torch::kInt64) - c->first;
        c->outputs.index_copy_(0, pos, b.outputs);
        c->latents.index_copy_(0, pos, b.latents.cpu());
        for (size_t k = 0; k < b.index.size(); ++k)
          c->rows[static_cast<size_t>(b.index[k] - c->first)] = std::move(rows[k]);
        complete = --c->batches_open == 0 && c->filled == c->size;
        if (complete) chunks.erase(b.chunk);
      }
      if (complete) {
        const auto name = fmt::format("{:0{}d}.npy", c->first, job.digits);
        write_npy(dir / ("latents-" + name), c->latents, sync);
        write_npy(dir / ("outputs-" + name), c->outputs, sync);
        write_part(c->first, c->rows);
      }
    }
    written += static_cast<int64_t>(b.index.size());
  };
  auto worker = [&] {
    for (;;) {
      std::pair<std::shared_ptr<detail::PendingBatch>, int64_t> task;
      {
        std::unique_lock<std::mutex> lock(mutex);
        work_cv.wait(lock, [&] { return closing || !tasks.empty(); });
        if (tasks.empty()) return;
        task = std::move(tasks.front());
        tasks.pop_front();
      }
      auto& b = *task.first;
      try {
        bool skip = false;
        {
          std::lock_guard<std::mutex> lock(mutex);
          skip = failure != nullptr;
        }
        if (!skip && task.second >= 0) {
          const auto k = task.second;
          write_file_atomic(dir / b.files[static_cast<size_t>(k)], encode_png(b.outputs[k]), sync);
        }
        if (--b.remaining == 0) {
          if (!skip) finish_batch(b);
          std::lock_guard<std::mutex> lock(mutex);
          --pending;
          space_cv.notify_all();
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
        if (b.remaining.load() <= 0 || --b.remaining == 0) --pending;
        space_cv.notify_all();
      }
    }
  };
  std::vector<std::thread> pool;
  const int64_t writers = options.writers() > 0 ? options.writers() : default_writers(sync);
  for (int64_t t = 0; t < writers; ++t) pool.emplace_back(worker);
  auto shutdown = [&] {
    {
      std::unique_lock<std::mutex> lock(mutex);
      space_cv.wait(lock, [&] { return pending == 0; });
      closing = true;
    }
    work_cv.notify_all();
    for (auto& t : pool) t.join();
    pool.clear();
  };

  // ---- the producer: decode, verify (redrawing rejected samples), hand over
  auto process = [&](std::vector<int64_t> index, torch::Tensor w) {
    const auto n = static_cast<int64_t>(index.size());
    auto batch = std::make_shared<detail::PendingBatch>();
    batch->attempts.assign(static_cast<size_t>(n), 1);
    batch->accepted.assign(static_cast<size_t>(n), 1);
    auto& attempts = batch->attempts;
    auto& accepted = batch->accepted;
    auto outputs = decode(w, index);
    torch::Tensor measured;
    if (job.classifier) {
      measured = measure(outputs, index);
      auto check = [&](int64_t k) {
        const auto& checks = job.checks[plan.cell_of(index[static_cast<size_t>(k)])];
        const auto m = measured.accessor<double, 2>();
        for (const auto& c : checks)
          if (!c.passes(m[k][static_cast<int64_t>(c.column)])) return false;
        return true;
      };
      for (int64_t k = 0; k < n; ++k) accepted[static_cast<size_t>(k)] = check(k);
      for (int64_t attempt = 1; attempt < spec.verify.max_attempts; ++attempt) {
        std::vector<int64_t> redo, redo_index;
        for (int64_t k = 0; k < n; ++k)
          if (!accepted[static_cast<size_t>(k)]) {
            redo.push_back(k);
            redo_index.push_back(index[static_cast<size_t>(k)]);
          }
        if (redo.empty()) break;
        auto pos = torch::tensor(redo, torch::kInt64);
        auto w2 = draw(redo_index, attempt);
        auto out2 = decode(w2, redo_index);
        auto m2 = measure(out2, redo_index);
        w.index_copy_(0, pos.to(w.device()), w2);
        outputs.index_copy_(0, pos, out2);
        measured.index_copy_(0, pos, m2);
        for (auto k : redo) {
          attempts[static_cast<size_t>(k)] = attempt + 1;
          accepted[static_cast<size_t>(k)] = check(k);
        }
      }
    }
    batch->latents = w;
    batch->outputs = outputs;
    batch->measured = measured;
    if (spec.output.png)
      for (auto i : index)
        batch->files.push_back(image_file_name(i, ImageWriteOptions().prefix(spec.output.prefix).digits(job.digits)));
    batch->index = std::move(index);
    if (spec.output.npy) {
      const auto c = (batch->index.front() / chunk) * chunk;
      std::lock_guard<std::mutex> lock(mutex);
      auto& pc = chunks[c];
      if (!pc) {
        pc = std::make_shared<detail::PendingChunk>();
        pc->first = c;
        pc->size = std::min(c + chunk, last) - c;
      }
      pc->filled += n;
      ++pc->batches_open;
      batch->chunk = c;
    }
    {
      std::unique_lock<std::mutex> lock(mutex);
      space_cv.wait(lock, [&] { return pending < options.max_pending() || failure; });
      if (failure) return;
      ++pending;
      const int64_t tasks_n = spec.output.png ? n : 1;
      batch->remaining = tasks_n;
      for (int64_t k = 0; k < tasks_n; ++k) tasks.emplace_back(batch, spec.output.png ? k : -1);
    }
    work_cv.notify_all();
  };

  // The incomplete samples of the shard in batches that cover at most batch_size consecutive indices, start at
  // multiples of batch_size (after a chunk boundary) and do not cross chunks. Aligned batches make whole sample
  // and decode blocks when batch_size is a multiple of them, rather than computing the blocks that straddle
  // two batches twice.
  int64_t cursor = first;
  auto next_batch = [&] {
    std::vector<int64_t> index;
    for (; cursor < last; ++cursor) {
      if (done[static_cast<size_t>(cursor - first)]) continue;
      if (!index.empty() && (cursor % batch_size == 0 || cursor - index.front() >= batch_size ||
                             cursor / chunk != index.front() / chunk))
        break;
      index.push_back(cursor);
    }
    return index;
  };
  auto report_progress = [&] {
    if (!options.on_progress()) return;
    GenerateProgress p;
    p.written = written.load();
    p.done = report.resumed + p.written;
    p.total = n_shard;
    p.seconds = elapsed();
    options.on_progress()(p);
  };

  bool interrupted = false;
  {
    // First draws are sampled one batch ahead by one long-lived thread (a thread per batch would pay for
    // fresh per-thread BLAS and allocator state every time).
    detail::Prefetcher<std::vector<int64_t>, torch::Tensor> ahead(
        [&](const std::vector<int64_t>& index) { return draw(index, 0); });
    try {
      auto index = next_batch();
      if (!index.empty()) ahead.request(index);
      while (!index.empty()) {
        auto w = ahead.get();
        auto next = next_batch();
        if (!next.empty()) ahead.request(next);
        process(std::move(index), std::move(w));
        report_progress();
        index = std::move(next);
        if (index.empty()) break;
        {
          std::lock_guard<std::mutex> lock(mutex);
          if (failure) break;
        }
        interrupted = options.stop() && options.stop()();
        if (interrupted) break;
      }
    } catch (...) {
      ahead.close();
      shutdown();
      throw;
    }
    ahead.close();
  }
  shutdown();
  if (failure) std::rethrow_exception(failure);
  report.written = written.load();
  if (options.on_progress()) {
    GenerateProgress p;
    p.written = report.written;
    p.done = report.resumed + report.written;
    p.total = n_shard;
    p.seconds = elapsed();
    options.on_progress()(p);
  }
  if (interrupted) {
    report.status = "interrupted";
    report.seconds = elapsed();
    report.rate = report.seconds > 0 ? static_cast<double>(report.written) / report.seconds : 0.0;
    return report;
  }

  // Complete: merge the parts into the manifest (its existence marks the shard done), then the extras.
  part_sources.clear();
  for (const auto& e : fs::directory_iterator(parts)) {
    const auto name = e.path().filename().string();
    if (name.rfind("part-", 0) != 0) continue;
    if (auto f = detail::first_row_index(e.path(), false)) part_sources.push_back({e.path(), *f, false});
  }
  int64_t rows = 0, expected = first;
  write_file_atomic(
      manifest,
      [&](std::ostream& out) {
        out << header.dump() << '\n';
        detail::merge_rows(part_sources, [&](int64_t index, const std::string& line) {
          PLUGEN_CHECK(index == expected, IoError, "{}: the manifest parts have index {} where {} was expected",
                       parts.string(), index, expected);
          if (done[static_cast<size_t>(index - first)]) count_row(line);  // written by an earlier run
          ++expected;
          ++rows;
          out << line << '\n';
        });
      },
      options.sync());
  PLUGEN_CHECK(rows == n_shard, IoError, "{}: the manifest parts hold {} rows, the shard has {} samples",
               parts.string(), rows, n_shard);
  report.status = "completed";
  finish_outputs();
  return report;
}

/// Reads the spec file `path` and runs it (see `generate(const JobSpec&, const GenerateOptions&)`).
inline GenerateReport generate(const std::filesystem::path& path, const GenerateOptions& options = {}) {
  return generate(read_job_spec(path), options);
}

}  // namespace plugen
