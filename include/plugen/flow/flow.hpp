#pragma once
/// @file
/// `Flow<Coupling>`: a stack of coupling layers (with optional invertible linear layers) mapping
/// standardized latents u to the target space z; `RealNVP` and `NICE` aliases.

#include <torch/torch.h>

#include <string>
#include <tuple>
#include <vector>

#include "plugen/core/tensor.hpp"
#include "plugen/flow/coupling.hpp"
#include "plugen/flow/linear.hpp"
#include "plugen/flow/monotone.hpp"
#include "plugen/flow/options.hpp"

namespace plugen {

/// An invertible map z = F(u) made of couplings of one kind, each optionally preceded by an LU layer.
/// Forward returns z and log|det dz/du| per row; inverse is exact up to floating point. Inputs are
/// never modified; any batch size works, including 0. A new flow is the identity.
/// @tparam CouplingHolder `Coupling<Affine>` (`AffineCoupling`) or `Coupling<Additive>` (`AdditiveCoupling`).
template <class CouplingHolder>
class FlowImpl : public torch::nn::Module {
 public:
  /// The coupling module holder type.
  using coupling_type = CouplingHolder;
  /// The coupling's transform policy (`Affine` or `Additive`).
  using transform_type = typename CouplingHolder::transform_type;

  /// Builds a flow from validated options; partitions come from `options.partition()` and its seed.
  explicit FlowImpl(FlowOptions options) : options_(std::move(options)) {
    options_.validate();
    std::vector<Partition> partitions;
    for (int64_t k = 0; k < options_.couplings(); ++k)
      partitions.push_back(make_partition(options_.dim(), k, options_.partition(), options_.partition_seed()));
    build(std::move(partitions));
  }

  /// Builds a flow with explicit partitions (one per coupling), e.g. read back from a plugin file.
  FlowImpl(FlowOptions options, std::vector<Partition> partitions) : options_(std::move(options)) {
    options_.validate();
    PLUGEN_CHECK(static_cast<int64_t>(partitions.size()) == options_.couplings(), ConfigError,
                 "Flow: expected {} partitions (one per coupling), got {}", options_.couplings(), partitions.size());
    for (const auto& p : partitions)
      PLUGEN_CHECK(p.dim() == options_.dim(), ConfigError, "Flow: expected partitions of {} coordinates, got {}",
                   options_.dim(), p.dim());
    build(std::move(partitions));
  }

  /// Maps u (batch, dim) to (z, log_det) where log_det (batch,) = log|det dz/du|.
  std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& u) {
    check_batch(u, options_.dim(), dtype(), "Flow::forward");
    auto x = u;
    auto log_det = torch::zeros({u.size(0)}, u.options());
    for (size_t k = 0; k < couplings_.size(); ++k) {
      if (linears_[k]) {
        auto [y, ld] = linears_[k]->forward(x);
        x = y;
        log_det = log_det + ld;
      }
      auto [y, ld] = couplings_[k]->forward(x);
      x = y;
      if constexpr (!transform_type::volume_preserving) log_det = log_det + ld;
    }
    if (monotone_) {
      auto [y, ld] = monotone_->forward(x);
      x = y;
      log_det = log_det + ld;
    }
    return {x, log_det};
  }

  /// Maps z (batch, dim) back to u.
  torch::Tensor inverse(const torch::Tensor& z) {
    check_batch(z, options_.dim(), dtype(), "Flow::inverse");
    auto x = monotone_ ? monotone_->inverse(z) : z;
    for (size_t k = couplings_.size(); k-- > 0;) {
      x = couplings_[k]->inverse(x);
      if (linears_[k]) x = linears_[k]->inverse(x);
    }
    return x;
  }

  /// The options the flow was built with.
  const FlowOptions& options() const { return options_; }
  /// Width D of the flow.
  int64_t dim() const { return options_.dim(); }
  /// The dtype of the flow's parameters (inputs must match it).
  torch::Dtype dtype() const { return couplings_.front()->conditioner()->linears().front()->weight.scalar_type(); }
  /// The device of the flow's parameters.
  torch::Device device() const { return couplings_.front()->conditioner()->linears().front()->weight.device(); }
  /// The couplings, first to last.
  const std::vector<CouplingHolder>& couplings() const { return couplings_; }
  /// The invertible linear layer in front of each coupling (an empty holder where there is none).
  std::vector<InvertibleLinear> linears() const { return linears_; }
  /// The partition of every coupling.
  std::vector<Partition> partitions() const {
    std::vector<Partition> out;
    for (const auto& c : couplings_) out.push_back(c->options().partition());
    return out;
  }

  /// Number of trainable scalars the options imply (conditioners plus LU layers).
  static int64_t parameter_count(const FlowOptions& o) {
    o.validate();
    int64_t total = 0;
    for (int64_t k = 0; k < o.couplings(); ++k) {
      auto p = make_partition(o.dim(), k, o.partition(), o.partition_seed());
      total += ConditionerImpl::parameter_count(
          static_cast<int64_t>(p.kept.size()),
          transform_type::outputs_per_coordinate * static_cast<int64_t>(p.changed.size()), o.conditioner());
      if (has_linear(o, k)) total += InvertibleLinearImpl::parameter_count(o.dim());
    }
    if (o.monotone()) total += MonotoneStepImpl::parameter_count(o.dim());
    return total;
  }

 private:
  static bool has_linear(const FlowOptions& o, int64_t k) {
    return o.linear() == LinearPlacement::each || (o.linear() == LinearPlacement::first && k == 0);
  }

  void build(std::vector<Partition> partitions) {
    for (int64_t k = 0; k < options_.couplings(); ++k) {
      const auto name = std::to_string(k);
      if (has_linear(options_, k)) {
        linears_.push_back(register_module("linear" + name, InvertibleLinear(options_.dim())));
      } else {
        linears_.push_back(InvertibleLinear(nullptr));
      }
      auto copts = CouplingOptions(std::move(partitions[static_cast<size_t>(k)]))
                       .conditioner(options_.conditioner())
                       .scale_bound(options_.scale_bound());
      couplings_.push_back(register_module("coupling" + name, CouplingHolder(copts)));
    }
    if (options_.monotone()) monotone_ = register_module("monotone", MonotoneStep(options_.dim()));
  }

  FlowOptions options_;
  std::vector<CouplingHolder> couplings_;
  std::vector<InvertibleLinear> linears_;
  MonotoneStep monotone_{nullptr};
};

/// Module holder of `FlowImpl<CouplingHolder>`.
template <class CouplingHolder>
class Flow : public torch::nn::ModuleHolder<FlowImpl<CouplingHolder>> {
 public:
  using torch::nn::ModuleHolder<FlowImpl<CouplingHolder>>::ModuleHolder;
};

/// RealNVP: a flow of affine couplings.
using RealNVP = Flow<AffineCoupling>;
/// NICE: a flow of additive couplings (the architecture of every published PluGeN run).
using NICE = Flow<AdditiveCoupling>;

}  // namespace plugen
