// libFuzzer target: the torch-free CSV reader (`parse_csv`: RFC 4180 splitting, header checks, row widths)
// and the numeric cell parser on every cell. The first byte picks the delimiter so other dialects are covered.
// Any plugen::Error is an accepted outcome; anything else is a finding.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plugen/data/csv.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const char delimiters[] = {',', ';', '\t', '|'};
  const char delimiter = delimiters[data[0] % 4];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    const auto table = plugen::parse_csv(text, "fuzz.csv", plugen::CsvOptions().delimiter(delimiter));
    for (const auto& row : table.rows) {
      if (row.size() != table.columns.size()) __builtin_trap();
      for (const auto& cell : row) (void)plugen::try_parse_number(cell);
    }
  } catch (const plugen::Error&) {
  }
  return 0;
}
