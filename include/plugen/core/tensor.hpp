#pragma once
/// @file
/// Device, dtype and shape helpers shared by every module, with checks that raise plugen errors.

#include <torch/torch.h>

#include <string>

#include "plugen/core/check.hpp"

namespace plugen {

/// Human-readable shape such as "(32, 512)".
inline std::string shape_string(at::IntArrayRef sizes) {
  std::string out = "(";
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(sizes[i]);
  }
  if (sizes.size() == 1) out += ",";
  return out + ")";
}

/// Human-readable dtype name such as "float32".
inline std::string dtype_string(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return "float32";
    case torch::kFloat64:
      return "float64";
    case torch::kFloat16:
      return "float16";
    case torch::kBFloat16:
      return "bfloat16";
    case torch::kInt64:
      return "int64";
    case torch::kInt32:
      return "int32";
    case torch::kUInt8:
      return "uint8";
    case torch::kBool:
      return "bool";
    default:
      return std::string(c10::toString(dtype));
  }
}

/// True for the floating dtypes plugen computes in (float32, float64).
inline bool is_supported_float(torch::Dtype dtype) {
  return dtype == torch::kFloat32 || dtype == torch::kFloat64;
}

/// Checks that `x` is a 2-d (batch, width) floating tensor of the given width and dtype.
/// @param who the function or option name used in the message, e.g. "Flow::forward".
inline void check_batch(const torch::Tensor& x, int64_t width, torch::Dtype dtype, const std::string& who) {
  PLUGEN_CHECK(x.defined(), ShapeError, "{}: expected a tensor of shape (batch, {}), got an undefined tensor", who,
               width);
  PLUGEN_CHECK(x.dim() == 2 && x.size(1) == width, ShapeError, "{}: expected a tensor of shape (batch, {}), got {}",
               who, width, shape_string(x.sizes()));
  PLUGEN_CHECK(x.scalar_type() == dtype, ShapeError, "{}: expected dtype {} (the module's dtype), got {}", who,
               dtype_string(dtype), dtype_string(x.scalar_type()));
}

/// Checks that every value of `x` is finite; the message names the first offending row.
inline void check_finite(const torch::Tensor& x, const std::string& who) {
  if (x.numel() == 0) return;
  auto finite = torch::isfinite(x);
  if (finite.all().item<bool>()) return;
  auto bad_rows = (~finite).reshape({x.size(0), -1}).any(1).nonzero();
  const int64_t row = bad_rows.size(0) > 0 ? bad_rows[0][0].item<int64_t>() : 0;
  throw NumericError(fmt::format("{}: expected finite values, found NaN or inf in row {} ({} rows affected)", who, row,
                                 bad_rows.size(0)));
}

/// Parses a device string ("cpu", "cuda", "cuda:1") into a torch::Device, as a config error if invalid.
inline torch::Device parse_device(const std::string& text) {
  try {
    torch::Device device(text);
    if (device.is_cuda()) {
      PLUGEN_CHECK(torch::cuda::is_available(), ConfigError,
                   "device option: '{}' requested but CUDA is not available in this LibTorch build", text);
    }
    return device;
  } catch (const c10::Error&) {
    throw ConfigError(fmt::format("device option: expected 'cpu', 'cuda' or 'cuda:N', got '{}'", text));
  }
}

}  // namespace plugen
