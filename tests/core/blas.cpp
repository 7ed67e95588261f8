// Tests of plugen/core/blas.hpp: the BLAS kernels plugen reports are the ones that run.
#include "plugen/core/blas.hpp"

#include <cctype>
#include <cstdlib>

#include "support.hpp"

using namespace plugen;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

TEST_CASE("blas_info describes the OpenBLAS of this process", "[core][blas]") {
  const auto info = blas_info();
  const char* env = std::getenv("OPENBLAS_CORETYPE");
  CHECK(info.coretype == (env ? env : ""));
  if (info.library.empty()) {
    WARN("libblas.so.3 is not OpenBLAS here; nothing more to check");
    return;
  }
  CHECK(!info.core.empty());
  CHECK_THAT(info.config, Catch::Contains("OpenBLAS") && Catch::Contains(info.core));
}

#ifdef PLUGEN_CLI_PATH
TEST_CASE("plugen version reports the kernels OPENBLAS_CORETYPE selects", "[core][blas][cli]") {
  plugen_test::TempDir dir("blas_cli");
  auto blas = [&](const std::string& env) {
    const auto out = dir / "version.json";
    const std::string cmd = "env -u OPENBLAS_CORETYPE " + env + " '" + PLUGEN_CLI_PATH + "' version > '" +
                            out.string() + "'";
    REQUIRE(std::system(cmd.c_str()) == 0);
    return nlohmann::json::parse(plugen::read_file(out))["blas"];
  };
  const auto own = blas("");
  if (own["library"] != "OpenBLAS") {
    WARN("libblas.so.3 is not OpenBLAS here; nothing to check");
    return;
  }
  CHECK(own["OPENBLAS_CORETYPE"] == "");
  const std::string config = own["config"];
  if (config.find("DYNAMIC_ARCH") == std::string::npos) {
    WARN("OpenBLAS built for one CPU: OPENBLAS_CORETYPE does not apply");
    return;
  }
#if defined(__x86_64__)
  // Prescott (SSE3) kernels exist in every x86-64 DYNAMIC_ARCH build and run on every x86-64 CPU.
  const auto pinned = blas("OPENBLAS_CORETYPE=Prescott");
  CHECK(pinned["OPENBLAS_CORETYPE"] == "Prescott");
  CHECK(lower(pinned["core"]) == "prescott");
#endif
}
#endif
