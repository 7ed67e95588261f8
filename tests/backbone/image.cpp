// Tests of plugen/backbone/image.hpp: PNG encoding read back with stb_image, grids, file naming, atomic
// writes, streamed decode-to-files, and coexistence with a program's own stb_image_write.
//
// The program-side stb_image_write.h is included (declarations only, global namespace) to check that
// plugen's private, namespaced copy does not clash with it.
#include <stb/stb_image_write.h>

#include "backbone/fixtures.hpp"
#include "plugen/backbone.hpp"
#include "support.hpp"

// stb_image (reader) for the round trip, static and in its own namespace like plugen's writer.
#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
namespace backbone_image_stbi {
#define STBI_NO_SIMD
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#undef STB_IMAGE_STATIC
#undef STB_IMAGE_IMPLEMENTATION
#undef STBI_ONLY_PNG
#undef STBI_NO_STDIO
#undef STBI_NO_SIMD
}  // namespace backbone_image_stbi

#include <fstream>
#include <iterator>

namespace backbone_image_test {

using namespace plugen;
namespace fx = plugen_backbone_fixtures;
namespace fs = std::filesystem;
using Catch::Contains;

// Decodes PNG bytes with stb_image into (H, W, C) uint8.
torch::Tensor read_png_bytes(const std::string& bytes) {
  int w = 0, h = 0, c = 0;
  auto* data = backbone_image_stbi::stbi_load_from_memory(reinterpret_cast<const unsigned char*>(bytes.data()),
                                                          static_cast<int>(bytes.size()), &w, &h, &c, 0);
  REQUIRE(data != nullptr);
  auto out = torch::from_blob(data, {h, w, c}, torch::kUInt8).clone();
  backbone_image_stbi::stbi_image_free(data);
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST_CASE("encode_png writes 8-bit grey and RGB PNGs that read back exactly", "[backbone][image]") {
  for (int64_t c : {1, 3}) {
    auto image = torch::rand({c, 5, 7}, make_generator(uint64_t(c)));
    auto bytes = encode_png(image);
    REQUIRE(bytes.size() > 8);
    CHECK(bytes.substr(1, 3) == "PNG");
    auto pixels = read_png_bytes(bytes);
    CHECK(pixels.sizes() == torch::IntArrayRef({5, 7, c}));
    CHECK(torch::equal(pixels, to_bytes_hwc(image)));
    CHECK(torch::equal(pixels.permute({2, 0, 1}).to(torch::kFloat32),
                       (image * 255.0).round().to(torch::kUInt8).to(torch::kFloat32)));
  }
  // Out-of-range values are clamped; NaN is refused; other channel counts are refused.
  auto clamped = to_bytes_hwc(torch::tensor({-0.5f, 1.5f}).view({1, 1, 2}));
  CHECK(clamped[0][0][0].item<uint8_t>() == 0);
  CHECK(clamped[0][1][0].item<uint8_t>() == 255);
  CHECK_THROWS_AS(encode_png(torch::full({1, 2, 2}, std::nan(""))), NumericError);
  auto msg = plugen_test::error_message<ShapeError>([] { encode_png(torch::zeros({2, 4, 4})); });
  CHECK_THAT(msg, Contains("C = 1 or 3") && Contains("(2, 4, 4)"));
  CHECK_THROWS_AS(encode_png(torch::zeros({1, 4, 4}, torch::kUInt8)), ShapeError);
}

TEST_CASE("make_grid lays images out row-major with padding", "[backbone][image]") {
  auto images = torch::zeros({5, 1, 2, 3});
  for (int64_t i = 0; i < 5; ++i) images[i].fill_(0.1 * double(i + 1));
  auto grid = make_grid(images, GridOptions().columns(2).padding(1).pad_value(1.0));
  // 3 rows x 2 columns: height 3 * 2 + 4 = 10, width 2 * 3 + 3 = 9.
  CHECK(grid.sizes() == torch::IntArrayRef({1, 10, 9}));
  CHECK(grid[0][0][0].item<float>() == 1.0f);                           // padding
  CHECK(grid[0][1][1].item<float>() == Approx(0.1));                    // image 0
  CHECK(grid[0][1][5].item<float>() == Approx(0.2));                    // image 1, next column
  CHECK(grid[0][4][1].item<float>() == Approx(0.3));                    // image 2, next row
  CHECK(grid[0][7][5].item<float>() == 1.0f);                           // the empty sixth cell
  CHECK(make_grid(images).sizes() == torch::IntArrayRef({1, 10, 17}));  // ceil(sqrt(5)) = 3 columns, padding 2
  CHECK_THROWS_AS(make_grid(torch::zeros({0, 1, 2, 2})), ShapeError);
  CHECK_THROWS_AS(make_grid(torch::zeros({1, 2, 2})), ShapeError);
  // Scale 3: every pixel a 3 x 3 block; the padding is not scaled. One 2 x 2 image: (1, 2 * 3 + 2, 2 * 3 + 2).
  auto one = torch::tensor({0.0f, 0.25f, 0.5f, 1.0f}).reshape({1, 1, 2, 2});
  auto big = make_grid(one, GridOptions().padding(1).scale(3));
  CHECK(big.sizes() == torch::IntArrayRef({1, 8, 8}));
  CHECK(big[0].narrow(0, 1, 3).narrow(1, 4, 3).eq(0.25f).all().item<bool>());  // pixel (0, 1)
  CHECK(big[0].narrow(0, 4, 3).narrow(1, 1, 3).eq(0.5f).all().item<bool>());   // pixel (1, 0)
  CHECK_THROWS_AS(make_grid(one, GridOptions().scale(0)), ConfigError);
}

TEST_CASE("write_pngs, write_grid and decode_to_pngs write atomically named files", "[backbone][image]") {
  auto dir = fx::temp_path("images_out");
  auto images = torch::rand({3, 3, 4, 4}, make_generator(8));
  auto paths = write_pngs(dir, images, ImageWriteOptions().prefix("img_").digits(4).first_index(10));
  REQUIRE(paths.size() == 3);
  CHECK(fs::path(paths[0]).filename() == "img_0010.png");
  CHECK(fs::path(paths[2]).filename() == "img_0012.png");
  CHECK(torch::equal(read_png_bytes(read_file(paths[1])), to_bytes_hwc(images[1])));
  CHECK(image_file_name(7) == "image_000007.png");

  auto grid_path = (fs::path(dir) / "grid.png").string();
  write_grid(grid_path, images, GridOptions().columns(3).padding(0));
  CHECK(read_png_bytes(read_file(grid_path)).sizes() == torch::IntArrayRef({4, 12, 3}));

  // Streamed decoding: 7 latents in chunks of 3 give 7 files equal to the decoded images.
  auto m = fx::linear_gan(8);
  GanBackbone gan(m, GanOptions().decode_batch(3), "<gan>");
  auto z = gan.sample_latents(7, 2);
  auto decoded_dir = fx::temp_path("decoded");
  auto written = decode_to_pngs(gan, z, decoded_dir, ImageWriteOptions().first_index(100));
  REQUIRE(written.size() == 7);
  CHECK(fs::path(written[6]).filename() == "image_000106.png");
  auto x = gan.decode(z);
  for (size_t i = 0; i < written.size(); ++i) {  // in order, each the image of its latent (written by the writer)
    CHECK(fs::path(written[i]).filename() == image_file_name(100 + static_cast<int64_t>(i)));
    CHECK(torch::equal(read_png_bytes(read_file(written[i])), to_bytes_hwc(x[static_cast<int64_t>(i)])));
  }
  // No temporary files are left behind.
  for (const auto& entry : fs::directory_iterator(decoded_dir)) CHECK(entry.path().extension() == ".png");

  // A folder that cannot exist: an IoError naming it.
  auto blocker = fx::write_text("not_a_folder", "x");
  auto msg = plugen_test::error_message<IoError>([&] { write_png(blocker + "/a.png", images[0]); });
  CHECK_THAT(msg, Contains("not_a_folder"));
  msg = plugen_test::error_message<IoError>([&] { write_pngs(blocker, images); });
  CHECK_THAT(msg, Contains("not_a_folder"));
  // The writer thread's error reaches the caller, which stops decoding (and does not hang).
  msg = plugen_test::error_message<IoError>([&] { decode_to_pngs(gan, z, blocker); });
  CHECK_THAT(msg, Contains("not_a_folder"));
  // So does the decoder's: a latent of the wrong width fails in the first chunk, with the writer idle.
  CHECK_THROWS_AS(decode_to_pngs(gan, torch::zeros({7, 5}), decoded_dir), ShapeError);
}

TEST_CASE("decode_each hands out chunks with their first index", "[backbone][image]") {
  auto m = fx::linear_gan(8);
  GanBackbone gan(m, GanOptions(), "<gan>");
  auto z = gan.sample_latents(10, 4);
  std::vector<int64_t> firsts, sizes;
  decode_each(gan, z, 4, [&](int64_t first, const torch::Tensor& x) {
    firsts.push_back(first);
    sizes.push_back(x.size(0));
  });
  CHECK(firsts == std::vector<int64_t>{0, 4, 8});
  CHECK(sizes == std::vector<int64_t>{4, 4, 2});
  CHECK_THROWS_AS(decode_each(gan, z, 0, [](int64_t, const torch::Tensor&) {}), ConfigError);
}

}  // namespace backbone_image_test
