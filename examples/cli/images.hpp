#pragma once
// `--backbone G.pt --images DIR --grid out.png`: decoding the latents a subcommand produces into PNGs.

#include <plugen/plugen.hpp>

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

namespace plugen_cli {

/// Options of the image outputs shared by `sample` and `edit`.
struct ImageArgs {
  std::string backbone, kind = "auto", images, grid;
  int64_t columns = 0, decode_batch = 256, grid_max = 256, scale = 1;
};

/// Registers --backbone, --backbone-kind, --images, --grid, --grid-columns, --grid-scale, --grid-max, --decode-batch.
inline void add_image_options(CLI::App* cmd, ImageArgs& a) {
  cmd->add_option("--backbone", a.backbone, "TorchScript backbone that decodes the latents (for --images/--grid)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--backbone-kind", a.kind, "Backbone adapter")
      ->check(CLI::IsMember({"auto", "gan", "vae", "diffusion"}))
      ->capture_default_str();
  cmd->add_option("--images", a.images, "Folder to write one PNG per latent into");
  cmd->add_option("--grid", a.grid, "PNG contact sheet of the decoded latents");
  cmd->add_option("--grid-columns", a.columns, "Images per grid row (0: square)")->capture_default_str();
  cmd->add_option("--grid-scale", a.scale, "Grid pixels per image pixel (nearest neighbour)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--grid-max", a.grid_max, "At most this many images in the grid")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--decode-batch", a.decode_batch, "Latents decoded at a time")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

/// Decodes `latents` and writes the requested PNGs; `first_index` numbers the image files. Returns a JSON
/// summary (empty object when no image output was requested).
inline nlohmann::json write_images(const ImageArgs& a, const torch::Tensor& latents, int64_t first_index,
                                   const std::string& who) {
  if (a.images.empty() && a.grid.empty()) {
    PLUGEN_CHECK(a.backbone.empty(), ConfigError, "{}: --backbone given without --images or --grid", who);
    return nlohmann::json::object();
  }
  PLUGEN_CHECK(!a.backbone.empty(), ConfigError, "{}: --images and --grid need --backbone to decode the latents", who);
  auto backbone = plugen::load_backbone(a.backbone, a.kind, plugen::BackboneOptions().decode_batch(a.decode_batch));
  auto w = latents.to(torch::kFloat32);
  nlohmann::json out = {{"backbone", a.backbone}};
  if (!a.images.empty()) {
    auto paths = plugen::decode_to_pngs(backbone, w, a.images, plugen::ImageWriteOptions().first_index(first_index));
    out["images"] = a.images;
    out["image_count"] = paths.size();
  }
  if (!a.grid.empty()) {
    const int64_t n = std::min<int64_t>(a.grid_max, w.size(0));
    plugen::write_grid(a.grid, backbone.decode(w.narrow(0, 0, n)), plugen::GridOptions().columns(a.columns).scale(a.scale));
    out["grid"] = a.grid;
  }
  return out;
}

}  // namespace plugen_cli
