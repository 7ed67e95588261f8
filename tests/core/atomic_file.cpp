// Tests of plugen/core/atomic_file.hpp: atomic replacement, cleanup of temporaries on every failure,
// concurrent writers, and read_file's checks.
#include <stdexcept>
#include <thread>

#include "plugen/core.hpp"
#include "support.hpp"

using namespace plugen;

namespace {

std::string atomic_test_pattern(size_t n, unsigned seed) {
  std::string s(n, '\0');
  uint64_t x = seed;
  for (auto& c : s) {
    x = mix64(x);
    c = static_cast<char>(x & 0xFF);
  }
  return s;
}

}  // namespace

TEST_CASE("write_file_atomic writes, replaces, and leaves no temporary behind", "[atomic_file]") {
  plugen_test::TempDir dir("atomic");
  const auto path = dir / "out.bin";
  write_file_atomic(path, std::string_view("first"));
  CHECK(read_file(path) == "first");
  write_file_atomic(path, std::string_view("second, longer"));
  CHECK(read_file(path) == "second, longer");
  write_file_atomic(path, std::string_view(""));
  CHECK(read_file(path).empty());
  CHECK(dir.entries() == std::vector<std::string>{"out.bin"});
}

TEST_CASE("write_file_atomic's stream overload handles small and large writes", "[atomic_file]") {
  plugen_test::TempDir dir("atomic_stream");
  const auto path = dir / "mixed.bin";
  // Small writes go through the buffer, blocks larger than it bypass it: the order must survive both.
  const std::string big = atomic_test_pattern(300000, 1);
  const std::string small = atomic_test_pattern(1000, 2);
  write_file_atomic(path, [&](std::ostream& out) {
    out << "header\n";
    out.write(small.data(), static_cast<std::streamsize>(small.size()));
    out.write(big.data(), static_cast<std::streamsize>(big.size()));
    out.put('!');
    out.write(small.data(), static_cast<std::streamsize>(small.size()));
  });
  CHECK(read_file(path) == "header\n" + small + big + "!" + small);
  CHECK(dir.entries().size() == 1);
}

TEST_CASE("write_file_atomic keeps the old file and removes the temporary when the writer fails", "[atomic_file]") {
  plugen_test::TempDir dir("atomic_fail");
  const auto path = dir / "keep.txt";
  write_file_atomic(path, std::string_view("old content"));

  auto msg = plugen_test::error_message<IoError>([&] {
    write_file_atomic(path, [](std::ostream& out) {
      out << std::string(200000, 'x');  // already on disk in the temporary when the error comes
      throw std::runtime_error("disk on fire");
    });
  });
  CHECK_THAT(msg, Catch::Contains("keep.txt") && Catch::Contains("disk on fire"));
  CHECK(read_file(path) == "old content");
  CHECK(dir.entries() == std::vector<std::string>{"keep.txt"});

  // A plugen error from the writer keeps its kind.
  CHECK_THROWS_AS(write_file_atomic(path, [](std::ostream&) { throw ShapeError("bad tensor"); }), ShapeError);
  CHECK(read_file(path) == "old content");
  CHECK(dir.entries() == std::vector<std::string>{"keep.txt"});
}

TEST_CASE("write_file_atomic names the file when it cannot write", "[atomic_file]") {
  plugen_test::TempDir dir("atomic_errors");
  auto msg = plugen_test::error_message<IoError>(
      [&] { write_file_atomic(dir / "no_such_dir" / "f.txt", std::string_view("x")); });
  CHECK_THAT(msg, Catch::Contains("no_such_dir/f.txt") && Catch::Contains("No such file"));
  CHECK_FALSE(std::filesystem::exists(dir / "no_such_dir"));

  std::filesystem::create_directory(dir / "sub");
  msg = plugen_test::error_message<IoError>([&] { write_file_atomic(dir / "sub", std::string_view("x")); });
  CHECK_THAT(msg, Catch::Contains("sub") && Catch::Contains("directory"));
  CHECK_THROWS_AS(write_file_atomic("", std::string_view("x")), IoError);
}

TEST_CASE("write_file_atomic gives concurrent writers whole files, never a mix", "[atomic_file]") {
  plugen_test::TempDir dir("atomic_threads");
  const auto path = dir / "shared.bin";
  constexpr int threads = 4, rounds = 15;
  std::vector<std::string> contents;
  for (int t = 0; t < threads; ++t) contents.push_back(atomic_test_pattern(100000 + 1000 * t, 10 + t));
  std::vector<std::thread> workers;
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int r = 0; r < rounds; ++r) {
        try {
          write_file_atomic(path, contents[static_cast<size_t>(t)]);
          const std::string seen = read_file(path);
          if (std::find(contents.begin(), contents.end(), seen) == contents.end()) ++failures;
        } catch (...) {
          ++failures;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  CHECK(failures == 0);
  CHECK(dir.entries() == std::vector<std::string>{"shared.bin"});
}

TEST_CASE("read_file rejects missing, non-regular and oversized files", "[atomic_file]") {
  plugen_test::TempDir dir("read_file");
  auto msg = plugen_test::error_message<IoError>([&] { read_file(dir / "missing.bin"); });
  CHECK_THAT(msg, Catch::Contains("missing.bin") && Catch::Contains("no such file"));
  msg = plugen_test::error_message<IoError>([&] { read_file(dir.path()); });
  CHECK_THAT(msg, Catch::Contains("directory"));
  msg = plugen_test::error_message<IoError>([&] { read_file("/dev/null"); });
  CHECK_THAT(msg, Catch::Contains("/dev/null") && Catch::Contains("not a regular file"));

  plugen_test::write_bytes(dir / "ten.bin", "0123456789");
  CHECK(read_file(dir / "ten.bin", 10) == "0123456789");
  msg = plugen_test::error_message<IoError>([&] { read_file(dir / "ten.bin", 9); });
  CHECK_THAT(msg, Catch::Contains("ten.bin") && Catch::Contains("10 bytes") && Catch::Contains("limit of 9"));
}
