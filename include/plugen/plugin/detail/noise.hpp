#pragma once
/// @file
/// Counter-based noise for per-sample seeding: value `e` of sample stream `key` depends only on (key, e),
/// never on the batch it is drawn in, the thread count or the LibTorch version.

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>

#include "plugen/core/seed.hpp"
#include "plugen/plugin/detail/counter.hpp"

namespace plugen::detail {

/// Noise of samples first .. first + count - 1 of stream `seed`, each made of `rows` rows of `normals`
/// standard normals followed by `uniforms` uniforms. Sample g uses the stream key = derive_seed(seed, g) only:
/// value e = r * (normals + uniforms) + j of its stream is `counter_normal(key, e)` for j < normals and
/// `counter_uniform(key, 2 e)` otherwise. Returns ((count * rows, normals), (count * rows, uniforms)) float64.
inline std::pair<torch::Tensor, torch::Tensor> counter_noise(uint64_t seed, int64_t first, int64_t count, int64_t rows,
                                                             int64_t normals, int64_t uniforms) {
  auto normal = torch::empty({count * rows, normals}, torch::kFloat64);
  auto uniform = torch::empty({count * rows, uniforms}, torch::kFloat64);
  double* n = normal.data_ptr<double>();
  double* u = uniform.data_ptr<double>();
  const int64_t width = normals + uniforms;
  // Every value depends on (seed, sample, e) only, so splitting the loop over threads changes nothing.
  at::parallel_for(0, count, 64, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const uint64_t key = derive_seed(seed, static_cast<uint64_t>(first + i));
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t row = i * rows + r;
        for (int64_t j = 0; j < normals; ++j)
          n[row * normals + j] = counter_normal(key, static_cast<uint64_t>(r * width + j));
        for (int64_t j = 0; j < uniforms; ++j)
          u[row * uniforms + j] = counter_uniform(key, 2 * static_cast<uint64_t>(r * width + normals + j));
      }
    }
  });
  return {normal, uniform};
}

}  // namespace plugen::detail
