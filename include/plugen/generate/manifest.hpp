#pragma once
/// @file
/// Generation manifests: JSON-lines files whose first line is a header record (`"plugen_manifest": 1`, the job,
/// its fingerprint and the sha256 of the plugin, backbone and classifier files, the shard) and every other line
/// one sample (`"index"`, `"file"`, `"seed"`, `"cell"`, `"requested"`, `"plugin"`, `"measured"`, `"ood_score"`,
/// `"attempts"`, `"accepted"`), sorted by index. Also the sorted merge of row files, the optional CSV copy, and
/// `merge_manifests`, which checks shard manifests for missing and duplicated indices and combines them.
/// Torch-free.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "plugen/core/atomic_file.hpp"
#include "plugen/core/check.hpp"
#include "plugen/data/csv.hpp"

namespace plugen {

/// Version of the manifest format, written in every header record as "plugen_manifest".
inline constexpr int manifest_format_version = 1;

/// File name of the manifest of shard `index` of `count`: "manifest.jsonl" for a whole job (count 1), else
/// "manifest-shard-00002-of-00008.jsonl".
inline std::string manifest_file_name(int64_t index, int64_t count) {
  return count == 1 ? std::string("manifest.jsonl")
                    : fmt::format("manifest-shard-{:05d}-of-{:05d}.jsonl", index, count);
}

namespace detail {

/// One line-oriented source of manifest rows sorted by index (a manifest with its header, or a part file).
struct RowSource {
  std::filesystem::path path;
  int64_t first = 0;  // index of its first row
  bool has_header = false;
};

/// Parses one manifest row line; an IoError names the file and line when it is not an object with an integer
/// "index" >= 0.
inline int64_t row_index(const std::string& line, const std::filesystem::path& file, int64_t line_no) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw IoError(fmt::format("{}: line {}: not a JSON record: {}", file.string(), line_no, e.what()));
  }
  PLUGEN_CHECK(j.is_object() && j.contains("index") && j["index"].is_number_integer() && j["index"].get<int64_t>() >= 0,
               IoError, "{}: line {}: expected a sample record with an integer \"index\" >= 0", file.string(), line_no);
  return j["index"].get<int64_t>();
}

/// Reads a manifest's header record (its first line); an IoError names the file when it is missing or not a
/// plugen manifest header.
inline nlohmann::json read_manifest_header(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  PLUGEN_CHECK(in.good(), IoError, "{}: cannot open the manifest", path.string());
  std::string line;
  std::getline(in, line);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw IoError(fmt::format("{}: line 1: not a manifest header record: {}", path.string(), e.what()));
  }
  PLUGEN_CHECK(j.is_object() && j.contains("plugen_manifest"), IoError,
               "{}: line 1: not a plugen manifest (no \"plugen_manifest\" header record)", path.string());
  PLUGEN_CHECK(j["plugen_manifest"] == manifest_format_version, IoError,
               "{}: manifest format version {} (this plugen reads version {})", path.string(),
               j["plugen_manifest"].dump(), manifest_format_version);
  PLUGEN_CHECK(j.contains("job_sha256") && j["job_sha256"].is_string() && j.contains("total") &&
                   j["total"].is_number_integer() && j.contains("shard") && j["shard"].is_object(),
               IoError, "{}: the header record lacks job_sha256, total or shard", path.string());
  return j;
}

/// Streams the rows of `sources` (each sorted by index) in index order to `emit(index, line)`, opening a source
/// only when the merge reaches its first index, so at most the overlapping sources are open at once. A source
/// whose rows are not increasing is an IoError naming it.
inline void merge_rows(std::vector<RowSource> sources, const std::function<void(int64_t, const std::string&)>& emit) {
  std::sort(sources.begin(), sources.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  struct Open {
    std::unique_ptr<std::ifstream> in;
    std::filesystem::path path;
    int64_t line_no = 0;
    int64_t last = -1;
  };
  std::vector<Open> open(sources.size());
  using Item = std::tuple<int64_t, size_t, std::string>;  // index, source, line
  auto later = [](const Item& a, const Item& b) {
    return std::get<0>(a) != std::get<0>(b) ? std::get<0>(a) > std::get<0>(b) : std::get<1>(a) > std::get<1>(b);
  };
  std::priority_queue<Item, std::vector<Item>, decltype(later)> heap(later);
  auto advance = [&](size_t s) {
    auto& o = open[s];
    std::string line;
    while (std::getline(*o.in, line)) {
      ++o.line_no;
      if (line.empty()) continue;
      const auto index = row_index(line, o.path, o.line_no);
      PLUGEN_CHECK(index > o.last, IoError, "{}: line {}: index {} after {}: rows must be sorted by index",
                   o.path.string(), o.line_no, index, o.last);
      o.last = index;
      heap.emplace(index, s, std::move(line));
      return;
    }
    PLUGEN_CHECK(!o.in->bad(), IoError, "{}: read error", o.path.string());
    o.in.reset();
  };
  size_t next = 0;
  while (next < sources.size() || !heap.empty()) {
    while (next < sources.size() && (heap.empty() || sources[next].first <= std::get<0>(heap.top()))) {
      auto& o = open[next];
      o.path = sources[next].path;
      o.in = std::make_unique<std::ifstream>(o.path, std::ios::binary);
      PLUGEN_CHECK(o.in->good(), IoError, "{}: cannot open", o.path.string());
      if (sources[next].has_header) {
        std::string header;
        std::getline(*o.in, header);
        o.line_no = 1;
      }
      advance(next);
      ++next;
    }
    if (heap.empty()) continue;
    auto [index, s, line] = heap.top();
    heap.pop();
    emit(index, line);
    advance(s);
  }
}

/// The index of the first row of a manifest (after its header), or nullopt when it has no rows.
inline std::optional<int64_t> first_row_index(const std::filesystem::path& path, bool has_header) {
  std::ifstream in(path, std::ios::binary);
  PLUGEN_CHECK(in.good(), IoError, "{}: cannot open", path.string());
  std::string line;
  int64_t line_no = 0;
  if (has_header) {
    std::getline(in, line);
    ++line_no;
  }
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty()) return row_index(line, path, line_no);
  }
  return std::nullopt;
}

/// A manifest cell for the CSV copy: strings as they are, numbers and booleans as JSON, null as empty.
inline std::string csv_cell(const nlohmann::json& v) {
  if (v.is_null()) return {};
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

}  // namespace detail

/// The CSV header of a manifest whose header record lists `attributes`: index, file, seed, attempts, accepted,
/// cell, ood_score, then requested.<a>, plugin.<a> and measured.<a> per attribute.
inline std::vector<std::string> manifest_csv_columns(const std::vector<std::string>& attributes) {
  std::vector<std::string> columns = {"index", "file", "seed", "attempts", "accepted", "cell", "ood_score"};
  for (const char* group : {"requested", "plugin", "measured"})
    for (const auto& a : attributes) columns.push_back(std::string(group) + "." + a);
  return columns;
}

/// One manifest row as CSV cells in the order of `manifest_csv_columns(attributes)`. A binned request is
/// written as its bin name.
inline std::vector<std::string> manifest_csv_row(const nlohmann::json& row, const std::vector<std::string>& attributes) {
  auto get = [&](const char* key) { return row.contains(key) ? row[key] : nlohmann::json(); };
  std::vector<std::string> cells = {detail::csv_cell(get("index")),    detail::csv_cell(get("file")),
                                    detail::csv_cell(get("seed")),     detail::csv_cell(get("attempts")),
                                    detail::csv_cell(get("accepted")), detail::csv_cell(get("cell")),
                                    detail::csv_cell(get("ood_score"))};
  const auto bins = get("bins");
  for (const char* group : {"requested", "plugin", "measured"}) {
    const auto g = get(group);
    for (const auto& a : attributes) {
      if (std::string(group) == "requested" && bins.is_object() && bins.contains(a))
        cells.push_back(detail::csv_cell(bins[a]));
      else
        cells.push_back(g.is_object() && g.contains(a) ? detail::csv_cell(g[a]) : std::string());
    }
  }
  return cells;
}

/// Writes the CSV copy of the manifest `manifest` to `csv` (atomically), streaming its rows.
inline void write_manifest_csv(const std::filesystem::path& manifest, const std::filesystem::path& csv) {
  const auto header = detail::read_manifest_header(manifest);
  std::vector<std::string> attributes;
  if (header.contains("attributes") && header["attributes"].is_array())
    for (const auto& a : header["attributes"]) attributes.push_back(a.get<std::string>());
  const auto columns = manifest_csv_columns(attributes);
  write_file_atomic(csv, [&](std::ostream& out) {
    auto write_row = [&](const std::vector<std::string>& cells) {
      for (size_t i = 0; i < cells.size(); ++i) {
        if (i) out << ',';
        detail::write_csv_cell(out, cells[i], ',', cells.size() == 1);
      }
      out << '\n';
    };
    write_row(columns);
    const auto first = detail::first_row_index(manifest, true);
    if (!first) return;
    detail::merge_rows({{manifest, *first, true}}, [&](int64_t, const std::string& line) {
      write_row(manifest_csv_row(nlohmann::json::parse(line), attributes));
    });
  });
}

/// The outcome of `merge_manifests`: what the shard manifests cover.
struct ManifestCheck {
  /// The manifests read.
  std::vector<std::string> files;
  /// Samples the job has (from the headers).
  int64_t total = 0;
  /// Sample rows read.
  int64_t rows = 0;
  /// Indices in [0, total) that no manifest has, as [first, last] ranges.
  std::vector<std::pair<int64_t, int64_t>> missing;
  /// Indices that appear more than once, with their number of rows.
  std::vector<std::pair<int64_t, int64_t>> duplicated;
  /// Rows whose index is outside [0, total).
  std::vector<int64_t> out_of_range;
  /// Where the merged manifest was written (empty when it was not: the check failed or no output was asked).
  std::string written;

  /// Number of missing indices.
  int64_t missing_count() const {
    int64_t n = 0;
    for (const auto& [a, b] : missing) n += b - a + 1;
    return n;
  }
  /// True when every index appears exactly once.
  bool complete() const { return missing.empty() && duplicated.empty() && out_of_range.empty(); }
  /// As JSON.
  nlohmann::json to_json() const {
    nlohmann::json m = nlohmann::json::array(), d = nlohmann::json::array();
    for (const auto& [a, b] : missing) m.push_back({a, b});
    for (const auto& [i, n] : duplicated) d.push_back({{"index", i}, {"rows", n}});
    return {{"files", files},       {"total", total},   {"rows", rows},
            {"complete", complete()}, {"missing", m},     {"missing_count", missing_count()},
            {"duplicated", d},      {"out_of_range", out_of_range}, {"written", written}};
  }
};

/// Checks the shard manifests `inputs` of one job and, when every index of [0, total) appears exactly once and
/// `out` is not empty, writes their merge to `out` (atomically): one header record (the job's, with the shard
/// set to the whole job) and every row in index order. Manifests of different jobs (their job_sha256 differ) or
/// unreadable ones are an IoError naming the file; missing or duplicated indices are reported in the result
/// (the caller decides whether that is an error), and nothing is written then.
inline ManifestCheck merge_manifests(const std::vector<std::filesystem::path>& inputs,
                                     const std::filesystem::path& out = {}) {
  PLUGEN_CHECK(!inputs.empty(), ConfigError, "merge_manifests: expected at least one manifest");
  ManifestCheck check;
  nlohmann::json header;
  std::vector<detail::RowSource> sources;
  for (const auto& path : inputs) {
    auto h = detail::read_manifest_header(path);
    check.files.push_back(path.string());
    if (header.is_null()) {
      header = h;
    } else {
      PLUGEN_CHECK(h["job_sha256"] == header["job_sha256"], IoError,
                   "{}: belongs to another job (job_sha256 {}) than {} (job_sha256 {})", path.string(),
                   h["job_sha256"].dump(), inputs.front().string(), header["job_sha256"].dump());
    }
    if (auto first = detail::first_row_index(path, true)) sources.push_back({path, *first, true});
  }
  check.total = header["total"].get<int64_t>();
  int64_t expected = 0, last = -1, repeats = 0;
  auto flush_duplicate = [&] {
    if (repeats > 1) check.duplicated.emplace_back(last, repeats);
  };
  auto gap_to = [&](int64_t index) {
    if (index > expected) check.missing.emplace_back(expected, std::min(index, check.total) - 1);
  };
  detail::merge_rows(sources, [&](int64_t index, const std::string&) {
    ++check.rows;
    if (index == last) {
      ++repeats;
      return;
    }
    flush_duplicate();
    repeats = 1;
    last = index;
    if (index >= check.total) {
      check.out_of_range.push_back(index);
      return;
    }
    gap_to(index);
    expected = index + 1;
  });
  flush_duplicate();
  gap_to(check.total);
  if (!check.complete() || out.empty()) return check;

  auto merged = header;
  merged["shard"] = {{"index", 0}, {"count", 1}, {"first", 0}, {"last", check.total}};
  write_file_atomic(out, [&](std::ostream& o) {
    o << merged.dump() << '\n';
    detail::merge_rows(sources, [&](int64_t, const std::string& line) { o << line << '\n'; });
  });
  check.written = out.string();
  return check;
}

}  // namespace plugen
