#pragma once
/// @file
/// Label files: CSV (a header of attribute names; empty cell or NaN = missing; class names or integers
/// for categorical attributes) or .npy values with an optional .npy mask; schema inference from a CSV
/// table; and writing labels back to CSV.

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "plugen/data/csv.hpp"
#include "plugen/data/npy.hpp"
#include "plugen/prior/schema.hpp"

namespace plugen {

namespace detail {
inline std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}
/// Binary cell: 0/1, true/false, yes/no (any case); nullopt if it is none of these.
inline std::optional<double> parse_binary_cell(const std::string& cell) {
  const auto c = lower(cell);
  if (c == "1" || c == "1.0" || c == "true" || c == "yes") return 1.0;
  if (c == "0" || c == "0.0" || c == "false" || c == "no") return 0.0;
  return std::nullopt;
}
}  // namespace detail

/// Infers a schema from a CSV table: a column whose known cells are all 0/1 (or true/false, yes/no) is
/// binary; all numeric otherwise is continuous; anything else is categorical with its distinct values as
/// classes in sorted order. Columns named in `ignore` (e.g. an id column) are skipped. Throws IoError
/// naming the file for a column with no known value.
inline Schema infer_schema(const CsvTable& table, const std::vector<std::string>& ignore = {}) {
  const std::string file = table.source.empty() ? std::string("labels") : table.source.string();
  std::vector<Attribute> attrs;
  for (size_t c = 0; c < table.num_columns(); ++c) {
    const auto& name = table.columns[c];
    if (std::find(ignore.begin(), ignore.end(), name) != ignore.end()) continue;
    bool any = false, all_binary = true, all_numeric = true;
    std::set<std::string> distinct;
    for (const auto& row : table.rows) {
      const auto& cell = row[c];
      if (is_missing_value(cell)) continue;
      any = true;
      if (!detail::parse_binary_cell(cell)) all_binary = false;
      if (!try_parse_number(cell)) all_numeric = false;
      distinct.insert(cell);
    }
    PLUGEN_CHECK(any, IoError, "{}: column '{}' has no known value, so its kind cannot be inferred (give a schema)",
                 file, name);
    Attribute a;
    a.name = name;
    if (all_binary) {
      a.kind = AttributeKind::binary;
    } else if (all_numeric) {
      a.kind = AttributeKind::continuous;
    } else {
      a.kind = AttributeKind::categorical;
      a.classes.assign(distinct.begin(), distinct.end());
      PLUGEN_CHECK(a.classes.size() >= 2, IoError,
                   "{}: column '{}' has a single value '{}'; a categorical attribute needs at least 2 classes", file,
                   name, a.classes.front());
    }
    attrs.push_back(std::move(a));
  }
  PLUGEN_CHECK(!attrs.empty(), IoError, "{}: no attribute columns", file);
  return Schema(std::move(attrs));
}

/// Labels for `schema` from a CSV table: every schema attribute must be a column (other columns are
/// ignored). Binary cells: 0/1, true/false, yes/no; categorical: a class name or a class index;
/// continuous: a number. Empty, NaN or NA cells are missing. Bad cells are ConfigErrors naming the file,
/// line, column and the accepted values.
inline Labels labels_from_csv(const CsvTable& table, const Schema& schema) {
  const std::string file = table.source.empty() ? std::string("labels") : table.source.string();
  const auto n = static_cast<int64_t>(table.num_rows());
  auto values = torch::zeros({n, schema.size()}, torch::kFloat64);
  auto mask = torch::zeros({n, schema.size()}, torch::kBool);
  auto v = values.accessor<double, 2>();
  auto m = mask.accessor<bool, 2>();
  for (int64_t i = 0; i < schema.size(); ++i) {
    const auto& a = schema[i];
    const auto col = table.find_column(a.name);
    PLUGEN_CHECK(col.has_value(), ConfigError, "{}: no column '{}' for attribute '{}' (columns: {})", file, a.name,
                 a.name, fmt::format("{}", fmt::join(table.columns, ", ")));
    for (int64_t r = 0; r < n; ++r) {
      const auto& cell = table.rows[static_cast<size_t>(r)][*col];
      if (is_missing_value(cell)) continue;
      auto where = [&] {
        return fmt::format("{} {}, column '{}'", file, table.row_location(static_cast<size_t>(r)), a.name);
      };
      double value = 0;
      switch (a.kind) {
        case AttributeKind::binary: {
          auto b = detail::parse_binary_cell(cell);
          PLUGEN_CHECK(b.has_value(), ConfigError, "{}: binary attribute expects 0/1 or true/false, found '{}'",
                       where(), cell);
          value = *b;
          break;
        }
        case AttributeKind::categorical: {
          if (auto k = a.class_index(cell)) {
            value = static_cast<double>(*k);
          } else {
            auto num = try_parse_number(cell);
            PLUGEN_CHECK(num && *num == std::floor(*num) && *num >= 0 && *num < static_cast<double>(a.width()),
                         ConfigError, "{}: expected one of the classes [{}] or an index below {}, found '{}'", where(),
                         fmt::format("{}", fmt::join(a.classes, ", ")), a.width(), cell);
            value = *num;
          }
          break;
        }
        case AttributeKind::continuous: {
          auto num = try_parse_number(cell);
          PLUGEN_CHECK(num.has_value(), ConfigError, "{}: continuous attribute expects a number, found '{}'", where(),
                       cell);
          value = *num;
          break;
        }
      }
      v[r][i] = value;
      m[r][i] = true;
    }
  }
  return {values, mask};
}

/// Labels for `schema` from .npy files: values (N, A) of any numeric dtype (NaN = missing) and an optional
/// mask (N, A) (bool or 0/1 integers; true = known).
inline Labels labels_from_npy(const std::filesystem::path& values_path, const Schema& schema,
                              const std::optional<std::filesystem::path>& mask_path = std::nullopt) {
  auto values = read_npy(values_path);
  PLUGEN_CHECK(values.dim() == 2 && values.size(1) == schema.size(), ShapeError,
               "{}: expected labels of shape (N, {}) for attributes [{}], got {}", values_path.string(), schema.size(),
               schema.names_list(), shape_string(values.sizes()));
  values = values.to(torch::kFloat64);
  auto mask = ~torch::isnan(values);
  if (mask_path) {
    auto m = read_npy(*mask_path);
    PLUGEN_CHECK(m.sizes() == values.sizes(), ShapeError, "{}: expected a mask of shape {}, got {}",
                 mask_path->string(), shape_string(values.sizes()), shape_string(m.sizes()));
    mask = mask & (m != 0);
  }
  values = torch::where(mask, values, torch::zeros_like(values));
  Labels labels{values, mask};
  schema.check_labels(labels, values_path.string());
  return labels;
}

/// Reads labels from `path` (.csv, or .npy with an optional mask) for `schema`; when `schema` is empty
/// (no attributes) it is inferred from the CSV header and cells and stored back into `schema`.
inline Labels read_labels(const std::filesystem::path& path, Schema& schema,
                          const std::optional<std::filesystem::path>& mask_path = std::nullopt) {
  const auto ext = detail::lower(path.extension().string());
  if (ext == ".npy") {
    PLUGEN_CHECK(schema.size() > 0, ConfigError,
                 "{}: .npy labels carry no attribute names or kinds; give a schema file", path.string());
    return labels_from_npy(path, schema, mask_path);
  }
  PLUGEN_CHECK(!mask_path, ConfigError, "{}: a separate mask file is only used with .npy labels", path.string());
  auto table = read_csv(path);
  if (schema.size() == 0) schema = infer_schema(table);
  auto labels = labels_from_csv(table, schema);
  schema.check_labels(labels, path.string());
  return labels;
}

/// Reads a schema JSON file (see `Schema::from_json`).
inline Schema read_schema(const std::filesystem::path& path) {
  const auto text = read_file(path, 64u << 20);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw IoError(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
  }
  return Schema::from_json(j, path.string());
}

}  // namespace plugen
