#pragma once
/// @file
/// NumPy .npy files as tensors: `read_npy` (format versions 1.0, 2.0, 3.0; C or Fortran order) and
/// `write_npy` (version 1.0, or 2.0 for huge headers; C order; atomic).
///
/// Error kinds: anything wrong with a file's content (bad magic, truncated or unparsable header, a dtype
/// plugen does not read, big-endian data, sizes that do not match the file) is an IoError naming the file;
/// a tensor that `write_npy` cannot store (undefined, unsupported dtype) is a ShapeError.

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "plugen/core/atomic_file.hpp"
#include "plugen/core/check.hpp"
#include "plugen/core/tensor.hpp"
#include "plugen/data/detail/npy_format.hpp"

namespace plugen {

namespace detail {

/// The torch dtype of a supported .npy dtype.
inline torch::Dtype npy_torch_dtype(const NpyDtype& d) {
  switch (d.kind) {
    case 'f':
      return d.itemsize == 2 ? torch::kFloat16 : d.itemsize == 4 ? torch::kFloat32 : torch::kFloat64;
    case 'i':
      return d.itemsize == 1   ? torch::kInt8
             : d.itemsize == 2 ? torch::kInt16
             : d.itemsize == 4 ? torch::kInt32
                               : torch::kInt64;
    case 'u':
      return torch::kUInt8;
    default:
      return torch::kBool;
  }
}

/// The .npy dtype of a torch dtype, or nullptr when .npy files of plugen cannot hold it.
inline const NpyDtype* npy_dtype_of(torch::Dtype dtype) {
  for (const auto& d : npy_dtypes) {
    if (npy_torch_dtype(d) == dtype) return &d;
  }
  return nullptr;
}

}  // namespace detail

/// Reads a .npy file into a contiguous (C-order) CPU tensor of the file's dtype and shape.
///
/// Supported dtypes: little-endian `<f4` (float32), `<f8` (float64), `<f2`, `<i8`, `<i4`, `<i2`, `|i1`, `|u1`
/// and `|b1` (bool; any nonzero byte reads as true); any rank, including 0-d and empty arrays. Fortran-order
/// files are transposed into C order. The header is validated against the real file size (with overflow
/// checks) before the data is allocated, and the data must have exactly shape x itemsize bytes. Every
/// failure is an IoError naming the file.
inline torch::Tensor read_npy(const std::filesystem::path& path) {
  const std::string file = path.string();
  detail::InputFile in(path, "read_npy");

  unsigned char preamble[12] = {};
  const uint64_t available = std::min<uint64_t>(in.size(), 12);
  in.read_exact(preamble, available, "the preamble");
  const detail::NpyPreamble p = detail::parse_npy_preamble(preamble, available, in.size(), file);
  // The preamble buffer may hold the first header bytes (version 1.0): read the header from its start.
  std::string header_text(static_cast<size_t>(p.header_len), '\0');
  const uint64_t buffered = std::min<uint64_t>(available - p.size, p.header_len);
  std::memcpy(header_text.data(), preamble + p.size, static_cast<size_t>(buffered));
  in.read_exact(header_text.data() + buffered, p.header_len - buffered, "the header");
  const detail::NpyHeader header = detail::parse_npy_header(header_text, file);
  const detail::NpyDtype* dtype = &detail::check_npy_data(header, in.remaining(), file);
  const uint64_t expected = in.remaining();

  // Fortran order stores the transpose's C order: read with reversed dimensions, then permute back.
  std::vector<int64_t> stored = header.shape;
  if (header.fortran_order) std::reverse(stored.begin(), stored.end());
  const bool is_bool = dtype->kind == 'b';
  auto tensor =
      torch::empty(stored, torch::TensorOptions().dtype(is_bool ? torch::kUInt8 : detail::npy_torch_dtype(*dtype)));
  if (expected > 0) in.read_exact(tensor.data_ptr(), expected, "the data");
  if (is_bool) tensor = tensor.ne(0);
  if (header.fortran_order && stored.size() > 1) {
    std::vector<int64_t> dims(stored.size());
    for (size_t i = 0; i < dims.size(); ++i) dims[i] = static_cast<int64_t>(dims.size() - 1 - i);
    tensor = tensor.permute(dims).contiguous();
  }
  return tensor;
}

/// Writes `tensor` to `path` as a .npy file (version 1.0, or 2.0 when the header needs it; C order;
/// little-endian), atomically. The tensor may live on any device and have any layout: it is copied to a
/// contiguous CPU tensor first. Dtypes: float32, float64, float16, int64, int32, int16, int8, uint8, bool;
/// others are a ShapeError. File system failures are an IoError naming the file. `sync`: see `FileSync`.
inline void write_npy(const std::filesystem::path& path, const torch::Tensor& tensor, FileSync sync = FileSync::full) {
  PLUGEN_CHECK(tensor.defined(), ShapeError, "write_npy: expected a tensor to write to '{}', got an undefined tensor",
               path.string());
  const detail::NpyDtype* dtype = detail::npy_dtype_of(tensor.scalar_type());
  PLUGEN_CHECK(dtype != nullptr, ShapeError,
               "write_npy: cannot write a tensor of dtype {} to '{}'; supported dtypes are float32, float64, float16, "
               "int64, int32, int16, int8, uint8 and bool",
               dtype_string(tensor.scalar_type()), path.string());
  const auto data = tensor.detach().to(torch::kCPU).contiguous();
  const std::vector<int64_t> shape(data.sizes().begin(), data.sizes().end());
  const std::string header = detail::encode_npy_header(dtype->descr, shape);
  const auto bytes = static_cast<std::streamsize>(data.numel() * static_cast<int64_t>(dtype->itemsize));
  write_file_atomic(path, [&](std::ostream& out) {
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    if (bytes > 0) out.write(static_cast<const char*>(data.data_ptr()), bytes);
  }, sync);
}

}  // namespace plugen
