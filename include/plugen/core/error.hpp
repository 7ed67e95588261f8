#pragma once
/// @file
/// The one error hierarchy of plugen: `plugen::Error` and its kinds.

#include <stdexcept>
#include <string>
#include <utility>

namespace plugen {

/// What went wrong, coarsely: lets callers branch on the kind without catching each type.
enum class ErrorKind {
  config,    ///< invalid options, unknown names, values of the wrong kind
  shape,     ///< tensors or files with the wrong shape, width or dtype
  io,        ///< missing, unreadable, truncated or corrupt files
  backbone,  ///< a generator/classifier module that does not meet the backbone contract
  numeric,   ///< NaN/inf inputs or results, failed numerical operations
};

/// Human-readable name of an error kind ("config", "shape", ...).
inline const char* to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::config:
      return "config";
    case ErrorKind::shape:
      return "shape";
    case ErrorKind::io:
      return "io";
    case ErrorKind::backbone:
      return "backbone";
    case ErrorKind::numeric:
      return "numeric";
  }
  return "unknown";
}

/// Base of every exception plugen throws. Messages say who complained, what was expected and what
/// was found, and name the file or option involved.
class Error : public std::runtime_error {
 public:
  /// Creates an error of the given kind with a complete message.
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  /// The kind of failure.
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

/// Invalid options or arguments: unknown names, out-of-range values, inconsistent settings.
class ConfigError : public Error {
 public:
  /// Creates a config error with a complete message.
  explicit ConfigError(const std::string& message) : Error(ErrorKind::config, message) {}
};

/// A tensor or file whose shape, width or dtype is not what was expected.
class ShapeError : public Error {
 public:
  /// Creates a shape error with a complete message.
  explicit ShapeError(const std::string& message) : Error(ErrorKind::shape, message) {}
};

/// A file that is missing, unreadable, truncated, corrupt or of an unsupported format version.
class IoError : public Error {
 public:
  /// Creates an io error with a complete message.
  explicit IoError(const std::string& message) : Error(ErrorKind::io, message) {}
};

/// A backbone (TorchScript generator, encoder, classifier) that does not meet the contract.
class BackboneError : public Error {
 public:
  /// Creates a backbone error with a complete message.
  explicit BackboneError(const std::string& message) : Error(ErrorKind::backbone, message) {}
};

/// NaN or infinite values in inputs or results, or a numerical operation that failed.
class NumericError : public Error {
 public:
  /// Creates a numeric error with a complete message.
  explicit NumericError(const std::string& message) : Error(ErrorKind::numeric, message) {}
};

}  // namespace plugen
