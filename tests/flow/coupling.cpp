// Tests of plugen/flow/coupling.hpp: a coupling changes only its changed coordinates.
#include "plugen/flow/coupling.hpp"
#include "support.hpp"

using namespace plugen;

TEST_CASE("a coupling leaves its kept coordinates untouched", "[coupling]") {
  plugen_test::Seeded seeded;
  auto p = make_partition(10, 1, PartitionKind::random, 3);
  AffineCoupling c(CouplingOptions(p).conditioner(ConditionerOptions().hidden(8).layers(2)));
  plugen_test::randomize(*c, 0.5);
  auto x = torch::randn({4, 10});
  auto [y, log_det] = c->forward(x);
  auto kept = torch::tensor(p.kept);
  auto changed = torch::tensor(p.changed);
  CHECK(torch::equal(y.index_select(1, kept), x.index_select(1, kept)));
  CHECK(!torch::allclose(y.index_select(1, changed), x.index_select(1, changed)));
  // The affine log-scale is bounded by scale_bound per changed coordinate.
  CHECK(log_det.abs().max().item<double>() <= 2.0 * static_cast<double>(p.changed.size()) + 1e-6);
}

TEST_CASE("coupling modules keep int64 partition indices under dtype casts", "[coupling]") {
  AdditiveCoupling c(CouplingOptions(make_partition(4, 0, PartitionKind::alternating, 0)));
  c->to(torch::kFloat64);
  auto x = torch::randn({2, 4}, torch::kFloat64);
  CHECK(torch::equal(std::get<0>(c->forward(x)), x));
  c->to(torch::Device("cpu"), torch::kFloat32);
  CHECK(torch::equal(c->inverse(x.to(torch::kFloat32)), x.to(torch::kFloat32)));
}
