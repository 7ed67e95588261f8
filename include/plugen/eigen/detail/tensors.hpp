#pragma once
/// @file
/// The tensors of a plugin file for the torch-free path: a validated safetensors layout over the file's bytes,
/// read into typed vectors by name with the same checks (and messages) as `load_plugin`.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "plugen/core/check.hpp"
#include "plugen/data/detail/safetensors_format.hpp"

namespace plugen::eigen::detail {

/// "(2, 3)", "(4,)" or "()": a shape as plugen's messages write it.
inline std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) out += ",";
  return out + ")";
}

/// The plugen dtype name ("float32", ...) of a safetensors dtype name ("F32", ...).
inline std::string dtype_name(std::string_view st) {
  static const std::pair<std::string_view, const char*> names[] = {
      {"F64", "float64"}, {"F32", "float32"}, {"F16", "float16"}, {"BF16", "bfloat16"}, {"I64", "int64"},
      {"I32", "int32"},   {"I16", "int16"},   {"I8", "int8"},     {"U8", "uint8"},      {"BOOL", "bool"}};
  for (const auto& [name, plugen_name] : names)
    if (name == st) return plugen_name;
  return std::string(st);
}

/// The tensors of one safetensors file held in memory: typed reads by name that record which tensors were
/// used, so unexpected ones can be reported.
class TensorTable {
 public:
  /// Validates `bytes` as a safetensors file named `who` (an IoError otherwise); `bytes` must outlive the table.
  TensorTable(std::string_view bytes, std::string who)
      : who_(std::move(who)), layout_(plugen::detail::parse_safetensors(bytes, who_)) {
    data_ = bytes.substr(static_cast<size_t>(layout_.data_offset));
    for (const auto& e : layout_.entries) {
      entries_.emplace(e.name, &e);
      double n = 1;
      for (auto d : e.shape) n *= static_cast<double>(d);
      values_ += n;
    }
  }

  /// The file's string metadata.
  const std::map<std::string, std::string>& metadata() const { return layout_.metadata; }
  /// Number of tensors.
  size_t size() const { return entries_.size(); }
  /// Number of values of all tensors together (in double: hostile shapes cannot overflow it).
  double values() const { return values_; }

  /// The floating-point tensor `name`, which must have `shape` and the safetensors dtype `dtype` ("F32" or
  /// "F64") and only finite values, converted to `Scalar`, row-major.
  template <class Scalar>
  std::vector<Scalar> floats(const std::string& name, const std::vector<int64_t>& shape, std::string_view dtype) {
    const auto& e = find(name);
    PLUGEN_CHECK(e.shape == shape, IoError, "{}: tensor '{}' has shape {}, expected {}", who_, name,
                 shape_string(e.shape), shape_string(shape));
    PLUGEN_CHECK(e.dtype == dtype, IoError, "{}: tensor '{}' has dtype {}, expected {}", who_, name,
                 dtype_name(e.dtype), dtype_name(dtype));
    std::vector<Scalar> out;
    if (dtype == "F32")
      out = convert<float, Scalar>(e);
    else
      out = convert<double, Scalar>(e);
    for (const auto v : out)
      PLUGEN_CHECK(std::isfinite(v), IoError, "{}: tensor '{}' has NaN or inf values", who_, name);
    used_.insert(name);
    return out;
  }

  /// The 1-d int64 tensor `name` (an IoError when it is missing or not 1-d int64, as `load_plugin` says).
  std::vector<int64_t> indices(const std::string& name) {
    auto it = entries_.find(name);
    PLUGEN_CHECK(it != entries_.end() && it->second->shape.size() == 1 && it->second->dtype == "I64", IoError,
                 "{}: tensor '{}' is missing or not a 1-d int64 tensor", who_, name);
    used_.insert(name);
    return convert<int64_t, int64_t>(*it->second);
  }

  /// Throws an IoError naming the first tensor no read asked for.
  void check_all_used(std::string_view what) const {
    for (const auto& [name, e] : entries_)
      PLUGEN_CHECK(used_.count(name), IoError, "{}: unexpected tensor '{}' (not part of a {} flow with these options)",
                   who_, name, what);
  }

 private:
  const plugen::detail::SafetensorsEntry& find(const std::string& name) const {
    auto it = entries_.find(name);
    PLUGEN_CHECK(it != entries_.end(), IoError, "{}: tensor '{}' is missing", who_, name);
    return *it->second;
  }

  // Little-endian host (checked by safetensors_format.hpp): the bytes are the values; memcpy avoids misaligned
  // reads.
  template <class Stored, class Out>
  std::vector<Out> convert(const plugen::detail::SafetensorsEntry& e) const {
    const size_t n = static_cast<size_t>((e.end - e.begin) / sizeof(Stored));
    std::vector<Out> out(n);
    const char* p = data_.data() + e.begin;
    if constexpr (std::is_same_v<Stored, Out>) {
      if (n > 0) std::memcpy(out.data(), p, n * sizeof(Stored));
    } else {
      for (size_t i = 0; i < n; ++i) {
        Stored v;
        std::memcpy(&v, p + i * sizeof(Stored), sizeof(Stored));
        out[i] = static_cast<Out>(v);
      }
    }
    return out;
  }

  std::string who_;
  plugen::detail::SafetensorsLayout layout_;
  std::string_view data_;
  std::map<std::string, const plugen::detail::SafetensorsEntry*> entries_;
  std::set<std::string> used_;
  double values_ = 0;
};

}  // namespace plugen::eigen::detail
