// Catch2 runner for the plugen test suite: sets LibTorch's thread count once, then runs every test.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "plugen/core/threads.hpp"

int main(int argc, char* argv[]) {
  const int threads = plugen::set_num_threads();
  std::fprintf(stderr, "plugen tests: LibTorch intra-op threads = %d\n", threads);
  return Catch::Session().run(argc, argv);
}
