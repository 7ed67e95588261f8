#pragma once
/// @file
/// `VaeBackbone`: a TorchScript VAE with `decode(z) -> x` and an optional `encode(x)` returning the
/// posterior mean, or a (mean, logvar) tuple of which the mean is taken.

#include <torch/script.h>
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "plugen/backbone/backbone.hpp"
#include "plugen/backbone/detail/torchscript.hpp"
#include "plugen/core/seed.hpp"

namespace plugen {

/// Options of a `VaeBackbone`.
struct VaeOptions {
  /// Device the VAE runs on.
  TORCH_ARG(torch::Device, device) = torch::kCPU;
  /// Samples per call of the module; decode and encode process larger batches chunk by chunk.
  TORCH_ARG(int64_t, decode_batch) = 256;
  /// Range the VAE's images live in (its decoder's outputs and encoder's inputs). Unset: the module's
  /// number attributes `data_range_attributes` when it has them, else [0, 1] (sigmoid decoders).
  TORCH_ARG(c10::optional<ValueRange>, data_range) = c10::nullopt;
  /// Names of the module attributes declaring its data range (low, high); empty names disable them.
  TORCH_ARG(RangeAttributes, data_range_attributes) = {"data_min", "data_max"};
  /// Clamp decoded outputs to [0, 1] (images); set false for non-image outputs.
  TORCH_ARG(bool, clamp) = true;
  /// Per-sample latent shape, e.g. {64}; empty reads the module attribute `latent_dim_attribute`
  /// (an int, or a list of ints), else asks the encoder (with `input_shape`).
  TORCH_ARG(std::vector<int64_t>, latent_shape) = {};
  /// Name of the module attribute that holds the latent width.
  TORCH_ARG(std::string, latent_dim_attribute) = "latent_dim";
  /// Decoder method z -> x.
  TORCH_ARG(std::string, decode_method) = "decode";
  /// Encoder method x -> mean or (mean, logvar); empty for a decoder-only backbone.
  TORCH_ARG(std::string, encode_method) = "encode";
  /// Per-sample encoder input shape; empty means the decoder's output shape.
  TORCH_ARG(std::vector<int64_t>, input_shape) = {};
  /// Expected per-sample output shape, e.g. {1, 28, 28}; empty accepts what the probe returns.
  TORCH_ARG(std::vector<int64_t>, output_shape) = {};

 public:
  /// Throws a ConfigError naming the first invalid option.
  void validate() const {
    PLUGEN_CHECK(decode_batch_ >= 1, ConfigError, "VaeOptions::decode_batch: expected >= 1, got {}", decode_batch_);
    if (data_range_) data_range_->validate("VaeOptions::data_range");
    for (auto s : latent_shape_)
      PLUGEN_CHECK(s >= 1, ConfigError, "VaeOptions::latent_shape: expected positive sizes, got ({})",
                   fmt::join(latent_shape_, ", "));
    for (auto s : input_shape_)
      PLUGEN_CHECK(s >= 1, ConfigError, "VaeOptions::input_shape: expected positive sizes, got ({})",
                   fmt::join(input_shape_, ", "));
  }
};

/// A frozen TorchScript VAE meeting the backbone contract (see backbone.hpp), with `encode`.
///
/// Expected module (see examples/export/vae.py): `decode(z) -> x` with z (N, D) and x (N, C, H, W) in
/// `data_range`; optionally `encode(x) -> mean` or `-> (mean, logvar)` (exported with
/// `@torch.jit.export`); optionally an int attribute `latent_dim`. Loading probes decode and encode with a
/// batch of 2 and checks that encode returns latents of the width decode takes.
class VaeBackbone {
 public:
  /// Loads and probes a VAE saved with `torch.jit.save`.
  explicit VaeBackbone(const std::string& path, VaeOptions options = {})
      : VaeBackbone(detail::load_module(path, options.device(), "VaeBackbone"), std::move(options), path) {}

  /// Wraps and probes an already loaded module; `source` names it in messages.
  VaeBackbone(torch::jit::Module module, VaeOptions options, std::string source = "<memory>")
      : module_(std::move(module)), options_(std::move(options)), source_(std::move(source)) {
    init();
  }

  /// Per-sample latent shape, e.g. {64}.
  std::vector<int64_t> latent_shape() const { return latent_shape_; }
  /// Per-sample output shape found by the probe, e.g. {1, 28, 28}.
  std::vector<int64_t> output_shape() const { return output_shape_; }
  /// Per-sample input shape of encode.
  std::vector<int64_t> input_shape() const { return input_shape_; }

  /// Decodes latents (N, *latent_shape) (or flattened) to outputs (N, *output_shape) in [0, 1],
  /// float32, on the latents' device.
  torch::Tensor decode(const torch::Tensor& latents) const {
    const std::string who = "VaeBackbone::decode";
    auto z = detail::shape_latents(latents, latent_shape_, who);
    return detail::map_chunks(z, options_.decode_batch(), options_.device(), output_shape_, torch::kFloat32, who,
                              [&](const torch::Tensor& chunk) {
                                auto x = raw_decode(chunk.to(dtype_), who);
                                return range_.to_unit(x.to(torch::kFloat32), options_.clamp());
                              });
  }

  /// True when the module has an encoder (`encode_method` is set).
  bool can_encode() const { return encode_.has_value(); }

  /// Encodes inputs (N, *input_shape) in [0, 1] to the posterior means (N, *latent_shape), float32, on
  /// the inputs' device. A BackboneError when the backbone has no encoder.
  torch::Tensor encode(const torch::Tensor& inputs) const {
    const std::string who = "VaeBackbone::encode";
    PLUGEN_CHECK(can_encode(), BackboneError, "{}: '{}' was loaded without an encoder (VaeOptions::encode_method)", who,
                 source_);
    auto x = detail::shape_latents(inputs, input_shape_, who, "inputs");
    return detail::map_chunks(x, options_.decode_batch(), options_.device(), latent_shape_, torch::kFloat32, who,
                              [&](const torch::Tensor& chunk) {
                                auto native = range_.from_unit(chunk.to(dtype_));
                                return raw_encode(native, who).to(torch::kFloat32);
                              });
  }

  /// `n` latents from the VAE prior N(0, I), sample i from `derive_seed(seed, i)`; on the CPU.
  torch::Tensor sample_latents(int64_t n, uint64_t seed) const {
    PLUGEN_CHECK(n >= 0, ConfigError, "VaeBackbone::sample_latents: expected n >= 0, got {}", n);
    return detail::per_sample_normal(n, latent_shape_, seed);
  }

  /// The data range images are mapped to [0, 1] from (the option, the module's attributes, or [0, 1]).
  const ValueRange& data_range() const { return range_; }
  /// Device the module runs on.
  torch::Device device() const { return options_.device(); }
  /// Chunk size of decode and encode.
  int64_t decode_batch() const { return options_.decode_batch(); }
  /// "vae".
  std::string kind() const { return "vae"; }
  /// One line for logs: file, shapes, methods, device.
  std::string describe() const {
    return fmt::format("vae '{}': latent ({}), output ({}), methods {}{}, {}, decode_batch {}", source_,
                       fmt::join(latent_shape_, ", "), fmt::join(output_shape_, ", "), options_.decode_method(),
                       can_encode() ? " + " + options_.encode_method() : std::string(), options_.device().str(),
                       options_.decode_batch());
  }
  /// The options it was loaded with.
  const VaeOptions& options() const { return options_; }
  /// The TorchScript module.
  const torch::jit::Module& module() const { return module_; }
  /// The file (or "<memory>") the module came from.
  const std::string& source() const { return source_; }

 private:
  void init() {
    const std::string who = "VaeBackbone";
    options_.validate();
    dtype_ = detail::module_dtype(module_);
    range_ = detail::resolve_data_range(module_, options_.data_range(), ValueRange::unit(),
                                        options_.data_range_attributes(), "VaeOptions::data_range", source_, who);
    decode_ =
        detail::require_method(module_, options_.decode_method(), 1, "(z)", "VaeOptions::decode_method", source_, who);
    if (!options_.encode_method().empty())
      encode_ = detail::require_method(module_, options_.encode_method(), 1, "(x)", "VaeOptions::encode_method",
                                       source_, who);
    resolve_latent_shape(who);
    c10::InferenceMode guard;
    const auto hint = fmt::format("is the latent shape ({}) right? (VaeOptions::latent_shape, or attribute '{}')",
                                  fmt::join(latent_shape_, ", "), options_.latent_dim_attribute());
    auto z = detail::per_sample_normal(2, latent_shape_, 0).to(options_.device(), dtype_);
    auto x = raw_decode(z, who, hint);
    PLUGEN_CHECK(x.dim() >= 2 && x.size(0) == 2 && x.is_floating_point(), BackboneError,
                 "{}: wrong output shape: method '{}' of '{}' returned {} {} for 2 latents, expected a floating "
                 "(2, ...) batch such as (2, C, H, W)",
                 who, options_.decode_method(), source_, shape_string(x.sizes()), dtype_string(x.scalar_type()));
    output_shape_ = detail::sample_shape_of(x);
    PLUGEN_CHECK(options_.output_shape().empty() || options_.output_shape() == output_shape_, BackboneError,
                 "{}: wrong output shape: method '{}' of '{}' returns samples of shape ({}), VaeOptions::output_shape "
                 "expects ({})",
                 who, options_.decode_method(), source_, fmt::join(output_shape_, ", "),
                 fmt::join(options_.output_shape(), ", "));
    if (options_.clamp())
      detail::check_probe_range(x, range_, options_.decode_method(), "VaeOptions::data_range", source_, who);
    if (input_shape_.empty()) input_shape_ = output_shape_;
    if (encode_) {
      auto probe = range_.from_unit(torch::rand(detail::batch_shape(2, input_shape_), make_generator(0), dtype_));
      auto mean = raw_encode(probe.to(options_.device()), who);
      PLUGEN_CHECK(mean.sizes() == at::IntArrayRef(detail::batch_shape(2, latent_shape_)), BackboneError,
                   "{}: wrong latent width: method '{}' of '{}' returns means of shape {} for 2 inputs, but '{}' takes "
                   "latents of shape (N, {})",
                   who, options_.encode_method(), source_, shape_string(mean.sizes()), options_.decode_method(),
                   fmt::join(latent_shape_, ", "));
    }
  }

  // Latent shape: the option, else the module attribute, else what the encoder returns.
  void resolve_latent_shape(const std::string& who) {
    input_shape_ = options_.input_shape();
    c10::optional<std::vector<int64_t>> attr;
    const auto& name = options_.latent_dim_attribute();
    if (!name.empty() && module_.hasattr(name)) {
      if (module_.attr(name).isInt()) {
        attr = std::vector<int64_t>{module_.attr(name).toInt()};
      } else {
        attr = detail::int_list_attribute(module_, name, source_, who);
      }
    }
    if (!options_.latent_shape().empty()) {
      PLUGEN_CHECK(!attr || *attr == options_.latent_shape(), BackboneError,
                   "{}: wrong latent width: VaeOptions::latent_shape is ({}) but attribute '{}' of '{}' is ({})", who,
                   fmt::join(options_.latent_shape(), ", "), name, source_,
                   fmt::join(attr.value_or(std::vector<int64_t>{}), ", "));
      latent_shape_ = options_.latent_shape();
    } else if (attr) {
      latent_shape_ = *attr;
    } else if (encode_ && !input_shape_.empty()) {
      c10::InferenceMode guard;
      auto probe = range_.from_unit(torch::rand(detail::batch_shape(2, input_shape_), make_generator(0), dtype_));
      auto mean = raw_encode(probe.to(options_.device()), who);
      PLUGEN_CHECK(mean.dim() >= 2 && mean.size(0) == 2, BackboneError,
                   "{}: wrong output shape: method '{}' of '{}' returned {} for 2 inputs, expected (2, D)", who,
                   options_.encode_method(), source_, shape_string(mean.sizes()));
      latent_shape_ = detail::sample_shape_of(mean);
    }
    PLUGEN_CHECK(!latent_shape_.empty(), BackboneError,
                 "{}: cannot tell the latent shape of '{}': set VaeOptions::latent_shape, give the module an int "
                 "attribute '{}', or set VaeOptions::input_shape so the encoder can be asked",
                 who, source_, name);
    for (auto s : latent_shape_)
      PLUGEN_CHECK(s >= 1, BackboneError, "{}: attribute '{}' of '{}' gives latent shape ({}), expected positive sizes",
                   who, name, source_, fmt::join(latent_shape_, ", "));
  }

  torch::Tensor raw_decode(const torch::Tensor& z, const std::string& who, const std::string& hint = {}) const {
    return detail::expect_tensor(detail::call_method(*decode_, {z}, source_, who, hint), false,
                                 options_.decode_method(), source_, who);
  }

  torch::Tensor raw_encode(const torch::Tensor& x, const std::string& who) const {
    return detail::expect_tensor(detail::call_method(*encode_, {x}, source_, who), true, options_.encode_method(),
                                 source_, who);
  }

  torch::jit::Module module_;
  VaeOptions options_;
  std::string source_;
  torch::Dtype dtype_ = torch::kFloat32;
  ValueRange range_;
  c10::optional<torch::jit::Method> decode_, encode_;
  std::vector<int64_t> latent_shape_, output_shape_, input_shape_;
};

}  // namespace plugen
