// Crash safety of `plugen generate`: the CLI is killed with SIGKILL at several points of a job; rerunning it
// must end with exactly N valid files, no temporary file, and the manifest of an uninterrupted run, byte for
// byte. Skipped when the examples (the CLI) are not built.
#include <fcntl.h>

#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "generate/fixtures.hpp"
#include "support.hpp"

#ifdef PLUGEN_CLI_PATH

namespace {

namespace gt = plugen_generate_test;

// Runs `plugen generate SPEC --quiet --batch 4 --writers 2` as a child and kills it with SIGKILL once the
// job's part folder holds `parts` part files (or the child has ended). Returns true when it was killed.
bool gen_kill_cli_after(const std::filesystem::path& spec, const std::filesystem::path& parts_dir, int parts) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execl(PLUGEN_CLI_PATH, PLUGEN_CLI_PATH, "generate", spec.c_str(), "--quiet", "--batch", "4", "--writers", "2",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;
    int count = 0;
    std::error_code ec;
    if (std::filesystem::is_directory(parts_dir, ec))
      for (const auto& e : std::filesystem::directory_iterator(parts_dir, ec))
        count += e.path().filename().string().rfind("part-", 0) == 0;
    if (count >= parts) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

}  // namespace

TEST_CASE("plugen generate: kill -9 at several points, then resume: exactly the uninterrupted outputs",
          "[generate][resume][cli]") {
  plugen_test::TempDir ref("gen_kill_ref"), dir("gen_kill");
  const int64_t n = 120;
  plugen::generate(gt::spec_of(gt::base_spec(ref.path(), n, true)));
  const auto reference = gt::output_files(ref.path());
  const auto reference_manifest = gt::file_bytes(ref / "manifest.jsonl");
  const auto spec_path = dir / "job.json";
  plugen_test::write_bytes(spec_path, gt::base_spec(dir / "out", n, true).dump());
  int kills = 0;
  for (int parts : {1, 5, 12, 20}) {  // the job has 30 batches of 4
    kills += gen_kill_cli_after(spec_path, dir / "out" / "manifest.parts", parts);
    if (std::filesystem::exists(dir / "out" / "manifest.jsonl")) break;
  }
  INFO("kills: " << kills);
  CHECK(kills >= 2);
  const std::string cmd = std::string("'") + PLUGEN_CLI_PATH + "' generate '" + spec_path.string() + "' --quiet > /dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  const auto files = gt::output_files(dir / "out");
  CHECK(files.size() == static_cast<size_t>(n));
  CHECK(files == reference);
  CHECK(gt::file_bytes(dir / "out" / "manifest.jsonl") == reference_manifest);
  for (const auto& e : std::filesystem::directory_iterator(dir / "out"))
    CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
}

#endif  // PLUGEN_CLI_PATH
