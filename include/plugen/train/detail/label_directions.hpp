#pragma once
/// @file
/// The data-dependent start of a plugin's first invertible linear layer: label coordinates begin as
/// ridge-regression read-outs of the labels, the other coordinates as an orthonormal complement.

#include <torch/torch.h>

#include <vector>

#include "plugen/core/check.hpp"
#include "plugen/prior/schema.hpp"

namespace plugen::detail {

/// Targets of one label coordinate for the rows where its attribute is known: +-1 for binary attributes and
/// categorical classes (one-vs-rest), the min-max normalized label in [-1, 1] for continuous ones.
inline torch::Tensor label_coordinate_targets(const Attribute& a, int64_t cls, const torch::Tensor& y) {
  switch (a.kind) {
    case AttributeKind::binary:
      return torch::where(y > 0.5, torch::ones_like(y), -torch::ones_like(y));
    case AttributeKind::categorical:
      return torch::where(y == static_cast<double>(cls), torch::ones_like(y), -torch::ones_like(y));
    case AttributeKind::continuous: {
      const double range = a.stats.max - a.stats.min;
      return range > 0 ? (y - a.stats.min) * (2.0 / range) - 1.0 : torch::zeros_like(y);
    }
  }
  return torch::zeros_like(y);
}

/// A (D, D) invertible matrix W for standardized training latents `u` (N, D): row k < schema.label_dim()
/// is the ridge-regression direction (penalty `ridge` on the second-moment scale) that predicts label
/// coordinate k's target from u on the rows where the attribute is known (so u W^T starts as the least-squares
/// prediction of the targets, in target units); the remaining rows, and label rows without enough labels or nearly dependent on earlier rows (e.g. the last
/// class of a categorical attribute, whose one-vs-rest targets sum to a constant), are an orthonormal basis
/// of the complement of the accepted directions. Computed in float64 on the CPU.
inline torch::Tensor label_directions(const torch::Tensor& u, const Labels& labels, const Schema& schema,
                                      double ridge = 1e-2) {
  PLUGEN_CHECK(u.dim() == 2 && u.size(0) == labels.rows(), ShapeError,
               "label_directions: expected latents (N, D) with one label row each, got {} latents and {} label rows",
               shape_string(u.sizes()), labels.rows());
  const int64_t d = u.size(1);
  auto x = u.detach().to(torch::kCPU, torch::kFloat64);
  auto values = labels.values.to(torch::kCPU, torch::kFloat64);
  auto mask = labels.mask.to(torch::kCPU);
  const auto eye = torch::eye(d, x.options());

  std::vector<torch::Tensor> rows(static_cast<size_t>(d));
  std::vector<torch::Tensor> accepted;  // orthonormal basis of the accepted directions (Gram-Schmidt)
  const auto& attributes = schema.attributes();
  for (size_t i = 0; i < attributes.size(); ++i) {
    const auto& a = attributes[i];
    auto known = mask.select(1, static_cast<int64_t>(i)).nonzero().squeeze(1);
    if (known.numel() < 2) continue;
    auto xk = x.index_select(0, known);
    auto yk = values.select(1, static_cast<int64_t>(i)).index_select(0, known);
    const double n = static_cast<double>(known.numel());
    auto gram = torch::matmul(xk.t(), xk) / n + ridge * eye;
    for (int64_t c = 0; c < a.width(); ++c) {
      auto t = label_coordinate_targets(a, c, yk);
      if ((t - t.mean()).abs().max().item<double>() == 0) continue;  // a constant target has no direction
      auto w = at::linalg_solve(gram, torch::matmul(xk.t(), t) / n);
      if (!torch::isfinite(w).all().item<bool>()) continue;
      auto residual = w.clone();
      for (const auto& q : accepted) residual = residual - torch::dot(residual, q) * q;
      const double r = residual.norm().item<double>();
      if (!(r > 0.1 * w.norm().item<double>())) continue;
      accepted.push_back(residual / r);
      rows[static_cast<size_t>(a.offset + c)] = w;
    }
  }
  // The complement of the accepted directions, in a fixed order.
  torch::Tensor complement;
  if (accepted.empty()) {
    complement = eye;
  } else {
    auto basis = torch::stack(accepted, 1);  // (D, r)
    auto q = std::get<0>(at::linalg_qr(basis, "complete"));
    complement = q.narrow(1, basis.size(1), d - basis.size(1)).t();  // (D - r, D)
  }
  int64_t next = 0;
  for (auto& row : rows)
    if (!row.defined()) row = complement[next++];
  return torch::stack(rows, 0);
}

}  // namespace plugen::detail
