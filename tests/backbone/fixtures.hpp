#pragma once
// TorchScript fixtures for the backbone tests, built in C++ (torch::jit::Module + define()) and saved to a
// per-process temporary folder: no Python and no downloads. Each fixture is small and exactly known, so
// tests can compare the adapters' results against closed forms.

#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "plugen/core/seed.hpp"

namespace plugen_backbone_fixtures {

namespace fs = std::filesystem;

/// A folder for this process's fixture files, removed at exit.
inline const fs::path& temp_dir() {
  struct Dir {
    fs::path path;
    Dir() {
      const char* env = std::getenv("PLUGEN_TEST_TMP");
      fs::path base = env && *env ? fs::path(env) : fs::temp_directory_path();
      path = base / ("plugen-backbone-" + std::to_string(::getpid()));
      fs::create_directories(path);
    }
    ~Dir() {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  };
  static Dir dir;
  return dir.path;
}

/// Path of a file named `name` in the fixture folder.
inline std::string temp_path(const std::string& name) {
  return (temp_dir() / name).string();
}

/// Saves `m` under `name` in the fixture folder and returns the path.
inline std::string save(torch::jit::Module& m, const std::string& name) {
  auto path = temp_path(name);
  m.save(path);
  return path;
}

/// Declares the data range [low, high] of a fixture with number attributes data_min/data_max.
inline void declare_range(torch::jit::Module& m, double low, double high) {
  m.register_attribute("data_min", c10::FloatType::get(), low);
  m.register_attribute("data_max", c10::FloatType::get(), high);
}

/// Linear-tanh generator x = tanh(z W + b) as (N, 1, 4, 4) images in [-1, 1]; int attribute latent_dim
/// unless `with_attribute` is false; data_min/data_max = -1/1 unless `with_range` is false. Weights are small
/// so outputs stay away from ±1.
inline torch::jit::Module linear_gan(int64_t latent_dim = 8, bool with_attribute = true, uint64_t seed = 1,
                                     bool with_range = true) {
  torch::jit::Module m("LinearGan");
  if (with_range) declare_range(m, -1.0, 1.0);
  auto gen = plugen::make_generator(seed);
  m.register_parameter("weight", torch::randn({latent_dim, 16}, gen) * (0.3 / std::sqrt(double(latent_dim))), false);
  m.register_parameter("bias", torch::randn({16}, gen) * 0.1, false);
  if (with_attribute) m.register_attribute("latent_dim", c10::IntType::get(), latent_dim);
  m.define(R"JIT(
def forward(self, z):
    x = torch.tanh(torch.matmul(z, self.weight) + self.bias)
    return x.view(-1, 1, 4, 4)
)JIT");
  return m;
}

/// Linear-tanh generator with one noise input: forward(z, noise (N, 1, 4, 4)); range [-1, 1].
inline torch::jit::Module noisy_gan(int64_t latent_dim = 8) {
  torch::jit::Module m("NoisyGan");
  declare_range(m, -1.0, 1.0);
  auto gen = plugen::make_generator(2);
  m.register_parameter("weight", torch::randn({latent_dim, 16}, gen) * (0.3 / std::sqrt(double(latent_dim))), false);
  m.register_attribute("latent_dim", c10::IntType::get(), latent_dim);
  m.define(R"JIT(
def forward(self, z, noise):
    x = torch.tanh(torch.matmul(z, self.weight) + 0.5 * noise.reshape(noise.size(0), -1))
    return x.view(-1, 1, 4, 4)
)JIT");
  return m;
}

/// StyleGAN-like generator: mapping(z) -> broadcast ws (N, 3, 6); synthesis(ws) = tanh(ws.flatten() S)
/// as (N, 1, 4, 4) in [-1, 1], so every layer's w matters (W+ differs from W); also forward(z) =
/// synthesis(mapping(z)).
inline torch::jit::Module style_gan(int64_t latent_dim = 8) {
  torch::jit::Module m("StyleGan");
  declare_range(m, -1.0, 1.0);
  auto gen = plugen::make_generator(3);
  m.register_parameter("map_weight", torch::randn({latent_dim, 6}, gen) / std::sqrt(double(latent_dim)), false);
  m.register_parameter("syn_weight", torch::randn({18, 16}, gen) * (0.3 / std::sqrt(18.0)), false);
  m.register_attribute("latent_dim", c10::IntType::get(), latent_dim);
  m.define(R"JIT(
def mapping(self, z):
    w = torch.matmul(z, self.map_weight)
    return w.unsqueeze(1).repeat(1, 3, 1)

def synthesis(self, ws):
    x = torch.tanh(torch.matmul(ws.reshape(ws.size(0), -1), self.syn_weight))
    return x.view(-1, 1, 4, 4)

def forward(self, z):
    return self.synthesis(self.mapping(z))
)JIT");
  return m;
}

/// The exact linear VAE of the tests: decode(z) = 0.5 + 0.05 z A as (N, 1, 4, 4) in (0, 1), and
/// encode(x) = ((x - 0.5) / 0.05) A⁺ (the pseudo-inverse), returned as (mean, logvar); encode_mean(x)
/// returns the mean alone. encode(decode(z)) = z exactly (up to float32).
inline torch::jit::Module linear_vae(int64_t latent_dim = 6, int64_t encoder_width = -1) {
  torch::jit::Module m("LinearVae");
  auto gen = plugen::make_generator(4);
  auto a = torch::randn({latent_dim, 16}, gen, torch::kFloat64) / std::sqrt(double(latent_dim));
  auto pinv = torch::linalg_pinv(a);  // (16, D)
  if (encoder_width > 0) pinv = torch::randn({16, encoder_width}, gen, torch::kFloat64);
  m.register_parameter("dec_weight", a.to(torch::kFloat32), false);
  m.register_parameter("enc_weight", pinv.to(torch::kFloat32), false);
  m.register_attribute("latent_dim", c10::IntType::get(), latent_dim);
  m.define(R"JIT(
def decode(self, z):
    x = 0.5 + 0.05 * torch.matmul(z, self.dec_weight)
    return x.view(-1, 1, 4, 4)

def encode(self, x):
    mean = torch.matmul((x.reshape(x.size(0), -1) - 0.5) / 0.05, self.enc_weight)
    return mean, torch.zeros_like(mean)

def encode_mean(self, x):
    return torch.matmul((x.reshape(x.size(0), -1) - 0.5) / 0.05, self.enc_weight)
)JIT");
  return m;
}

/// ᾱ_t of the DDPM linear schedule (β from 1e-4 to 0.02 over T steps), float32.
inline torch::Tensor linear_alphas_cumprod(int64_t T = 1000) {
  auto betas = torch::linspace(1e-4, 0.02, T, torch::kFloat64);
  return torch::cumprod(1.0 - betas, 0).to(torch::kFloat32);
}

/// The exact noise predictor for Gaussian data x_0 ~ N(0, s² I): ε(x_t, t) = √(1 - ᾱ_t) x_t / (ᾱ_t s² + 1 - ᾱ_t),
/// smooth and linear in x_t, so DDIM inversion is accurate. Buffer alphas_cumprod, attribute sample_shape.
inline torch::jit::Module gaussian_eps_net(std::vector<int64_t> shape = {1, 4, 4}, bool with_schedule = true,
                                           bool with_shape = true, double s = 0.5) {
  torch::jit::Module m("GaussianEps");
  m.register_buffer("alphas_cumprod", with_schedule ? linear_alphas_cumprod() : torch::ones({1000}));
  m.register_attribute("s2", c10::FloatType::get(), s * s);
  if (with_shape) m.register_attribute("sample_shape", c10::ListType::ofInts(), c10::List<int64_t>(shape));
  m.define(R"JIT(
def forward(self, x, t):
    a = self.alphas_cumprod[t].reshape([-1] + [1] * (x.dim() - 1))
    return torch.sqrt(1.0 - a) * x / (a * self.s2 + 1.0 - a)
)JIT");
  return m;
}

/// Classifier of (N, 1, 4, 4) images in [0, 1] with 5 score columns: 0 a "bright" logit 10 (mean - 0.5);
/// 1..3 logits of a categorical "region" (which third of the pixels is brightest); 4 the mean itself.
inline torch::jit::Module toy_classifier() {
  torch::jit::Module m("ToyClassifier");
  m.register_attribute("input_shape", c10::ListType::ofInts(), c10::List<int64_t>({1, 4, 4}));
  m.define(R"JIT(
def forward(self, x):
    f = x.reshape(x.size(0), -1)
    mean = f.mean(1)
    r0 = f[:, 0:5].mean(1)
    r1 = f[:, 5:10].mean(1)
    r2 = f[:, 10:16].mean(1)
    return torch.stack([10.0 * (mean - 0.5), r0, r1, r2, mean], 1)
)JIT");
  return m;
}

/// Writes `text` to a file in the fixture folder and returns its path.
inline std::string write_text(const std::string& name, const std::string& text) {
  auto path = temp_path(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

/// Copies the first `fraction` of the file at `from` to a new fixture file and returns its path.
inline std::string truncated_copy(const std::string& from, const std::string& name, double fraction = 0.5) {
  std::ifstream in(from, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return write_text(name, bytes.substr(0, static_cast<size_t>(bytes.size() * fraction)));
}

}  // namespace plugen_backbone_fixtures
