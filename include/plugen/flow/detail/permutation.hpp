#pragma once
/// @file
/// Validation and inversion of index permutations (torch-free: shared by the LibTorch and Eigen flows).

#include <cstdint>
#include <vector>

#include "plugen/core/check.hpp"

namespace plugen::detail {

/// The inverse of `perm` (inv[perm[i]] = i); ConfigError naming `who` unless `perm` is a permutation of
/// 0..dim-1.
inline std::vector<int64_t> inverse_permutation(const std::vector<int64_t>& perm, int64_t dim, const char* who) {
  PLUGEN_CHECK(static_cast<int64_t>(perm.size()) == dim, ConfigError, "{}: expected a permutation of {} indices, got {}",
               who, dim, perm.size());
  std::vector<int64_t> inv(perm.size(), -1);
  for (size_t i = 0; i < perm.size(); ++i) {
    PLUGEN_CHECK(perm[i] >= 0 && perm[i] < dim && inv[static_cast<size_t>(perm[i])] < 0, ConfigError,
                 "{}: permutation entry {} = {} is out of range or repeated", who, i, perm[i]);
    inv[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
  }
  return inv;
}

}  // namespace plugen::detail
