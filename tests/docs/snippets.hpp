#pragma once
// Support of the documentation snippets compiled into plugen_tests (see tests/docs/snippets.cmake): the snippets
// marked `run` run inside a fresh temporary working directory, so the files they write land nowhere else.

#include <filesystem>
#include <string>

#include "support.hpp"

namespace plugen_docs {

/// Makes a fresh temporary directory the working directory for its lifetime, then restores the previous one.
class InTemporaryDirectory {
 public:
  /// Creates the directory (see plugen_test::TempDir) and enters it.
  explicit InTemporaryDirectory(const std::string& tag) : dir_(tag), previous_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir_.path());
  }
  InTemporaryDirectory(const InTemporaryDirectory&) = delete;
  InTemporaryDirectory& operator=(const InTemporaryDirectory&) = delete;
  ~InTemporaryDirectory() {
    std::error_code ec;
    std::filesystem::current_path(previous_, ec);
  }

 private:
  plugen_test::TempDir dir_;
  std::filesystem::path previous_;
};

}  // namespace plugen_docs
