// Tests of plugen/core: the error hierarchy, PLUGEN_CHECK, tensor checks, seeding, threads, version.
#include "plugen/core.hpp"
#include "support.hpp"

using namespace plugen;

TEST_CASE("errors carry their kind and derive from plugen::Error", "[core]") {
  CHECK(ConfigError("x").kind() == ErrorKind::config);
  CHECK(ShapeError("x").kind() == ErrorKind::shape);
  CHECK(IoError("x").kind() == ErrorKind::io);
  CHECK(BackboneError("x").kind() == ErrorKind::backbone);
  CHECK(NumericError("x").kind() == ErrorKind::numeric);
  CHECK(std::string(to_string(ErrorKind::io)) == "io");
  try {
    throw IoError("file 'a.npy': truncated");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::io);
    CHECK(std::string(e.what()) == "file 'a.npy': truncated");
  }
}

TEST_CASE("PLUGEN_CHECK throws the requested kind with a formatted message", "[core]") {
  auto msg = plugen_test::error_message<ShapeError>(
      [] { PLUGEN_CHECK(1 + 1 == 3, ShapeError, "who: expected {}, found {}", 3, 2); });
  CHECK(msg == "who: expected 3, found 2");
  CHECK_NOTHROW([] { PLUGEN_CHECK(true, ConfigError, "never"); }());
}

TEST_CASE("check_batch names the expected and the actual shape and dtype", "[core]") {
  auto x = torch::zeros({3, 5});
  CHECK_NOTHROW(check_batch(x, 5, torch::kFloat32, "f"));
  auto msg = plugen_test::error_message<ShapeError>([&] { check_batch(x, 4, torch::kFloat32, "f"); });
  CHECK_THAT(msg, Catch::Contains("(batch, 4)") && Catch::Contains("(3, 5)") && Catch::Contains("f:"));
  msg = plugen_test::error_message<ShapeError>([&] { check_batch(x, 5, torch::kFloat64, "g"); });
  CHECK_THAT(msg, Catch::Contains("float64") && Catch::Contains("float32"));
  msg = plugen_test::error_message<ShapeError>([&] { check_batch(torch::zeros({5}), 5, torch::kFloat32, "h"); });
  CHECK_THAT(msg, Catch::Contains("(5,)"));
}

TEST_CASE("check_finite names the first row with NaN or inf", "[core]") {
  auto x = torch::zeros({4, 3});
  CHECK_NOTHROW(check_finite(x, "latents"));
  x[2][1] = std::numeric_limits<float>::quiet_NaN();
  x[3][0] = std::numeric_limits<float>::infinity();
  auto msg = plugen_test::error_message<NumericError>([&] { check_finite(x, "latents"); });
  CHECK_THAT(msg, Catch::Contains("row 2") && Catch::Contains("2 rows"));
}

TEST_CASE("derive_seed is a deterministic function of (seed, index) that separates neighbours", "[core]") {
  CHECK(derive_seed(1, 2) == derive_seed(1, 2));
  CHECK(derive_seed(1, 2) != derive_seed(1, 3));
  CHECK(derive_seed(1, 2) != derive_seed(2, 2));
  CHECK(derive_seed(0, 1) != derive_seed(1, 0));
  // Fixed value: the counter-based streams must not change between versions (generated data depends on them).
  CHECK(mix64(0) == 0xE220A8397B1DCDAFULL);
  auto a = torch::randn({4}, make_generator(7));
  auto b = torch::randn({4}, make_generator(7));
  CHECK(torch::equal(a, b));
}

TEST_CASE("set_num_threads honours an explicit count and defaults to the hardware", "[core]") {
  const int before = num_threads();
  CHECK(set_num_threads(1) == 1);
  CHECK(set_num_threads(0) >= 1);
  set_num_threads(before);
  CHECK(num_threads() == before);
}

TEST_CASE("parse_device accepts cpu and rejects nonsense as a config error", "[core]") {
  CHECK(parse_device("cpu").is_cpu());
  CHECK_THROWS_AS(parse_device("toaster"), ConfigError);
}

TEST_CASE("version macros and constants agree", "[core]") {
  CHECK(version_number == PLUGEN_VERSION_MAJOR * 10000 + PLUGEN_VERSION_MINOR * 100 + PLUGEN_VERSION_PATCH);
  CHECK(std::string(version_string) == std::to_string(PLUGEN_VERSION_MAJOR) + "." +
                                           std::to_string(PLUGEN_VERSION_MINOR) + "." +
                                           std::to_string(PLUGEN_VERSION_PATCH));
}

TEST_CASE("sha256 matches the FIPS 180-4 test vectors", "[core]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
