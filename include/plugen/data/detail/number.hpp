#pragma once
/// @file
/// Locale-independent parsing of numbers in text cells, without LibTorch (shared by the CSV reader, request
/// parsing and the torch-free inference path).

#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>
#include <system_error>

namespace plugen {

namespace detail {

/// `s` without leading and trailing spaces, tabs and line breaks.
inline std::string_view trim_blanks(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace detail

/// The finite number that `cell` holds, or nothing. Accepts decimal integers and floats ("3", "-2.5", "+1e-3",
/// ".5"), locale-independently, with surrounding blanks; rejects anything else: trailing junk ("3kg"),
/// hexadecimal, infinities, out-of-range values, missing-value markers. Never throws.
inline std::optional<double> try_parse_number(std::string_view cell) {
  cell = detail::trim_blanks(cell);
  if (cell.size() >= 2 && cell[0] == '+' && cell[1] != '-' && cell[1] != '+') cell.remove_prefix(1);
  if (cell.empty()) return std::nullopt;
  // from_chars also takes "inf"/"nan"; only digits, signs, points and exponents make a label value.
  for (char c : cell) {
    if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')) return std::nullopt;
  }
  double value = 0;
  const auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), value);
  if (ec != std::errc() || end != cell.data() + cell.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

}  // namespace plugen
