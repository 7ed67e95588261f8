#pragma once
/// @file
/// A conditioner MLP with piecewise-linear activations (relu, leaky_relu) as one autograd node.
///
/// Built from LibTorch operations, an L-layer MLP is 2L - 1 autograd nodes (each linear layer, each activation),
/// each with its own bookkeeping, saved tensors and output buffers; at the batch sizes flows train with, that
/// overhead was a sizeable share of a step. Here the forward pass runs without autograd (activations in place on
/// the fresh layer outputs) and one backward function computes every gradient: dW = g^T h, db = sum g,
/// g <- (g W) * act'(h), where act' is read off the saved activation outputs (their sign is the input's sign).
/// First-order only: nothing records the backward pass, so gradients of gradients through it are refused with a
/// ConfigError (plugen never asks for them).

#include <torch/torch.h>

#include <vector>

#include "plugen/core/check.hpp"

namespace plugen::detail {

/// y = MLP(x) with weights/biases `params` = (W0, b0, W1, b1, ...), Wl of shape (out, in), and
/// leaky_relu(negative_slope) between layers (relu for negative_slope 0). Call through `apply`.
struct PiecewiseLinearMlp : public torch::autograd::Function<PiecewiseLinearMlp> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               torch::TensorList params, double negative_slope) {
    const size_t layers = params.size() / 2;
    torch::autograd::variable_list saved(params.begin(), params.end());
    torch::Tensor h = x;
    for (size_t l = 0; l < layers; ++l) {
      saved.push_back(h);  // the input of layer l
      h = torch::addmm(params[2 * l + 1], h, params[2 * l].t());
      if (l + 1 < layers) h = negative_slope == 0 ? h.relu_() : torch::leaky_relu_(h, negative_slope);
    }
    ctx->save_for_backward(std::move(saved));
    ctx->saved_data["negative_slope"] = negative_slope;
    return h;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    // The engine runs backward functions with gradient recording on exactly when the caller asked for a graph
    // of the gradients (create_graph): refuse rather than return gradients that graph would not differentiate.
    PLUGEN_CHECK(!torch::GradMode::is_enabled(), ConfigError,
                 "Conditioner: gradients of gradients (create_graph) through a relu/leaky_relu conditioner in "
                 "training mode are not supported; compute them with another activation (e.g. tanh)");
    const auto saved = ctx->get_saved_variables();
    const size_t layers = saved.size() / 3;  // 2 parameters and 1 layer input per layer
    const double slope = ctx->saved_data["negative_slope"].toDouble();
    // Gradients: x, then the parameters in order, then the slope (not a tensor).
    torch::autograd::variable_list grads(1 + 2 * layers + 1);
    torch::Tensor g = grad_outputs[0];
    for (size_t l = layers; l-- > 0;) {
      const auto& weight = saved[2 * l];
      const auto& input = saved[2 * layers + l];
      if (ctx->needs_input_grad(1 + 2 * l)) grads[1 + 2 * l] = g.t().mm(input);
      if (ctx->needs_input_grad(2 + 2 * l)) grads[2 + 2 * l] = g.sum(0);
      if (l == 0) {
        if (ctx->needs_input_grad(0)) grads[0] = g.mm(weight);
        break;
      }
      g = g.mm(weight);
      // `input` is the previous activation's output: positive exactly where its input was.
      g = slope == 0 ? at::threshold_backward(g, input, 0) : at::leaky_relu_backward(g, input, slope, true);
    }
    return grads;
  }
};

}  // namespace plugen::detail
