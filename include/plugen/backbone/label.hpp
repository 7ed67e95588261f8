#pragma once
/// @file
/// Latent data sets from backbones: `auto_label` (sample the backbone's prior, decode, classify; no
/// labelled data needed) and `encode_dataset` (encode real inputs with a VAE encoder or DDIM inversion and
/// pair them with the user's labels).

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "plugen/backbone/backbone.hpp"
#include "plugen/backbone/classifier.hpp"
#include "plugen/core/check.hpp"
#include "plugen/data/dataset.hpp"
#include "plugen/prior/schema.hpp"

namespace plugen {

namespace detail {

/// Latents (N, *latent_shape) in the layout of a `LatentDataset`: (N, D) and (N, L, D) stay, higher ranks
/// (e.g. a diffusion model's (N, C, H, W) noise) are flattened to (N, C·H·W).
inline torch::Tensor dataset_latents(const torch::Tensor& latents) {
  return latents.dim() <= 3 ? latents : latents.reshape({latents.size(0), -1});
}

}  // namespace detail

/// Builds a labelled latent data set from a backbone and a classifier alone: `n` latents from the
/// backbone's prior (`sample_latents(n, seed)`, so row i depends only on (seed, i)), decoded and classified
/// `batch` at a time (0: the backbone's `decode_batch()`), so decoded outputs never all live in memory.
/// Labels follow `classifier.schema()`.
/// @tparam Backbone any type meeting the backbone contract with `sample_latents` (an adapter or `AnyBackbone`).
/// @tparam Classifier an `AttributeClassifier`, or any type with `input_shape()` and `predict(outputs)`
/// returning `Labels` (e.g. a `Scorer` combining a classifier with measured attributes).
template <class Backbone, class Classifier>
LatentDataset auto_label(const Backbone& backbone, const Classifier& classifier, int64_t n, uint64_t seed,
                         int64_t batch = 0) {
  PLUGEN_CHECK(n >= 1, ConfigError, "auto_label: expected n >= 1 samples, got {}", n);
  PLUGEN_CHECK(batch >= 0, ConfigError, "auto_label: expected a batch >= 0 (0: the backbone's), got {}", batch);
  PLUGEN_CHECK(backbone.output_shape() == classifier.input_shape(), ShapeError,
               "auto_label: the backbone decodes samples of shape ({}) but the classifier takes ({})",
               fmt::join(backbone.output_shape(), ", "), fmt::join(classifier.input_shape(), ", "));
  auto latents = backbone.sample_latents(n, seed);
  std::vector<torch::Tensor> values;
  decode_each(backbone, latents, batch > 0 ? batch : detail::decode_batch_of(backbone),
              [&](int64_t, const torch::Tensor& outputs) { values.push_back(classifier.predict(outputs).values); });
  auto v = torch::cat(values, 0);
  return {detail::dataset_latents(latents), {v, torch::ones(v.sizes(), v.options().dtype(torch::kBool))}};
}

/// Encodes real inputs (N, *output_shape) in [0, 1] with the backbone's encoder (a VAE's posterior mean,
/// or DDIM inversion) and pairs the latents with the user's labels (N rows). A BackboneError when the
/// backbone cannot encode.
/// @tparam Backbone an adapter with `encode`, or an `AnyBackbone` whose `can_encode()`.
template <class Backbone>
LatentDataset encode_dataset(const Backbone& backbone, const torch::Tensor& inputs, Labels labels) {
  PLUGEN_CHECK(inputs.defined() && inputs.dim() >= 1 && labels.rows() == inputs.size(0), ShapeError,
               "encode_dataset: {} inputs but {} label rows", inputs.defined() ? inputs.size(0) : 0, labels.rows());
  return {detail::dataset_latents(backbone.encode(inputs)), std::move(labels)};
}

}  // namespace plugen
