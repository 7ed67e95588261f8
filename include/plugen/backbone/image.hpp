#pragma once
/// @file
/// Images to files: PNG encoding (stb), contact-sheet grids, and decoding latents straight to PNG files
/// chunk by chunk. Images are float tensors in [0, 1] (values outside are clamped), (C, H, W) for one
/// image and (N, C, H, W) for a batch, with C = 1 (grey) or 3 (RGB). Files are written atomically
/// (temporary name, then rename), so a reader never sees a partial PNG.

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "plugen/backbone/backbone.hpp"
#include "plugen/backbone/detail/stb_image_write.hpp"
#include "plugen/core/atomic_file.hpp"
#include "plugen/core/check.hpp"
#include "plugen/core/detail/prefetcher.hpp"
#include "plugen/core/tensor.hpp"

namespace plugen {

namespace detail {

inline void check_image(const torch::Tensor& image, const std::string& who) {
  PLUGEN_CHECK(image.defined() && image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3) &&
                   image.size(1) >= 1 && image.size(2) >= 1,
               ShapeError, "{}: expected an image (C, H, W) with C = 1 or 3, got {}", who,
               image.defined() ? shape_string(image.sizes()) : std::string("an undefined tensor"));
  PLUGEN_CHECK(image.is_floating_point(), ShapeError, "{}: expected a floating image in [0, 1], got dtype {}", who,
               dtype_string(image.scalar_type()));
}

inline void check_images(const torch::Tensor& images, const std::string& who) {
  PLUGEN_CHECK(images.defined() && images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3), ShapeError,
               "{}: expected images (N, C, H, W) with C = 1 or 3, got {}", who,
               images.defined() ? shape_string(images.sizes()) : std::string("an undefined tensor"));
  PLUGEN_CHECK(images.is_floating_point(), ShapeError, "{}: expected floating images in [0, 1], got dtype {}", who,
               dtype_string(images.scalar_type()));
}

}  // namespace detail

/// 8-bit interleaved pixels (H, W, C) of an image (C, H, W) in [0, 1]: round(clamp(x, 0, 1) * 255), rounding
/// halves to even as torch::round does. NaN or infinite values are a NumericError.
inline torch::Tensor to_bytes_hwc(const torch::Tensor& image) {
  detail::check_image(image, "to_bytes_hwc");
  // One pass in plain C++: a PNG writer calls this once per image, where a chain of tensor operations on a
  // small image costs more in dispatch than the arithmetic.
  const auto x = image.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t c = x.size(0), hw = x.size(1) * x.size(2);
  auto bytes = torch::empty({x.size(1), x.size(2), c}, torch::kUInt8);
  const float* src = x.data_ptr<float>();
  uint8_t* dst = bytes.data_ptr<uint8_t>();
  int64_t bad = 0, first_bad = -1;
  for (int64_t k = 0; k < c; ++k)
    for (int64_t p = 0; p < hw; ++p) {
      const float v = src[k * hw + p];
      if (!std::isfinite(v)) {
        if (bad++ == 0) first_bad = k * hw + p;
        continue;
      }
      dst[p * c + k] = static_cast<uint8_t>(std::nearbyint(std::min(std::max(v, 0.0f), 1.0f) * 255.0f));
    }
  PLUGEN_CHECK(bad == 0, NumericError,
               "to_bytes_hwc image: expected finite values, found NaN or inf at value {} ({} values affected)",
               first_bad, bad);
  return bytes;
}

/// The PNG file contents (8-bit grey or RGB) of an image (C, H, W) in [0, 1].
inline std::string encode_png(const torch::Tensor& image) {
  auto bytes = to_bytes_hwc(image);
  const int h = static_cast<int>(bytes.size(0)), w = static_cast<int>(bytes.size(1)),
            c = static_cast<int>(bytes.size(2));
  std::string out;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  const int ok = detail::stbiw::stbi_write_png_to_func(append, &out, w, h, c, bytes.data_ptr<uint8_t>(), w * c);
  PLUGEN_CHECK(ok != 0 && !out.empty(), IoError, "encode_png: stb could not encode a {}x{}x{} image", c, h, w);
  return out;
}

/// Writes an image (C, H, W) in [0, 1] to `path` as a PNG, atomically. The folder must exist.
inline void write_png(const std::string& path, const torch::Tensor& image) {
  write_file_atomic(path, encode_png(image));
}

/// Options of a contact sheet.
struct GridOptions {
  /// Images per row; 0 picks ceil(sqrt(N)).
  TORCH_ARG(int64_t, columns) = 0;
  /// Pixels between images and around the sheet.
  TORCH_ARG(int64_t, padding) = 2;
  /// Value of the padding pixels, in [0, 1] (1: white).
  TORCH_ARG(double, pad_value) = 1.0;
  /// Each image pixel becomes a scale x scale block (nearest neighbour), e.g. 4 to show 28 x 28 images large.
  TORCH_ARG(int64_t, scale) = 1;
};

/// A contact sheet (C, rows H + (rows + 1) p, cols W + (cols + 1) p) of images (N, C, H, W), row-major.
inline torch::Tensor make_grid(const torch::Tensor& images, const GridOptions& options = {}) {
  detail::check_images(images, "make_grid");
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  PLUGEN_CHECK(n >= 1, ShapeError, "make_grid: expected at least one image, got {}", shape_string(images.sizes()));
  PLUGEN_CHECK(options.columns() >= 0, ConfigError, "GridOptions::columns: expected >= 0, got {}", options.columns());
  PLUGEN_CHECK(options.padding() >= 0, ConfigError, "GridOptions::padding: expected >= 0, got {}", options.padding());
  PLUGEN_CHECK(options.scale() >= 1, ConfigError, "GridOptions::scale: expected >= 1, got {}", options.scale());
  if (options.scale() > 1)
    return make_grid(images.repeat_interleave(options.scale(), 2).repeat_interleave(options.scale(), 3),
                     GridOptions(options).scale(1));
  const int64_t cols =
      options.columns() > 0 ? options.columns() : static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n))));
  const int64_t rows = (n + cols - 1) / cols, p = options.padding();
  auto x = images.detach().to(torch::kCPU, torch::kFloat32);
  auto sheet = torch::full({c, rows * h + (rows + 1) * p, cols * w + (cols + 1) * p}, options.pad_value());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = i / cols, col = i % cols;
    sheet.narrow(1, p + r * (h + p), h).narrow(2, p + col * (w + p), w).copy_(x[i]);
  }
  return sheet;
}

/// Writes a contact sheet of images (N, C, H, W) to `path` as a PNG, atomically.
inline void write_grid(const std::string& path, const torch::Tensor& images, const GridOptions& options = {}) {
  write_file_atomic(path, encode_png(make_grid(images, options)));
}

/// How `write_pngs` and `decode_to_pngs` name their files: `<dir>/<prefix><index, zero-padded>.png`.
struct ImageWriteOptions {
  /// File name prefix.
  TORCH_ARG(std::string, prefix) = "image_";
  /// Minimum number of digits of the index (zero-padded).
  TORCH_ARG(int, digits) = 6;
  /// Index of the first image (e.g. the sample's global index when writing shards).
  TORCH_ARG(int64_t, first_index) = 0;
};

/// The file name `write_pngs` gives image `index`.
inline std::string image_file_name(int64_t index, const ImageWriteOptions& options = {}) {
  return fmt::format("{}{:0{}d}.png", options.prefix(), index, options.digits());
}

/// Writes images (N, C, H, W) in [0, 1] as PNG files in `dir` (created when missing), named by
/// `options`; returns the paths, in order.
inline std::vector<std::string> write_pngs(const std::string& dir, const torch::Tensor& images,
                                           const ImageWriteOptions& options = {}) {
  detail::check_images(images, "write_pngs");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  PLUGEN_CHECK(!ec && std::filesystem::is_directory(dir), IoError, "write_pngs: cannot create folder '{}': {}", dir,
               ec ? ec.message() : std::string("exists and is not a folder"));
  std::vector<std::string> paths;
  auto x = images.detach().to(torch::kCPU);
  for (int64_t i = 0; i < x.size(0); ++i) {
    auto path = (std::filesystem::path(dir) / image_file_name(options.first_index() + i, options)).string();
    write_file_atomic(path, encode_png(x[i]));
    paths.push_back(std::move(path));
  }
  return paths;
}

/// Decodes latents with `backbone` and writes the images as PNG files in `dir`, one chunk
/// (`decode_batch()`) at a time, so memory does not grow with N. Image i gets index
/// `options.first_index() + i`. Returns the paths, in order. The calling thread decodes while a writer
/// thread encodes and writes the previous chunk, so where a core is free the files cost little time beyond
/// the decoding. A write error stops the decoding and is rethrown.
/// @tparam Backbone any type meeting the backbone contract whose outputs are images (C = 1 or 3).
template <class Backbone>
std::vector<std::string> decode_to_pngs(const Backbone& backbone, const torch::Tensor& latents, const std::string& dir,
                                        const ImageWriteOptions& options = {}) {
  // Over the writer's frees too (decode_each has its own scope, which ends before the last chunk is written).
  const detail::CachingAllocatorScope caching_allocator;
  using Chunk = std::pair<int64_t, torch::Tensor>;  // first index, images
  detail::Prefetcher<Chunk, std::vector<std::string>> writer([&](const Chunk& chunk) {
    return write_pngs(dir, chunk.second, ImageWriteOptions(options).first_index(options.first_index() + chunk.first));
  });
  std::vector<std::string> paths;
  bool writing = false;
  auto collect = [&] {
    auto written = writer.get();
    paths.insert(paths.end(), written.begin(), written.end());
  };
  decode_each(backbone, latents, [&](int64_t first, const torch::Tensor& images) {
    if (writing) collect();
    writer.request({first, images});
    writing = true;
  });
  if (writing) collect();
  return paths;
}

}  // namespace plugen
