// Crash-safety test of plugen's writers (core/atomic_file.hpp and everything built on it): a child process
// writes a plugin, a checkpoint, latents (.npy), labels (.csv), a training log (JSON lines), a JSON manifest and
// PNG images in an endless loop, overwriting the same names with one of three contents; the parent kills it with
// SIGKILL after a random delay. After every trial, each file present under its final name must be byte-for-byte
// one of the complete versions and must load with plugen's own readers; the only other files allowed are the
// hidden temporary files of interrupted writes.
//
//   plugen_crash_test [--trials N] [--max-delay-ms M] [--seed S] [--dir DIR]
//
// The children are forked before the parent touches LibTorch (forking after its thread pools exist is unsafe);
// the parent checks the trials afterwards. Exit status 0 when every trial passes.

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "plugen/backbone/image.hpp"
#include "plugen/core/atomic_file.hpp"
#include "plugen/data.hpp"
#include "plugen/plugin.hpp"
#include "plugen/train.hpp"

namespace fs = std::filesystem;

namespace {

constexpr int variants = 3;

/// What the writer writes in one iteration; content `v` (0..variants-1) is deterministic.
struct Contents {
  std::vector<plugen::Plugin> plugins;
  std::vector<torch::Tensor> latents, images, weights;
  std::vector<plugen::CsvTable> tables;
  std::vector<plugen::EpochStats> epochs;
};

plugen::Plugin make_plugin(int v) {
  using namespace plugen;
  torch::manual_seed(static_cast<uint64_t>(100 + v));
  const int64_t dim = 64;
  Schema schema({Attribute{"smile", AttributeKind::binary, {}, 0, {}},
                 Attribute{"age", AttributeKind::continuous, {}, 0, {}}});
  auto gen = make_generator(static_cast<uint64_t>(v));
  Labels labels{torch::stack({(torch::rand({50}, gen, torch::kFloat64) < 0.5).to(torch::kFloat64),
                              20 + 40 * torch::rand({50}, gen, torch::kFloat64)},
                             1),
                torch::ones({50, 2}, torch::kBool)};
  schema.fit(labels);
  auto stats = LabelStats::count(schema, labels);
  // About 1.4 MB of weights: large enough that writing it takes many write calls.
  auto flow = make_flow(FlowKind::affine,
                        FlowOptions(dim).couplings(4).conditioner(ConditionerOptions().hidden(256).layers(2)));
  Standardize standardize(torch::randn({dim}, gen), torch::rand({dim}, gen) + 0.5);
  return Plugin(LatentLayout{dim, 0, LatentMode::shared}, standardize, FlowKind::affine, flow,
                TargetPrior(schema, dim, PriorOptions()), stats);
}

Contents make_contents() {
  Contents c;
  for (int v = 0; v < variants; ++v) {
    auto gen = plugen::make_generator(static_cast<uint64_t>(1000 + v));
    c.plugins.push_back(make_plugin(v));
    c.latents.push_back(torch::randn({4000, 64}, gen));  // 1 MB
    c.images.push_back(torch::rand({3, 3, 96, 96}, gen));
    c.weights.push_back(torch::randn({256, 256}, gen));
    plugen::CsvTable table;
    table.columns = {"smile", "class", "age"};
    for (int i = 0; i < 3000; ++i)
      table.rows.push_back({std::to_string((i + v) % 2), i % 3 == v ? "coat" : "shoe", std::to_string(20 + i % 40)});
    c.tables.push_back(std::move(table));
    plugen::EpochStats e;
    e.epoch = v;
    e.train_nll = 1.5 - 0.1 * v;
    e.sigma = 0.4;
    e.lr = 1e-3;
    c.epochs.push_back(e);
  }
  return c;
}

/// The file names one iteration writes, relative to the trial folder.
const std::vector<std::string>& final_names() {
  static const std::vector<std::string> names = {
      "plugin.safetensors", "checkpoint.safetensors", "latents.npy",           "labels.csv",        "log.jsonl",
      "manifest.json",      "grid.png",               "images/image_000000.png", "images/image_000001.png",
      "images/image_000002.png"};
  return names;
}

std::string manifest(int v) {
  nlohmann::json j{{"variant", v}, {"files", final_names()}};
  return j.dump(2) + "\n";
}

/// Writes content `v` into `dir` with plugen's writers.
void write_all(const fs::path& dir, const Contents& c, int v) {
  plugen::save_plugin(dir / "plugin.safetensors", c.plugins[v]);
  {
    // The training checkpoint callback, as the trainer calls it.
    torch::nn::Linear module(256, 256);
    {
      torch::NoGradGuard g;
      module->weight.copy_(c.weights[v]);
      module->bias.fill_(static_cast<double>(v));
    }
    plugen::TrainOptions options;
    plugen::TrainReport report;
    plugen::TrainState state{options, report, c.epochs[v].epoch, 1, 0, module.get()};
    plugen::Checkpoint(dir / "checkpoint.safetensors").on_epoch_end(state, c.epochs[v]);
  }
  plugen::write_npy(dir / "latents.npy", c.latents[v]);
  plugen::write_csv(dir / "labels.csv", c.tables[v]);
  {
    plugen::JsonLog log(dir / "log.jsonl");
    plugen::TrainOptions options;
    plugen::TrainReport report;
    plugen::TrainState state{options, report, c.epochs[v].epoch, 1, 0, nullptr};
    for (int k = 0; k <= v; ++k) log.on_epoch_end(state, c.epochs[static_cast<size_t>(k)]);
  }
  plugen::write_file_atomic(dir / "manifest.json", manifest(v));
  plugen::write_grid((dir / "grid.png").string(), c.images[v]);
  plugen::write_pngs((dir / "images").string(), c.images[v]);
}

/// The child: builds the contents, reports readiness through `fd` and then one byte per completed iteration,
/// writing until it is killed.
[[noreturn]] void writer(const fs::path& dir, int fd, int first_variant) {
  torch::set_num_threads(1);
  const auto contents = make_contents();
  char byte = 'r';
  if (::write(fd, &byte, 1) != 1) _exit(3);
  for (int k = 0;; ++k) {
    write_all(dir, contents, (first_variant + k) % variants);
    byte = 'i';
    if (::write(fd, &byte, 1) != 1) _exit(3);
  }
}

/// True when `bytes` is a PNG whose chunks are all present with matching CRCs, ending with IEND.
bool complete_png(const std::string& bytes) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  auto be32 = [&](size_t at) {
    return (uint32_t(uint8_t(bytes[at])) << 24) | (uint32_t(uint8_t(bytes[at + 1])) << 16) |
           (uint32_t(uint8_t(bytes[at + 2])) << 8) | uint32_t(uint8_t(bytes[at + 3]));
  };
  if (bytes.size() < 8 || bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return false;
  size_t at = 8;
  while (at + 12 <= bytes.size()) {
    const uint64_t len = be32(at);
    if (at + 12 + len > bytes.size()) return false;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = at + 4; i < at + 8 + len; ++i) crc = table[(crc ^ uint8_t(bytes[i])) & 0xFF] ^ (crc >> 8);
    if ((crc ^ 0xFFFFFFFFu) != be32(at + 8 + len)) return false;
    const bool end = bytes.compare(at + 4, 4, "IEND") == 0;
    at += 12 + len;
    if (end) return at == bytes.size();
  }
  return false;
}

/// Loads `file` with the reader for its kind; throws on any problem.
void read_back(const fs::path& file) {
  const auto name = file.filename().string();
  const auto ext = file.extension().string();
  if (name == "plugin.safetensors") {
    plugen::load_plugin(file);
  } else if (ext == ".safetensors") {
    plugen::read_safetensors(file);
  } else if (ext == ".npy") {
    plugen::read_npy(file);
  } else if (ext == ".csv") {
    plugen::read_csv(file);
  } else if (ext == ".jsonl") {
    const auto text = plugen::read_file(file);
    size_t begin = 0;
    while (begin < text.size()) {
      const auto end = text.find('\n', begin);
      if (end == std::string::npos) throw std::runtime_error("the last line has no line end");
      if (!nlohmann::json::accept(text.substr(begin, end - begin))) throw std::runtime_error("a line is not JSON");
      begin = end + 1;
    }
  } else if (ext == ".json") {
    if (!nlohmann::json::accept(plugen::read_file(file))) throw std::runtime_error("not JSON");
  } else if (ext == ".png") {
    if (!complete_png(plugen::read_file(file))) throw std::runtime_error("not a complete PNG");
  } else {
    throw std::runtime_error("unexpected file");
  }
}

bool is_temporary(const fs::path& file) {
  const auto name = file.filename().string();
  return name.size() > 1 && name[0] == '.' && name.find(".tmp.") != std::string::npos;
}

struct Trial {
  fs::path dir;
  int delay_ms = 0;
  int iterations = 0;  // iterations the child completed before the kill
};

struct Tally {
  int trials = 0, failures = 0, files = 0, temporaries = 0, killed_in_first = 0;
};

void check_trial(const Trial& t, const std::map<std::string, std::vector<std::string>>& reference, Tally& tally) {
  auto fail = [&](const fs::path& file, const std::string& why) {
    std::fprintf(stderr, "FAIL %s (killed after %d ms, %d complete iterations): %s\n", file.string().c_str(),
                 t.delay_ms, t.iterations, why.c_str());
    ++tally.failures;
  };
  for (const auto& entry : fs::recursive_directory_iterator(t.dir)) {
    if (entry.is_directory()) continue;
    const auto rel = fs::relative(entry.path(), t.dir).generic_string();
    if (is_temporary(entry.path())) {
      ++tally.temporaries;
      continue;
    }
    ++tally.files;
    auto ref = reference.find(rel);
    if (ref == reference.end()) {
      fail(entry.path(), "a file the writer never writes under this name");
      continue;
    }
    const auto bytes = plugen::read_file(entry.path());
    bool known = false;
    for (const auto& r : ref->second) known = known || bytes == r;
    if (!known) fail(entry.path(), fmt::format("{} bytes that match none of the complete versions", bytes.size()));
    try {
      read_back(entry.path());
    } catch (const std::exception& e) {
      fail(entry.path(), std::string("does not load: ") + e.what());
    }
  }
  // Every iteration the child completed left every file in place.
  if (t.iterations > 0)
    for (const auto& name : final_names())
      if (!fs::exists(t.dir / name)) fail(t.dir / name, "missing after a completed iteration");
}

int arg_int(int argc, char** argv, const std::string& flag, int fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == flag) return std::atoi(argv[i + 1]);
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const int trials = arg_int(argc, argv, "--trials", 60);
  const int max_delay_ms = arg_int(argc, argv, "--max-delay-ms", 400);
  const int seed = arg_int(argc, argv, "--seed", static_cast<int>(std::random_device{}() & 0x7fffffff));
  // The trials go in a new folder crash_safety.<pid> under --dir, $PLUGEN_TEST_TMP or the system's temporary
  // folder; it is removed when every trial passes and kept for inspection otherwise.
  const char* env_tmp = std::getenv("PLUGEN_TEST_TMP");
  fs::path parent = env_tmp ? fs::path(env_tmp) : fs::temp_directory_path();
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--dir") parent = argv[i + 1];
  const fs::path root = parent / fmt::format("crash_safety.{}", ::getpid());
  fs::create_directories(root);
  std::printf("crash safety: %d trials, kill after 0..%d ms, seed %d, in %s\n", trials, max_delay_ms, seed,
              root.string().c_str());
  std::fflush(stdout);

  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::vector<Trial> done;
  for (int k = 0; k < trials; ++k) {
    Trial t;
    t.dir = root / fmt::format("trial_{:03d}", k);
    fs::create_directories(t.dir);
    t.delay_ms = std::uniform_int_distribution<int>(0, max_delay_ms)(rng);
    int fds[2];
    if (::pipe(fds) != 0) {
      std::perror("pipe");
      return 2;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("fork");
      return 2;
    }
    if (pid == 0) {
      ::close(fds[0]);
      writer(t.dir, fds[1], k % variants);
    }
    ::close(fds[1]);
    char byte = 0;
    if (::read(fds[0], &byte, 1) != 1 || byte != 'r') {
      std::fprintf(stderr, "trial %d: the writer died before it was ready\n", k);
      return 2;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(t.delay_ms));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    while (::read(fds[0], &byte, 1) == 1) ++t.iterations;
    ::close(fds[0]);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
      std::fprintf(stderr, "trial %d: the writer exited on its own (status %d) before the kill\n", k, status);
      return 2;
    }
    done.push_back(t);
  }

  // The complete versions, written without interruption.
  torch::set_num_threads(1);
  const auto contents = make_contents();
  std::map<std::string, std::vector<std::string>> reference;
  for (int v = 0; v < variants; ++v) {
    const auto dir = root / fmt::format("reference_{}", v);
    fs::create_directories(dir);
    write_all(dir, contents, v);
    for (const auto& name : final_names()) {
      read_back(dir / name);
      reference[name].push_back(plugen::read_file(dir / name));
    }
  }

  Tally tally;
  for (const auto& t : done) {
    ++tally.trials;
    if (t.iterations == 0) ++tally.killed_in_first;
    check_trial(t, reference, tally);
  }
  std::printf(
      "crash safety: %d trials (%d killed during the first iteration), %d files checked, %d temporary files of "
      "interrupted writes, %d failures\n",
      tally.trials, tally.killed_in_first, tally.files, tally.temporaries, tally.failures);
  if (tally.failures == 0) fs::remove_all(root);
  return tally.failures == 0 ? 0 : 1;
}
