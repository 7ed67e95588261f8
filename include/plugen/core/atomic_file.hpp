#pragma once
/// @file
/// The one way plugen writes files: atomically (temporary sibling, fsync, rename), so a reader never sees a
/// half-written plugin, latent file or manifest, even if the writer crashes. Also `read_file`, the checked
/// whole-file reader. Torch-free.
///
/// Two guarantees, two costs: the temporary name and the rename alone already protect against a crash of the
/// writing process (kill -9, a segfault): what was written is in the page cache, which outlives the process, so
/// the final name only ever shows a complete file. Only a crash of the machine (power loss, kernel panic)
/// can lose page-cache data; `FileSync::full` (the default) also protects against that by fsyncing the file
/// before the rename and its folder after, at a cost of milliseconds per file on most disks. Writers of many
/// small files that can be regenerated (e.g. `plugen generate`) choose `FileSync::none`.

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>

#include "plugen/core/check.hpp"
#include "plugen/core/detail/posix_file.hpp"

namespace plugen {

namespace detail {

/// A name for a temporary sibling of `path`: ".<name>.tmp.<pid>.<counter>", unique within the process and
/// hidden from directory listings that skip dot files.
inline std::filesystem::path temporary_sibling(const std::filesystem::path& path) {
  static std::atomic<uint64_t> counter{0};
  const auto name = fmt::format(".{}.tmp.{}.{}", path.filename().string(), static_cast<long>(::getpid()),
                                counter.fetch_add(1, std::memory_order_relaxed));
  return path.parent_path() / name;
}

/// Removes the temporary file of a write that did not complete; closes its descriptor first.
struct TemporaryFileGuard {
  /// The temporary file.
  std::filesystem::path path;
  /// Its open descriptor, while writing.
  FileDescriptor fd;
  /// Set once the file was renamed into place (or never created): nothing to remove.
  bool committed = false;
  ~TemporaryFileGuard() {
    fd.close();
    if (!committed) ::unlink(path.c_str());
  }
};

/// Flushes the directory entry of a completed rename to disk. Best effort: some file systems refuse
/// fsync on directories, and the data itself is already durable.
inline void fsync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace detail

/// What `write_file_atomic` does to make a file durable beyond the rename.
enum class FileSync {
  /// fsync the file before the rename and its folder after: the file survives a crash of the process and of
  /// the machine (power loss). The default.
  full,
  /// No fsync: the file survives a crash of the process (kill -9) complete or not at all, but after a power
  /// loss or kernel crash the final name may show an empty or truncated file.
  none,
};

/// Writes the file `path` atomically: `write` fills a temporary file in the same directory, which is flushed,
/// fsynced (unless `sync` is `FileSync::none`) and renamed over `path`. Readers see the old file or the
/// complete new one, never a mix; a crash leaves at most a hidden `.<name>.tmp.<pid>.<n>` file behind.
///
/// The parent directory must exist. A new file gets mode 0666 minus the umask (an overwritten file's mode is
/// not kept; a symbolic link at `path` is replaced by the file, not followed). On any failure the temporary file is
/// removed and an IoError naming `path` is thrown; a `plugen::Error` thrown by `write` itself (e.g. a ShapeError)
/// propagates unchanged, any other exception from `write` is reported as an IoError naming `path` and its message.
inline void write_file_atomic(const std::filesystem::path& path, const std::function<void(std::ostream&)>& write,
                              FileSync sync = FileSync::full) {
  PLUGEN_CHECK(!path.empty() && path.has_filename(), IoError,
               "write_file_atomic: expected the path of a file to write, got '{}'", path.string());
  std::error_code ec;
  PLUGEN_CHECK(!std::filesystem::is_directory(path, ec), IoError,
               "write_file_atomic: cannot write '{}': it is an existing directory", path.string());

  detail::TemporaryFileGuard tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp.path = detail::temporary_sibling(path);
    fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST && errno != EINTR) break;
  }
  if (fd < 0) {
    const int err = errno;
    tmp.committed = true;  // nothing was created, nothing to remove
    throw IoError(fmt::format("write_file_atomic: cannot write '{}': cannot create a temporary file in '{}': {}",
                              path.string(), path.has_parent_path() ? path.parent_path().string() : ".",
                              detail::errno_message(err)));
  }
  tmp.fd.reset(fd);

  detail::FdOutBuf buffer(fd);
  std::ostream out(&buffer);
  try {
    write(out);
    out.flush();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw IoError(fmt::format("write_file_atomic: writing '{}' failed: {}", path.string(), e.what()));
  }
  PLUGEN_CHECK(out.good() && buffer.error() == 0, IoError, "write_file_atomic: writing '{}' failed: {}", path.string(),
               buffer.error() ? detail::errno_message(buffer.error()) : std::string("the stream reported an error"));

  if (sync == FileSync::full) {
    int rc;
    do {
      rc = ::fsync(fd);
    } while (rc != 0 && errno == EINTR);
    PLUGEN_CHECK(rc == 0, IoError, "write_file_atomic: cannot flush '{}' to disk: {}", path.string(),
                 detail::errno_message(errno));
  }
  const int close_err = tmp.fd.close();
  PLUGEN_CHECK(close_err == 0, IoError, "write_file_atomic: cannot close the temporary file of '{}': {}", path.string(),
               detail::errno_message(close_err));
  PLUGEN_CHECK(std::rename(tmp.path.c_str(), path.c_str()) == 0, IoError,
               "write_file_atomic: cannot rename the temporary file '{}' to '{}': {}", tmp.path.string(), path.string(),
               detail::errno_message(errno));
  tmp.committed = true;
  if (sync == FileSync::full) detail::fsync_directory(path.parent_path());
}

/// Writes `bytes` to `path` atomically; see the stream overload for the guarantees and errors.
inline void write_file_atomic(const std::filesystem::path& path, std::string_view bytes,
                              FileSync sync = FileSync::full) {
  write_file_atomic(
      path, [bytes](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); },
      sync);
}

/// The whole content of the regular file `path`. Throws an IoError naming the file when it is missing, a
/// directory or a device, unreadable, or larger than `max_bytes` (checked before anything is allocated).
inline std::string read_file(const std::filesystem::path& path,
                             uint64_t max_bytes = std::numeric_limits<uint64_t>::max()) {
  detail::InputFile file(path, "read_file");
  PLUGEN_CHECK(file.size() <= max_bytes, IoError, "read_file: '{}' has {} bytes, more than the limit of {} bytes",
               path.string(), file.size(), max_bytes);
  std::string bytes(static_cast<size_t>(file.size()), '\0');
  file.read_exact(bytes.data(), bytes.size(), "the content");
  return bytes;
}

}  // namespace plugen
