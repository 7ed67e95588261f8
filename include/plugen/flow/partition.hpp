#pragma once
/// @file
/// Partitions of the coordinates of a coupling into a kept set `a` and a changed set `b` (no LibTorch needed).

#include <algorithm>
#include <cstdint>
#include <vector>

#include "plugen/core/check.hpp"
#include "plugen/core/detail/splitmix.hpp"
#include "plugen/flow/detail/kinds.hpp"

namespace plugen {

/// A split of {0, ..., dim-1} into kept indices (conditioner inputs) and changed indices
/// (transformed by the coupling). Both are sorted, disjoint, non-empty, and cover every index.
struct Partition {
  /// Indices the coupling keeps and feeds to its conditioner.
  std::vector<int64_t> kept;
  /// Indices the coupling transforms.
  std::vector<int64_t> changed;

  /// Width of the space the partition splits.
  int64_t dim() const { return static_cast<int64_t>(kept.size() + changed.size()); }

  /// Builds the partition whose kept set is `kept` (any order, no duplicates) in `dim` coordinates.
  /// Throws a ConfigError if an index is out of range or repeated, or if a side would be empty.
  static Partition from_kept(int64_t dim, std::vector<int64_t> kept) {
    PLUGEN_CHECK(dim >= 2, ConfigError, "Partition: expected dim >= 2, got {}", dim);
    std::sort(kept.begin(), kept.end());
    std::vector<char> seen(static_cast<size_t>(dim), 0);
    for (int64_t i : kept) {
      PLUGEN_CHECK(i >= 0 && i < dim, ConfigError, "Partition: kept index {} is outside [0, {})", i, dim);
      PLUGEN_CHECK(!seen[static_cast<size_t>(i)], ConfigError, "Partition: kept index {} is repeated", i);
      seen[static_cast<size_t>(i)] = 1;
    }
    Partition p;
    p.kept = std::move(kept);
    for (int64_t i = 0; i < dim; ++i)
      if (!seen[static_cast<size_t>(i)]) p.changed.push_back(i);
    PLUGEN_CHECK(!p.kept.empty() && !p.changed.empty(), ConfigError,
                 "Partition: expected non-empty kept and changed sets in {} coordinates, got {} kept and {} changed",
                 dim, p.kept.size(), p.changed.size());
    return p;
  }
};

/// The partition of coupling `k` of a flow over `dim` coordinates.
/// Alternating: even indices kept when k is even, odd ones when k is odd (as the official code).
/// Random: a Fisher-Yates permutation drawn from (seed, k) with a platform-independent generator;
/// its first ceil(dim/2) (k even) or floor(dim/2) (k odd) entries are kept.
inline Partition make_partition(int64_t dim, int64_t k, PartitionKind kind, uint64_t seed) {
  PLUGEN_CHECK(dim >= 2, ConfigError, "make_partition: expected dim >= 2, got {}", dim);
  std::vector<int64_t> kept;
  if (kind == PartitionKind::alternating) {
    for (int64_t i = k % 2; i < dim; i += 2) kept.push_back(i);
  } else {
    std::vector<int64_t> perm(static_cast<size_t>(dim));
    for (int64_t i = 0; i < dim; ++i) perm[static_cast<size_t>(i)] = i;
    const uint64_t stream = derive_seed(seed, static_cast<uint64_t>(k));
    for (int64_t i = dim - 1; i > 0; --i) {
      const uint64_t r = derive_seed(stream, static_cast<uint64_t>(i));
      const auto j = static_cast<int64_t>(r % static_cast<uint64_t>(i + 1));
      std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
    }
    const int64_t n_kept = (k % 2 == 0) ? (dim + 1) / 2 : dim / 2;
    kept.assign(perm.begin(), perm.begin() + n_kept);
  }
  return Partition::from_kept(dim, std::move(kept));
}

}  // namespace plugen
