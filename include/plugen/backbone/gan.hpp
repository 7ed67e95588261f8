#pragma once
/// @file
/// `GanBackbone`: a TorchScript GAN generator, in Z space (`forward(z)`) or, with separate
/// `mapping(z) -> w` and `synthesis(w) -> x` methods, in StyleGAN's W or W+ space; optional noise
/// inputs fixed from a seed so a latent always decodes to the same image.

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

/// Which latent space of a GAN the plugin works in.
enum class LatentSpace {
  z,       ///< the generator's input noise z; decode calls `forward(z)`
  w,       ///< StyleGAN's intermediate latent w (one vector, broadcast to every layer); needs mapping + synthesis
  w_plus,  ///< StyleGAN's W+: one w per synthesis layer, latents (L, D); needs mapping + synthesis
};

/// Name of a latent space ("z", "w", "w+").
inline const char* to_string(LatentSpace space) noexcept {
  switch (space) {
    case LatentSpace::z:
      return "z";
    case LatentSpace::w:
      return "w";
    case LatentSpace::w_plus:
      return "w+";
  }
  return "unknown";
}

/// Parses a latent space name ("z", "w", "w+" or "w_plus"); a config error lists the valid names.
inline LatentSpace parse_latent_space(const std::string& s) {
  if (s == "z") return LatentSpace::z;
  if (s == "w") return LatentSpace::w;
  if (s == "w+" || s == "w_plus") return LatentSpace::w_plus;
  throw ConfigError(fmt::format("latent space option: expected 'z', 'w' or 'w+', got '{}'", s));
}

/// Options of a `GanBackbone`.
struct GanOptions {
  /// Device the generator runs on.
  TORCH_ARG(torch::Device, device) = torch::kCPU;
  /// Samples per call of the module; decode processes larger batches chunk by chunk.
  TORCH_ARG(int64_t, decode_batch) = 256;
  /// Range of the generator's outputs, mapped to [0, 1] (tanh generators: `ValueRange::symmetric()`).
  /// Unset: the module's number attributes `data_range_attributes` when it has them, else [0, 1].
  TORCH_ARG(c10::optional<ValueRange>, data_range) = c10::nullopt;
  /// Names of the module attributes declaring its data range (low, high); empty names disable them.
  TORCH_ARG(RangeAttributes, data_range_attributes) = {"data_min", "data_max"};
  /// Clamp decoded outputs to [0, 1] (images); set false for non-image outputs.
  TORCH_ARG(bool, clamp) = true;
  /// Width of z; 0 reads the module's int attribute `latent_dim_attribute`. When both exist they must agree.
  TORCH_ARG(int64_t, latent_dim) = 0;
  /// Name of the module attribute that holds the width of z.
  TORCH_ARG(std::string, latent_dim_attribute) = "latent_dim";
  /// Latent space the backbone's latents live in.
  TORCH_ARG(LatentSpace, space) = LatentSpace::z;
  /// Generator method z -> x (space z).
  TORCH_ARG(std::string, forward_method) = "forward";
  /// Mapping network z -> w, returning (N, D) or StyleGAN's broadcast (N, L, D) (spaces w and w+).
  TORCH_ARG(std::string, mapping_method) = "mapping";
  /// Synthesis network w -> x, taking exactly what the mapping returns (spaces w and w+).
  TORCH_ARG(std::string, synthesis_method) = "synthesis";
  /// Per-sample shapes of extra noise inputs passed after the latent to the image-producing method
  /// (`forward` or `synthesis`), e.g. StyleGAN's per-layer noise. They are drawn once from `noise_seed`
  /// and shared by every sample, so a latent decodes to the same image whatever its batch or position.
  TORCH_ARG(std::vector<std::vector<int64_t>>, noise_shapes) = {};
  /// Seed of the fixed noise inputs.
  TORCH_ARG(uint64_t, noise_seed) = 0;
  /// Expected per-sample output shape, e.g. {3, 64, 64}; empty accepts what the probe returns.
  TORCH_ARG(std::vector<int64_t>, output_shape) = {};

 public:
  /// Throws a ConfigError naming the first invalid option.
  void validate() const {
    PLUGEN_CHECK(decode_batch_ >= 1, ConfigError, "GanOptions::decode_batch: expected >= 1, got {}", decode_batch_);
    PLUGEN_CHECK(latent_dim_ >= 0, ConfigError, "GanOptions::latent_dim: expected >= 0 (0: from the module), got {}",
                 latent_dim_);
    if (data_range_) data_range_->validate("GanOptions::data_range");
    for (const auto& shape : noise_shapes_)
      for (auto s : shape)
        PLUGEN_CHECK(s >= 1, ConfigError, "GanOptions::noise_shapes: expected positive sizes, got ({})",
                     fmt::join(shape, ", "));
  }
};

/// A frozen TorchScript GAN generator meeting the backbone contract (see backbone.hpp).
///
/// Expected module (see examples/export/gan.py): `forward(z[, noise...]) -> x` with z (N, latent_dim)
/// and x (N, C, H, W) in its data range ([0, 1] unless declared by attributes `data_min`/`data_max` or
/// `GanOptions::data_range`); optionally `mapping(z) -> w` and `synthesis(w[, noise...]) -> x`
/// for W/W+; optionally an int attribute `latent_dim`. Loading probes every method it will use with a
/// batch of 2, so a module that does not fit fails here with a BackboneError, not in the middle of a job.
class GanBackbone {
 public:
  /// Loads and probes a generator saved with `torch.jit.save`.
  explicit GanBackbone(const std::string& path, GanOptions options = {})
      : GanBackbone(detail::load_module(path, options.device(), "GanBackbone"), std::move(options), path) {}

  /// Wraps and probes an already loaded module; `source` names it in messages (a path, or "<memory>").
  GanBackbone(torch::jit::Module module, GanOptions options, std::string source = "<memory>")
      : module_(std::move(module)), options_(std::move(options)), source_(std::move(source)) {
    init();
  }

  /// Per-sample latent shape: {latent_dim} in Z, {D} in W, {L, D} in W+.
  std::vector<int64_t> latent_shape() const { return latent_shape_; }
  /// Per-sample output shape found by the load-time probe, e.g. {3, 64, 64}.
  std::vector<int64_t> output_shape() const { return output_shape_; }
  /// Width of the generator's input noise z.
  int64_t z_dim() const { return z_dim_; }

  /// Decodes latents (N, *latent_shape) (or flattened) to outputs (N, *output_shape) in [0, 1],
  /// float32, on the latents' device, `decode_batch` samples at a time.
  torch::Tensor decode(const torch::Tensor& latents) const {
    const std::string who = "GanBackbone::decode";
    auto x = detail::shape_latents(latents, latent_shape_, who);
    return detail::map_chunks(x, options_.decode_batch(), options_.device(), output_shape_, torch::kFloat32, who,
                              [&](const torch::Tensor& chunk) { return synthesize(chunk.to(dtype_), who); });
  }

  /// Maps z (N, z_dim) to the backbone's latent space: identity in Z, `mapping` in W/W+ (in W, the
  /// first of a broadcast (N, L, D) mapping output).
  torch::Tensor map(const torch::Tensor& z) const {
    const std::string who = "GanBackbone::map";
    auto zz = detail::shape_latents(z, {z_dim_}, who, "z");
    if (options_.space() == LatentSpace::z) return zz.to(torch::kFloat32);
    return detail::map_chunks(zz, options_.decode_batch(), options_.device(), latent_shape_, torch::kFloat32, who,
                              [&](const torch::Tensor& chunk) { return mapped(chunk.to(dtype_), who); });
  }

  /// `n` latents from the generator's prior: z ~ N(0, I) per sample from `derive_seed(seed, i)`, mapped
  /// to W/W+ when the space asks for it. Sample i is the same whatever `n`. Returned on the CPU.
  torch::Tensor sample_latents(int64_t n, uint64_t seed) const {
    PLUGEN_CHECK(n >= 0, ConfigError, "GanBackbone::sample_latents: expected n >= 0, got {}", n);
    return map(detail::per_sample_normal(n, {z_dim_}, seed));
  }

  /// The data range the outputs are mapped to [0, 1] from (the option, the module's attributes, or [0, 1]).
  const ValueRange& data_range() const { return range_; }
  /// The fixed noise inputs, one (1, *shape) tensor per entry of `noise_shapes`.
  const std::vector<torch::Tensor>& noise() const { return noise_; }
  /// Device the module runs on.
  torch::Device device() const { return options_.device(); }
  /// Chunk size of decode.
  int64_t decode_batch() const { return options_.decode_batch(); }
  /// "gan".
  std::string kind() const { return "gan"; }
  /// One line for logs: file, space, shapes, methods, device.
  std::string describe() const {
    return fmt::format(
        "gan '{}': space {}, latent ({}), output ({}) from [{}, {}], method{} {}, {}, decode_batch {}", source_,
        to_string(options_.space()), fmt::join(latent_shape_, ", "), fmt::join(output_shape_, ", "), range_.low,
        range_.high, options_.space() == LatentSpace::z ? "" : "s",
        options_.space() == LatentSpace::z ? options_.forward_method()
                                           : options_.mapping_method() + " + " + options_.synthesis_method(),
        options_.device().str(), options_.decode_batch());
  }
  /// The options it was loaded with.
  const GanOptions& options() const { return options_; }
  /// The TorchScript module.
  const torch::jit::Module& module() const { return module_; }
  /// The file (or "<memory>") the module came from.
  const std::string& source() const { return source_; }

 private:
  void init() {
    const std::string who = "GanBackbone";
    options_.validate();
    auto attr = detail::int_attribute(module_, options_.latent_dim_attribute(), source_, who);
    PLUGEN_CHECK(!(options_.latent_dim() > 0 && attr && *attr != options_.latent_dim()), BackboneError,
                 "{}: wrong latent width: GanOptions::latent_dim is {} but attribute '{}' of '{}' is {}", who,
                 options_.latent_dim(), options_.latent_dim_attribute(), source_, attr.value_or(0));
    z_dim_ = options_.latent_dim() > 0 ? options_.latent_dim() : attr.value_or(0);
    PLUGEN_CHECK(z_dim_ > 0, BackboneError,
                 "{}: cannot tell the latent width of '{}': set GanOptions::latent_dim or give the module an int "
                 "attribute '{}'",
                 who, source_, options_.latent_dim_attribute());
    dtype_ = detail::module_dtype(module_);
    range_ = detail::resolve_data_range(module_, options_.data_range(), ValueRange::unit(),
                                        options_.data_range_attributes(), "GanOptions::data_range", source_, who);

    const auto& shapes = options_.noise_shapes();
    for (size_t k = 0; k < shapes.size(); ++k) {
      auto gen = make_generator(derive_seed(options_.noise_seed(), k));
      noise_.push_back(
          torch::randn(detail::batch_shape(1, shapes[k]), gen, torch::kFloat32).to(options_.device(), dtype_));
    }
    const std::string expected = noise_.empty() ? "(latent)" : fmt::format("(latent + {} noise)", noise_.size());
    if (options_.space() == LatentSpace::z) {
      image_method_ = detail::require_method(module_, options_.forward_method(), 1 + noise_.size(), expected,
                                             "GanOptions::forward_method", source_, who);
    } else {
      mapping_ = detail::require_method(module_, options_.mapping_method(), 1, "(z)", "GanOptions::mapping_method",
                                        source_, who);
      image_method_ = detail::require_method(module_, options_.synthesis_method(), 1 + noise_.size(), expected,
                                             "GanOptions::synthesis_method", source_, who);
    }
    probe(who);
  }

  // Runs every method once on 2 latents and records the shapes they produce.
  void probe(const std::string& who) {
    c10::InferenceMode guard;
    auto z = detail::per_sample_normal(2, {z_dim_}, 0).to(options_.device(), dtype_);
    const auto hint = fmt::format("is the latent width {} right? (GanOptions::latent_dim, or attribute '{}')", z_dim_,
                                  options_.latent_dim_attribute());
    torch::Tensor latent;
    if (options_.space() == LatentSpace::z) {
      latent_shape_ = synthesis_shape_ = {z_dim_};
      latent = z;
    } else {
      auto w = detail::expect_tensor(detail::call_method(*mapping_, {z}, source_, who, hint), false,
                                     options_.mapping_method(), source_, who);
      PLUGEN_CHECK((w.dim() == 2 || w.dim() == 3) && w.size(0) == 2 && w.is_floating_point(), BackboneError,
                   "{}: wrong output shape: method '{}' of '{}' returned {} {} for z of shape (2, {}), expected a "
                   "floating (2, D) or (2, L, D)",
                   who, options_.mapping_method(), source_, shape_string(w.sizes()), dtype_string(w.scalar_type()),
                   z_dim_);
      synthesis_shape_ = detail::sample_shape_of(w);
      if (options_.space() == LatentSpace::w) {
        latent_shape_ = {synthesis_shape_.back()};
      } else {
        PLUGEN_CHECK(w.dim() == 3, BackboneError,
                     "{}: space w+ needs per-layer latents, but method '{}' of '{}' returns {} (one w per sample); "
                     "export a mapping that returns (N, L, D), or use space w",
                     who, options_.mapping_method(), source_, shape_string(w.sizes()));
        latent_shape_ = synthesis_shape_;
      }
      latent = w;
      if (options_.space() == LatentSpace::w && w.dim() == 3) latent = w.select(1, 0);
    }
    auto x = raw_synthesize(latent, who, hint);
    PLUGEN_CHECK(x.dim() >= 2 && x.size(0) == 2 && x.is_floating_point(), BackboneError,
                 "{}: wrong output shape: method '{}' of '{}' returned {} {} for 2 latents, expected a floating "
                 "(2, ...) batch such as (2, C, H, W)",
                 who, image_method_->name(), source_, shape_string(x.sizes()), dtype_string(x.scalar_type()));
    output_shape_ = detail::sample_shape_of(x);
    PLUGEN_CHECK(options_.output_shape().empty() || options_.output_shape() == output_shape_, BackboneError,
                 "{}: wrong output shape: method '{}' of '{}' returns samples of shape ({}), GanOptions::output_shape "
                 "expects ({})",
                 who, image_method_->name(), source_, fmt::join(output_shape_, ", "),
                 fmt::join(options_.output_shape(), ", "));
    if (options_.clamp())
      detail::check_probe_range(x, range_, image_method_->name(), "GanOptions::data_range", source_, who);
  }

  // Latents in the backbone's layout (already in the module dtype, on the device) -> raw outputs.
  torch::Tensor raw_synthesize(const torch::Tensor& latent, const std::string& who,
                               const std::string& hint = {}) const {
    const int64_t n = latent.size(0);
    auto in = latent;
    if (options_.space() == LatentSpace::w && synthesis_shape_.size() == 2)
      in = latent.unsqueeze(1).expand({n, synthesis_shape_[0], synthesis_shape_[1]}).contiguous();
    std::vector<torch::jit::IValue> inputs{in};
    for (const auto& noise : noise_) {
      auto sizes = noise.sizes().vec();
      sizes[0] = n;
      inputs.emplace_back(noise.expand(sizes).contiguous());
    }
    return detail::expect_tensor(detail::call_method(*image_method_, std::move(inputs), source_, who, hint), false,
                                 image_method_->name(), source_, who);
  }

  torch::Tensor synthesize(const torch::Tensor& latent, const std::string& who) const {
    auto x = raw_synthesize(latent, who);
    return range_.to_unit(x.to(torch::kFloat32), options_.clamp());
  }

  torch::Tensor mapped(const torch::Tensor& z, const std::string& who) const {
    auto w = detail::expect_tensor(detail::call_method(*mapping_, {z}, source_, who), false, options_.mapping_method(),
                                   source_, who);
    if (options_.space() == LatentSpace::w && w.dim() == 3) w = w.select(1, 0);
    return w.to(torch::kFloat32);
  }

  torch::jit::Module module_;
  GanOptions options_;
  std::string source_;
  int64_t z_dim_ = 0;
  torch::Dtype dtype_ = torch::kFloat32;
  ValueRange range_;
  std::vector<torch::Tensor> noise_;
  c10::optional<torch::jit::Method> mapping_, image_method_;
  std::vector<int64_t> latent_shape_, synthesis_shape_, output_shape_;
};

}  // namespace plugen
