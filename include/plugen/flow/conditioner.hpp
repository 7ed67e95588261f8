#pragma once
/// @file
/// The conditioner of a coupling: an MLP from the kept coordinates to the changed side's parameters.

#include <torch/torch.h>

#include <vector>

#include "plugen/flow/detail/mlp_function.hpp"
#include "plugen/flow/options.hpp"

namespace plugen {

/// MLP `in -> hidden -> ... -> out` with `layers` linear layers and the chosen activation between
/// them (none after the last). The last layer starts at zero, so a fresh conditioner outputs 0 and
/// a fresh coupling is the identity. Hidden layers use LibTorch's default Linear initialization
/// (torch's global generator: seed it with `torch::manual_seed` for reproducible weights).
class ConditionerImpl : public torch::nn::Module {
 public:
  /// Builds the MLP from `in` inputs to `out` outputs.
  ConditionerImpl(int64_t in, int64_t out, ConditionerOptions options) : options_(options), in_(in), out_(out) {
    PLUGEN_CHECK(in >= 1 && out >= 1, ConfigError, "Conditioner: expected in >= 1 and out >= 1, got in={} out={}", in,
                 out);
    PLUGEN_CHECK(options.layers() >= 1, ConfigError, "Conditioner: expected layers >= 1, got {}", options.layers());
    PLUGEN_CHECK(options.hidden() >= 1, ConfigError, "Conditioner: expected hidden >= 1, got {}", options.hidden());
    int64_t width = in;
    for (int64_t l = 0; l < options.layers(); ++l) {
      const bool last = l + 1 == options.layers();
      const int64_t next = last ? out : options.hidden();
      linears_.push_back(register_module("linear" + std::to_string(l), torch::nn::Linear(width, next)));
      width = next;
    }
    torch::NoGradGuard no_grad;
    linears_.back()->weight.zero_();
    linears_.back()->bias.zero_();
  }

  /// Applies the MLP to a (batch, in) tensor. A batch of one row goes through matrix-vector products: BLAS
  /// gemm packs the whole weight matrix on every call, which made one-row products about 5x slower than gemv
  /// (512 x 512, OpenBLAS); rows are independent, so results agree with batched ones to rounding. Without
  /// autograd the activations work in place. With autograd and a relu or leaky_relu activation, the whole MLP
  /// is one autograd node (`detail::PiecewiseLinearMlp`: first-order gradients only).
  torch::Tensor forward(torch::Tensor x) {
    const bool one_row = x.dim() == 2 && x.size(0) == 1;
    const bool in_place = !torch::GradMode::is_enabled();
    if (!in_place && !one_row && x.dim() == 2 && piecewise_linear()) {
      std::vector<torch::Tensor> params;
      for (const auto& linear : linears_) {
        params.push_back(linear->weight);
        params.push_back(linear->bias);
      }
      // As a TensorList: autograd counts its elements as inputs (a std::vector would not be).
      return detail::PiecewiseLinearMlp::apply(x, torch::TensorList(params),
                                               options_.activation() == Activation::relu ? 0.0 : options_.negative_slope());
    }
    for (size_t l = 0; l < linears_.size(); ++l) {
      auto& linear = linears_[l];
      x = one_row ? torch::addmv(linear->bias, linear->weight, x.select(0, 0)).unsqueeze(0) : linear->forward(x);
      if (l + 1 < linears_.size()) x = in_place ? activate_(x) : activate(x);
    }
    return x;
  }

  /// Number of inputs.
  int64_t in() const { return in_; }
  /// Number of outputs.
  int64_t out() const { return out_; }
  /// The linear layers, first to last.
  const std::vector<torch::nn::Linear>& linears() const { return linears_; }
  /// Number of trainable scalars: in*H + H + (L-2)(H*H + H) + H*out + out for L >= 2, in*out + out for L = 1.
  static int64_t parameter_count(int64_t in, int64_t out, const ConditionerOptions& o) {
    if (o.layers() == 1) return in * out + out;
    const int64_t h = o.hidden();
    return in * h + h + (o.layers() - 2) * (h * h + h) + h * out + out;
  }

 private:
  // relu, or leaky_relu with a slope >= 0: the activation's derivative can be read off its output.
  bool piecewise_linear() const {
    return options_.activation() == Activation::relu ||
           (options_.activation() == Activation::leaky_relu && options_.negative_slope() >= 0);
  }

  torch::Tensor activate(const torch::Tensor& x) const {
    switch (options_.activation()) {
      case Activation::relu:
        return torch::relu(x);
      case Activation::leaky_relu:
        return torch::leaky_relu(x, options_.negative_slope());
      case Activation::tanh:
        return torch::tanh(x);
      case Activation::elu:
        return torch::elu(x);
      case Activation::gelu:
        return torch::gelu(x);
      case Activation::silu:
        return torch::silu(x);
    }
    return x;
  }

  // In place, on a fresh intermediate no autograd graph holds (gelu has no in-place form: out of place).
  torch::Tensor activate_(torch::Tensor& x) const {
    switch (options_.activation()) {
      case Activation::relu:
        return x.relu_();
      case Activation::leaky_relu:
        return torch::leaky_relu_(x, options_.negative_slope());
      case Activation::tanh:
        return x.tanh_();
      case Activation::elu:
        return torch::elu_(x);
      case Activation::gelu:
        return torch::gelu(x);
      case Activation::silu:
        return torch::silu_(x);
    }
    return x;
  }

  ConditionerOptions options_;
  int64_t in_;
  int64_t out_;
  std::vector<torch::nn::Linear> linears_;
};

/// Module holder of ConditionerImpl.
TORCH_MODULE(Conditioner);

}  // namespace plugen
