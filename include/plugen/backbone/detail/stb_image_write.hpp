#pragma once
/// @file
/// stb_image_write (Debian's `libstb-dev`), compiled into every translation unit that includes it, for
/// a header-only library: all of stb's functions are `static` (`STB_IMAGE_WRITE_STATIC`) and live in
/// `plugen::detail::stbiw`, so they neither clash across translation units nor with a copy of
/// stb_image_write that the including program compiles itself (global, static or not). The include
/// guard and configuration macros of stb are saved and restored around it, so the program can include
/// stb_image_write.h before or after this header. Only the in-memory writers are compiled
/// (`STBI_WRITE_NO_STDIO`): plugen writes files itself, atomically.

// The C headers stb's implementation includes, at global scope first so that its own #includes inside the
// namespace below are no-ops.
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cassert>

#pragma push_macro("INCLUDE_STB_IMAGE_WRITE_H")
#pragma push_macro("STB_IMAGE_WRITE_IMPLEMENTATION")
#pragma push_macro("STB_IMAGE_WRITE_STATIC")
#pragma push_macro("STBI_WRITE_NO_STDIO")
#pragma push_macro("STBIWDEF")
#pragma push_macro("STBIW_ASSERT")
#undef INCLUDE_STB_IMAGE_WRITE_H
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#undef STB_IMAGE_WRITE_STATIC
#undef STBI_WRITE_NO_STDIO
#undef STBIWDEF
#undef STBIW_ASSERT
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#define STBIW_ASSERT(x) assert(x)

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

#pragma pop_macro("STBIW_ASSERT")
#pragma pop_macro("STBIWDEF")
#pragma pop_macro("STBI_WRITE_NO_STDIO")
#pragma pop_macro("STB_IMAGE_WRITE_STATIC")
#pragma pop_macro("STB_IMAGE_WRITE_IMPLEMENTATION")
#pragma pop_macro("INCLUDE_STB_IMAGE_WRITE_H")
