#pragma once
/// @file
/// Internals of the TorchScript adapters: loading with wrapped errors, method lookup and arity checks,
/// calls that turn foreign `c10::Error`s into `BackboneError`s, attribute reading, chunked mapping.
/// Everything that touches `torch::jit` goes through here, so no raw `c10::Error` escapes an adapter.

#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "plugen/backbone/backbone.hpp"
#include "plugen/core/check.hpp"
#include "plugen/core/seed.hpp"
#include "plugen/core/tensor.hpp"

namespace plugen::detail {

/// The first line of a foreign error message (TorchScript messages carry multi-line tracebacks).
inline std::string first_line(const std::string& text) {
  auto start = text.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return {};
  auto end = text.find('\n', start);
  auto line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
  return line;
}

/// A short form of a foreign error: the first line, plus the line that names the failing TorchScript
/// operation when the message is a TorchScript traceback ("RuntimeError: ..." lines).
inline std::string foreign_message(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  const std::string text = c10 ? c10->what_without_backtrace() : e.what();
  auto line = first_line(text);
  // TorchScript runtime errors start with "The following operation failed in the TorchScript
  // interpreter." and put the useful line ("RuntimeError: mat1 and mat2 ...") last.
  const auto pos = text.rfind("RuntimeError: ");
  if (pos != std::string::npos) {
    auto tail = first_line(text.substr(pos + 14));
    if (!tail.empty() && tail != line) return tail;
  }
  return line;
}

/// Per-sample shape of a tensor, e.g. (N, 1, 28, 28) -> {1, 28, 28}.
inline std::vector<int64_t> sample_shape_of(const torch::Tensor& x) {
  return std::vector<int64_t>(x.sizes().begin() + 1, x.sizes().end());
}

/// Number of scalars of one sample of the given per-sample shape.
inline int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

/// {n} followed by `shape`.
inline std::vector<int64_t> batch_shape(int64_t n, const std::vector<int64_t>& shape) {
  std::vector<int64_t> out{n};
  out.insert(out.end(), shape.begin(), shape.end());
  return out;
}

/// Checks that `path` names an existing regular file (an IoError otherwise).
inline void require_file(const std::string& path, const std::string& who) {
  std::error_code ec;
  PLUGEN_CHECK(std::filesystem::exists(path, ec), IoError, "{}: file '{}' does not exist", who, path);
  PLUGEN_CHECK(std::filesystem::is_regular_file(path, ec), IoError, "{}: '{}' is not a regular file", who, path);
}

/// Loads a TorchScript module onto `device` in eval mode. A missing file is an IoError; a file that is
/// not a complete TorchScript archive (truncated, a text file, a pickled state dict) a BackboneError.
inline torch::jit::Module load_module(const std::string& path, const torch::Device& device, const std::string& who) {
  require_file(path, who);
  try {
    auto module = torch::jit::load(path, device);
    module.eval();
    return module;
  } catch (const std::exception& e) {
    throw BackboneError(
        fmt::format("{}: '{}' is not a loadable TorchScript module (truncated, or not written by torch.jit.save / "
                    "torch::jit::Module::save): {}",
                    who, path, foreign_message(e)));
  }
}

/// Comma-separated names of the module's methods, for messages.
inline std::string method_names(const torch::jit::Module& module) {
  std::string out;
  for (const auto& m : module.get_methods()) {
    if (!out.empty()) out += ", ";
    out += m.name();
  }
  return out.empty() ? std::string("none") : out;
}

/// Input names of a method (without `self`), and how many of them have no default value.
struct MethodSignature {
  std::vector<std::string> inputs;  ///< names of every input after `self`
  size_t required = 0;              ///< inputs without a default value
};

/// Reads a method's signature from its schema.
inline MethodSignature signature_of(const torch::jit::Method& method) {
  MethodSignature sig;
  const auto& args = method.function().getSchema().arguments();
  for (size_t i = 1; i < args.size(); ++i) {  // argument 0 is self
    sig.inputs.push_back(args[i].name());
    if (!args[i].default_value()) ++sig.required;
  }
  return sig;
}

/// "(z, noise)" for messages.
inline std::string join_names(const std::vector<std::string>& names) {
  std::string out = "(";
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out + ")";
}

/// A method of a loaded module that has been checked to exist and to take `inputs` inputs.
/// @param option the option that names the method, e.g. "GanOptions::mapping_method".
/// @param expected human description of the expected inputs, e.g. "(z)" or "(x_t, t)".
inline torch::jit::Method require_method(const torch::jit::Module& module, const std::string& name, size_t inputs,
                                         const std::string& expected, const std::string& option,
                                         const std::string& path, const std::string& who) {
  PLUGEN_CHECK(!name.empty(), ConfigError, "{}: {} is empty, expected a method name", who, option);
  auto method = module.find_method(name);
  PLUGEN_CHECK(method.has_value(), BackboneError,
               "{}: '{}' has no method '{}' ({}); its methods are: {}. Export it with @torch.jit.export, or set {} "
               "to the right name",
               who, path, name, option, method_names(module), option);
  const auto sig = signature_of(*method);
  PLUGEN_CHECK(sig.required <= inputs && inputs <= sig.inputs.size(), BackboneError,
               "{}: method '{}' of '{}' takes {} input(s) {}, expected {} {} ({})", who, name, path, sig.inputs.size(),
               join_names(sig.inputs), inputs, expected, option);
  return *method;
}

/// Describes call inputs for messages: "x_t (2, 1, 28, 28) float32, t (2,) int64".
inline std::string describe_inputs(const std::vector<torch::jit::IValue>& inputs) {
  std::string out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (i) out += ", ";
    if (inputs[i].isTensor()) {
      const auto& t = inputs[i].toTensor();
      out += shape_string(t.sizes()) + " " + dtype_string(t.scalar_type());
    } else {
      out += inputs[i].tagKind();
    }
  }
  return out;
}

/// Calls a method, turning any foreign error into a BackboneError that names the file, the method and
/// the inputs. `hint` is appended to the message (e.g. "is latent_dim right?").
inline torch::jit::IValue call_method(const torch::jit::Method& method, std::vector<torch::jit::IValue> inputs,
                                      const std::string& path, const std::string& who, const std::string& hint = {}) {
  const auto described = describe_inputs(inputs);
  try {
    return method(std::move(inputs));
  } catch (const std::exception& e) {
    throw BackboneError(fmt::format("{}: calling method '{}' of '{}' with inputs [{}] failed: {}{}{}", who,
                                    method.name(), path, described, foreign_message(e), hint.empty() ? "" : "; ",
                                    hint));
  }
}

/// Human name of an IValue's kind for messages ("a tuple of 2", "a list", "None", ...).
inline std::string ivalue_kind(const torch::jit::IValue& v) {
  if (v.isTuple()) return fmt::format("a tuple of {} elements", v.toTupleRef().elements().size());
  if (v.isList()) return fmt::format("a list of {} elements", v.toListRef().size());
  if (v.isNone()) return "None";
  return std::string("a ") + v.tagKind();
}

/// The tensor a method returned. With `first_of_tuple`, a tuple or list returns its first element
/// (e.g. the mean of an encoder returning (mean, logvar)).
inline torch::Tensor expect_tensor(const torch::jit::IValue& v, bool first_of_tuple, const std::string& method,
                                   const std::string& path, const std::string& who) {
  if (v.isTensor()) return v.toTensor();
  if (first_of_tuple) {
    if (v.isTuple() && !v.toTupleRef().elements().empty() && v.toTupleRef().elements()[0].isTensor())
      return v.toTupleRef().elements()[0].toTensor();
    if (v.isList() && !v.toListRef().empty() && v.toListRef()[0].isTensor()) return v.toListRef()[0].toTensor();
  }
  throw BackboneError(fmt::format("{}: method '{}' of '{}' returned {}, expected a tensor{}", who, method, path,
                                  ivalue_kind(v), first_of_tuple ? " or a tuple whose first element is a tensor" : ""));
}

/// Reads an int attribute of the module; nullopt when absent, a BackboneError when of another type.
inline c10::optional<int64_t> int_attribute(const torch::jit::Module& module, const std::string& name,
                                            const std::string& path, const std::string& who) {
  if (name.empty() || !module.hasattr(name)) return c10::nullopt;
  auto v = module.attr(name);
  PLUGEN_CHECK(v.isInt(), BackboneError, "{}: attribute '{}' of '{}' is {}, expected an int", who, name, path,
               ivalue_kind(v));
  return v.toInt();
}

/// Reads an int-list attribute (e.g. a sample shape) of the module; nullopt when absent.
inline c10::optional<std::vector<int64_t>> int_list_attribute(const torch::jit::Module& module, const std::string& name,
                                                              const std::string& path, const std::string& who) {
  if (name.empty() || !module.hasattr(name)) return c10::nullopt;
  auto v = module.attr(name);
  if (v.isIntList()) return v.toIntVector();
  if (v.isTuple()) {
    std::vector<int64_t> out;
    for (const auto& e : v.toTupleRef().elements()) {
      PLUGEN_CHECK(e.isInt(), BackboneError, "{}: attribute '{}' of '{}' is a tuple holding {}, expected ints", who,
                   name, path, ivalue_kind(e));
      out.push_back(e.toInt());
    }
    return out;
  }
  throw BackboneError(
      fmt::format("{}: attribute '{}' of '{}' is {}, expected a list of ints", who, name, path, ivalue_kind(v)));
}

/// Reads a number attribute (float or int) of the module; nullopt when absent, a BackboneError when of
/// another type.
inline c10::optional<double> number_attribute(const torch::jit::Module& module, const std::string& name,
                                              const std::string& path, const std::string& who) {
  if (name.empty() || !module.hasattr(name)) return c10::nullopt;
  auto v = module.attr(name);
  PLUGEN_CHECK(v.isDouble() || v.isInt(), BackboneError, "{}: attribute '{}' of '{}' is {}, expected a number", who,
               name, path, ivalue_kind(v));
  return v.isDouble() ? v.toDouble() : static_cast<double>(v.toInt());
}

/// The data range an adapter uses: the option when set; else the range the module declares with its
/// number attributes `attributes[0]` (low) and `attributes[1]` (high); else `fallback`.
inline ValueRange resolve_data_range(const torch::jit::Module& module, const c10::optional<ValueRange>& option,
                                     const ValueRange& fallback, const std::array<std::string, 2>& attributes,
                                     const std::string& option_name, const std::string& path, const std::string& who) {
  if (option) {
    option->validate(option_name);
    return *option;
  }
  auto low = number_attribute(module, attributes[0], path, who);
  auto high = number_attribute(module, attributes[1], path, who);
  PLUGEN_CHECK(low.has_value() == high.has_value(), BackboneError,
               "{}: '{}' has attribute '{}' but not '{}': export both ends of its data range, or neither", who, path,
               low ? attributes[0] : attributes[1], low ? attributes[1] : attributes[0]);
  if (!low) return fallback;
  const ValueRange declared{*low, *high};
  PLUGEN_CHECK(std::isfinite(*low) && std::isfinite(*high) && *low < *high, BackboneError,
               "{}: attributes '{}' = {} and '{}' = {} of '{}' do not describe a range low < high", who, attributes[0],
               *low, attributes[1], *high, path);
  return declared;
}

/// Checks that probe outputs lie roughly inside the data range they will be mapped to [0, 1] from (a quarter
/// of its width of slack): a module whose outputs are far outside it was loaded with the wrong range and
/// would decode to clamped, washed-out images.
inline void check_probe_range(const torch::Tensor& x, const ValueRange& range, const std::string& method,
                              const std::string& option_name, const std::string& path, const std::string& who) {
  const double low = x.min().item<double>(), high = x.max().item<double>();
  const double slack = 0.25 * (range.high - range.low);
  PLUGEN_CHECK(low >= range.low - slack && high <= range.high + slack, BackboneError,
               "{}: method '{}' of '{}' returned values in [{:.3g}, {:.3g}] for 2 probe latents, far outside the data "
               "range [{}, {}] that is mapped to [0, 1]; set {} (e.g. ValueRange::symmetric() for tanh outputs), give "
               "the module number attributes data_min/data_max, or set clamp(false) for non-image outputs",
               who, method, path, low, high, range.low, range.high, option_name);
}

/// The floating dtype of a module's first parameter or buffer (float32 when it has none).
inline torch::Dtype module_dtype(const torch::jit::Module& module) {
  for (const auto& p : module.parameters()) {
    if (p.is_floating_point()) return p.scalar_type();
  }
  for (const auto& b : module.buffers()) {
    if (b.is_floating_point()) return b.scalar_type();
  }
  return torch::kFloat32;
}

/// Standard-normal samples of per-sample shape `shape`, one independent stream per sample:
/// sample i is drawn from `derive_seed(seed, i)`, so it is the same whatever `n` or the chunking.
inline torch::Tensor per_sample_normal(int64_t n, const std::vector<int64_t>& shape, uint64_t seed) {
  auto out = torch::empty(batch_shape(n, shape), torch::kFloat32);
  for (int64_t i = 0; i < n; ++i) {
    auto gen = make_generator(derive_seed(seed, static_cast<uint64_t>(i)));
    out[i].copy_(torch::randn(shape, gen, torch::kFloat32));
  }
  return out;
}

/// Checks a latent batch against a per-sample shape and returns it as (N, *shape): a flat
/// (N, prod(shape)) batch is reshaped. A ShapeError names `who` and both shapes otherwise.
inline torch::Tensor shape_latents(const torch::Tensor& latents, const std::vector<int64_t>& shape,
                                   const std::string& who, const char* what = "latents") {
  PLUGEN_CHECK(latents.defined(), ShapeError, "{}: expected {} of shape (N, {}), got an undefined tensor", who, what,
               fmt::join(shape, ", "));
  PLUGEN_CHECK(latents.is_floating_point(), ShapeError, "{}: expected floating-point {}, got {}", who, what,
               dtype_string(latents.scalar_type()));
  const auto full = batch_shape(latents.dim() > 0 ? latents.size(0) : 0, shape);
  if (latents.dim() >= 1 && latents.sizes() == at::IntArrayRef(full)) return latents;
  if (shape.size() != 1 && latents.dim() == 2 && latents.size(1) == numel_of(shape)) return latents.reshape(full);
  throw ShapeError(
      fmt::format("{}: expected {} of shape (N, {}){}, got {}", who, what, fmt::join(shape, ", "),
                  shape.size() == 1 ? std::string() : fmt::format(" or (N, {}) flattened", numel_of(shape)),
                  shape_string(latents.sizes())));
}

/// Applies `fn` to consecutive chunks of at most `batch` rows of `inputs` (each moved to `device`,
/// run under `c10::InferenceMode`) and assembles the results in one tensor on `inputs`' device.
/// The result is preallocated from the first chunk's output, so peak memory is the result plus one
/// chunk's working set. Results are ordinary tensors (usable outside inference mode).
/// @param empty_shape per-sample result shape used when `inputs` has no rows.
template <class Fn>
torch::Tensor map_chunks(const torch::Tensor& inputs, int64_t batch, const torch::Device& device,
                         const std::vector<int64_t>& empty_shape, torch::Dtype out_dtype, const std::string& who,
                         Fn&& fn) {
  const int64_t n = inputs.size(0);
  if (n == 0) return torch::empty(batch_shape(0, empty_shape), inputs.options().dtype(out_dtype));
  torch::Tensor out;
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t len = std::min(batch, n - start);
    torch::Tensor y;
    {
      c10::InferenceMode guard;
      y = fn(inputs.narrow(0, start, len).to(device));
      PLUGEN_CHECK(y.dim() >= 1 && y.size(0) == len, BackboneError,
                   "{}: the module returned {} for a chunk of {} inputs, expected {} rows", who,
                   shape_string(y.sizes()), len, len);
    }
    if (!out.defined()) {
      auto sizes = y.sizes().vec();
      sizes[0] = n;
      out = torch::empty(sizes, inputs.options().dtype(out_dtype));
    }
    PLUGEN_CHECK(y.sizes().slice(1) == out.sizes().slice(1), BackboneError,
                 "{}: the module returned per-sample shape {} for rows {}.., but {} before", who,
                 shape_string(y.sizes().slice(1)), start, shape_string(out.sizes().slice(1)));
    out.narrow(0, start, len).copy_(y);
  }
  return out;
}

}  // namespace plugen::detail
