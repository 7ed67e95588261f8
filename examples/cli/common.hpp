#pragma once
// Helpers shared by the plugen subcommands.

#include <plugen/plugen.hpp>

#include <cstdio>
#include <string>

namespace plugen_cli {

/// Prints one JSON value as a single line on stdout.
inline void print_json_line(const nlohmann::json& j) {
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

/// Reads latents from a .npy file and checks their rank, dtype and finiteness.
inline torch::Tensor read_latents(const std::string& path) {
  auto w = plugen::read_npy(path);
  PLUGEN_CHECK(w.dim() == 2 || w.dim() == 3, ShapeError, "{}: expected latents of shape (N, D) or (N, L, D), got {}",
               path, plugen::shape_string(w.sizes()));
  PLUGEN_CHECK(plugen::is_supported_float(w.scalar_type()), ShapeError,
               "{}: expected float32 or float64 latents, got {}", path, plugen::dtype_string(w.scalar_type()));
  plugen::check_finite(w.reshape({w.size(0), -1}), path);
  return w;
}

/// Formats a label value for CSV output: binary 0/1, categorical class name, continuous with full precision.
inline std::string format_value(const plugen::Attribute& a, double v) {
  switch (a.kind) {
    case plugen::AttributeKind::binary:
      return v > 0.5 ? "1" : "0";
    case plugen::AttributeKind::categorical:
      return a.classes.at(static_cast<size_t>(v));
    case plugen::AttributeKind::continuous:
      return fmt::format("{:.9g}", v);
  }
  return {};
}

}  // namespace plugen_cli
