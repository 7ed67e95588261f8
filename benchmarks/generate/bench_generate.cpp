// Benchmark of plugen's dataset generation (plugen/generate) with the bundled Fashion-MNIST VAE. Three modes:
//
//   bench_generate throughput --plugin P --out DIR [--n 20000] [--writers W] [--fsync 0|1]
//       decodes the job's latents without writing anything (the baseline), then runs the job (one PNG per
//       sample + manifest) and prints both rates, their ratio and the CPU seconds of each (the job's also for
//       its decoding thread alone).
//   bench_generate rss --plugin P --out DIR --n N
//       runs the job alone and prints the process's peak resident memory (VmHWM), to compare N = 2,000 and 20,000.
//   bench_generate verify --plugin P --out DIR [--n 3000] [--attempts 30] [--sweep 0|1] [--style-scale S]
//                         [--label-temperature T]
//       a uniform job over class x brightness bins, verified by a judge built here from the bundled classifier
//       (class logits) and the pixel brightness of examples/backbones/fmnist.py; prints, per cell, the quota, the
//       count measured on the generated images and the acceptance rate.
//
// The plugin is trained by benchmarks/generate/run.sh on VAE latents of Fashion-MNIST labelled with class and
// brightness. Paths of the bundled models default to examples/models under the source folder.
#include <torch/script.h>

#include <chrono>
#include <optional>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include <sys/resource.h>

#include <plugen/plugen.hpp>

namespace {

namespace fs = std::filesystem;

const char* const class_names[] = {"tshirt", "trouser", "pullover", "dress", "coat",
                                   "sandal", "shirt",   "sneaker",  "bag",   "boot"};

struct Args {
  std::string mode, plugin, out, vae = PLUGEN_SOURCE_DIR "/examples/models/fmnist_vae.pt",
                                 classifier = PLUGEN_SOURCE_DIR "/examples/models/fmnist_classifier.pt";
  int64_t n = 20000, writers = 0, batch = 256, block = 64, attempts = 30;
  bool fsync = false, sweep = true;
  double style_scale = 1.0, label_temperature = -1.0;
};

Args parse(int argc, char** argv) {
  Args a;
  if (argc < 2) throw plugen::ConfigError("usage: bench_generate throughput|rss|verify --plugin P --out DIR [--n N]");
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--plugin") a.plugin = v;
    else if (k == "--out") a.out = v;
    else if (k == "--vae") a.vae = v;
    else if (k == "--classifier") a.classifier = v;
    else if (k == "--n") a.n = std::stoll(v);
    else if (k == "--writers") a.writers = std::stoll(v);
    else if (k == "--batch") a.batch = std::stoll(v);
    else if (k == "--block") a.block = std::stoll(v);
    else if (k == "--attempts") a.attempts = std::stoll(v);
    else if (k == "--fsync") a.fsync = v == "1" || v == "true";
    else if (k == "--sweep") a.sweep = v == "1" || v == "true";
    else if (k == "--style-scale") a.style_scale = std::stod(v);
    else if (k == "--label-temperature") a.label_temperature = std::stod(v);
    else throw plugen::ConfigError("bench_generate: unknown option " + k);
  }
  PLUGEN_CHECK(!a.plugin.empty() && !a.out.empty(), ConfigError, "bench_generate: --plugin and --out are required");
  return a;
}

// CPU seconds (user + system) of the whole process and of the calling thread.
double cpu_seconds(int who) {
  rusage u{};
  getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

long peak_rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// The outputs of a run are removed when it ends, not before the next one: on ext4 without a journal (this
// machine's disk) a new inode skips every inode deleted in the last minute or more one by one, reading each, so
// creating 20,000 files right after deleting 20,000 made the job 3x slower. run.sh therefore writes the
// throughput and rss outputs to tmpfs; see benchmarks/README.md.
nlohmann::json class_spec(const Args& a, const fs::path& dir) {
  return {{"backbone", a.vae},
          {"backbone_kind", "vae"},
          {"plugin", a.plugin},
          {"count", a.n},
          {"seed", 1},
          {"batch_size", a.batch},
          {"decode_block", a.block},
          {"quotas", {{"mode", "uniform"}, {"attributes", {"class"}}}},
          {"output", {{"dir", dir.string()}, {"png", true}}}};
}

plugen::GenerateReport run_job(const nlohmann::json& spec, const Args& a) {
  const auto sync = a.fsync ? plugen::FileSync::full : plugen::FileSync::none;
  return plugen::generate(plugen::parse_job_spec(spec.dump(), "benchmark spec"),
                          plugen::GenerateOptions().writers(a.writers).sync(sync));
}

int throughput(const Args& a) {
  const fs::path dir = fs::path(a.out) / fmt::format("throughput_{}", a.n);
  fs::remove_all(dir);
  const auto spec_json = class_spec(a, dir);
  const auto spec = plugen::parse_job_spec(spec_json.dump(), "benchmark spec");
  // The job's latents, sampled as the job samples them (not timed).
  const auto plugin = plugen::load_plugin(a.plugin);
  const auto plan = plugen::plan_quotas(spec, plugin.schema(), "benchmark spec");
  std::vector<torch::Tensor> parts;
  for (const auto& c : plan.cells)
    parts.push_back(plugin.sample(c.conditions, c.count, spec.seed, plugen::SampleOptions().first_index(c.first)));
  const auto w = torch::cat(parts);
  auto backbone = plugen::load_backbone(a.vae, "vae", plugen::BackboneOptions().decode_batch(a.block));
  // Baseline: decode every latent in blocks of the job's decode_block, keep nothing; with the caching CPU
  // allocator the job also uses, so the comparison is of the pipelines, not of the allocators. It runs before
  // and after the job, and the two runs' mean is the baseline, so a drift of the machine's speed during the
  // benchmark does not favour either side.
  double checksum = 0;
  auto decode_only = [&] {
    const plugen::detail::CachingAllocatorScope caching_allocator;
    const auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = cpu_seconds(RUSAGE_SELF);
    checksum = 0;
    for (int64_t s = 0; s < w.size(0); s += a.block)
      checksum += backbone.decode(w.narrow(0, s, std::min(a.block, w.size(0) - s))).sum().item<double>();
    return std::pair<double, double>{seconds_since(t0), cpu_seconds(RUSAGE_SELF) - cpu0};
  };
  const auto before = decode_only();
  // The job: sampling, decoding, plugin read-back, PNG files and manifest.
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_seconds(RUSAGE_SELF);
  const double main0 = cpu_seconds(RUSAGE_THREAD);
  const auto report = run_job(spec_json, a);
  const double job_s = seconds_since(t0), job_cpu = cpu_seconds(RUSAGE_SELF) - cpu0,
               job_main_cpu = cpu_seconds(RUSAGE_THREAD) - main0;
  const auto after = decode_only();
  const double decode_s = 0.5 * (before.first + after.first), decode_cpu = 0.5 * (before.second + after.second);
  const double decode_rate = static_cast<double>(a.n) / decode_s, job_rate = static_cast<double>(a.n) / job_s;
  std::printf("%s\n", nlohmann::json({{"n", a.n},
                                      {"threads", plugen::num_threads()},
                                      {"writers", a.writers > 0 ? a.writers
                                                                : plugen::default_writers(a.fsync ? plugen::FileSync::full
                                                                                                  : plugen::FileSync::none)},
                                      {"fsync", a.fsync},
                                      {"decode_block", a.block},
                                      {"decode_only_seconds", decode_s},
                                      {"decode_only_rate", decode_rate},
                                      {"decode_only_cpu_seconds", decode_cpu},
                                      {"decode_only_seconds_before_after", {before.first, after.first}},
                                      {"generate_seconds", job_s},
                                      {"generate_rate", job_rate},
                                      {"generate_cpu_seconds", job_cpu},
                                      {"generate_decoding_thread_cpu_seconds", job_main_cpu},
                                      {"ratio", job_rate / decode_rate},
                                      {"status", report.status},
                                      {"checksum", checksum}})
                          .dump()
                          .c_str());
  fs::remove_all(dir);
  return 0;
}

int rss(const Args& a) {
  const fs::path dir = fs::path(a.out) / fmt::format("rss_{}", a.n);
  fs::remove_all(dir);
  const auto t0 = std::chrono::steady_clock::now();
  const auto report = run_job(class_spec(a, dir), a);
  std::printf("%s\n", nlohmann::json({{"n", a.n},
                                      {"seconds", seconds_since(t0)},
                                      {"status", report.status},
                                      {"peak_rss_kb", peak_rss_kb()}})
                          .dump()
                          .c_str());
  fs::remove_all(dir);
  return 0;
}

// A judge for class x brightness: the bundled classifier's 10 logits, then the garment brightness of
// examples/backbones/fmnist.py (mean of the pixels > 0.1, 0 for an empty mask) as an 11th column.
std::string make_judge(const Args& a, const fs::path& dir) {
  auto cls = torch::jit::load(a.classifier);
  torch::jit::Module judge("FmnistJudge");
  judge.register_module("cls", cls);
  judge.register_attribute("input_shape", c10::ListType::ofInts(), c10::List<int64_t>({1, 28, 28}));
  judge.define(R"JIT(
def forward(self, x):
    flat = x.reshape(x.size(0), -1)
    m = (flat > 0.1).float()
    count = m.sum(1)
    total = (m * flat).sum(1)
    bright = torch.where(count > 0, total / count.clamp(min=1.0), torch.zeros_like(total))
    return torch.cat([self.cls.forward(x), bright.unsqueeze(1)], 1)
)JIT");
  const auto path = (dir / "judge.pt").string();
  judge.save(path);
  return path;
}

int verify(const Args& a) {
  const fs::path dir = fs::path(a.out) / fmt::format("verify_{}", a.n);
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto judge = make_judge(a, dir);
  nlohmann::json classes = nlohmann::json::array();
  for (const auto* c : class_names) classes.push_back(c);
  auto spec = class_spec(a, dir / "out");
  spec["classifier"] = {{"file", judge},
                        {"attributes",
                         {{{"name", "class"}, {"kind", "categorical"}, {"columns", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
                           {"classes", classes}},
                          {{"name", "brightness"}, {"kind", "continuous"}, {"columns", {10}}}}}};
  spec["quotas"] = {{"mode", "uniform"},
                    {"attributes", {"class", "brightness"}},
                    {"bins", {{"brightness", {{"edges", {0.0, 0.5, 0.7, 1.0}}, {"names", {"dark", "mid", "bright"}}}}}}};
  spec["verify"] = {{"max_attempts", a.attempts}, {"sweep_bins", a.sweep}, {"retry_style_scale", a.style_scale}};
  if (a.label_temperature >= 0) spec["sampling"] = {{"label_temperature", a.label_temperature}};
  const auto t0 = std::chrono::steady_clock::now();
  const auto report = run_job(spec, a);
  const double seconds = seconds_since(t0);
  // Count, per cell, the samples whose measured class and brightness fall in it (accepted or not).
  std::map<std::string, int64_t> measured;
  std::ifstream in(dir / "out" / "manifest.jsonl");
  std::string line;
  std::getline(in, line);
  const auto header = nlohmann::json::parse(line);
  while (std::getline(in, line)) {
    const auto r = nlohmann::json::parse(line);
    const double b = r["measured"]["brightness"];
    const char* bin = b < 0.5 ? "dark" : b < 0.7 ? "mid" : "bright";
    ++measured[fmt::format("class={},brightness={}", r["measured"]["class"].get<std::string>(), bin)];
  }
  nlohmann::json cells = nlohmann::json::array();
  double worst = 0;
  for (const auto& c : report.cells) {
    const auto got = measured[c.name];
    const double dev = std::abs(static_cast<double>(got - c.count)) / static_cast<double>(c.count);
    worst = std::max(worst, dev);
    cells.push_back({{"cell", c.name},
                     {"quota", c.count},
                     {"measured", got},
                     {"deviation", dev},
                     {"draws", c.draws},
                     {"accepted", c.accepted},
                     {"acceptance_rate", c.acceptance_rate()}});
  }
  std::printf("%s\n", nlohmann::json({{"n", a.n},
                                      {"seconds", seconds},
                                      {"max_attempts", a.attempts},
                                      {"sweep_bins", a.sweep},
                                      {"retry_style_scale", a.style_scale},
                                      {"label_temperature", a.label_temperature >= 0 ? nlohmann::json(a.label_temperature)
                                                                                     : nlohmann::json(nullptr)},
                                      {"worst_deviation", worst},
                                      {"cells", cells}})
                          .dump(1)
                          .c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    plugen::set_num_threads();
    const auto a = parse(argc, argv);
    if (a.mode == "throughput") return throughput(a);
    if (a.mode == "rss") return rss(a);
    if (a.mode == "verify") return verify(a);
    throw plugen::ConfigError("bench_generate: unknown mode " + a.mode);
  } catch (const plugen::Error& e) {
    std::fprintf(stderr, "bench_generate: %s error: %s\n", plugen::to_string(e.kind()), e.what());
    return 1;
  }
}
