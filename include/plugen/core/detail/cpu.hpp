#pragma once
/// @file
/// Run-time CPU feature checks for the few kernels plugen compiles for AVX2 (with `__attribute__((target))`,
/// whatever the flags of the including translation unit) and calls only on CPUs that have it. Torch-free.

namespace plugen::detail {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/// Whether plugen's AVX2 kernels may run: x86-64 with GCC or clang, and a CPU with AVX2 and FMA.
#define PLUGEN_HAVE_AVX2_KERNELS 1

/// Whether this CPU has AVX2 and FMA (checked once).
inline bool cpu_has_avx2_fma() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}
#endif

}  // namespace plugen::detail
