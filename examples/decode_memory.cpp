// Peak memory of chunked decoding: decodes N prior samples of a backbone, either into one result tensor
// (--mode tensor) or chunk by chunk into a running checksum (--mode stream, what decode_to_pngs does), and
// prints the peak resident set size. Run it under /usr/bin/time -v to compare N = 256 with N = 10000.
//
//   decode_memory --make-fixture PATH     write a C++-built VAE fixture (latent 64 -> 1024 -> 3x32x32), and,
//                                         for the CLI tests, 8 decoded images (PATH.inputs.npy, for `plugen
//                                         encode`), a classifier and its column mapping (PATH.classifier.pt,
//                                         PATH.attributes.json, for `plugen label`)
//   decode_memory MODEL.pt [--kind vae|gan|diffusion|auto] [--n N] [--batch B] [--mode stream|tensor]
//                          [--steps S]
#include <plugen/data/npy.hpp>
#include <plugen/plugen.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

// A VAE large enough that chunk activations and outputs dominate LibTorch's baseline: decode(z) =
// sigmoid(relu(z W1) W2) as (N, 3, 32, 32); encode(x) = x W3 (mean only).
void make_fixture(const std::string& path) {
  torch::jit::Module m("MemoryVae");
  auto gen = plugen::make_generator(0);
  m.register_parameter("w1", torch::randn({64, 1024}, gen) / 8.0, false);
  m.register_parameter("w2", torch::randn({1024, 3072}, gen) / 32.0, false);
  m.register_parameter("w3", torch::randn({3072, 64}, gen) / 55.0, false);
  m.register_attribute("latent_dim", c10::IntType::get(), int64_t{64});
  m.define(R"JIT(
def decode(self, z):
    h = torch.relu(torch.matmul(z, self.w1))
    return torch.sigmoid(torch.matmul(h, self.w2)).view(-1, 3, 32, 32)

def encode(self, x):
    return torch.matmul(x.reshape(x.size(0), -1), self.w3)
)JIT");
  plugen::write_file_atomic(path, [&](std::ostream& out) { m.save(out); });
  plugen::VaeBackbone vae(path);
  plugen::write_npy(path + ".inputs.npy", vae.decode(vae.sample_latents(8, 1)));

  // A classifier of its images: 3 logits (which of the levels 0.3, 0.5, 0.7 the mean is nearest), and
  // the mean itself; with a column mapping, for `plugen label`.
  torch::jit::Module c("MemoryClassifier");
  c.define(R"JIT(
def forward(self, x):
    m = x.mean(dim=[1, 2, 3])
    return torch.stack([-20.0 * (m - 0.3).abs(), -20.0 * (m - 0.5).abs(), -20.0 * (m - 0.7).abs(), m], 1)
)JIT");
  plugen::write_file_atomic(path + ".classifier.pt", [&](std::ostream& out) { c.save(out); });
  plugen::write_file_atomic(path + ".attributes.json", R"([
  {"name": "level", "kind": "categorical", "columns": [0, 1, 2], "classes": ["dark", "medium", "bright"]},
  {"name": "mean", "kind": "continuous", "columns": [3]}
]
)");
}

long peak_rss_kib() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;  // KiB on Linux
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--make-fixture") {
    make_fixture(argv[2]);
    std::printf("wrote %s\n", argv[2]);
    return 0;
  }
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr,
                 "usage: decode_memory MODEL.pt [--kind K] [--n N] [--batch B] [--mode stream|tensor] [--steps S]\n"
                 "       decode_memory --make-fixture PATH\n");
    return 2;
  }
  const std::string path = argv[1];
  std::string kind = "auto", mode = "stream";
  int64_t n = 10000, batch = 256, steps = 10;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--kind")
      kind = value;
    else if (key == "--mode")
      mode = value;
    else if (key == "--n")
      n = std::atoll(value.c_str());
    else if (key == "--batch")
      batch = std::atoll(value.c_str());
    else if (key == "--steps")
      steps = std::atoll(value.c_str());
    else {
      std::fprintf(stderr, "decode_memory: unknown option '%s'\n", key.c_str());
      return 2;
    }
  }
  if (mode != "stream" && mode != "tensor") {
    std::fprintf(stderr, "decode_memory: --mode must be stream or tensor, got '%s'\n", mode.c_str());
    return 2;
  }
  try {
    plugen::set_num_threads();
    const long rss_start = peak_rss_kib();
    auto options = plugen::BackboneOptions().decode_batch(batch).diffusion(plugen::DiffusionOptions().steps(steps));
    options.decode_batch(batch);
    auto backbone = plugen::load_backbone(path, kind, options);
    auto latents = backbone.sample_latents(n, 0);
    const long rss_loaded = peak_rss_kib();
    const auto start = std::chrono::steady_clock::now();
    double checksum = 0.0;
    int64_t rows = 0;
    if (mode == "tensor") {
      auto x = backbone.decode(latents);
      checksum = x.sum().item<double>();
      rows = x.size(0);
    } else {
      plugen::decode_each(backbone, latents, [&](int64_t, const torch::Tensor& x) {
        checksum += x.sum().item<double>();
        rows += x.size(0);
      });
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "{\"backbone\": \"%s\", \"n\": %lld, \"batch\": %lld, \"mode\": \"%s\", \"rows\": %lld, \"seconds\": %.3f, "
        "\"checksum\": %.6g, \"peak_rss_mib_start\": %.1f, \"peak_rss_mib_loaded\": %.1f, \"peak_rss_mib\": %.1f}\n",
        backbone.describe().c_str(), static_cast<long long>(n), static_cast<long long>(batch), mode.c_str(),
        static_cast<long long>(rows), seconds, checksum, rss_start / 1024.0, rss_loaded / 1024.0,
        peak_rss_kib() / 1024.0);
    return 0;
  } catch (const plugen::Error& e) {
    std::fprintf(stderr, "decode_memory: %s error: %s\n", plugen::to_string(e.kind()), e.what());
    return 1;
  }
}
