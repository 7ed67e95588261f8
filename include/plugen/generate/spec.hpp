#pragma once
/// @file
/// The generation job spec (`JobSpec`, parsed by the torch-free `parse_job_spec`) and `read_job_spec`, which
/// reads it from a file and resolves relative file names against the file's folder.

#include <filesystem>
#include <string>

#include "plugen/core/atomic_file.hpp"
#include "plugen/generate/detail/spec_format.hpp"

namespace plugen {

/// Reads a job spec from the JSON file `path` (at most 16 MiB). Relative file names in it (backbone, plugin,
/// classifier, label file, output folder) are taken relative to the file's folder. A missing or unreadable file
/// is an IoError; every problem of its content a ConfigError naming the file and the field.
inline JobSpec read_job_spec(const std::filesystem::path& path) {
  const auto text = read_file(path, uint64_t{16} << 20);
  auto spec = parse_job_spec(text, path.string());
  spec.base_dir = path.parent_path();
  return spec;
}

}  // namespace plugen
