#pragma once
/// @file
/// POSIX file descriptors behind plugen's file helpers: an owning descriptor, a streambuf that writes to
/// one, and a reader that knows the file's size before anything is allocated. Internal: use
/// `plugen/core/atomic_file.hpp`.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <streambuf>
#include <string>
#include <system_error>
#include <vector>

#include "plugen/core/check.hpp"

namespace plugen::detail {

/// The text of an errno value ("No such file or directory"), thread-safe unlike strerror.
inline std::string errno_message(int err) {
  return std::error_code(err, std::generic_category()).message();
}

/// An owning POSIX file descriptor (closed on destruction; errors on that close are ignored, call
/// `close()` to see them).
class FileDescriptor {
 public:
  /// Takes ownership of `fd` (-1 for none).
  explicit FileDescriptor(int fd = -1) noexcept : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  /// Closes the current descriptor (ignoring errors) and owns `fd` instead.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  /// The raw descriptor, -1 when closed.
  int get() const noexcept { return fd_; }
  /// Closes the descriptor; returns 0 or the errno of a failed close.
  int close() noexcept {
    if (fd_ < 0) return 0;
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

/// A buffered output streambuf over a POSIX descriptor. A failed write makes the stream bad and keeps the
/// errno in `error()`; partial writes and EINTR are retried.
class FdOutBuf : public std::streambuf {
 public:
  /// Writes to `fd` (not owned) through a buffer of `buffer_size` bytes.
  explicit FdOutBuf(int fd, size_t buffer_size = size_t{1} << 16) : fd_(fd), buffer_(buffer_size) {
    setp(buffer_.data(), buffer_.data() + buffer_.size());
  }
  FdOutBuf(const FdOutBuf&) = delete;
  FdOutBuf& operator=(const FdOutBuf&) = delete;

  /// The errno of the first failed write, 0 if none.
  int error() const noexcept { return error_; }

 protected:
  int_type overflow(int_type ch) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }

  std::streamsize xsputn(const char* s, std::streamsize n) override {
    // Large blocks (tensor data) bypass the buffer.
    if (n >= static_cast<std::streamsize>(buffer_.size())) {
      if (!drain() || !write_all(s, static_cast<size_t>(n))) return 0;
      return n;
    }
    return std::streambuf::xsputn(s, n);
  }

  int sync() override { return drain() ? 0 : -1; }

 private:
  bool drain() {
    const size_t n = static_cast<size_t>(pptr() - pbase());
    const bool ok = write_all(pbase(), n);
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return ok;
  }

  bool write_all(const char* p, size_t n) {
    if (error_) return false;
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        error_ = errno;
        return false;
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  int fd_;
  std::vector<char> buffer_;
  int error_ = 0;
};

/// A regular file opened for reading whose size is known up front, so readers can compare what a header
/// claims against what the file holds before allocating. Every failure is an IoError naming the file.
class InputFile {
 public:
  /// Opens `path`; `who` names the reader in messages (e.g. "read_npy").
  InputFile(const std::filesystem::path& path, std::string who) : path_(path), who_(std::move(who)) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    PLUGEN_CHECK(std::filesystem::exists(status), IoError, "{}: cannot read '{}': no such file", who_, path.string());
    PLUGEN_CHECK(!std::filesystem::is_directory(status), IoError, "{}: cannot read '{}': it is a directory, not a file",
                 who_, path.string());
    PLUGEN_CHECK(std::filesystem::is_regular_file(status), IoError,
                 "{}: cannot read '{}': not a regular file (a device, pipe or socket)", who_, path.string());
    int fd;
    do {
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    PLUGEN_CHECK(fd >= 0, IoError, "{}: cannot open '{}': {}", who_, path.string(), errno_message(errno));
    fd_.reset(fd);
    struct stat st {};
    PLUGEN_CHECK(::fstat(fd, &st) == 0, IoError, "{}: cannot stat '{}': {}", who_, path.string(), errno_message(errno));
    size_ = static_cast<uint64_t>(st.st_size);
  }

  /// Size of the file in bytes when it was opened.
  uint64_t size() const noexcept { return size_; }
  /// Bytes consumed so far.
  uint64_t position() const noexcept { return position_; }
  /// Bytes left between the position and the end of the file.
  uint64_t remaining() const noexcept { return size_ - position_; }
  /// The file's path.
  const std::filesystem::path& path() const noexcept { return path_; }

  /// Reads exactly `n` bytes into `out`; `what` names the part being read ("the header") in messages.
  void read_exact(void* out, uint64_t n, const char* what) {
    PLUGEN_CHECK(n <= remaining(), IoError,
                 "{}: '{}' is truncated: {} needs {} bytes at offset {}, but the file has only {} bytes", who_,
                 path_.string(), what, n, position_, size_);
    auto* p = static_cast<char*>(out);
    uint64_t left = n;
    while (left > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(left, uint64_t{1} << 30));
      const ssize_t r = ::read(fd_.get(), p, chunk);
      if (r < 0 && errno == EINTR) continue;
      PLUGEN_CHECK(r >= 0, IoError, "{}: error reading {} of '{}': {}", who_, what, path_.string(),
                   errno_message(errno));
      PLUGEN_CHECK(r > 0, IoError, "{}: '{}' ended early while reading {} (it shrank while being read?)", who_,
                   path_.string(), what);
      p += r;
      left -= static_cast<uint64_t>(r);
    }
    position_ += n;
  }

 private:
  std::filesystem::path path_;
  std::string who_;
  FileDescriptor fd_;
  uint64_t size_ = 0;
  uint64_t position_ = 0;
};

}  // namespace plugen::detail
