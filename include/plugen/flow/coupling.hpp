#pragma once
/// @file
/// Coupling layers: `Coupling<Affine>` (RealNVP) and `Coupling<Additive>` (NICE).

#include <torch/torch.h>

#include <string>
#include <tuple>
#include <utility>

#include "plugen/core/tensor.hpp"
#include "plugen/flow/conditioner.hpp"
#include "plugen/flow/options.hpp"
#include "plugen/flow/partition.hpp"

namespace plugen {

/// Options of one coupling layer: its partition, its conditioner, and the affine log-scale bound.
struct CouplingOptions {
  /// Creates options for a coupling with the given partition.
  explicit CouplingOptions(Partition partition = {}) : partition_(std::move(partition)) {}
  /// Which coordinates are kept (conditioner inputs) and which are changed.
  TORCH_ARG(Partition, partition);
  /// The conditioner MLP.
  TORCH_ARG(ConditionerOptions, conditioner) = {};
  /// Bound k of the affine log-scale, log_s = k * tanh(raw / k); unused by additive couplings.
  TORCH_ARG(double, scale_bound) = 2.0;
};

/// Affine transform policy (RealNVP): y_b = x_b * exp(log_s) + t with bounded log_s; log-det = sum log_s.
struct Affine {
  /// Policy name, as stored in plugin files.
  static constexpr const char* name = "affine";
  /// Conditioner outputs per changed coordinate (log_s and t).
  static constexpr int64_t outputs_per_coordinate = 2;
  /// Whether the log-det is identically 0.
  static constexpr bool volume_preserving = false;

  /// Returns (y_b, log_det) from x_b and the conditioner output h = [raw_log_s, t].
  static std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& xb, const torch::Tensor& h,
                                                          double bound) {
    const int64_t nb = xb.size(1);
    auto log_s = bound * torch::tanh(h.narrow(1, 0, nb) / bound);
    auto t = h.narrow(1, nb, nb);
    return {xb * torch::exp(log_s) + t, log_s.sum(1)};
  }
  /// Returns x_b from y_b and the conditioner output.
  static torch::Tensor inverse(const torch::Tensor& yb, const torch::Tensor& h, double bound) {
    const int64_t nb = yb.size(1);
    auto log_s = bound * torch::tanh(h.narrow(1, 0, nb) / bound);
    auto t = h.narrow(1, nb, nb);
    return (yb - t) * torch::exp(-log_s);
  }
};

/// Additive transform policy (NICE, the official PluGeN flows): y_b = x_b + t; log-det is exactly 0.
struct Additive {
  /// Policy name, as stored in plugin files.
  static constexpr const char* name = "additive";
  /// Conditioner outputs per changed coordinate (t).
  static constexpr int64_t outputs_per_coordinate = 1;
  /// Whether the log-det is identically 0.
  static constexpr bool volume_preserving = true;

  /// Returns (y_b, log_det = 0) from x_b and the shift t.
  static std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& xb, const torch::Tensor& t,
                                                          double /*bound*/) {
    return {xb + t, torch::zeros({xb.size(0)}, xb.options())};
  }
  /// Returns x_b from y_b and the shift t.
  static torch::Tensor inverse(const torch::Tensor& yb, const torch::Tensor& t, double /*bound*/) { return yb - t; }
};

/// One coupling layer: `y_a = x_a`, `y_b = T(x_b; NN(x_a))` with `T` given by the `Transform` policy.
/// The conditioner sees only the kept coordinates and emits only what the changed ones need.
/// @tparam Transform `Affine` or `Additive`: provides `name`, `outputs_per_coordinate`, `volume_preserving`, and
///   static `forward(x_b, h, bound) -> (y_b, log_det)` and `inverse(y_b, h, bound) -> x_b`.
template <class Transform>
class CouplingImpl : public torch::nn::Module {
 public:
  /// The transform policy.
  using transform_type = Transform;

  /// Builds the coupling; throws ConfigError on an invalid partition or conditioner.
  explicit CouplingImpl(CouplingOptions options) : options_(std::move(options)) {
    const auto& p = options_.partition();
    PLUGEN_CHECK(!p.kept.empty() && !p.changed.empty(), ConfigError,
                 "Coupling: expected non-empty kept and changed sets, got {} kept and {} changed", p.kept.size(),
                 p.changed.size());
    (void)Partition::from_kept(p.dim(), p.kept);  // validates disjointness and coverage
    PLUGEN_CHECK(options_.scale_bound() > 0.0, ConfigError, "Coupling: expected scale_bound > 0, got {}",
                 options_.scale_bound());
    const auto n_kept = static_cast<int64_t>(p.kept.size());
    const auto n_changed = static_cast<int64_t>(p.changed.size());
    conditioner_ = register_module(
        "conditioner", Conditioner(n_kept, Transform::outputs_per_coordinate * n_changed, options_.conditioner()));
    kept_ = torch::tensor(p.kept, torch::kInt64);
    changed_ = torch::tensor(p.changed, torch::kInt64);
  }

  /// Maps x (batch, dim) to (y, log|det dy/dx|) with log_det of shape (batch,).
  std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x) {
    auto xa = x.index_select(1, kept_);
    auto xb = x.index_select(1, changed_);
    auto [yb, log_det] = Transform::forward(xb, conditioner_->forward(xa), options_.scale_bound());
    return {x.index_copy(1, changed_, yb), log_det};
  }

  /// Maps y back to x exactly (up to floating point).
  torch::Tensor inverse(const torch::Tensor& y) {
    auto ya = y.index_select(1, kept_);
    auto yb = y.index_select(1, changed_);
    auto xb = Transform::inverse(yb, conditioner_->forward(ya), options_.scale_bound());
    return y.index_copy(1, changed_, xb);
  }

  /// The coupling's options (partition included).
  const CouplingOptions& options() const { return options_; }
  /// The conditioner network.
  const Conditioner& conditioner() const { return conditioner_; }

  /// Moves the module and its index tensors to `device` (the indices stay int64 under dtype casts).
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override {
    torch::nn::Module::to(device, dtype, non_blocking);
    move_indices(device);
  }
  /// Casts the parameters to `dtype`; the partition indices stay int64.
  void to(torch::Dtype dtype, bool non_blocking = false) override { torch::nn::Module::to(dtype, non_blocking); }
  /// Moves the module and its index tensors to `device`.
  void to(torch::Device device, bool non_blocking = false) override {
    torch::nn::Module::to(device, non_blocking);
    move_indices(device);
  }

 private:
  void move_indices(torch::Device device) {
    kept_ = kept_.to(device);
    changed_ = changed_.to(device);
  }

  CouplingOptions options_;
  Conditioner conditioner_{nullptr};
  torch::Tensor kept_, changed_;
};

/// Module holder of `CouplingImpl<Transform>` (the LibTorch pimpl pattern, templated).
template <class Transform>
class Coupling : public torch::nn::ModuleHolder<CouplingImpl<Transform>> {
 public:
  using torch::nn::ModuleHolder<CouplingImpl<Transform>>::ModuleHolder;
  /// The transform policy.
  using transform_type = Transform;
};

/// RealNVP affine coupling.
using AffineCoupling = Coupling<Affine>;
/// NICE additive coupling (the official PluGeN flows).
using AdditiveCoupling = Coupling<Additive>;

}  // namespace plugen
