#pragma once
/// @file
/// Which BLAS kernels LibTorch's matrix products run on. LibTorch calls whatever `libblas.so.3` is; OpenBLAS built
/// for several CPUs (`DYNAMIC_ARCH`, as Debian's is) picks its kernels for the CPU when it loads, unless the
/// environment variable `OPENBLAS_CORETYPE` names others. The kernels decide the GEMM rate, and so most of
/// plugen's speed: on the 2-core AMD machine of benchmarks/README.md, OpenBLAS picks its AVX-512 "Cooperlake"
/// kernels (float32 `mm` of 1024 x 1024: about 240 GFLOP/s on one core) and `OPENBLAS_CORETYPE=Haswell` (AVX2)
/// halves that. `plugen version` and the benchmarks report it. Torch-free (POSIX `dlsym`).

#include <dlfcn.h>

#include <cstdlib>
#include <string>

namespace plugen {

/// The BLAS this process calls, as far as plugen can see it.
struct BlasInfo {
  std::string library;   ///< "OpenBLAS", or "" when `libblas.so.3` is another BLAS
  std::string core;      ///< OpenBLAS's kernels in use (`openblas_get_corename()`, e.g. "Haswell", "Cooperlake")
  std::string config;    ///< `openblas_get_config()`: version and build options
  std::string coretype;  ///< `OPENBLAS_CORETYPE` from the environment ("" when unset: OpenBLAS's own pick)
};

/// The BLAS of this process (OpenBLAS found through the functions it exports).
inline BlasInfo blas_info() {
  BlasInfo info;
  if (const char* s = std::getenv("OPENBLAS_CORETYPE")) info.coretype = s;
  using Fn = char* (*)();
  const auto corename = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const auto config = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  if (!corename || !config) return info;
  info.library = "OpenBLAS";
  if (const char* s = corename()) info.core = s;
  if (const char* s = config()) info.config = s;
  return info;
}

}  // namespace plugen
