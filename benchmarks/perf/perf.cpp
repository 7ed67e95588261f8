// plugen's side of the side-by-side performance benchmark (benchmarks/perf/run.py runs it and the PyTorch
// reference back to back on the same data with the same thread count). One JSON object per line on stdout:
//   gemm      LibTorch mm of 1024 x 1024 float32 matrices: GFLOP/s (the machine's achievable rate)
//   train     Trainer steps/s at the official preset (D 512, 4 couplings, 4 x 512 conditioners, Adam 1e-4,
//             clip 1.0) for NICE and RealNVP at batch 32 and 256: samples/s and GFLOP/s
//   edit      one latent, set one attribute: forward, edit, inverse; median latency of >= 1000 runs
//             (LibTorch Plugin and Eigen plugin, same plugin file: the reference's weights imported)
//   sample    1,024 latents from the conditional prior per call: samples/s (LibTorch and Eigen)
//   generate  the bundled VAE: images/s of decode only, decode + PNG files, and plugin sample + decode + PNGs
//
//   plugen_bench --data DIR --vae examples/models/fmnist_vae.pt [--images DIR] [--threads 1] [--only train,...]
//                [--quick]
//
// DIR holds latents.npy (N, 512) float32, labels.npy (N, 8) float64 in [-1, 1] and official/flow_dict.pt (the
// reference flow's state_dict), all written by run.py.

#include <CLI/CLI.hpp>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "plugen/backbone.hpp"
#include "plugen/core/blas.hpp"
#include "plugen/data.hpp"
#include "plugen/eigen.hpp"
#include "plugen/plugin.hpp"
#include "plugen/plugin/file.hpp"
#include "plugen/plugin/official.hpp"
#include "plugen/train.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// Every figure is measured twice: wall time, and the CPU time of the calling thread (with one intra-op thread all
// the work runs there), which a machine shared with other jobs inflates far less.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Stamp {
  Clock::time_point wall = Clock::now();
  double cpu = thread_cpu_seconds();
};

// Durations of repeated runs by both clocks.
struct Times {
  std::vector<double> wall, cpu;
  void add(const Stamp& start) {
    const Stamp now;
    wall.push_back(std::chrono::duration<double>(now.wall - start.wall).count());
    cpu.push_back(now.cpu - start.cpu);
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// One result line: fields common to every line, then the benchmark's own.
void emit(nlohmann::json j) {
  j["impl"] = j.value("impl", "plugen");
  j["threads"] = at::get_num_threads();
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

// The official preset (DESIGN.md 1.3): D 512, 4 couplings, 4 linear layers of 512 hidden units, leaky_relu 0.1,
// alternating partitions, no LU layers, no monotone step.
plugen::FlowOptions official_preset() {
  return plugen::FlowOptions(512).couplings(4).conditioner(plugen::ConditionerOptions()
                                                               .hidden(512)
                                                               .layers(4)
                                                               .activation(plugen::Activation::leaky_relu)
                                                               .negative_slope(0.1));
}

// Multiply-adds of one forward pass of a flow's conditioners, per sample.
int64_t conditioner_macs(const plugen::FlowOptions& o, int64_t outputs_per_coordinate) {
  int64_t total = 0;
  for (int64_t k = 0; k < o.couplings(); ++k) {
    const auto p = plugen::make_partition(o.dim(), k, o.partition(), o.partition_seed());
    const int64_t in = static_cast<int64_t>(p.kept.size());
    const int64_t out = outputs_per_coordinate * static_cast<int64_t>(p.changed.size());
    total += plugen::ConditionerImpl::parameter_count(in, out, o.conditioner()) - out -
             (o.conditioner().layers() - 1) * o.conditioner().hidden();  // weights only: one MAC each
  }
  return total;
}

plugen::Schema continuous_schema(int64_t attributes) {
  std::vector<plugen::Attribute> a;
  for (int64_t i = 0; i < attributes; ++i)
    a.push_back({"attr" + std::to_string(i), plugen::AttributeKind::continuous, {}, 0, {}});
  return plugen::Schema(a);
}

std::pair<double, double> bench_gemm(bool quick) {
  torch::NoGradGuard no_grad;
  auto a = torch::randn({1024, 1024});
  auto b = torch::randn({1024, 1024});
  // Into one output buffer, as reference.py does: the rate of the product, not of allocating 4 MB per call.
  auto c = torch::mm(a, b);
  Times t;
  for (int i = 0; i < (quick ? 5 : 20); ++i) {
    const Stamp s;
    at::mm_out(c, a, b);
    t.add(s);
  }
  const double flop = 2.0 * 1024 * 1024 * 1024;
  const double gflops = flop / median(t.wall) / 1e9, cpu_gflops = flop / median(t.cpu) / 1e9;
  emit({{"bench", "gemm"}, {"impl", "libtorch"}, {"n", 1024}, {"gflops", gflops}, {"cpu_gflops", cpu_gflops},
        {"blas_core", plugen::blas_info().core}});
  return {gflops, cpu_gflops};
}

// Steps timed after `warmup` steps, through a batch callback (the epoch also holds setup work).
struct StepTimer {
  int64_t warmup;
  std::vector<Stamp> stamps;
  void on_batch_end(const plugen::TrainState&, double) { stamps.emplace_back(); }
  int64_t steps() const { return static_cast<int64_t>(stamps.size()) - 1 - warmup; }
  double wall_per_step() const {
    return std::chrono::duration<double>(stamps.back().wall - stamps[static_cast<size_t>(warmup)].wall).count() /
           static_cast<double>(steps());
  }
  double cpu_per_step() const {
    return (stamps.back().cpu - stamps[static_cast<size_t>(warmup)].cpu) / static_cast<double>(steps());
  }
};

void bench_train(const torch::Tensor& latents, const plugen::Labels& labels, std::pair<double, double> gemm,
                 bool quick) {
  auto schema = continuous_schema(labels.values.size(1));
  schema.fit(labels);
  auto standardize = plugen::fit_standardize(latents);
  plugen::TrainData data{std::get<0>(standardize->forward(latents)), labels};
  for (const auto kind : {plugen::FlowKind::additive, plugen::FlowKind::affine}) {
    for (const int64_t batch : {int64_t{32}, int64_t{256}}) {
      const int64_t steps = quick ? 12 : (batch == 32 ? 160 : 40);
      const int64_t warmup = quick ? 2 : 5;
      const int64_t rows = std::min<int64_t>(data.rows(), steps * batch);
      plugen::TrainData part{data.u.narrow(0, 0, rows),
                             {labels.values.narrow(0, 0, rows), labels.mask.narrow(0, 0, rows)}};
      torch::manual_seed(1);
      auto flow = plugen::make_flow(kind, official_preset());
      plugen::TargetPrior prior(schema, 512, plugen::PriorOptions().sigma(0.4));
      plugen::Trainer trainer(plugen::TrainOptions()
                                  .epochs(1)
                                  .batch_size(batch)
                                  .lr(1e-4)
                                  .lr_schedule(plugen::LrSchedule::constant)
                                  .clip_grad_norm(1.0)
                                  .sigma(0.4)
                                  .sigma_decay(1.0)
                                  .min_sigma(0.4));
      StepTimer timer{warmup, {}};
      std::visit([&](auto& f) { trainer.fit(f, prior, part, plugen::TrainData{}, 0.0, timer); }, flow);
      const double samples_per_s = static_cast<double>(batch) / timer.wall_per_step();
      const double cpu_samples_per_s = static_cast<double>(batch) / timer.cpu_per_step();
      // Training costs three conditioner passes' worth of multiply-adds: forward, and the backward passes to the
      // inputs and to the weights.
      const int64_t per = kind == plugen::FlowKind::affine ? 2 : 1;
      const double flops_per_sample = 3.0 * 2.0 * static_cast<double>(conditioner_macs(official_preset(), per));
      const double gflops = samples_per_s * flops_per_sample / 1e9;
      const double cpu_gflops = cpu_samples_per_s * flops_per_sample / 1e9;
      emit({{"bench", "train"},
            {"flow", kind == plugen::FlowKind::affine ? "realnvp" : "nice"},
            {"impl", "libtorch"},
            {"batch", batch},
            {"steps", timer.steps()},
            {"flops_per_sample", flops_per_sample},
            {"samples_per_s", samples_per_s},
            {"gflops", gflops},
            {"gemm_fraction", gflops / gemm.first},
            {"cpu_samples_per_s", cpu_samples_per_s},
            {"cpu_gflops", cpu_gflops},
            {"cpu_gemm_fraction", cpu_gflops / gemm.second}});
    }
  }
}

template <class F>
Times time_each(int runs, int warmup, F&& f) {
  for (int i = 0; i < warmup; ++i) f();
  Times t;
  for (int i = 0; i < runs; ++i) {
    const Stamp s;
    f();
    t.add(s);
  }
  return t;
}

void emit_latency(const std::string& impl, const Times& t) {
  emit({{"bench", "edit"},
        {"impl", impl},
        {"batch", 1},
        {"runs", t.wall.size()},
        {"median_ms", median(t.wall) * 1e3},
        {"p10_ms", percentile(t.wall, 0.1) * 1e3},
        {"p90_ms", percentile(t.wall, 0.9) * 1e3},
        {"cpu_median_ms", median(t.cpu) * 1e3},
        {"cpu_p10_ms", percentile(t.cpu, 0.1) * 1e3},
        {"cpu_p90_ms", percentile(t.cpu, 0.9) * 1e3}});
}

void bench_edit_and_sample(const fs::path& data_dir, const torch::Tensor& latents, bool quick) {
  // The reference's own weights, imported exactly, saved as a plugin file both paths load.
  const auto state_dict = plugen::read_official_state_dict(data_dir / "official" / "flow_dict.pt");
  const auto imported = plugen::import_official(state_dict, continuous_schema(8));
  const auto file = data_dir / "official_plugin.safetensors";
  plugen::save_plugin(file, imported);
  const auto plugin = plugen::load_plugin(file);
  const auto eplugin = plugen::eigen::load_plugin<float>(file);

  const int runs = quick ? 200 : 1000;
  const auto edits = plugen::Edits().set("attr0", 0.5);
  const auto w = latents.narrow(0, 0, 1).contiguous();
  const plugen::eigen::Matrix<float> ew = Eigen::Map<const plugen::eigen::Matrix<float>>(w.data_ptr<float>(), 1, 512);
  torch::Tensor out;
  emit_latency("libtorch", time_each(runs, 50, [&] { out = plugin.edit(w, edits); }));
  plugen::eigen::Matrix<float> eout;
  emit_latency("eigen", time_each(runs, 50, [&] { eout = eplugin.edit(ew, edits); }));

  const plugen::Conditions request{{"attr0", 0.5}, {"attr3", -0.5}};
  const int reps = quick ? 2 : 5;
  auto emit_sample = [&](const std::string& impl, const Times& t) {
    emit({{"bench", "sample"},
          {"impl", impl},
          {"batch", 1024},
          {"samples_per_s", 1024.0 / median(t.wall)},
          {"cpu_samples_per_s", 1024.0 / median(t.cpu)}});
  };
  uint64_t seed = 0;
  emit_sample("libtorch", time_each(reps, 1, [&] { out = plugin.sample(request, 1024, ++seed); }));
  emit_sample("eigen", time_each(reps, 1, [&] { eout = eplugin.sample(request, 1024, ++seed); }));
}

void bench_generate(const std::string& vae_path, const fs::path& images_dir, bool quick) {
  auto backbone = plugen::load_backbone(vae_path, "vae");
  const int64_t dim = backbone.latent_dim();
  // A plugin of plugen's default architecture over the VAE's latents (its training data only sizes it).
  auto gen = plugen::make_generator(3);
  auto w = torch::randn({512, dim}, gen);
  auto y = (w.select(1, 0) > 0).to(torch::kFloat64).unsqueeze(1);
  const plugen::Schema schema({{"bright", plugen::AttributeKind::binary, {}, 0, {}}});
  const auto plugin = plugen::train_plugin({w, {y, torch::ones_like(y, torch::kBool)}}, schema,
                                           plugen::PluginTrainOptions().train(plugen::TrainOptions().epochs(1)));
  const int64_t n = quick ? 512 : 2048;
  const auto dir = images_dir.string();
  const int reps = quick ? 1 : 3;
  auto emit_gen = [&](const std::string& pipeline, const Times& t) {
    emit({{"bench", "generate"},
          {"pipeline", pipeline},
          {"images", n},
          {"images_dir", dir},
          {"images_per_s", static_cast<double>(n) / median(t.wall)},
          {"cpu_images_per_s", static_cast<double>(n) / median(t.cpu)}});
  };
  torch::NoGradGuard no_grad;
  // Every pipeline below with the caching CPU allocator that decode_to_pngs (decode_each) uses.
  const plugen::detail::CachingAllocatorScope caching_allocator;
  auto z = torch::randn({n, dim}, gen);
  torch::Tensor images;
  emit_gen("decode", time_each(reps, 1, [&] { images = backbone.decode(z); }));
  emit_gen("decode+png", time_each(reps, 1, [&] { (void)plugen::decode_to_pngs(backbone, z, dir); }));
  uint64_t seed = 0;
  emit_gen("plugin+decode+png", time_each(reps, 1, [&] {
             auto latents = plugin.sample({{"bright", 1}}, n, ++seed);
             (void)plugen::decode_to_pngs(backbone, latents, dir);
           }));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"plugen side of the performance benchmark (JSON lines on stdout)"};
  std::string data_dir, vae, only, images;
  int threads = 1;
  bool quick = false;
  app.add_option("--data", data_dir, "folder written by benchmarks/perf/run.py")->required();
  app.add_option("--vae", vae, "the bundled VAE (examples/models/fmnist_vae.pt)");
  app.add_option("--threads", threads, "LibTorch intra-op threads (set explicitly)");
  app.add_option("--images", images, "folder for the generated PNGs (default DATA/images)");
  app.add_option("--only", only, "comma-separated subset of gemm,train,edit,generate (blas alone: only the BLAS line)");
  app.add_flag("--quick", quick, "fewer repetitions (a smoke test, not a measurement)");
  CLI11_PARSE(app, argc, argv);
  try {
    plugen::set_num_threads(threads);
    std::set<std::string> parts;
    for (size_t s = 0; s <= only.size();) {
      const size_t e = std::min(only.find(',', s), only.size());
      if (e > s) parts.insert(only.substr(s, e - s));
      s = e + 1;
    }
    auto want = [&](const std::string& p) { return parts.empty() || parts.count(p) > 0; };
    const auto blas = plugen::blas_info();
    emit({{"bench", "blas"}, {"library", blas.library}, {"core", blas.core}, {"config", blas.config},
          {"OPENBLAS_CORETYPE", blas.coretype}});
    if (parts.size() == 1 && parts.count("blas")) return 0;
    const fs::path dir(data_dir);
    const auto latents = plugen::read_npy(dir / "latents.npy").to(torch::kFloat32);
    const auto values = plugen::read_npy(dir / "labels.npy").to(torch::kFloat64);
    const plugen::Labels labels{values, torch::ones(values.sizes(), torch::kBool)};
    const auto gemm = bench_gemm(quick);
    if (want("train")) bench_train(latents, labels, gemm, quick);
    if (want("edit")) bench_edit_and_sample(dir, latents, quick);
    if (want("generate") && !vae.empty())
      bench_generate(vae, images.empty() ? dir / "images" : fs::path(images), quick);
  } catch (const plugen::Error& e) {
    std::fprintf(stderr, "plugen_bench: %s error: %s\n", plugen::to_string(e.kind()), e.what());
    return 1;
  }
  return 0;
}
