#pragma once
/// @file
/// `AnyBackbone`: a type-erased value holding any type that meets the backbone contract, for
/// backbones chosen at run time (like `torch::nn::AnyModule` for modules).

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "plugen/backbone/backbone.hpp"
#include "plugen/core/check.hpp"

namespace plugen {
namespace detail {

template <class B, class = void>
struct has_encode : std::false_type {};
template <class B>
struct has_encode<B, std::void_t<decltype(std::declval<const B&>().encode(std::declval<const torch::Tensor&>()))>>
    : std::true_type {};

template <class B, class = void>
struct has_can_encode : std::false_type {};
template <class B>
struct has_can_encode<B, std::void_t<decltype(bool(std::declval<const B&>().can_encode()))>> : std::true_type {};

template <class B, class = void>
struct has_sample_latents : std::false_type {};
template <class B>
struct has_sample_latents<B, std::void_t<decltype(std::declval<const B&>().sample_latents(int64_t{}, uint64_t{}))>>
    : std::true_type {};

template <class B, class = void>
struct has_kind : std::false_type {};
template <class B>
struct has_kind<B, std::void_t<decltype(std::string(std::declval<const B&>().kind()))>> : std::true_type {};

template <class B, class = void>
struct has_describe : std::false_type {};
template <class B>
struct has_describe<B, std::void_t<decltype(std::string(std::declval<const B&>().describe()))>> : std::true_type {};

/// The type-erased interface `AnyBackbone` calls through.
struct BackboneHolderBase {
  virtual ~BackboneHolderBase() = default;
  virtual std::vector<int64_t> latent_shape() const = 0;
  virtual std::vector<int64_t> output_shape() const = 0;
  virtual torch::Tensor decode(const torch::Tensor& latents) const = 0;
  virtual bool can_encode() const = 0;
  virtual torch::Tensor encode(const torch::Tensor& inputs) const = 0;
  virtual bool can_sample() const = 0;
  virtual torch::Tensor sample_latents(int64_t n, uint64_t seed) const = 0;
  virtual torch::Device device() const = 0;
  virtual int64_t decode_batch() const = 0;
  virtual std::string kind() const = 0;
  virtual std::string describe() const = 0;
  virtual const std::type_info& type() const = 0;
  virtual void* get() = 0;
};

/// Holds one backbone of type B and forwards the contract to it; optional members fall back to
/// "not supported".
template <class B>
struct BackboneHolder final : BackboneHolderBase {
  explicit BackboneHolder(B b) : backbone(std::move(b)) {}
  std::vector<int64_t> latent_shape() const override { return backbone.latent_shape(); }
  std::vector<int64_t> output_shape() const override { return backbone.output_shape(); }
  torch::Tensor decode(const torch::Tensor& latents) const override { return backbone.decode(latents); }
  bool can_encode() const override {
    if constexpr (has_encode<B>::value && has_can_encode<B>::value) {
      return backbone.can_encode();
    } else {
      return has_encode<B>::value;
    }
  }
  torch::Tensor encode(const torch::Tensor& inputs) const override {
    if constexpr (has_encode<B>::value) {
      PLUGEN_CHECK(can_encode(), BackboneError, "AnyBackbone::encode: this {} backbone has no encoder ({})", kind(),
                   describe());
      return backbone.encode(inputs);
    } else {
      throw BackboneError(
          fmt::format("AnyBackbone::encode: a {} backbone cannot encode (no encode method) ({})", kind(), describe()));
    }
  }
  bool can_sample() const override { return has_sample_latents<B>::value; }
  torch::Tensor sample_latents(int64_t n, uint64_t seed) const override {
    if constexpr (has_sample_latents<B>::value) {
      return backbone.sample_latents(n, seed);
    } else {
      throw BackboneError(
          fmt::format("AnyBackbone::sample_latents: a {} backbone has no prior to sample ({})", kind(), describe()));
    }
  }
  torch::Device device() const override { return backbone.device(); }
  int64_t decode_batch() const override { return decode_batch_of(backbone); }
  std::string kind() const override {
    if constexpr (has_kind<B>::value) {
      return backbone.kind();
    } else {
      return "custom";
    }
  }
  std::string describe() const override {
    if constexpr (has_describe<B>::value) {
      return backbone.describe();
    } else {
      return fmt::format("{} backbone: latent ({}), output ({})", kind(), fmt::join(latent_shape(), ", "),
                         fmt::join(output_shape(), ", "));
    }
  }
  const std::type_info& type() const override { return typeid(B); }
  void* get() override { return &backbone; }

  B backbone;
};

}  // namespace detail

/// A backbone chosen at run time: holds any type meeting the backbone contract (see backbone.hpp) and
/// forwards the contract to it. Copies share the held backbone (adapters are stateless after loading).
/// Optional members (`encode`, `sample_latents`) are reported by `can_encode()`/`can_sample()`; calling
/// them when absent is a BackboneError.
class AnyBackbone {
 public:
  /// An empty holder; every call but `is_empty()` is a ConfigError.
  AnyBackbone() = default;

  /// Holds `backbone`.
  /// @tparam B a type meeting the backbone contract: `latent_shape()`, `output_shape()`, `decode(x)`, `device()`.
  template <class B, class = std::enable_if_t<!std::is_same_v<std::decay_t<B>, AnyBackbone>>>
  AnyBackbone(B backbone)  // NOLINT(google-explicit-constructor): implicit, like torch::nn::AnyModule
      : impl_(std::make_shared<detail::BackboneHolder<std::decay_t<B>>>(std::move(backbone))) {}

  /// Per-sample latent shape.
  std::vector<int64_t> latent_shape() const { return impl().latent_shape(); }
  /// Number of scalars of one latent (the width a plugin's flow works with).
  int64_t latent_dim() const {
    int64_t n = 1;
    for (auto s : latent_shape()) n *= s;
    return n;
  }
  /// Per-sample output shape.
  std::vector<int64_t> output_shape() const { return impl().output_shape(); }
  /// Decodes latents (N, *latent_shape) (or flattened) to outputs (N, *output_shape).
  torch::Tensor decode(const torch::Tensor& latents) const { return impl().decode(latents); }
  /// Whether `encode` is available.
  bool can_encode() const { return impl().can_encode(); }
  /// Encodes inputs (N, *output_shape) to latents; a BackboneError when `!can_encode()`.
  torch::Tensor encode(const torch::Tensor& inputs) const { return impl().encode(inputs); }
  /// Whether `sample_latents` is available.
  bool can_sample() const { return impl().can_sample(); }
  /// `n` latents from the backbone's prior, sample i depending only on (seed, i); a BackboneError when
  /// `!can_sample()`.
  torch::Tensor sample_latents(int64_t n, uint64_t seed) const { return impl().sample_latents(n, seed); }
  /// Device the backbone runs on.
  torch::Device device() const { return impl().device(); }
  /// Chunk size of decode.
  int64_t decode_batch() const { return impl().decode_batch(); }
  /// "gan", "vae", "diffusion", or the held type's `kind()` ("custom" without one).
  std::string kind() const { return impl().kind(); }
  /// One line for logs.
  std::string describe() const { return impl().describe(); }

  /// True when nothing is held.
  bool is_empty() const noexcept { return impl_ == nullptr; }
  /// The type of the held backbone.
  const std::type_info& type_info() const { return impl().type(); }
  /// The held backbone as a `B`, or nullptr when it is of another type (like `AnyModule::get<T>`).
  template <class B>
  B* try_get() const {
    if (!impl_ || impl_->type() != typeid(B)) return nullptr;
    return static_cast<B*>(impl_->get());
  }
  /// The held backbone as a `B`; a ConfigError when it is of another type.
  template <class B>
  B& get() const {
    B* b = try_get<B>();
    PLUGEN_CHECK(b != nullptr, ConfigError, "AnyBackbone::get: the held backbone is a {} ({}), not the requested type",
                 kind(), describe());
    return *b;
  }

 private:
  const detail::BackboneHolderBase& impl() const {
    PLUGEN_CHECK(impl_ != nullptr, ConfigError, "AnyBackbone: empty (no backbone was loaded into it)");
    return *impl_;
  }

  std::shared_ptr<detail::BackboneHolderBase> impl_;
};

}  // namespace plugen
