// libFuzzer target: the torch-free generation job spec parser (`parse_job_spec`: JSON syntax, field types,
// unknown fields, counts, bins, quota consistency). Any plugen::Error is an accepted outcome; anything else
// (a foreign exception, a crash, a hang, a sanitizer report) is a finding. A parsed spec must satisfy the
// invariants the generation engine relies on.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plugen/generate/detail/spec_format.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto spec = plugen::parse_job_spec(text, "fuzz.json");
    if (spec.backbone.empty() || spec.plugin.empty() || spec.output.dir.empty()) __builtin_trap();
    // Balance quotas imply the count only once their label file is read; every other spec has one.
    const bool balance = spec.quotas.mode == plugen::QuotaMode::balance;
    if ((!spec.count && !balance) || (spec.count && *spec.count < 1)) __builtin_trap();
    if (spec.batch_size < 1 || spec.decode_block < 1) __builtin_trap();
    if (spec.output.chunk_size < 1 || spec.verify.max_attempts < 1) __builtin_trap();
    if (spec.quotas.mode == plugen::QuotaMode::explicit_counts) {
      int64_t total = 0;
      for (const auto& c : spec.quotas.cells) {
        if (c.count < 0) __builtin_trap();
        total += c.count;
      }
      if (total != *spec.count) __builtin_trap();
    }
    for (const auto& [name, b] : spec.quotas.bins) {
      (void)name;
      if ((b.count > 0) == !b.edges.empty()) __builtin_trap();
      for (size_t i = 1; i < b.edges.size(); ++i)
        if (!(b.edges[i] > b.edges[i - 1])) __builtin_trap();
    }
  } catch (const plugen::Error&) {
  }
  return 0;
}
