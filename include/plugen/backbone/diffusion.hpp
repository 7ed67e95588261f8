#pragma once
/// @file
/// `DiffusionBackbone`: a TorchScript noise-prediction network `forward(x_t, t) -> eps` with its
/// schedule ᾱ_t (`alphas_cumprod`), seen as a backbone through deterministic DDIM: the latent is the
/// initial noise x_T, `decode` runs DDIM sampling (η = 0) and `encode` runs DDIM inversion.

#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "plugen/backbone/backbone.hpp"
#include "plugen/backbone/detail/torchscript.hpp"

namespace plugen {

/// Which of the schedule's T training timesteps the S DDIM steps visit (ascending τ_0 < ... < τ_{S-1}).
enum class TimestepSpacing {
  linspace,  ///< τ_k = round(k (T - 1) / (S - 1)): from 0 to T - 1 inclusive (the default)
  leading,   ///< τ_k = k ⌊T / S⌋ (the DDIM paper, diffusers "leading")
  trailing,  ///< τ_k = round(T - (S - 1 - k) T / S) - 1, ending at T - 1 (diffusers "trailing")
};

/// Name of a timestep spacing ("linspace", "leading", "trailing").
inline const char* to_string(TimestepSpacing s) noexcept {
  switch (s) {
    case TimestepSpacing::linspace:
      return "linspace";
    case TimestepSpacing::leading:
      return "leading";
    case TimestepSpacing::trailing:
      return "trailing";
  }
  return "unknown";
}

/// Parses a timestep spacing name; a config error lists the valid names.
inline TimestepSpacing parse_timestep_spacing(const std::string& s) {
  for (auto v : {TimestepSpacing::linspace, TimestepSpacing::leading, TimestepSpacing::trailing})
    if (s == to_string(v)) return v;
  throw ConfigError(fmt::format("timestep spacing option: expected 'linspace', 'leading' or 'trailing', got '{}'", s));
}

/// Options of a `DiffusionBackbone`.
struct DiffusionOptions {
  /// Device the network runs on.
  TORCH_ARG(torch::Device, device) = torch::kCPU;
  /// Samples per DDIM trajectory batch; larger batches are processed chunk by chunk.
  TORCH_ARG(int64_t, decode_batch) = 256;
  /// Range the model's data lives in, mapped to [0, 1]. Unset: the module's number attributes
  /// `data_range_attributes` when it has them, else [-1, 1] (the DDPM convention).
  TORCH_ARG(c10::optional<ValueRange>, data_range) = c10::nullopt;
  /// Names of the module attributes declaring its data range (low, high); empty names disable them.
  TORCH_ARG(RangeAttributes, data_range_attributes) = {"data_min", "data_max"};
  /// Clip each step's predicted x̂_0 to the data range while decoding (common in DDPM samplers; improves
  /// samples of imperfect networks). Inversion never clips, so with clipping decode(encode(x)) is less exact.
  TORCH_ARG(bool, clip_denoised) = false;
  /// Clamp decoded outputs to [0, 1] (images); set false for non-image data.
  TORCH_ARG(bool, clamp) = true;
  /// Per-sample data shape, e.g. {1, 28, 28}; empty reads the module attribute `sample_shape_attribute`.
  TORCH_ARG(std::vector<int64_t>, sample_shape) = {};
  /// Name of the module attribute (a list of ints) holding the sample shape.
  TORCH_ARG(std::string, sample_shape_attribute) = "sample_shape";
  /// Noise-prediction method (x_t, t) -> eps.
  TORCH_ARG(std::string, forward_method) = "forward";
  /// Name of the module attribute or buffer holding ᾱ_t, shape (T,).
  TORCH_ARG(std::string, schedule_attribute) = "alphas_cumprod";
  /// ᾱ_t given directly, shape (T,), decreasing in (0, 1]; when defined it replaces the module's.
  TORCH_ARG(torch::Tensor, alphas_cumprod) = {};
  /// Number S of DDIM steps (1 <= S <= T).
  TORCH_ARG(int64_t, steps) = 50;
  /// Which timesteps the steps visit.
  TORCH_ARG(TimestepSpacing, spacing) = TimestepSpacing::linspace;
  /// Dtype of the timestep tensor t (N,) passed to the network: int64 (default) or a float type.
  TORCH_ARG(torch::Dtype, timestep_dtype) = torch::kInt64;
  /// Fixed-point refinements per inversion step (0: plain DDIM inversion). Each one re-evaluates
  /// ε(x_k, τ_k) at the current estimate of x_k, the point the decode step will evaluate, so
  /// decode(encode(x)) approaches x as the iteration converges; each costs one more network call per step.
  TORCH_ARG(int64_t, inversion_refinement) = 0;

 public:
  /// Throws a ConfigError naming the first invalid option.
  void validate() const {
    PLUGEN_CHECK(decode_batch_ >= 1, ConfigError, "DiffusionOptions::decode_batch: expected >= 1, got {}",
                 decode_batch_);
    PLUGEN_CHECK(steps_ >= 1, ConfigError, "DiffusionOptions::steps: expected >= 1, got {}", steps_);
    PLUGEN_CHECK(inversion_refinement_ >= 0, ConfigError,
                 "DiffusionOptions::inversion_refinement: expected >= 0, got {}", inversion_refinement_);
    if (data_range_) data_range_->validate("DiffusionOptions::data_range");
    for (auto s : sample_shape_)
      PLUGEN_CHECK(s >= 1, ConfigError, "DiffusionOptions::sample_shape: expected positive sizes, got ({})",
                   fmt::join(sample_shape_, ", "));
    PLUGEN_CHECK(timestep_dtype_ == torch::kInt64 || timestep_dtype_ == torch::kInt32 ||
                     timestep_dtype_ == torch::kFloat32 || timestep_dtype_ == torch::kFloat64,
                 ConfigError, "DiffusionOptions::timestep_dtype: expected int64, int32, float32 or float64, got {}",
                 dtype_string(timestep_dtype_));
  }
};

/// The S DDIM timesteps (ascending) for a schedule of T training steps.
inline std::vector<int64_t> ddim_timesteps(int64_t train_steps, int64_t steps, TimestepSpacing spacing) {
  PLUGEN_CHECK(steps >= 1 && steps <= train_steps, ConfigError,
               "ddim_timesteps: expected 1 <= steps <= {} (the schedule's length), got {}", train_steps, steps);
  std::vector<int64_t> out;
  const double T = static_cast<double>(train_steps), S = static_cast<double>(steps);
  for (int64_t k = 0; k < steps; ++k) {
    int64_t t = 0;
    switch (spacing) {
      case TimestepSpacing::linspace:
        t = steps == 1 ? train_steps - 1 : std::llround(static_cast<double>(k) * (T - 1) / (S - 1));
        break;
      case TimestepSpacing::leading:
        t = k * (train_steps / steps);
        break;
      case TimestepSpacing::trailing:
        t = std::llround(T - static_cast<double>(steps - 1 - k) * T / S) - 1;
        break;
    }
    out.push_back(t);
  }
  return out;
}

/// A frozen TorchScript noise-prediction network meeting the backbone contract through DDIM (η = 0).
///
/// Expected module (see examples/export/diffusion.py): `forward(x_t, t) -> eps` with x_t (N, *shape),
/// t (N,) int64 and eps of x_t's shape; a buffer or attribute `alphas_cumprod` (T,); optionally an
/// attribute `sample_shape` (list of ints) and number attributes `data_min`/`data_max` (default [-1, 1]). With
/// timesteps τ_0 < ... < τ_{S-1} and a_k = ᾱ[τ_k], a_{-1} = 1, one DDIM step from k to k - 1 is
///   x̂_0 = (x_k - √(1 - a_k) ε(x_k, τ_k)) / √a_k,   x_{k-1} = √a_{k-1} x̂_0 + √(1 - a_{k-1}) ε.
/// `decode` runs it from k = S - 1 down to 0; `encode` runs it backwards (inversion). The move with a
/// given ε is exactly invertible, but inversion cannot evaluate ε at the unknown x_k: it uses
/// ε(x_{k-1}, τ_k), so encode then decode reconstructs the input up to that approximation's error, which
/// shrinks like 1/S for a smooth network; `inversion_refinement` fixed-point iterations remove most of it.
class DiffusionBackbone {
 public:
  /// Loads and probes a network saved with `torch.jit.save`.
  explicit DiffusionBackbone(const std::string& path, DiffusionOptions options = {})
      : DiffusionBackbone(detail::load_module(path, options.device(), "DiffusionBackbone"), std::move(options), path) {}

  /// Wraps and probes an already loaded module; `source` names it in messages.
  DiffusionBackbone(torch::jit::Module module, DiffusionOptions options, std::string source = "<memory>")
      : module_(std::move(module)), options_(std::move(options)), source_(std::move(source)) {
    init();
  }

  /// Per-sample latent shape: the data shape (x_T has the shape of x_0).
  std::vector<int64_t> latent_shape() const { return shape_; }
  /// Per-sample output shape: the data shape.
  std::vector<int64_t> output_shape() const { return shape_; }

  /// DDIM sampling: initial noise x_T (N, *shape) (or flattened) to samples x_0 in [0, 1], float32, on
  /// the latents' device.
  torch::Tensor decode(const torch::Tensor& latents) const {
    const std::string who = "DiffusionBackbone::decode";
    auto x = detail::shape_latents(latents, shape_, who);
    return detail::map_chunks(x, options_.decode_batch(), options_.device(), shape_, torch::kFloat32, who,
                              [&](const torch::Tensor& chunk) {
                                auto x0 = sample(chunk.to(dtype_), who);
                                return range_.to_unit(x0.to(torch::kFloat32), options_.clamp());
                              });
  }

  /// Always true: DDIM inversion needs nothing beyond the network.
  bool can_encode() const { return true; }

  /// DDIM inversion: samples x_0 (N, *shape) in [0, 1] to the noise x_T that decodes back to them,
  /// float32, on the inputs' device.
  torch::Tensor encode(const torch::Tensor& inputs) const {
    const std::string who = "DiffusionBackbone::encode";
    auto x = detail::shape_latents(inputs, shape_, who, "inputs");
    return detail::map_chunks(x, options_.decode_batch(), options_.device(), shape_, torch::kFloat32, who,
                              [&](const torch::Tensor& chunk) {
                                auto native = range_.from_unit(chunk.to(dtype_));
                                return invert(native, who).to(torch::kFloat32);
                              });
  }

  /// `n` initial noises x_T ~ N(0, I), sample i from `derive_seed(seed, i)`; on the CPU.
  torch::Tensor sample_latents(int64_t n, uint64_t seed) const {
    PLUGEN_CHECK(n >= 0, ConfigError, "DiffusionBackbone::sample_latents: expected n >= 0, got {}", n);
    return detail::per_sample_normal(n, shape_, seed);
  }

  /// The data range samples are mapped to [0, 1] from (the option, the module's attributes, or [-1, 1]).
  const ValueRange& data_range() const { return range_; }
  /// The schedule ᾱ_t (T,), float64 on the CPU.
  const torch::Tensor& alphas_cumprod() const { return alphas_; }
  /// The DDIM timesteps, ascending.
  const std::vector<int64_t>& timesteps() const { return timesteps_; }
  /// Device the module runs on.
  torch::Device device() const { return options_.device(); }
  /// Chunk size of decode and encode.
  int64_t decode_batch() const { return options_.decode_batch(); }
  /// "diffusion".
  std::string kind() const { return "diffusion"; }
  /// One line for logs: file, shape, schedule, steps, device.
  std::string describe() const {
    return fmt::format("diffusion '{}': sample ({}), T {}, DDIM {} steps ({}), method {}, {}, decode_batch {}", source_,
                       fmt::join(shape_, ", "), alphas_.size(0), timesteps_.size(), to_string(options_.spacing()),
                       options_.forward_method(), options_.device().str(), options_.decode_batch());
  }
  /// The options it was loaded with.
  const DiffusionOptions& options() const { return options_; }
  /// The TorchScript module.
  const torch::jit::Module& module() const { return module_; }
  /// The file (or "<memory>") the module came from.
  const std::string& source() const { return source_; }

 private:
  void init() {
    const std::string who = "DiffusionBackbone";
    options_.validate();
    dtype_ = detail::module_dtype(module_);
    range_ = detail::resolve_data_range(module_, options_.data_range(), ValueRange::symmetric(),
                                        options_.data_range_attributes(), "DiffusionOptions::data_range", source_, who);
    eps_ = detail::require_method(module_, options_.forward_method(), 2, "(x_t, t)", "DiffusionOptions::forward_method",
                                  source_, who);
    resolve_schedule(who);
    resolve_shape(who);
    timesteps_ = ddim_timesteps(alphas_.size(0), options_.steps(), options_.spacing());
    auto a = alphas_.accessor<double, 1>();
    for (auto t : timesteps_) alpha_at_.push_back(a[t]);

    c10::InferenceMode guard;
    auto x = detail::per_sample_normal(2, shape_, 0).to(options_.device(), dtype_);
    auto eps = predict(x, timesteps_.back(), who,
                       fmt::format("is the sample shape ({}) right? (DiffusionOptions::sample_shape, or attribute "
                                   "'{}'); is t of the right dtype? (DiffusionOptions::timestep_dtype)",
                                   fmt::join(shape_, ", "), options_.sample_shape_attribute()));
    PLUGEN_CHECK(eps.sizes() == x.sizes() && eps.is_floating_point(), BackboneError,
                 "{}: wrong output shape: method '{}' of '{}' returned {} {} for x_t of shape {}; a noise-prediction "
                 "network returns a floating eps of x_t's shape",
                 who, options_.forward_method(), source_, shape_string(eps.sizes()), dtype_string(eps.scalar_type()),
                 shape_string(x.sizes()));
  }

  void resolve_schedule(const std::string& who) {
    torch::Tensor a;
    std::string from;
    if (options_.alphas_cumprod().defined()) {
      a = options_.alphas_cumprod();
      from = "DiffusionOptions::alphas_cumprod";
    } else {
      const auto& name = options_.schedule_attribute();
      PLUGEN_CHECK(!name.empty() && module_.hasattr(name), BackboneError,
                   "{}: '{}' has no attribute or buffer '{}' (DiffusionOptions::schedule_attribute) holding the noise "
                   "schedule alphas_cumprod; register it as a buffer when exporting, or pass "
                   "DiffusionOptions::alphas_cumprod",
                   who, source_, name);
      auto v = module_.attr(name);
      PLUGEN_CHECK(v.isTensor(), BackboneError, "{}: attribute '{}' of '{}' is {}, expected a tensor (T,)", who, name,
                   source_, detail::ivalue_kind(v));
      a = v.toTensor();
      from = fmt::format("attribute '{}' of '{}'", name, source_);
    }
    PLUGEN_CHECK(a.dim() == 1 && a.size(0) >= 2 && a.is_floating_point(), BackboneError,
                 "{}: the schedule ({}) has shape {} and dtype {}, expected a floating (T,) tensor with T >= 2", who,
                 from, shape_string(a.sizes()), dtype_string(a.scalar_type()));
    alphas_ = a.detach().to(torch::kCPU, torch::kFloat64).contiguous();
    const bool in_range = (alphas_ > 0).all().item<bool>() && (alphas_ <= 1).all().item<bool>();
    const bool decreasing = (alphas_.slice(0, 1) <= alphas_.slice(0, 0, -1)).all().item<bool>();
    PLUGEN_CHECK(in_range && decreasing, BackboneError,
                 "{}: the schedule ({}) must be alphas_cumprod: non-increasing values in (0, 1]; found values in "
                 "[{}, {}]{}",
                 who, from, alphas_.min().item<double>(), alphas_.max().item<double>(),
                 decreasing ? "" : " that increase somewhere (betas or alphas instead of alphas_cumprod?)");
  }

  void resolve_shape(const std::string& who) {
    auto attr = detail::int_list_attribute(module_, options_.sample_shape_attribute(), source_, who);
    if (!options_.sample_shape().empty()) {
      PLUGEN_CHECK(!attr || *attr == options_.sample_shape(), BackboneError,
                   "{}: wrong latent width: DiffusionOptions::sample_shape is ({}) but attribute '{}' of '{}' is ({})",
                   who, fmt::join(options_.sample_shape(), ", "), options_.sample_shape_attribute(), source_,
                   fmt::join(attr.value_or(std::vector<int64_t>{}), ", "));
      shape_ = options_.sample_shape();
    } else {
      PLUGEN_CHECK(attr.has_value(), BackboneError,
                   "{}: cannot tell the sample shape of '{}': set DiffusionOptions::sample_shape (e.g. {{1, 28, 28}}) "
                   "or give the module an attribute '{}' (a list of ints)",
                   who, source_, options_.sample_shape_attribute());
      shape_ = *attr;
    }
    PLUGEN_CHECK(!shape_.empty(), BackboneError, "{}: the sample shape of '{}' is empty", who, source_);
    for (auto s : shape_)
      PLUGEN_CHECK(s >= 1, BackboneError, "{}: sample shape ({}) of '{}' has a non-positive size", who,
                   fmt::join(shape_, ", "), source_);
  }

  torch::Tensor predict(const torch::Tensor& x, int64_t t, const std::string& who, const std::string& hint = {}) const {
    auto tt = torch::full({x.size(0)}, t, torch::TensorOptions().dtype(options_.timestep_dtype()).device(x.device()));
    return detail::expect_tensor(detail::call_method(*eps_, {x, tt}, source_, who, hint), false,
                                 options_.forward_method(), source_, who);
  }

  // One deterministic DDIM move from ᾱ = a_from to ᾱ = a_to given the noise estimate; `clip` bounds x̂_0.
  torch::Tensor ddim_move(const torch::Tensor& x, const torch::Tensor& eps, double a_from, double a_to,
                          bool clip = false) const {
    auto x0 = (x - std::sqrt(1.0 - a_from) * eps) / std::sqrt(a_from);
    if (clip) x0 = x0.clamp(range_.low, range_.high);
    return std::sqrt(a_to) * x0 + std::sqrt(1.0 - a_to) * eps;
  }

  torch::Tensor sample(const torch::Tensor& x_T, const std::string& who) const {
    auto x = x_T;
    for (size_t k = timesteps_.size(); k-- > 0;) {
      auto eps = check_eps(predict(x, timesteps_[k], who), x, who);
      x = ddim_move(x, eps, alpha_at_[k], k > 0 ? alpha_at_[k - 1] : 1.0, options_.clip_denoised());
    }
    return x;
  }

  torch::Tensor invert(const torch::Tensor& x_0, const std::string& who) const {
    auto x = x_0;
    for (size_t k = 0; k < timesteps_.size(); ++k) {
      const double a_from = k > 0 ? alpha_at_[k - 1] : 1.0;
      auto eps = check_eps(predict(x, timesteps_[k], who), x, who);
      auto next = ddim_move(x, eps, a_from, alpha_at_[k]);
      for (int64_t r = 0; r < options_.inversion_refinement(); ++r) {
        eps = check_eps(predict(next, timesteps_[k], who), x, who);
        next = ddim_move(x, eps, a_from, alpha_at_[k]);
      }
      x = next;
    }
    return x;
  }

  torch::Tensor check_eps(const torch::Tensor& eps, const torch::Tensor& x, const std::string& who) const {
    PLUGEN_CHECK(eps.sizes() == x.sizes(), BackboneError,
                 "{}: method '{}' of '{}' returned {} for x_t of shape {}, expected eps of x_t's shape", who,
                 options_.forward_method(), source_, shape_string(eps.sizes()), shape_string(x.sizes()));
    return eps.to(x.scalar_type());
  }

  torch::jit::Module module_;
  DiffusionOptions options_;
  std::string source_;
  torch::Dtype dtype_ = torch::kFloat32;
  ValueRange range_;
  c10::optional<torch::jit::Method> eps_;
  torch::Tensor alphas_;
  std::vector<int64_t> timesteps_;
  std::vector<double> alpha_at_;
  std::vector<int64_t> shape_;
};

}  // namespace plugen
