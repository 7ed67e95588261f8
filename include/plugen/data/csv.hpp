#pragma once
/// @file
/// Label files as CSV: `read_csv` / `write_csv` (RFC 4180 with the usual tolerances) and the numeric cell
/// parser. Cells stay strings here; the attribute schema decides what they mean. Torch-free.
///
/// Error kinds: a malformed file (no header, empty or repeated column names, ragged rows, an unterminated
/// quote) is an IoError naming the file and the line; a table `write_csv` cannot write is a ConfigError
/// (column names) or a ShapeError (row widths); a non-numeric cell given to `parse_number` is an IoError.

#include <torch/arg.h>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "plugen/core/atomic_file.hpp"
#include "plugen/core/check.hpp"
#include "plugen/data/detail/number.hpp"

namespace plugen {

/// Options of `read_csv` and `write_csv`.
struct CsvOptions {
  /// The field separator (not a quote or a line break).
  TORCH_ARG(char, delimiter) = ',';
  /// The largest file `read_csv` accepts, in bytes (the file is read whole).
  TORCH_ARG(uint64_t, max_bytes) = uint64_t{1} << 30;
};

/// A CSV table of strings: a header of unique, non-empty column names and rows of exactly one cell per
/// column. Cells are kept verbatim (no trimming, no type conversion).
struct CsvTable {
  /// Column names, in file order.
  std::vector<std::string> columns;
  /// Data rows; `rows[i].size() == columns.size()`.
  std::vector<std::vector<std::string>> rows;
  /// For a table read from a file: the line on which each row starts (1-based), for messages; may be empty
  /// for tables built in memory.
  std::vector<size_t> lines;
  /// The file the table was read from; empty for tables built in memory.
  std::filesystem::path source;

  /// Number of data rows.
  size_t num_rows() const noexcept { return rows.size(); }
  /// Number of columns.
  size_t num_columns() const noexcept { return columns.size(); }

  /// Index of the column `name`, or nothing.
  std::optional<size_t> find_column(std::string_view name) const {
    for (size_t j = 0; j < columns.size(); ++j) {
      if (columns[j] == name) return j;
    }
    return std::nullopt;
  }

  /// Index of the column `name`; a ConfigError naming the file and the available columns if there is none.
  size_t column_index(std::string_view name) const {
    if (auto j = find_column(name)) return *j;
    std::string available;
    for (const auto& c : columns) available += (available.empty() ? "'" : ", '") + c + "'";
    throw ConfigError(fmt::format("CsvTable: no column '{}' in {}; the columns are {}", name,
                                  source.empty() ? std::string("the table") : "'" + source.string() + "'", available));
  }

  /// The cells of the column `name`, one per row (a ConfigError if there is no such column).
  std::vector<std::string> column(std::string_view name) const {
    const size_t j = column_index(name);
    std::vector<std::string> out;
    out.reserve(rows.size());
    for (const auto& row : rows) out.push_back(row[j]);
    return out;
  }

  /// The line of row `i` in the source file ("row i+1" of the table when unknown), for messages.
  std::string row_location(size_t i) const {
    if (i < lines.size()) return fmt::format("line {}", lines[i]);
    return fmt::format("row {}", i + 1);
  }
};

namespace detail {

/// A character for messages: 'x' when printable, its byte value otherwise.
inline std::string describe_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return fmt::format("'{}'", c);
  return fmt::format("byte 0x{:02x}", u);
}

/// Throws a ConfigError from `who` when the options cannot describe a CSV dialect.
inline void check_csv_options(const CsvOptions& options, const char* who) {
  const char d = options.delimiter();
  PLUGEN_CHECK(d != '"' && d != '\r' && d != '\n' && d != '\0', ConfigError,
               "{}: the delimiter must not be a quote, a line break or NUL, got {}", who, describe_char(d));
}

/// Splits CSV text into records with the line each starts on. Quoted fields may hold delimiters, doubled
/// quotes and line breaks; records end with LF, CRLF or CR; empty lines between records are skipped; a
/// quote inside an unquoted field is kept as a character (as Python's csv module does).
inline std::vector<std::pair<size_t, std::vector<std::string>>> split_csv(std::string_view text, char delimiter,
                                                                          const std::string& file) {
  std::vector<std::pair<size_t, std::vector<std::string>>> records;
  size_t i = 0;
  size_t line = 1;
  const size_t n = text.size();
  auto at_line_end = [&](size_t k) { return k < n && (text[k] == '\n' || text[k] == '\r'); };
  auto consume_line_end = [&] {
    if (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') ++i;
    ++i;
    ++line;
  };
  while (i < n) {
    if (at_line_end(i)) {  // an empty line: no record
      consume_line_end();
      continue;
    }
    const size_t record_line = line;
    std::vector<std::string> fields;
    while (true) {
      std::string field;
      if (i < n && text[i] == '"') {
        const size_t quote_line = line;
        ++i;
        while (true) {
          PLUGEN_CHECK(i < n, IoError,
                       "read_csv: '{}' line {}: a quoted field is not closed before the end of the file", file,
                       quote_line);
          const char c = text[i];
          if (c == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (c == '\n' || (c == '\r' && !(i + 1 < n && text[i + 1] == '\n'))) ++line;
          field += c;
          ++i;
        }
        PLUGEN_CHECK(i >= n || text[i] == delimiter || at_line_end(i), IoError,
                     "read_csv: '{}' line {}: unexpected character {} after the closing quote of a field (a quote "
                     "inside a quoted field must be doubled)",
                     file, line, describe_char(text[i]));
      } else {
        const size_t start = i;
        while (i < n && text[i] != delimiter && !at_line_end(i)) ++i;
        field.assign(text.substr(start, i - start));
      }
      fields.push_back(std::move(field));
      if (i < n && text[i] == delimiter) {
        ++i;
        continue;
      }
      if (i < n) consume_line_end();
      break;
    }
    records.emplace_back(record_line, std::move(fields));
  }
  return records;
}

/// Whether a cell must be quoted to survive a round trip.
inline bool csv_needs_quotes(std::string_view cell, char delimiter, bool only_column) {
  if (cell.empty()) return only_column;  // an empty line would be skipped as blank
  return cell.find_first_of(std::string{delimiter, '"', '\r', '\n'}) != std::string_view::npos;
}

/// Writes one cell, quoted (with doubled quotes) when `csv_needs_quotes` says so.
inline void write_csv_cell(std::ostream& out, std::string_view cell, char delimiter, bool only_column) {
  if (!csv_needs_quotes(cell, delimiter, only_column)) {
    out << cell;
    return;
  }
  out << '"';
  for (char c : cell) {
    if (c == '"') out << '"';
    out << c;
  }
  out << '"';
}


}  // namespace detail

/// `read_csv` on text already in memory; `path` names the source in messages and in `CsvTable::source`.
/// Torch-free and file-free: also the fuzzing entry point.
inline CsvTable parse_csv(std::string_view text, const std::filesystem::path& path, const CsvOptions& options = {}) {
  detail::check_csv_options(options, "read_csv");
  const std::string file = path.string();
  std::string_view view(text);
  if (view.substr(0, 3) == "\xEF\xBB\xBF") view.remove_prefix(3);
  auto records = detail::split_csv(view, options.delimiter(), file);
  PLUGEN_CHECK(!records.empty(), IoError, "read_csv: '{}' is empty: expected a header row of column names", file);

  CsvTable table;
  table.source = path;
  table.columns = std::move(records.front().second);
  const size_t header_line = records.front().first;
  std::unordered_map<std::string_view, size_t> seen;
  for (size_t j = 0; j < table.columns.size(); ++j) {
    const std::string& name = table.columns[j];
    PLUGEN_CHECK(!detail::trim_blanks(name).empty(), IoError,
                 "read_csv: '{}' line {}: column {} of the header has an empty name", file, header_line, j + 1);
    auto [it, inserted] = seen.emplace(name, j);
    PLUGEN_CHECK(inserted, IoError, "read_csv: '{}' line {}: the column name '{}' appears twice (columns {} and {})",
                 file, header_line, name, it->second + 1, j + 1);
  }
  table.rows.reserve(records.size() - 1);
  table.lines.reserve(records.size() - 1);
  for (size_t r = 1; r < records.size(); ++r) {
    auto& [line, cells] = records[r];
    PLUGEN_CHECK(cells.size() == table.columns.size(), IoError,
                 "read_csv: '{}' line {}: expected {} fields (one per header column), found {}", file, line,
                 table.columns.size(), cells.size());
    table.rows.push_back(std::move(cells));
    table.lines.push_back(line);
  }
  return table;
}

/// Reads a CSV file: the first record is the header of column names (unique, not blank), every other record
/// a row with exactly one cell per column. Accepts LF, CRLF or CR line ends, quoted fields (with delimiters,
/// doubled quotes and line breaks inside), a UTF-8 byte-order mark, and empty lines (skipped). Throws an
/// IoError naming the file (and the line) for a missing, empty or malformed file.
inline CsvTable read_csv(const std::filesystem::path& path, const CsvOptions& options = {}) {
  detail::check_csv_options(options, "read_csv");
  return parse_csv(read_file(path, options.max_bytes()), path, options);
}

/// Writes `table` to `path` as CSV, atomically: a header line, then one line per row, LF line ends, fields
/// quoted only when needed (delimiter, quote or line break inside; an empty cell of a one-column table).
/// `read_csv` gives back the same columns and cells. Throws a ConfigError for empty or repeated column
/// names, a ShapeError for a row whose width differs from the header, an IoError if the file cannot be written.
inline void write_csv(const std::filesystem::path& path, const CsvTable& table, const CsvOptions& options = {}) {
  detail::check_csv_options(options, "write_csv");
  const std::string file = path.string();
  PLUGEN_CHECK(!table.columns.empty(), ConfigError, "write_csv: expected at least one column to write to '{}'", file);
  std::unordered_map<std::string_view, size_t> seen;
  for (size_t j = 0; j < table.columns.size(); ++j) {
    PLUGEN_CHECK(!detail::trim_blanks(table.columns[j]).empty(), ConfigError,
                 "write_csv: column {} of the table for '{}' has an empty name", j + 1, file);
    auto [it, inserted] = seen.emplace(table.columns[j], j);
    PLUGEN_CHECK(inserted, ConfigError, "write_csv: the column name '{}' appears twice (columns {} and {}) in '{}'",
                 table.columns[j], it->second + 1, j + 1, file);
  }
  for (size_t r = 0; r < table.rows.size(); ++r) {
    PLUGEN_CHECK(table.rows[r].size() == table.columns.size(), ShapeError,
                 "write_csv: row {} of the table for '{}' has {} cells, expected {} (one per column)", r + 1, file,
                 table.rows[r].size(), table.columns.size());
  }
  const char d = options.delimiter();
  const bool only_column = table.columns.size() == 1;
  write_file_atomic(path, [&](std::ostream& out) {
    auto write_record = [&](const std::vector<std::string>& cells) {
      for (size_t j = 0; j < cells.size(); ++j) {
        if (j) out << d;
        detail::write_csv_cell(out, cells[j], d, only_column);
      }
      out << '\n';
    };
    write_record(table.columns);
    for (const auto& row : table.rows) write_record(row);
  });
}

/// True for the cells plugen reads as a missing value: empty or blank, or (any case, surrounding blanks
/// ignored) "nan", "-nan", "na", "n/a", "#n/a", "<na>", "null", "none".
inline bool is_missing_value(std::string_view cell) {
  cell = detail::trim_blanks(cell);
  if (cell.empty()) return true;
  if (cell.size() > 4) return false;
  std::string lower(cell);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  for (const char* marker : {"nan", "-nan", "+nan", "na", "n/a", "#n/a", "<na>", "null", "none"}) {
    if (lower == marker) return true;
  }
  return false;
}


/// Parses a numeric label cell: nothing for a missing value (`is_missing_value`: empty, NaN, NA, ...), the
/// number for a number (`try_parse_number`), and an IoError for anything else; `where` (e.g.
/// "'labels.csv' line 7, column 'age'") leads the message.
inline std::optional<double> parse_number(std::string_view cell, std::string_view where = "parse_number") {
  if (is_missing_value(cell)) return std::nullopt;
  if (auto value = try_parse_number(cell)) return value;
  throw IoError(fmt::format("{}: expected a finite number or a missing value (empty, NaN, NA), got '{}'", where, cell));
}

}  // namespace plugen
