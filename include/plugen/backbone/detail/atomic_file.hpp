#pragma once
/// @file
/// TEMPORARY private helper: write a file through a temporary name in the same folder, then rename it
/// into place, so a reader never sees a half-written file and a crash never leaves one behind.
///
/// LEAD: swap for the shared `include/plugen/core/atomic_file.hpp` once it is merged (being written on
/// another branch); the only caller is `plugen/backbone/image.hpp` (`detail::write_file_atomically`).

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include <unistd.h>

#include "plugen/core/check.hpp"

namespace plugen::detail {

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename). The folder
/// must exist. An IoError names `who`, the path and the system's reason on failure; the temporary
/// file is removed.
inline void write_file_atomically(const std::string& path, std::string_view bytes, const std::string& who) {
  namespace fs = std::filesystem;
  static std::atomic<unsigned long> counter{0};
  const fs::path target(path);
  const fs::path tmp = target.parent_path() / (target.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                                               std::to_string(counter++));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    PLUGEN_CHECK(out.good(), IoError, "{}: cannot create '{}': {}", who, tmp.string(), std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out.good()) {
      const std::string reason = std::strerror(errno);
      out.close();
      std::error_code ignored;
      fs::remove(tmp, ignored);
      throw IoError(fmt::format("{}: cannot write '{}': {}", who, tmp.string(), reason));
    }
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw IoError(fmt::format("{}: cannot rename '{}' to '{}': {}", who, tmp.string(), path, ec.message()));
  }
}

}  // namespace plugen::detail
