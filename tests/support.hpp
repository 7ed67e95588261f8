#pragma once
// Shared helpers for the plugen tests: a seeding fixture, random tensors, parameter perturbation,
// temporary directories, raw file bytes, and Debian's Python for interoperability checks.

#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "plugen/core/atomic_file.hpp"
#include "plugen/core/error.hpp"

namespace plugen_test {

/// Seeds torch's global generator for the duration of a test so results do not depend on test order.
struct Seeded {
  explicit Seeded(uint64_t seed = 1234) { torch::manual_seed(seed); }
};

/// Perturbs every parameter of `module` so a fresh (identity) flow becomes a generic, well-conditioned
/// invertible map: vectors get N(0, scale^2) noise, matrices N(0, scale^2 / fan_in) so every layer's
/// output moves by O(scale) whatever the width.
inline void randomize(torch::nn::Module& module, double scale) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    const double s = p.dim() == 2 ? scale / std::sqrt(static_cast<double>(p.size(1))) : scale;
    p.add_(torch::randn_like(p) * s);
  }
}

/// A well-conditioned (n, n) float64 matrix whose LU factorization needs row exchanges and negative pivots:
/// rows of I + 0.3 N(0, 1/n) in a random order, some negated (from the global generator).
inline torch::Tensor permuted_near_identity(int64_t n) {
  auto w = torch::eye(n, torch::kFloat64) + 0.3 * torch::randn({n, n}, torch::kFloat64) / std::sqrt(double(n));
  auto signs = torch::where(torch::rand({n, 1}, torch::kFloat64) < 0.5, -1.0, 1.0).to(torch::kFloat64);
  return (w * signs).index_select(0, torch::randperm(n, torch::kInt64));
}

/// Runs `fn` and returns the message of the plugen error of kind `Kind` it throws; fails if none.
template <class Kind, class Fn>
std::string error_message(Fn&& fn) {
  try {
    fn();
  } catch (const Kind& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("expected a different exception kind, got: " << e.what());
  }
  FAIL("expected an exception, none was thrown");
  return {};
}

/// A fresh empty directory for one test's files, removed with its content when the test ends. It lives under
/// $PLUGEN_TEST_TMP (set by CTest to the build tree) or else the system temporary directory.
class TempDir {
 public:
  /// Creates `<root>/<tag>.<pid>.<counter>`.
  explicit TempDir(const std::string& tag) {
    static std::atomic<int> counter{0};
    const char* env = std::getenv("PLUGEN_TEST_TMP");
    const std::filesystem::path root =
        env && *env ? std::filesystem::path(env) : std::filesystem::temp_directory_path();
    path_ = root / (tag + "." + std::to_string(::getpid()) + "." + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  /// The directory.
  const std::filesystem::path& path() const { return path_; }
  /// A path inside the directory.
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  /// Names of the entries in the directory, sorted (to check no temporary files are left behind).
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::filesystem::path path_;
};

/// Writes `bytes` to `path` verbatim (plain, non-atomic), e.g. to craft corrupt files.
inline void write_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

/// Debian's Python, used by interoperability tests (never a pyenv/virtualenv one).
inline constexpr const char* system_python = "/usr/bin/python3";

/// True when /usr/bin/python3 runs and can import each module of `modules` (space-separated, may be empty).
inline bool have_python(const std::string& modules = "") {
  std::string code = "import sys";
  std::string m;
  for (char c : modules + " ") {
    if (c == ' ') {
      if (!m.empty()) code += "; import " + m;
      m.clear();
    } else {
      m += c;
    }
  }
  const std::string cmd = std::string(system_python) + " -c '" + code + "' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

/// Runs `code` with /usr/bin/python3 as the script `dir/name`, passing `args` (single-quoted); returns the
/// exit status (0 on success). The script's output goes to the test log.
inline int run_python(const std::filesystem::path& dir, const std::string& name, const std::string& code,
                      const std::vector<std::string>& args = {}) {
  const auto script = dir / name;
  write_bytes(script, code);
  std::string cmd = std::string(system_python) + " '" + script.string() + "'";
  for (const auto& a : args) {
    std::string quoted;
    for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    cmd += " '" + quoted + "'";
  }
  const int status = std::system(cmd.c_str());
  return status == -1 ? -1 : WEXITSTATUS(status);
}

#ifdef PLUGEN_CLI_PATH
/// Exit status and captured output of one run of the built `plugen` binary.
struct CliRun {
  int status;
  std::string out, err;
};

/// Runs `plugen <args>` (arguments single-quoted) with stdout and stderr captured in `dir`.
inline CliRun run_plugen_cli(const TempDir& dir, const std::vector<std::string>& args) {
  std::string cmd = std::string("'") + PLUGEN_CLI_PATH + "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  const auto out = dir / "cli.out", err = dir / "cli.err";
  cmd += " > '" + out.string() + "' 2> '" + err.string() + "'";
  const int status = std::system(cmd.c_str());
  return {status == -1 ? -1 : WEXITSTATUS(status), plugen::read_file(out), plugen::read_file(err)};
}
#endif

}  // namespace plugen_test
