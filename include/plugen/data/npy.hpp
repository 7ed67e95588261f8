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

  char preamble[8];
  PLUGEN_CHECK(in.size() >= 10, IoError,
               "read_npy: '{}' is not a .npy file: it has {} bytes, fewer than the 10 of the smallest preamble", file,
               in.size());
  in.read_exact(preamble, 8, "the magic string and version");
  PLUGEN_CHECK(std::string_view(preamble, 6) == detail::npy_magic, IoError,
               "read_npy: '{}' is not a .npy file: expected the magic string \"\\x93NUMPY\" at the start", file);
  const int major = static_cast<unsigned char>(preamble[6]);
  const int minor = static_cast<unsigned char>(preamble[7]);
  PLUGEN_CHECK((major == 1 || major == 2 || major == 3) && minor == 0, IoError,
               "read_npy: '{}' has .npy format version {}.{}; supported versions are 1.0, 2.0 and 3.0", file, major,
               minor);

  unsigned char length_bytes[4] = {0, 0, 0, 0};
  const int length_size = major == 1 ? 2 : 4;
  in.read_exact(length_bytes, static_cast<uint64_t>(length_size), "the header length");
  uint64_t header_len = 0;
  for (int i = length_size - 1; i >= 0; --i) header_len = (header_len << 8) | length_bytes[i];
  PLUGEN_CHECK(header_len <= detail::npy_max_header_bytes, IoError,
               "read_npy: '{}' declares a header of {} bytes, more than the {} plugen accepts (corrupt length field?)",
               file, header_len, detail::npy_max_header_bytes);
  PLUGEN_CHECK(header_len <= in.remaining(), IoError,
               "read_npy: '{}' is truncated: the header declares {} bytes but only {} bytes follow the preamble", file,
               header_len, in.remaining());
  std::string header_text(static_cast<size_t>(header_len), '\0');
  in.read_exact(header_text.data(), header_len, "the header");
  const detail::NpyHeader header = detail::parse_npy_header(header_text, file);

  const detail::NpyDtype* dtype = detail::find_npy_dtype(header.descr);
  PLUGEN_CHECK(dtype != nullptr, IoError, "read_npy: '{}' has dtype '{}'{}; supported dtypes are {}", file,
               header.descr, !header.descr.empty() && header.descr[0] == '>' ? " (big-endian)" : "",
               detail::npy_supported_dtypes());

  uint64_t expected = 0;
  PLUGEN_CHECK(detail::npy_byte_count(header.shape, dtype->itemsize, expected), IoError,
               "read_npy: '{}' declares shape {} of {}, whose size in bytes overflows 64 bits", file,
               detail::npy_shape_tuple(header.shape), header.descr);
  PLUGEN_CHECK(expected == in.remaining(), IoError,
               "read_npy: '{}' has {} bytes of data, but shape {} of {} needs {} bytes ({})", file, in.remaining(),
               detail::npy_shape_tuple(header.shape), header.descr, expected,
               expected > in.remaining() ? "the file is truncated" : "the file has trailing bytes");

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
/// others are a ShapeError. File system failures are an IoError naming the file.
inline void write_npy(const std::filesystem::path& path, const torch::Tensor& tensor) {
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
  });
}

}  // namespace plugen
