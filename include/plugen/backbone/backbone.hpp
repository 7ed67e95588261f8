#pragma once
/// @file
/// The backbone contract shared by every adapter (GAN, VAE, diffusion, or your own), the value-range
/// convention of decoded images, and chunk-wise decoding helpers.
///
/// ## The contract
///
/// A *backbone* is a frozen generator seen through plugen's eyes. A type `B` is a backbone when it has
///
/// | member | meaning |
/// | --- | --- |
/// | `std::vector<int64_t> latent_shape() const` | per-sample latent shape, e.g. `{512}` (Z or W) or `{18, 512}` (W+)
/// or `{1, 28, 28}` (diffusion x_T) | | `std::vector<int64_t> output_shape() const` | per-sample shape of `decode`'s
/// result, e.g. `{3, 64, 64}` | | `torch::Tensor decode(const torch::Tensor& latents) const` | latents (N,
/// *latent_shape) (or flattened (N, prod(latent_shape))) to outputs (N, *output_shape) | | `torch::Device device()
/// const` | where the module runs |
///
/// and optionally
///
/// | member | meaning |
/// | --- | --- |
/// | `torch::Tensor encode(const torch::Tensor& inputs) const` + `bool can_encode() const` | inputs (N, *output_shape)
/// to latents (N, *latent_shape) | | `torch::Tensor sample_latents(int64_t n, uint64_t seed) const` | n latents from
/// the backbone's prior; sample i depends only on (seed, i) | | `int64_t decode_batch() const` | chunk size used by
/// `decode` (and by `decode_each`) | | `std::string kind() const`, `std::string describe() const` | names for messages
/// and logs |
///
/// The adapters in this module (`GanBackbone`, `VaeBackbone`, `DiffusionBackbone`) meet it, and
/// `AnyBackbone` holds any type that does.
///
/// ## Conventions every adapter follows
///
/// - **Value range.** Image outputs are float32 in **[0, 1]**, shape (N, C, H, W). A module that works
///   in another range says so, by its options' `data_range` (e.g. `ValueRange::symmetric()` for tanh
///   generators) or by number attributes `data_min`/`data_max` exported with it (the option wins). Without
///   either, GANs and VAEs are taken to output [0, 1] and diffusion models to work in [-1, 1] (the DDPM
///   convention). Decode maps `x -> (x - low) / (high - low)` and, with `clamp` (the default), clamps to
///   [0, 1]; `encode` takes inputs in [0, 1] and maps them back. Loading checks that probe outputs lie
///   near the range, so a tanh generator taken for [0, 1] fails loudly instead of decoding washed-out
///   images. Non-image data: `clamp(false)` and the identity range [0, 1].
/// - **Inference.** Modules are loaded in eval mode and called under `c10::InferenceMode`; the results
///   are ordinary tensors (you may modify them in place or use them in autograd as constants).
/// - **Devices.** The module runs on `options.device()`; each chunk of inputs is moved there and the
///   results are returned on the device of the inputs, so only one chunk ever lives on the accelerator.
/// - **Chunks.** `decode`/`encode` process at most `decode_batch` samples at a time; peak memory is the
///   result plus one chunk's working set. To bound memory independently of N, stream with `decode_each`.
/// - **Errors.** Every problem of the module file (missing method, wrong arity, wrong output shape,
///   truncated or non-TorchScript file, wrong latent width) is a `BackboneError` naming the file and the
///   method, found when the adapter is loaded: adapters probe each method once with a batch of 2.
///   Problems of the caller's tensors are `ShapeError`s; a missing file is an `IoError`.

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "plugen/core/check.hpp"
#include "plugen/core/detail/caching_allocator.hpp"
#include "plugen/core/tensor.hpp"

namespace plugen {

/// The closed interval `[low, high]` a module's images live in; decoded images are mapped from it to
/// [0, 1] and encoder inputs from [0, 1] to it.
struct ValueRange {
  /// Value that maps to 0 (black).
  double low = 0.0;
  /// Value that maps to 1 (white).
  double high = 1.0;

  /// [0, 1]: sigmoid decoders, and the identity map.
  static ValueRange unit() { return {0.0, 1.0}; }
  /// [-1, 1]: tanh generators (DCGAN, StyleGAN) and diffusion models.
  static ValueRange symmetric() { return {-1.0, 1.0}; }

  /// Throws a ConfigError unless low < high and both are finite.
  void validate(const std::string& option) const {
    PLUGEN_CHECK(std::isfinite(low) && std::isfinite(high) && low < high, ConfigError,
                 "{}: expected a finite range with low < high, got [{}, {}]", option, low, high);
  }
  /// Maps values of this range to [0, 1] (clamped when `clamp`).
  torch::Tensor to_unit(const torch::Tensor& x, bool clamp) const {
    auto y = (low == 0.0 && high == 1.0) ? x : (x - low) / (high - low);
    return clamp ? y.clamp(0.0, 1.0) : y;
  }
  /// Maps values of [0, 1] to this range.
  torch::Tensor from_unit(const torch::Tensor& x) const {
    return (low == 0.0 && high == 1.0) ? x : x * (high - low) + low;
  }
  /// Equality of both ends.
  bool operator==(const ValueRange& o) const { return low == o.low && high == o.high; }
};

/// Names of the two module attributes (low, high) by which a module declares its data range, e.g.
/// {"data_min", "data_max"}; an empty name disables the lookup.
using RangeAttributes = std::array<std::string, 2>;

namespace detail {

template <class B, class = void>
struct has_decode_batch : std::false_type {};
template <class B>
struct has_decode_batch<B, std::void_t<decltype(std::declval<const B&>().decode_batch())>> : std::true_type {};

/// The chunk size of a backbone (its `decode_batch()` when it has one, 256 otherwise).
template <class B>
int64_t decode_batch_of(const B& backbone) {
  if constexpr (has_decode_batch<B>::value) {
    return backbone.decode_batch();
  } else {
    return 256;
  }
}

}  // namespace detail

/// Decodes `latents` chunk by chunk and hands every chunk's outputs to `sink(first_index, outputs)`
/// instead of assembling them, so memory stays bounded whatever N (e.g. writing images to disk).
/// `first_index` is the row of `latents` the chunk starts at.
/// @tparam Backbone any type meeting the backbone contract (an adapter or `AnyBackbone`).
/// @tparam Sink callable as `sink(int64_t, const torch::Tensor&)`.
template <class Backbone, class Sink>
void decode_each(const Backbone& backbone, const torch::Tensor& latents, int64_t batch, Sink&& sink) {
  PLUGEN_CHECK(batch >= 1, ConfigError, "decode_each: expected a chunk size >= 1, got {}", batch);
  PLUGEN_CHECK(latents.defined() && latents.dim() >= 1, ShapeError,
               "decode_each: expected a latent batch (N, ...), got {}",
               latents.defined() ? shape_string(latents.sizes()) : std::string("an undefined tensor"));
  const int64_t n = latents.size(0);
  // Every chunk frees and re-allocates the same intermediate tensors: reuse the blocks (glibc would hand out
  // fresh pages each time; page faults were about 40% of the bundled VAE's decoding CPU).
  const detail::CachingAllocatorScope caching_allocator;
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t len = std::min(batch, n - start);
    sink(start, backbone.decode(latents.narrow(0, start, len)));
  }
}

/// `decode_each` with the backbone's own chunk size (`decode_batch()`).
template <class Backbone, class Sink>
void decode_each(const Backbone& backbone, const torch::Tensor& latents, Sink&& sink) {
  decode_each(backbone, latents, detail::decode_batch_of(backbone), std::forward<Sink>(sink));
}

}  // namespace plugen
