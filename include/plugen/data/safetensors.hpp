#pragma once
/// @file
/// safetensors files as named tensors plus string metadata: `read_safetensors` (and `parse_safetensors` for
/// content already in memory) and `write_safetensors`.
/// The files are the public format (https://github.com/huggingface/safetensors): the Python `safetensors`
/// package reads what plugen writes and the other way round.
///
/// Error kinds: anything wrong with a file's content is an IoError naming the file and the tensor; tensors
/// `write_safetensors` cannot store (undefined, unsupported dtype) are a ShapeError; invalid names are a
/// ConfigError.

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plugen/core/atomic_file.hpp"
#include "plugen/core/check.hpp"
#include "plugen/core/tensor.hpp"
#include "plugen/data/detail/safetensors_format.hpp"

namespace plugen {

/// The content of a safetensors file: tensors by name and the `__metadata__` string map.
struct SafetensorsFile {
  /// The tensors, by name (contiguous CPU tensors when read).
  std::map<std::string, torch::Tensor> tensors;
  /// String metadata (the header's `__metadata__`).
  std::map<std::string, std::string> metadata;
};

namespace detail {

/// The dtypes the torch layer loads and stores, and their safetensors names.
inline constexpr std::pair<std::string_view, torch::Dtype> safetensors_torch_dtypes[] = {
    {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16}, {"BF16", torch::kBFloat16},
    {"I64", torch::kInt64},   {"I32", torch::kInt32},   {"I16", torch::kInt16},   {"I8", torch::kInt8},
    {"U8", torch::kUInt8},    {"BOOL", torch::kBool},
};

/// "F64, F32, ..." (the names the torch layer supports) for messages.
inline std::string safetensors_torch_dtype_names() {
  std::string out;
  for (const auto& [name, dtype] : safetensors_torch_dtypes) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

}  // namespace detail

namespace detail {

/// Builds the tensors of a validated `layout` of `file`: dtypes are mapped first, so an unsupported one fails
/// before anything is allocated; then `fill(destination, entry)` copies each tensor's `end - begin` bytes, in
/// offset order (the tensors tile the data buffer, so a file is read in one sequential pass).
template <class Fill>
SafetensorsFile build_safetensors(const SafetensorsLayout& layout, const std::string& file, Fill&& fill) {
  std::vector<std::pair<const SafetensorsEntry*, torch::Dtype>> plan;
  for (const auto& e : layout.entries) {
    const auto* found = std::find_if(std::begin(safetensors_torch_dtypes), std::end(safetensors_torch_dtypes),
                                     [&](const auto& p) { return p.first == e.dtype; });
    PLUGEN_CHECK(found != std::end(safetensors_torch_dtypes), IoError,
                 "safetensors '{}': tensor '{}' has dtype {}, which plugen cannot load into LibTorch; supported dtypes "
                 "are {}",
                 file, e.name, e.dtype, safetensors_torch_dtype_names());
    plan.emplace_back(&e, found->second);
  }
  std::sort(plan.begin(), plan.end(), [](const auto& a, const auto& b) {
    return a.first->begin != b.first->begin ? a.first->begin < b.first->begin : a.first->end < b.first->end;
  });
  SafetensorsFile out;
  out.metadata = layout.metadata;
  for (const auto& [entry, dtype] : plan) {
    const bool is_bool = dtype == torch::kBool;
    auto tensor = torch::empty(entry->shape, torch::TensorOptions().dtype(is_bool ? torch::kUInt8 : dtype));
    if (entry->end > entry->begin) fill(tensor.data_ptr(), *entry);
    if (is_bool) tensor = tensor.ne(0);
    out.tensors.emplace(entry->name, std::move(tensor));
  }
  return out;
}

}  // namespace detail

/// Reads a safetensors file into contiguous CPU tensors and its metadata. The header is validated (see
/// `detail::parse_safetensors_header`: dtypes, shapes, offsets that tile the data buffer, string metadata)
/// against the real file size before any tensor is allocated; the data is then read straight into the
/// tensors. Loads F64, F32, F16, BF16, I64, I32, I16, I8, U8 and BOOL (any nonzero byte is true). Every
/// failure is an IoError naming the file (and the tensor).
inline SafetensorsFile read_safetensors(const std::filesystem::path& path) {
  const std::string file = path.string();
  detail::InputFile in(path, "read_safetensors");
  unsigned char first8[8] = {};
  PLUGEN_CHECK(in.size() >= 8, IoError,
               "safetensors '{}': the file has {} bytes, fewer than the 8 of the header length field", file, in.size());
  in.read_exact(first8, 8, "the header length");
  const uint64_t header_len = detail::safetensors_header_length(first8, in.size(), file);
  std::string header(static_cast<size_t>(header_len), '\0');
  in.read_exact(header.data(), header_len, "the header");
  const auto layout = detail::parse_safetensors_header(header, in.size() - 8 - header_len, file);
  return detail::build_safetensors(layout, file, [&](void* dst, const detail::SafetensorsEntry& e) {
    in.read_exact(dst, e.end - e.begin, "tensor data");
  });
}

/// The safetensors file whose whole content is `bytes`, as `read_safetensors` would read it from a file;
/// `name` stands for the file in error messages. For content that does not come from a file (a network buffer,
/// an archive member, a fuzzer's input).
inline SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& name) {
  const auto layout = detail::parse_safetensors(bytes, name);
  return detail::build_safetensors(layout, name, [&](void* dst, const detail::SafetensorsEntry& e) {
    std::memcpy(dst, bytes.data() + layout.data_offset + e.begin, static_cast<size_t>(e.end - e.begin));
  });
}

/// Writes `tensors` and string `metadata` to `path` as a safetensors file, atomically. Tensors may live on any
/// device and have any layout (they are copied to contiguous CPU tensors); they are stored in name order,
/// packed contiguously after a header padded to a multiple of 8 bytes. Dtypes: float64, float32, float16,
/// bfloat16, int64, int32, int16, int8, uint8, bool (others are a ShapeError). Names must be non-empty and
/// not `__metadata__` (a ConfigError); file system failures are an IoError naming the file.
inline void write_safetensors(const std::filesystem::path& path, const std::map<std::string, torch::Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  const std::string file = path.string();
  std::vector<detail::SafetensorsEntry> entries;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    PLUGEN_CHECK(
        !name.empty() && name != detail::safetensors_metadata_key, ConfigError,
        "write_safetensors: invalid tensor name '{}' for '{}' (names must be non-empty and not '__metadata__')", name,
        file);
    PLUGEN_CHECK(tensor.defined(), ShapeError, "write_safetensors: tensor '{}' for '{}' is undefined", name, file);
    const auto dtype = tensor.scalar_type();  // lambdas cannot capture structured bindings before C++20
    const auto* found =
        std::find_if(std::begin(detail::safetensors_torch_dtypes), std::end(detail::safetensors_torch_dtypes),
                     [&](const auto& p) { return p.second == dtype; });
    PLUGEN_CHECK(found != std::end(detail::safetensors_torch_dtypes), ShapeError,
                 "write_safetensors: tensor '{}' for '{}' has dtype {}; supported dtypes are float64, float32, "
                 "float16, bfloat16, int64, int32, int16, int8, uint8 and bool",
                 name, file, dtype_string(tensor.scalar_type()));
    auto cpu = tensor.detach().to(torch::kCPU).contiguous();
    detail::SafetensorsEntry entry;
    entry.name = name;
    entry.dtype = std::string(found->first);
    entry.shape.assign(cpu.sizes().begin(), cpu.sizes().end());
    entry.begin = offset;
    offset += static_cast<uint64_t>(cpu.numel()) * static_cast<uint64_t>(cpu.element_size());
    entry.end = offset;
    entries.push_back(std::move(entry));
    data.push_back(std::move(cpu));
  }
  const std::string header = detail::encode_safetensors_header(entries, metadata, file);
  write_file_atomic(path, [&](std::ostream& out) {
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& t : data) {
      const auto bytes = static_cast<std::streamsize>(t.numel() * static_cast<int64_t>(t.element_size()));
      if (bytes > 0) out.write(static_cast<const char*>(t.data_ptr()), bytes);
    }
  });
}

/// Writes `content` (tensors and metadata) to `path`; see the overload taking them separately.
inline void write_safetensors(const std::filesystem::path& path, const SafetensorsFile& content) {
  write_safetensors(path, content.tensors, content.metadata);
}

}  // namespace plugen
