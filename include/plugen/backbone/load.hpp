#pragma once
/// @file
/// `load_backbone`: loads a TorchScript file as a GAN, VAE or diffusion backbone chosen by a kind
/// string ("gan", "vae", "diffusion", or "auto"), returned as an `AnyBackbone`.

#include <torch/script.h>

#include <string>

#include "plugen/backbone/any.hpp"
#include "plugen/backbone/detail/torchscript.hpp"
#include "plugen/backbone/diffusion.hpp"
#include "plugen/backbone/gan.hpp"
#include "plugen/backbone/vae.hpp"

namespace plugen {

/// Options of `load_backbone`: one options struct per adapter (the one matching the kind is used), and
/// setters for the knobs they share, which set all three.
struct BackboneOptions {
  /// Options used when the kind is "gan".
  TORCH_ARG(GanOptions, gan) = {};
  /// Options used when the kind is "vae".
  TORCH_ARG(VaeOptions, vae) = {};
  /// Options used when the kind is "diffusion".
  TORCH_ARG(DiffusionOptions, diffusion) = {};

 public:
  /// Sets the device of every adapter's options.
  BackboneOptions& device(const torch::Device& d) {
    gan_.device(d);
    vae_.device(d);
    diffusion_.device(d);
    return *this;
  }
  /// Sets the chunk size of every adapter's options.
  BackboneOptions& decode_batch(int64_t n) {
    gan_.decode_batch(n);
    vae_.decode_batch(n);
    diffusion_.decode_batch(n);
    return *this;
  }
  /// Sets the data range of every adapter's options (otherwise each reads the module's attributes, or
  /// uses its default).
  BackboneOptions& data_range(const ValueRange& r) {
    gan_.data_range(r);
    vae_.data_range(r);
    diffusion_.data_range(r);
    return *this;
  }
  /// Sets whether every adapter clamps its decoded outputs to [0, 1].
  BackboneOptions& clamp(bool c) {
    gan_.clamp(c);
    vae_.clamp(c);
    diffusion_.clamp(c);
    return *this;
  }
};

/// Guesses the kind of a loaded module from what it has: a `decode` method -> "vae"; a schedule
/// attribute (`alphas_cumprod`, or the diffusion options' name) -> "diffusion"; otherwise "gan".
inline std::string detect_backbone_kind(const torch::jit::Module& module, const BackboneOptions& options = {}) {
  if (module.find_method(options.vae().decode_method())) return "vae";
  if (!options.diffusion().schedule_attribute().empty() && module.hasattr(options.diffusion().schedule_attribute()))
    return "diffusion";
  return "gan";
}

/// Loads `path` as a backbone of the given kind ("gan", "vae", "diffusion", or "auto" to guess with
/// `detect_backbone_kind`) with that kind's options. An unknown kind is a ConfigError; file and
/// module problems are the adapters' IoError/BackboneError.
inline AnyBackbone load_backbone(const std::string& path, const std::string& kind,
                                 const BackboneOptions& options = {}) {
  PLUGEN_CHECK(kind == "auto" || kind == "gan" || kind == "vae" || kind == "diffusion", ConfigError,
               "load_backbone: unknown backbone kind '{}' for '{}'; expected one of gan, vae, diffusion, auto", kind,
               path);
  torch::Device device = options.gan().device();
  if (kind == "vae") device = options.vae().device();
  if (kind == "diffusion") device = options.diffusion().device();
  auto module = detail::load_module(path, device, "load_backbone");
  const std::string resolved = kind == "auto" ? detect_backbone_kind(module, options) : kind;
  if (resolved == "vae") return VaeBackbone(std::move(module), options.vae(), path);
  if (resolved == "diffusion") return DiffusionBackbone(std::move(module), options.diffusion(), path);
  return GanBackbone(std::move(module), options.gan(), path);
}

}  // namespace plugen
