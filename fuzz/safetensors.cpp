// libFuzzer target: the torch-free safetensors validator (`detail::parse_safetensors`: length field, JSON
// header, dtypes, shapes, offsets that must tile the data buffer) on arbitrary bytes; plugin files are
// safetensors files, so this is the untrusted-input surface of `load_plugin` before any tensor is built.
// Any plugen::Error is an accepted outcome; anything else is a finding.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plugen/data/detail/safetensors_format.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto layout = plugen::detail::parse_safetensors(bytes, "fuzz.safetensors");
    // A validated layout must stay inside the input.
    for (const auto& e : layout.entries) {
      if (e.end > layout.data_size || layout.data_offset + layout.data_size != size) __builtin_trap();
    }
  } catch (const plugen::Error&) {
  }
  return 0;
}
