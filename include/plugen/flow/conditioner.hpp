#pragma once
/// @file
/// The conditioner of a coupling: an MLP from the kept coordinates to the changed side's parameters.

#include <torch/torch.h>

#include <vector>

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

  /// Applies the MLP to a (batch, in) tensor.
  torch::Tensor forward(torch::Tensor x) {
    for (size_t l = 0; l < linears_.size(); ++l) {
      x = linears_[l]->forward(x);
      if (l + 1 < linears_.size()) x = activate(x);
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

  ConditionerOptions options_;
  int64_t in_;
  int64_t out_;
  std::vector<torch::nn::Linear> linears_;
};

/// Module holder of ConditionerImpl.
TORCH_MODULE(Conditioner);

}  // namespace plugen
