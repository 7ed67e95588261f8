// libFuzzer target: the LibTorch plugin-file loader (`plugen::parse_plugin`, the in-memory twin of
// `load_plugin`: safetensors layout, metadata JSON, size bounds, tensor shapes and dtypes, partitions, flow
// construction) on arbitrary bytes. A plugin that loads is then run forward and back on one row, so a file that
// validates but builds an unusable flow is a finding too. Any plugen::Error is an accepted outcome; anything
// else (a crash, a sanitizer report, a c10::Error or other foreign exception, a hang, an allocation beyond
// -rss_limit_mb / -malloc_limit_mb) is a finding.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <torch/torch.h>

#include "plugen/plugin/file.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto plugin = plugen::parse_plugin(bytes, "fuzz.plugin");
    torch::NoGradGuard no_grad;
    const auto w = torch::zeros({1, plugin.dim()}, plugin.dtype());
    auto [z, logdet] = plugin.forward_rows(w);
    const auto back = plugin.inverse_rows(z);
    if (back.sizes() != w.sizes() || logdet.numel() != 1) __builtin_trap();
  } catch (const plugen::Error&) {
  }
  return 0;
}
