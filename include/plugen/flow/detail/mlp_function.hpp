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
/// ConfigError (plugen never asks for them). Single-threaded float32 CPU runs at batches up to `kernel_max_rows`,
/// with layer widths that are multiples of 8, compute the products with plugen's AVX2 kernels unless the BLAS has
/// AVX-512 ones (mlp_kernels.hpp: bias and activation folded into the forward products, the activation's derivative
/// into the input gradient); other runs use LibTorch's `addmm` / `mm`.

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <vector>

#include "plugen/core/check.hpp"
#include "plugen/flow/detail/mlp_kernels.hpp"

namespace plugen::detail {

/// y = MLP(x) with weights/biases `params` = (W0, b0, W1, b1, ...), Wl of shape (out, in), and
/// leaky_relu(negative_slope) between layers (relu for negative_slope 0). Call through `apply`.
struct PiecewiseLinearMlp : public torch::autograd::Function<PiecewiseLinearMlp> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, torch::TensorList params,
                               double negative_slope) {
    const size_t layers = params.size() / 2;
    torch::autograd::variable_list saved(params.begin(), params.end());
    const bool kernels = use_kernels(x, params);
    torch::Tensor h = x;
    for (size_t l = 0; l < layers; ++l) {
      saved.push_back(h);  // the input of layer l
      const bool activate = l + 1 < layers;
#if defined(PLUGEN_HAVE_AVX2_KERNELS)
      if (kernels) {
        h = kernel_forward(h, params[2 * l], params[2 * l + 1], activate, static_cast<float>(negative_slope));
        continue;
      }
#endif
      h = torch::addmm(params[2 * l + 1], h, params[2 * l].t());
      if (activate) h = negative_slope == 0 ? h.relu_() : torch::leaky_relu_(h, negative_slope);
    }
    ctx->save_for_backward(std::move(saved));
    ctx->saved_data["negative_slope"] = negative_slope;
    ctx->saved_data["kernels"] = kernels;
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
#if defined(PLUGEN_HAVE_AVX2_KERNELS)
    if (ctx->saved_data["kernels"].toBool()) {
      kernel_backward(ctx, saved, g.contiguous(), static_cast<float>(slope), grads);
      return grads;
    }
#endif
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

  /// The largest batch the float kernels (flow/detail/mlp_kernels.hpp) take; measured faster than OpenBLAS up to 64
  /// rows, on par at 128 and 256.
  static constexpr int64_t kernel_max_rows = 64;

 private:
  // One thread (the kernels run on the calling thread; with more, BLAS's threads were faster at batch 64 and as fast
  // at 32), float32 CPU tensors, contiguous, a batch of at most kernel_max_rows and layer widths the kernels take.
  static bool use_kernels(const torch::Tensor& x, torch::TensorList params) {
    if (at::get_num_threads() > 1 && !at::in_parallel_region()) return false;
    auto fits = [](const torch::Tensor& t) {
      return t.is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous();
    };
    if (!fits(x) || x.dim() != 2 || x.size(0) < 1 || x.size(0) > kernel_max_rows) return false;
    for (size_t l = 0; l < params.size() / 2; ++l) {
      const auto& w = params[2 * l];
      if (!fits(w) || !fits(params[2 * l + 1]) || w.dim() != 2 || !mlp_kernels_apply(w.size(1), w.size(0)))
        return false;
    }
    return true;
  }

#if defined(PLUGEN_HAVE_AVX2_KERNELS)
  static torch::Tensor kernel_forward(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                                      bool activate, float slope) {
    const int64_t B = x.size(0), K = x.size(1), O = w.size(0);
    auto y = torch::empty({B, O}, x.options());
    const float *xp = x.data_ptr<float>(), *wp = w.data_ptr<float>(), *bp = b.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    mlp_forward(xp, wp, bp, yp, B, K, O, activate, slope);
    return y;
  }

  // g (B, O) w (O, K) -> (B, K), times the derivative of the activation whose output is h (undefined: none).
  static torch::Tensor kernel_input_grad(const torch::Tensor& g, const torch::Tensor& w, const torch::Tensor& h,
                                         float slope) {
    const int64_t B = g.size(0), O = g.size(1), K = w.size(1);
    auto gx = torch::empty({B, K}, g.options());
    const float *gp = g.data_ptr<float>(), *wp = w.data_ptr<float>(), *hp = h.defined() ? h.data_ptr<float>() : nullptr;
    float* out = gx.data_ptr<float>();
    mlp_backward_input(gp, wp, hp, out, B, O, K, slope);
    return gx;
  }

  static void kernel_backward(torch::autograd::AutogradContext* ctx, const torch::autograd::variable_list& saved,
                              torch::Tensor g, float slope, torch::autograd::variable_list& grads) {
    const size_t layers = saved.size() / 3;
    for (size_t l = layers; l-- > 0;) {
      const auto& weight = saved[2 * l];
      const auto& input = saved[2 * layers + l];
      const int64_t B = g.size(0), O = weight.size(0), K = weight.size(1);
      if (ctx->needs_input_grad(1 + 2 * l)) {
        auto gw = torch::empty({O, K}, g.options());
        const float *gp = g.data_ptr<float>(), *xp = input.data_ptr<float>();
        float* out = gw.data_ptr<float>();
        mlp_backward_weight(gp, xp, out, B, O, K);
        grads[1 + 2 * l] = gw;
      }
      if (ctx->needs_input_grad(2 + 2 * l)) grads[2 + 2 * l] = g.sum(0);
      if (l == 0) {
        if (ctx->needs_input_grad(0)) grads[0] = kernel_input_grad(g, weight, torch::Tensor(), slope);
        break;
      }
      // `input` is the previous activation's output: its derivative is read off its sign.
      g = kernel_input_grad(g, weight, input, slope);
    }
  }
#endif
};

}  // namespace plugen::detail
