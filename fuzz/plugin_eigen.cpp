// libFuzzer target: the torch-free plugin reader (`eigen::Plugin<float>::from_bytes`: safetensors layout, every
// metadata field, partitions, tensor names, shapes, dtypes and values) on arbitrary bytes, then the maps of
// whatever it accepts (forward, inverse, attributes, sampling, editing) on a few rows. Any plugen::Error is an
// accepted outcome; anything else (a crash, a sanitizer report, another exception type) is a finding.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plugen/eigen.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto plugin = plugen::eigen::Plugin<float>::from_bytes(bytes, "fuzz.safetensors");
    const auto w = plugin.sample({}, 3, /*seed=*/size);
    const auto z = plugin.forward(w).first;
    (void)plugin.inverse(z);
    (void)plugin.attributes(w);
    if (plugin.schema().size() > 0 && plugin.schema()[0].kind == plugen::AttributeKind::binary)
      (void)plugin.edit(w, plugen::Edits().set(plugin.schema()[0].name, 1));
  } catch (const plugen::Error&) {
  }
  return 0;
}
