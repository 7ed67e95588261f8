#pragma once
/// @file
/// Float32 matrix-product kernels for the training passes of a conditioner MLP at small batches (AVX2 + FMA,
/// chosen at run time). Torch-free: raw row-major pointers.
///
/// At batch 32 the official preset's products are 32 x 512 by 512 x 512: BLAS `sgemm` first copies ("packs") the
/// whole weight matrix into its own layout and, for a fresh output (beta 0), clears that output in a separate
/// pass; both passes stream a 1 MB matrix that the product then reads or writes again. These kernels read the
/// weights and write the outputs in place, in register blocks, and fold the bias and activation (forward) or the
/// activation's derivative (backward) into the pass that writes the result. Measured against OpenBLAS 0.3.21 (one
/// thread, its Haswell kernels, weights cycling through L3 as in a training step): 32 x 512 x 512 forward 6%,
/// input gradient 22%, weight gradient 10% faster; at batch 64 3-9% faster; at 128 and 256 on par with it, so plugen
/// uses them up to 64 rows, and only where the BLAS has no AVX-512 kernels (`mlp_kernels_apply`).
///
/// Sums are taken in another order than BLAS's, so results differ from `torch::mm` by float rounding.

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

#include "plugen/core/blas.hpp"
#include "plugen/core/detail/cpu.hpp"

namespace plugen::detail {

#if defined(PLUGEN_HAVE_AVX2_KERNELS)

/// Whether this process's BLAS runs AVX-512 kernels: OpenBLAS with one of its AVX-512 kernel sets, or another BLAS
/// on a CPU with AVX-512F (MKL and BLIS use it there). Its products are then faster than the AVX2 kernels below:
/// with OpenBLAS's "Cooperlake" kernels, batch-32 training ran at 3,773 samples/s through these kernels against
/// 4,146 through BLAS (benchmarks/README.md).
inline bool blas_has_avx512_kernels() {
  static const bool yes = [] {
    if (!__builtin_cpu_supports("avx512f")) return false;
    const BlasInfo info = blas_info();
    if (info.library != "OpenBLAS") return true;
    std::string core = info.core;
    std::transform(core.begin(), core.end(), core.begin(), [](unsigned char c) { return std::tolower(c); });
    return core == "skylakex" || core == "cooperlake" || core == "sapphirerapids";
  }();
  return yes;
}

/// Whether plugen computes a layer of `in` inputs and `out` outputs with the kernels below: widths that are
/// multiples of 8, a CPU with AVX2 and FMA, and a BLAS without AVX-512 kernels (as with `OPENBLAS_CORETYPE=Haswell`).
inline bool mlp_kernels_apply(int64_t in, int64_t out) {
  return in % 8 == 0 && out % 8 == 0 && in > 0 && out > 0 && cpu_has_avx2_fma() && !blas_has_avx512_kernels();
}

namespace mlp {

// The four sums of the lanes of a, b, c, d, in that order.
__attribute__((target("avx2,fma"), always_inline)) inline __m128 lane_sums(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
  const __m256 abcd = _mm256_hadd_ps(ab, cd);  // per 128-bit half: a b c d partial sums
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// relu (slope 0: NaN stays NaN, as LibTorch's) or leaky_relu (v > 0 ? v : slope * v).
__attribute__((target("avx2,fma"), always_inline)) inline __m128 activate(__m128 v, float slope) {
  if (slope == 0) return _mm_max_ps(_mm_setzero_ps(), v);  // max returns its second operand on NaN
  return _mm_blendv_ps(_mm_mul_ps(v, _mm_set1_ps(slope)), v, _mm_cmpgt_ps(v, _mm_setzero_ps()));
}

// The activation's derivative applied to a gradient, read off the activation's output h (its sign is its input's):
// relu as LibTorch's threshold_backward (0 where h <= 0; NaN passes), leaky_relu as leaky_relu_backward.
__attribute__((target("avx2,fma"), always_inline)) inline __m256 derive(__m256 g, __m256 h, float slope) {
  if (slope == 0) return _mm256_and_ps(g, _mm256_cmp_ps(h, _mm256_setzero_ps(), _CMP_NLE_UQ));
  return _mm256_blendv_ps(_mm256_mul_ps(g, _mm256_set1_ps(slope)), g,
                          _mm256_cmp_ps(h, _mm256_setzero_ps(), _CMP_GT_OQ));
}

// Rows b..b+RB of y, outputs o..o+3: dot products of x's rows with w's rows along K (both contiguous).
template <int RB>
__attribute__((target("avx2,fma"), always_inline)) inline void forward_block(const float* x, const float* w,
                                                                             const float* bias, float* y, int64_t K,
                                                                             int64_t O, int64_t b, int64_t o,
                                                                             bool activate_out, float slope) {
  __m256 acc[RB][4];
#pragma GCC unroll 16
  for (int i = 0; i < RB; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < 4; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; k += 8) {
    __m256 xv[RB];
#pragma GCC unroll 16
    for (int i = 0; i < RB; ++i) xv[i] = _mm256_loadu_ps(x + (b + i) * K + k);
#pragma GCC unroll 16
    for (int j = 0; j < 4; ++j) {
      const __m256 wv = _mm256_loadu_ps(w + (o + j) * K + k);
#pragma GCC unroll 16
      for (int i = 0; i < RB; ++i) acc[i][j] = _mm256_fmadd_ps(xv[i], wv, acc[i][j]);
    }
  }
  const __m128 bv = _mm_loadu_ps(bias + o);
#pragma GCC unroll 16
  for (int i = 0; i < RB; ++i) {
    __m128 v = _mm_add_ps(bv, lane_sums(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
    if (activate_out) v = activate(v, slope);
    _mm_storeu_ps(y + (b + i) * O + o, v);
  }
}

// Rows b..b+RB of gx, columns k..k+8*V: sums over o of g[b][o] * w[o][k..] (w's rows contiguous along K).
template <int RB, int V>
__attribute__((target("avx2,fma"), always_inline)) inline void input_block(const float* g, const float* w,
                                                                           const float* h, float* gx, int64_t O,
                                                                           int64_t K, int64_t b, int64_t k,
                                                                           float slope) {
  __m256 acc[RB][V];
#pragma GCC unroll 16
  for (int i = 0; i < RB; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < V; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int64_t o = 0; o < O; ++o) {
    __m256 wv[V];
#pragma GCC unroll 16
    for (int j = 0; j < V; ++j) wv[j] = _mm256_loadu_ps(w + o * K + k + 8 * j);
#pragma GCC unroll 16
    for (int i = 0; i < RB; ++i) {
      const __m256 s = _mm256_broadcast_ss(g + (b + i) * O + o);
#pragma GCC unroll 16
      for (int j = 0; j < V; ++j) acc[i][j] = _mm256_fmadd_ps(s, wv[j], acc[i][j]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < RB; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < V; ++j) {
      const int64_t at = (b + i) * K + k + 8 * j;
      _mm256_storeu_ps(gx + at, h ? derive(acc[i][j], _mm256_loadu_ps(h + at), slope) : acc[i][j]);
    }
}

// Rows o..o+RO of gw, columns k..k+8*V: sums over the batch of g[b][o] * x[b][k..].
template <int RO, int V>
__attribute__((target("avx2,fma"), always_inline)) inline void weight_block(const float* g, const float* x, float* gw,
                                                                            int64_t B, int64_t O, int64_t K, int64_t o,
                                                                            int64_t k) {
  __m256 acc[RO][V];
#pragma GCC unroll 16
  for (int i = 0; i < RO; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < V; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int64_t b = 0; b < B; ++b) {
    __m256 xv[V];
#pragma GCC unroll 16
    for (int j = 0; j < V; ++j) xv[j] = _mm256_loadu_ps(x + b * K + k + 8 * j);
#pragma GCC unroll 16
    for (int i = 0; i < RO; ++i) {
      const __m256 s = _mm256_broadcast_ss(g + b * O + o + i);
#pragma GCC unroll 16
      for (int j = 0; j < V; ++j) acc[i][j] = _mm256_fmadd_ps(s, xv[j], acc[i][j]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < RO; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < V; ++j) _mm256_storeu_ps(gw + (o + i) * K + k + 8 * j, acc[i][j]);
}

}  // namespace mlp

/// y = act(x w^T + bias): x (B, K), w (O, K), y (B, O), all row-major and contiguous, K and O multiples of 8;
/// `activate_out` applies relu (slope 0) or leaky_relu(slope).
__attribute__((target("avx2,fma"))) inline void mlp_forward(const float* x, const float* w, const float* bias, float* y,
                                                            int64_t B, int64_t K, int64_t O, bool activate_out,
                                                            float slope) {
  for (int64_t o = 0; o < O; o += 4) {
    int64_t b = 0;
    for (; b + 3 <= B; b += 3) mlp::forward_block<3>(x, w, bias, y, K, O, b, o, activate_out, slope);
    for (; b < B; ++b) mlp::forward_block<1>(x, w, bias, y, K, O, b, o, activate_out, slope);
  }
}

/// gx = (g w) * act'(h): g (B, O), w (O, K), h and gx (B, K), K and O multiples of 8; h null: no activation (the
/// MLP's input); act' as `mlp_forward`'s activation with `slope`.
__attribute__((target("avx2,fma"))) inline void mlp_backward_input(const float* g, const float* w, const float* h,
                                                                   float* gx, int64_t B, int64_t O, int64_t K,
                                                                   float slope) {
  int64_t k = 0;
  for (; k + 24 <= K; k += 24) {
    int64_t b = 0;
    for (; b + 4 <= B; b += 4) mlp::input_block<4, 3>(g, w, h, gx, O, K, b, k, slope);
    for (; b < B; ++b) mlp::input_block<1, 3>(g, w, h, gx, O, K, b, k, slope);
  }
  for (; k < K; k += 8) {
    int64_t b = 0;
    for (; b + 4 <= B; b += 4) mlp::input_block<4, 1>(g, w, h, gx, O, K, b, k, slope);
    for (; b < B; ++b) mlp::input_block<1, 1>(g, w, h, gx, O, K, b, k, slope);
  }
}

/// gw = g^T x: g (B, O), x (B, K), gw (O, K), K and O multiples of 8.
__attribute__((target("avx2,fma"))) inline void mlp_backward_weight(const float* g, const float* x, float* gw,
                                                                    int64_t B, int64_t O, int64_t K) {
  int64_t o = 0;
  for (; o + 6 <= O; o += 6) {
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) mlp::weight_block<6, 2>(g, x, gw, B, O, K, o, k);
    for (; k < K; k += 8) mlp::weight_block<6, 1>(g, x, gw, B, O, K, o, k);
  }
  for (; o < O; ++o) {
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) mlp::weight_block<1, 2>(g, x, gw, B, O, K, o, k);
    for (; k < K; k += 8) mlp::weight_block<1, 1>(g, x, gw, B, O, K, o, k);
  }
}

#else

inline bool mlp_kernels_apply(int64_t, int64_t) {
  return false;
}

#endif

}  // namespace plugen::detail
