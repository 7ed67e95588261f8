// Tests of plugen/flow/partition.hpp.
#include "plugen/flow/partition.hpp"
#include "support.hpp"

using namespace plugen;

TEST_CASE("alternating partitions keep even indices on even couplings and odd ones on odd couplings", "[partition]") {
  auto p0 = make_partition(5, 0, PartitionKind::alternating, 0);
  auto p1 = make_partition(5, 1, PartitionKind::alternating, 0);
  CHECK(p0.kept == std::vector<int64_t>{0, 2, 4});
  CHECK(p0.changed == std::vector<int64_t>{1, 3});
  CHECK(p1.kept == std::vector<int64_t>{1, 3});
  CHECK(p1.changed == std::vector<int64_t>{0, 2, 4});
  CHECK(make_partition(5, 2, PartitionKind::alternating, 0).kept == p0.kept);
}

TEST_CASE("random partitions are reproducible from the seed and cover every index once", "[partition]") {
  for (int64_t dim : {2, 3, 10, 64}) {
    for (int64_t k : {0, 1, 5}) {
      auto a = make_partition(dim, k, PartitionKind::random, 42);
      auto b = make_partition(dim, k, PartitionKind::random, 42);
      CHECK(a.kept == b.kept);
      CHECK(a.changed == b.changed);
      CHECK(a.dim() == dim);
      CHECK(static_cast<int64_t>(a.kept.size()) == (k % 2 == 0 ? (dim + 1) / 2 : dim / 2));
      CHECK_NOTHROW(Partition::from_kept(dim, a.kept));
    }
  }
  CHECK(make_partition(64, 0, PartitionKind::random, 1).kept != make_partition(64, 0, PartitionKind::random, 2).kept);
  CHECK(make_partition(64, 0, PartitionKind::random, 1).kept != make_partition(64, 2, PartitionKind::random, 1).kept);
}

TEST_CASE("invalid partitions are config errors", "[partition]") {
  CHECK_THROWS_AS(Partition::from_kept(4, {0, 0}), ConfigError);
  CHECK_THROWS_AS(Partition::from_kept(4, {4}), ConfigError);
  CHECK_THROWS_AS(Partition::from_kept(4, {-1}), ConfigError);
  CHECK_THROWS_AS(Partition::from_kept(4, {}), ConfigError);
  CHECK_THROWS_AS(Partition::from_kept(4, {0, 1, 2, 3}), ConfigError);
  CHECK_THROWS_AS(make_partition(1, 0, PartitionKind::alternating, 0), ConfigError);
}
