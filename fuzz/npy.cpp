// libFuzzer target: the torch-free .npy validator (`detail::parse_npy`: preamble, header dict parser, dtype
// and size checks) on arbitrary bytes. Any plugen::Error is an accepted outcome; anything else (a crash, a
// sanitizer report, a foreign exception, a hang) is a finding.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plugen/data/detail/npy_format.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto header = plugen::detail::parse_npy(bytes, "fuzz.npy");
    // A header that validates must describe exactly the bytes that follow it.
    uint64_t n = 0;
    if (!plugen::detail::npy_byte_count(header.shape, plugen::detail::find_npy_dtype(header.descr)->itemsize, n) ||
        n > size) {
      __builtin_trap();
    }
  } catch (const plugen::Error&) {
  }
  return 0;
}
