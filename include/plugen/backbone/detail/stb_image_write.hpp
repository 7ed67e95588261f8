#pragma once
/// @file
/// stb_image_write (Debian's `libstb-dev`), compiled into every translation unit that includes it, for
/// a header-only library: all of stb's functions are `static` (`STB_IMAGE_WRITE_STATIC`) and live in
/// `plugen::detail::stbiw`, so they neither clash across translation units nor with a copy of
/// stb_image_write that the including program compiles itself (global, static or not). The include
/// guard and configuration macros of stb are saved and restored around it, so the program can include
/// stb_image_write.h before or after this header. Only the in-memory writers are compiled
/// (`STBI_WRITE_NO_STDIO`): plugen writes files itself, atomically.
///
/// PNG data is compressed by zlib's deflate at level 1 (`png_deflate`, plugged in through stb's
/// `STBIW_ZLIB_COMPRESS`) rather than by stb's own compressor, which allocates and frees one buffer per hash
/// slot used and searched matches at level 8: for small images (e.g. 28 x 28 samples) it cost several times
/// the rest of the file write.

// The C headers stb's implementation includes, at global scope first so that its own #includes inside the
// namespace below are no-ops.
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cassert>

#include <zlib.h>

namespace plugen::detail {

/// zlib-format compression of `data` for stb's PNG writer (the `STBIW_ZLIB_COMPRESS` signature): deflate at
/// level 1 (the fastest that still compresses), with one deflate state per thread, reset between images
/// rather than reallocated. Returns a malloc'ed buffer of `*out_len` bytes (stb frees it), or nullptr.
inline unsigned char* png_deflate(unsigned char* data, int data_len, int* out_len, int /*stb_quality*/) {
  struct Stream {
    z_stream z{};
    bool ready = false;
    ~Stream() {
      if (ready) deflateEnd(&z);
    }
  };
  thread_local Stream s;
  if (!s.ready) {
    if (deflateInit(&s.z, Z_BEST_SPEED) != Z_OK) return nullptr;
    s.ready = true;
  } else if (deflateReset(&s.z) != Z_OK) {
    return nullptr;
  }
  const uLong bound = deflateBound(&s.z, static_cast<uLong>(data_len));
  auto* out = static_cast<unsigned char*>(malloc(bound));
  if (out == nullptr) return nullptr;
  s.z.next_in = data;
  s.z.avail_in = static_cast<uInt>(data_len);
  s.z.next_out = out;
  s.z.avail_out = static_cast<uInt>(bound);
  if (deflate(&s.z, Z_FINISH) != Z_STREAM_END) {
    free(out);
    return nullptr;
  }
  *out_len = static_cast<int>(bound - s.z.avail_out);
  return out;
}

}  // namespace plugen::detail

#pragma push_macro("INCLUDE_STB_IMAGE_WRITE_H")
#pragma push_macro("STB_IMAGE_WRITE_IMPLEMENTATION")
#pragma push_macro("STB_IMAGE_WRITE_STATIC")
#pragma push_macro("STBI_WRITE_NO_STDIO")
#pragma push_macro("STBIWDEF")
#pragma push_macro("STBIW_ASSERT")
#pragma push_macro("STBIW_ZLIB_COMPRESS")
#undef INCLUDE_STB_IMAGE_WRITE_H
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#undef STB_IMAGE_WRITE_STATIC
#undef STBI_WRITE_NO_STDIO
#undef STBIWDEF
#undef STBIW_ASSERT
#undef STBIW_ZLIB_COMPRESS
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#define STBIW_ASSERT(x) assert(x)
#define STBIW_ZLIB_COMPRESS ::plugen::detail::png_deflate

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif

namespace plugen::detail::stbiw {
#include <stb/stb_image_write.h>
}  // namespace plugen::detail::stbiw

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#pragma pop_macro("STBIW_ZLIB_COMPRESS")
#pragma pop_macro("STBIW_ASSERT")
#pragma pop_macro("STBIWDEF")
#pragma pop_macro("STBI_WRITE_NO_STDIO")
#pragma pop_macro("STB_IMAGE_WRITE_STATIC")
#pragma pop_macro("STB_IMAGE_WRITE_IMPLEMENTATION")
#pragma pop_macro("INCLUDE_STB_IMAGE_WRITE_H")
