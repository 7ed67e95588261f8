// Tests of plugen/data/npy.hpp: round trips over dtypes and ranks, the exact header plugen writes, Fortran
// order and format versions 1-3, every rejection, and interoperability with Debian's numpy.
#include <random>

#include "plugen/data.hpp"
#include "support.hpp"

using namespace plugen;

namespace {

// A .npy file from its parts: version, header dict text (padded with spaces and '\n'), raw data.
std::string npy_test_file(const std::string& dict, const std::string& data, int major = 1) {
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  const std::string header = dict + "    \n";
  const size_t n = header.size();
  const int bytes = major == 1 ? 2 : 4;
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + header + data;
}

std::string npy_test_raw(const torch::Tensor& t) {
  auto c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.numel() * c.element_size()));
}

torch::Tensor npy_test_random(const std::vector<int64_t>& shape, torch::Dtype dtype, std::mt19937& rng) {
  const auto seed = static_cast<uint64_t>(rng());
  auto g = make_generator(seed);
  if (dtype == torch::kBool) return torch::randint(0, 2, shape, g, torch::kInt64).to(torch::kBool);
  if (dtype == torch::kUInt8) return torch::randint(0, 256, shape, g, torch::kInt64).to(dtype);
  if (dtype == torch::kInt8) return torch::randint(-128, 128, shape, g, torch::kInt64).to(dtype);
  if (dtype == torch::kInt16 || dtype == torch::kInt32 || dtype == torch::kInt64) {
    return torch::randint(-30000, 30000, shape, g, torch::kInt64).to(dtype);
  }
  return torch::randn(shape, g, torch::TensorOptions().dtype(torch::kFloat64)).mul(100).to(dtype);
}

void npy_test_check_reject(const std::filesystem::path& path, const std::string& bytes, const std::string& expect) {
  plugen_test::write_bytes(path, bytes);
  const auto msg = plugen_test::error_message<IoError>([&] { read_npy(path); });
  INFO(msg);
  CHECK_THAT(msg, Catch::Contains(path.filename().string()) && Catch::Contains(expect));
}

}  // namespace

TEST_CASE("write_npy/read_npy round trip every dtype at ranks 0-3, empty arrays included", "[npy]") {
  plugen_test::TempDir dir("npy_roundtrip");
  std::mt19937 rng(7);
  const std::vector<torch::Dtype> dtypes = {torch::kFloat32, torch::kFloat64, torch::kFloat16,
                                            torch::kInt64,   torch::kInt32,   torch::kInt16,
                                            torch::kInt8,    torch::kUInt8,   torch::kBool};
  const std::vector<std::vector<int64_t>> shapes = {{}, {1}, {7}, {3, 5}, {4, 1}, {2, 3, 4}, {0}, {3, 0}, {0, 4, 2}};
  for (auto dtype : dtypes) {
    for (const auto& shape : shapes) {
      INFO(dtype_string(dtype) << " " << plugen::detail::npy_shape_tuple(shape));
      const auto x = npy_test_random(shape, dtype, rng);
      const auto path = dir / "x.npy";
      write_npy(path, x);
      const auto y = read_npy(path);
      CHECK(y.scalar_type() == dtype);
      CHECK(y.sizes() == x.sizes());
      CHECK(y.is_contiguous());
      CHECK(torch::equal(y, x));
      // The data starts at a multiple of 64 bytes, as numpy aligns it.
      const std::string bytes = read_file(path);
      const size_t header_len = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
      CHECK((10 + header_len) % 64 == 0);
      CHECK(bytes.size() == 10 + header_len + static_cast<size_t>(x.numel() * x.element_size()));
    }
  }
  CHECK(dir.entries() == std::vector<std::string>{"x.npy"});
}

TEST_CASE("write_npy writes numpy's version 1.0 header byte for byte", "[npy]") {
  plugen_test::TempDir dir("npy_header");
  const auto path = dir / "h.npy";
  write_npy(path, torch::zeros({2, 3}, torch::kFloat32));
  const std::string bytes = read_file(path);
  REQUIRE(bytes.size() == 128 + 24);
  CHECK(bytes.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
  CHECK(bytes.substr(8, 2) == std::string("\x76\x00", 2));  // 118 = 128 - 10
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  CHECK(bytes.substr(10, dict.size()) == dict);
  CHECK(bytes[127] == '\n');
  CHECK(bytes.substr(10 + dict.size(), 117 - dict.size()) == std::string(117 - dict.size(), ' '));

  write_npy(path, torch::zeros({5}, torch::kInt64));
  CHECK_THAT(read_file(path), Catch::Contains("{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }"));
  write_npy(path, torch::zeros({}, torch::kBool));
  CHECK_THAT(read_file(path), Catch::Contains("{'descr': '|b1', 'fortran_order': False, 'shape': (), }"));
}

TEST_CASE("write_npy writes the logical values of non-contiguous tensors in C order", "[npy]") {
  plugen_test::TempDir dir("npy_strided");
  const auto base = torch::arange(24, torch::kFloat64).reshape({4, 6});
  const auto views = {base.t(), base.slice(1, 0, 6, 2), base.reshape({2, 3, 4}).permute({2, 0, 1})};
  for (const auto& v : views) {
    write_npy(dir / "v.npy", v);
    CHECK(torch::equal(read_npy(dir / "v.npy"), v));
  }
  CHECK_THROWS_AS(write_npy(dir / "u.npy", torch::Tensor()), ShapeError);
  const auto msg = plugen_test::error_message<ShapeError>(
      [&] { write_npy(dir / "c.npy", torch::zeros({2}, torch::kComplexFloat)); });
  CHECK_THAT(msg, Catch::Contains("c.npy") && Catch::Contains("float32"));
  CHECK_FALSE(std::filesystem::exists(dir / "c.npy"));
}

TEST_CASE("read_npy reads Fortran order and format versions 1.0, 2.0 and 3.0", "[npy]") {
  plugen_test::TempDir dir("npy_versions");
  const auto expected = torch::arange(24, torch::kFloat32).reshape({2, 3, 4});
  // Fortran order stores the transpose in C order.
  const std::string fortran_data = npy_test_raw(expected.permute({2, 1, 0}).contiguous());
  const std::string c_data = npy_test_raw(expected);
  const auto path = dir / "v.npy";
  for (int major : {1, 2, 3}) {
    INFO("version " << major);
    plugen_test::write_bytes(
        path, npy_test_file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4), }", fortran_data, major));
    auto y = read_npy(path);
    CHECK(y.is_contiguous());
    CHECK(torch::equal(y, expected));
    // Double quotes, no trailing comma, no spaces, Python 2 long suffixes and '=' byte order are all valid.
    plugen_test::write_bytes(
        path, npy_test_file("{\"shape\":(2L,3L,4L),\"fortran_order\":False,\"descr\":\"=f4\"}", c_data, major));
    CHECK(torch::equal(read_npy(path), expected));
  }
  const auto matrix = torch::arange(6, torch::kFloat64).reshape({2, 3});
  plugen_test::write_bytes(path, npy_test_file("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
                                               npy_test_raw(matrix.t().contiguous())));
  CHECK(torch::equal(read_npy(path), matrix));
  plugen_test::write_bytes(path, npy_test_file("{'descr': '<f8', 'fortran_order': True, 'shape': (6,), }",
                                               npy_test_raw(matrix.reshape({6}))));
  CHECK(torch::equal(read_npy(path), matrix.reshape({6})));
  // Any nonzero byte of a bool array is true (torch bools must be 0 or 1).
  plugen_test::write_bytes(
      path, npy_test_file("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", std::string("\x00\x02\x01", 3)));
  const auto b = read_npy(path);
  CHECK(b.scalar_type() == torch::kBool);
  CHECK(torch::equal(b, torch::tensor({false, true, true})));
}

TEST_CASE("read_npy rejects broken preambles and headers with an IoError naming the file", "[npy]") {
  plugen_test::TempDir dir("npy_reject_header");
  const auto path = dir / "broken.npy";
  const std::string f4x3 = std::string(12, '\0');
  const std::string good_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";

  CHECK_THAT(plugen_test::error_message<IoError>([&] { read_npy(dir / "absent.npy"); }),
             Catch::Contains("absent.npy") && Catch::Contains("no such file"));
  CHECK_THAT(plugen_test::error_message<IoError>([&] { read_npy(dir.path()); }), Catch::Contains("directory"));
  npy_test_check_reject(path, "", "fewer than the 10");
  npy_test_check_reject(path, "\x93NUMP", "fewer than the 10");
  npy_test_check_reject(path, "PK\x03\x04 this is a zip file", "magic string");
  npy_test_check_reject(path, npy_test_file(good_dict, f4x3, 4), "version 4.0");
  {
    std::string bytes = npy_test_file(good_dict, f4x3);
    bytes[7] = 1;  // version 1.1
    npy_test_check_reject(path, bytes, "version 1.1");
  }
  // Truncated: the header length says more than the file holds.
  npy_test_check_reject(path, npy_test_file(good_dict, "").substr(0, 40), "truncated");
  // Absurd header lengths: beyond 1 MiB (even if the file were that long) and beyond the file.
  npy_test_check_reject(path, std::string("\x93NUMPY\x02\x00\x00\x00\x20\x00", 12) + good_dict, "more than the");
  npy_test_check_reject(path, std::string("\x93NUMPY\x01\x00\xff\xff", 10) + good_dict, "truncated");

  const std::vector<std::pair<std::string, std::string>> bad_dicts = {
      {"['descr', '<f4']", "expected '{'"},
      {"{'descr': '<f4', 'fortran_order': False}", "missing key"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1}", "unexpected key 'extra'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", "appears twice"},
      {"{'descr' '<f4', 'fortran_order': False, 'shape': (3,)}", "expected ':'"},
      {"{'descr': '<f4', 'fortran_order': false, 'shape': (3,)}", "True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [3]}", "tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}", "negative dimension"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (3.0,)}", "expected ',' or ')'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "overflows"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} junk", "after the header dict"},
      {"{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (3,)}", "structured"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (3,)}", "expected ',' or '}'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,", "non-negative integer"},
      {"{'descr': '\\x3cf4', 'fortran_order': False, 'shape': (3,)}", "escape"},
      {"{'descr", "unterminated string"},
      {"", "expected '{'"},
  };
  for (const auto& [dict, expect] : bad_dicts) {
    INFO(dict);
    npy_test_check_reject(path, npy_test_file(dict, f4x3), expect);
  }
}

TEST_CASE("read_npy rejects unsupported dtypes and sizes that disagree with the file", "[npy]") {
  plugen_test::TempDir dir("npy_reject_data");
  const auto path = dir / "data.npy";
  auto dict = [](const std::string& descr, const std::string& shape) {
    return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  };
  for (const char* descr : {">f4", ">i8"}) {
    INFO(descr);
    npy_test_check_reject(path, npy_test_file(dict(descr, "(3,)"), std::string(24, '\0')), "big-endian");
    npy_test_check_reject(path, npy_test_file(dict(descr, "(3,)"), std::string(24, '\0')), "<f4, <f8");
  }
  for (const char* descr : {"<c8", "<U3", "|O", "<u4", "<M8[ns]", "f4", ""}) {
    INFO(descr);
    const auto msg = [&] {
      plugen_test::write_bytes(path, npy_test_file(dict(descr, "(3,)"), std::string(24, '\0')));
      return plugen_test::error_message<IoError>([&] { read_npy(path); });
    }();
    CHECK_THAT(msg, Catch::Contains("data.npy") && Catch::Contains(std::string("'") + descr + "'") &&
                        Catch::Contains("supported dtypes are <f4, <f8"));
  }
  npy_test_check_reject(path, npy_test_file(dict("<f8", "(2, 3)"), std::string(47, '\0')),
                        "47 bytes of data, but shape (2, 3) of <f8 needs 48 bytes (the file is truncated)");
  npy_test_check_reject(path, npy_test_file(dict("<f8", "(2, 3)"), std::string(49, '\0')), "trailing bytes");
  npy_test_check_reject(path, npy_test_file(dict("<f4", "(0, 3)"), std::string(1, '\0')), "trailing bytes");
  // Huge shapes must fail on the size check, before anything is allocated.
  npy_test_check_reject(path, npy_test_file(dict("<f4", "(1073741824, 1073741824)"), std::string(8, '\0')),
                        "needs 4611686018427387904 bytes");
  npy_test_check_reject(path, npy_test_file(dict("<f8", "(4294967296, 4294967296)"), std::string(8, '\0')),
                        "overflows 64 bits");
  npy_test_check_reject(path, npy_test_file(dict("<f8", "(0, 4294967296, 4294967296)"), ""), "overflows 64 bits");
}

TEST_CASE("read_npy reads what Debian's numpy writes, and numpy reads what write_npy writes", "[npy][python]") {
  if (!plugen_test::have_python("numpy")) {
    WARN("skipped: /usr/bin/python3 with numpy is not available");
    return;
  }
  plugen_test::TempDir dir("npy_numpy");
  // numpy writes arange(n) in the given dtype and shape, in C and Fortran order and format versions 1-3.
  const std::string writer = R"(
import sys, numpy as np
d = sys.argv[1]
def arr(dtype, shape):
    n = int(np.prod(shape))
    if dtype == '|b1':
        return (np.arange(n) % 3 == 0).reshape(shape)
    return (np.arange(n) * (0.5 if dtype[1] == 'f' else 1)).astype(dtype).reshape(shape)
for dtype in ['<f4', '<f8', '<i8', '<i4', '|u1', '|b1']:
    for shape in [(5,), (3, 4), (2, 3, 4), (0, 3), ()]:
        a = arr(dtype, shape)
        tag = dtype[1:] + '_' + 'x'.join(map(str, shape))
        f = np.array(a, order='F')  # not asfortranarray: it turns 0-d arrays into 1-d ones
        assert a.ndim < 2 or a.size == 0 or f.flags.f_contiguous and not f.flags.c_contiguous
        np.save(d + '/c_' + tag + '.npy', a)
        np.save(d + '/f_' + tag + '.npy', f)
        for v in [(2, 0), (3, 0)]:
            with open(d + '/v%d_' % v[0] + tag + '.npy', 'wb') as out:
                np.lib.format.write_array(out, f, version=v)
)";
  REQUIRE(plugen_test::run_python(dir.path(), "writer.py", writer, {dir.path().string()}) == 0);
  const std::vector<std::pair<std::string, torch::Dtype>> dtypes = {{"f4", torch::kFloat32}, {"f8", torch::kFloat64},
                                                                    {"i8", torch::kInt64},   {"i4", torch::kInt32},
                                                                    {"u1", torch::kUInt8},   {"b1", torch::kBool}};
  const std::vector<std::vector<int64_t>> shapes = {{5}, {3, 4}, {2, 3, 4}, {0, 3}, {}};
  int files = 0;
  for (const auto& [code, dtype] : dtypes) {
    for (const auto& shape : shapes) {
      std::string tag = code + "_";
      for (size_t i = 0; i < shape.size(); ++i) tag += (i ? "x" : "") + std::to_string(shape[i]);
      int64_t n = 1;
      for (auto s : shape) n *= s;
      auto expected = torch::arange(n, torch::kFloat64).reshape(shape);
      if (code[0] == 'f') expected = expected * 0.5;
      expected = dtype == torch::kBool ? (torch::arange(n).reshape(shape).remainder(3) == 0) : expected.to(dtype);
      for (const char* prefix : {"c_", "f_", "v2_", "v3_"}) {
        INFO(prefix << tag);
        const auto y = read_npy(dir / (prefix + tag + ".npy"));
        CHECK(y.scalar_type() == dtype);
        CHECK(y.is_contiguous());
        CHECK(torch::equal(y, expected));
        ++files;
      }
    }
  }
  CHECK(files == 120);

  // The other way: numpy loads plugen's files with the right dtype, shape and values.
  const auto values = torch::arange(24, torch::kFloat64).reshape({2, 3, 4}) * 0.25;
  write_npy(dir / "p_f8.npy", values);
  write_npy(dir / "p_f4.npy", values.to(torch::kFloat32).permute({1, 0, 2}));
  write_npy(dir / "p_i8.npy", torch::arange(7));
  write_npy(dir / "p_b1.npy", torch::tensor({true, false, true}));
  write_npy(dir / "p_empty.npy", torch::zeros({0, 512}));
  write_npy(dir / "p_scalar.npy", torch::tensor(3.5, torch::kFloat64));
  const std::string reader = R"(
import sys, numpy as np
d = sys.argv[1]
v = np.arange(24, dtype='<f8').reshape(2, 3, 4) * 0.25
def check(name, dtype, expected):
    a = np.load(d + '/' + name)
    assert a.dtype == np.dtype(dtype), (name, a.dtype)
    assert a.shape == expected.shape, (name, a.shape)
    assert np.array_equal(a, expected), name
check('p_f8.npy', '<f8', v)
check('p_f4.npy', '<f4', v.astype('<f4').transpose(1, 0, 2))
check('p_i8.npy', '<i8', np.arange(7))
check('p_b1.npy', '|b1', np.array([True, False, True]))
check('p_empty.npy', '<f4', np.zeros((0, 512), '<f4'))
check('p_scalar.npy', '<f8', np.array(3.5))
)";
  CHECK(plugen_test::run_python(dir.path(), "reader.py", reader, {dir.path().string()}) == 0);
}
