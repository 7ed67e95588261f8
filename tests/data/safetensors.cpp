// Tests of plugen/data/safetensors.hpp and its torch-free layer data/detail/safetensors_format.hpp: round
// trips over dtypes with metadata, the exact layout written, files built by Python's struct+json, and every
// rejection of a corrupt header.
#include <cstring>
#include <optional>

#include "plugen/data.hpp"
#include "support.hpp"

using namespace plugen;

namespace {

// A safetensors file from a header text and a data buffer; `length` overrides the length field.
std::string st_test_file(const std::string& header, const std::string& data,
                         std::optional<uint64_t> length = std::nullopt) {
  const uint64_t n = length.value_or(header.size());
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + header + data;
}

std::string st_test_reject(const plugen_test::TempDir& dir, const std::string& bytes) {
  const auto path = dir / "broken.safetensors";
  plugen_test::write_bytes(path, bytes);
  auto msg = plugen_test::error_message<IoError>([&] { read_safetensors(path); });
  CHECK_THAT(msg, Catch::Contains("broken.safetensors"));
  // The torch-free layer gives the same verdict on the same bytes.
  CHECK_THROWS_AS(plugen::detail::parse_safetensors(bytes, path.string()), IoError);
  return msg;
}

std::map<std::string, torch::Tensor> st_test_tensors() {
  plugen_test::Seeded seeded(99);
  return {
      {"flow.coupling.0.weight", torch::randn({3, 5})},
      {"flow.coupling.0.bias", torch::randn({5}, torch::kFloat64)},
      {"half", torch::randn({2, 2, 3}).to(torch::kFloat16)},
      {"brain", torch::randn({4}).to(torch::kBFloat16)},
      {"counts", torch::randint(-1000000, 1000000, {2, 3}, torch::kInt64)},
      {"i32", torch::randint(-100000, 100000, {7}, torch::kInt32)},
      {"i16", torch::randint(-3000, 3000, {3}, torch::kInt16)},
      {"i8", torch::randint(-128, 128, {3}, torch::kInt8)},
      {"bytes", torch::randint(0, 256, {9}, torch::kUInt8)},
      {"mask", torch::randint(0, 2, {2, 5}).to(torch::kBool)},
      {"scalar", torch::tensor(2.5)},
      {"empty", torch::zeros({0, 3})},
  };
}

}  // namespace

TEST_CASE("write_safetensors/read_safetensors round trip every dtype with metadata", "[safetensors]") {
  plugen_test::TempDir dir("st_roundtrip");
  const auto path = dir / "plugin.safetensors";
  const auto tensors = st_test_tensors();
  const std::map<std::string, std::string> metadata = {
      {"format", "plugen"}, {"schema", "{\"attributes\": [\"smile\"]}"}, {"empty", ""}, {"unicode", "σ₀ = 0.4"}};
  write_safetensors(path, tensors, metadata);
  const auto back = read_safetensors(path);
  CHECK(back.metadata == metadata);
  REQUIRE(back.tensors.size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    INFO(name);
    const auto& y = back.tensors.at(name);
    CHECK(y.scalar_type() == t.scalar_type());
    CHECK(y.sizes() == t.sizes());
    CHECK(y.is_contiguous());
    CHECK(torch::equal(y, t));
  }
  CHECK(dir.entries() == std::vector<std::string>{"plugin.safetensors"});

  // Without metadata and without tensors.
  write_safetensors(path, SafetensorsFile{});
  const auto nothing = read_safetensors(path);
  CHECK(nothing.tensors.empty());
  CHECK(nothing.metadata.empty());
  CHECK(read_file(path) == st_test_file("{}      ", ""));
}

TEST_CASE("parse_safetensors reads content from memory exactly as read_safetensors reads the file", "[safetensors]") {
  plugen_test::TempDir dir("st_parse");
  const auto path = dir / "t.safetensors";
  const auto tensors = st_test_tensors();
  write_safetensors(path, tensors, {{"k", "v"}});
  const auto bytes = read_file(path);
  const auto parsed = parse_safetensors(bytes, "in memory");
  CHECK(parsed.metadata == std::map<std::string, std::string>{{"k", "v"}});
  REQUIRE(parsed.tensors.size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    INFO(name);
    CHECK(parsed.tensors.at(name).scalar_type() == t.scalar_type());
    CHECK(torch::equal(parsed.tensors.at(name), t));
  }
  // The same checks, naming the given name instead of a path.
  CHECK_THAT(plugen_test::error_message<IoError>(
                 [&] { parse_safetensors(std::string_view(bytes).substr(0, bytes.size() - 1), "in memory"); }),
             Catch::Contains("'in memory'"));
  CHECK_THROWS_AS(parse_safetensors("", "empty"), IoError);
}

TEST_CASE("write_safetensors packs tensors in name order after a header padded to 8 bytes", "[safetensors]") {
  plugen_test::TempDir dir("st_layout");
  const auto path = dir / "layout.safetensors";
  const auto base = torch::arange(6, torch::kFloat32).reshape({2, 3});
  write_safetensors(path, {{"b", base.t()}, {"a", torch::tensor({7, 8}, torch::kInt64)}}, {{"k", "v"}});
  const std::string bytes = read_file(path);
  const auto layout = plugen::detail::parse_safetensors(bytes, path.string());
  CHECK(layout.data_offset % 8 == 0);
  REQUIRE(layout.entries.size() == 2);
  CHECK(layout.entries[0].name == "a");
  CHECK(layout.entries[0].dtype == "I64");
  CHECK(layout.entries[0].shape == std::vector<int64_t>{2});
  CHECK(layout.entries[0].begin == 0);
  CHECK(layout.entries[0].end == 16);
  CHECK(layout.entries[1].name == "b");
  CHECK(layout.entries[1].dtype == "F32");
  CHECK(layout.entries[1].shape == std::vector<int64_t>{3, 2});
  CHECK(layout.entries[1].begin == 16);
  CHECK(layout.entries[1].end == 40);
  CHECK(layout.metadata == std::map<std::string, std::string>{{"k", "v"}});
  CHECK(bytes.size() == layout.data_offset + 40);
  // The transposed view is stored in C order of its logical values.
  float stored[6];
  std::memcpy(stored, bytes.data() + layout.data_offset + 16, sizeof stored);
  CHECK(std::vector<float>(stored, stored + 6) == std::vector<float>{0, 3, 1, 4, 2, 5});
}

TEST_CASE("write_safetensors rejects tensors and names it cannot store, writing nothing", "[safetensors]") {
  plugen_test::TempDir dir("st_write_reject");
  const auto path = dir / "w.safetensors";
  CHECK_THAT(plugen_test::error_message<ShapeError>([&] {
               write_safetensors(path, {{"x", torch::Tensor()}});
             }),
             Catch::Contains("'x'") && Catch::Contains("undefined"));
  CHECK_THAT(plugen_test::error_message<ShapeError>([&] {
               write_safetensors(path, {{"c", torch::zeros({2}, torch::kComplexFloat)}});
             }),
             Catch::Contains("'c'") && Catch::Contains("w.safetensors") && Catch::Contains("float32"));
  CHECK_THROWS_AS(write_safetensors(path, {{"__metadata__", torch::zeros({1})}}), ConfigError);
  CHECK_THROWS_AS(write_safetensors(path, {{"", torch::zeros({1})}}), ConfigError);
  CHECK_THAT(plugen_test::error_message<ConfigError>([&] {
               write_safetensors(path, {{"x", torch::zeros({1})}}, {{"bad", "\xff\xfe"}});
             }),
             Catch::Contains("UTF-8") && Catch::Contains("w.safetensors"));
  CHECK(dir.entries().empty());
}

TEST_CASE("read_safetensors reads a file built with Python's struct and json", "[safetensors][python]") {
  if (!plugen_test::have_python("struct json")) {
    WARN("skipped: /usr/bin/python3 is not available");
    return;
  }
  plugen_test::TempDir dir("st_python");
  // Tensors stored out of name order, with a padded header and metadata, as the reference writer lays them out.
  const std::string script = R"(
import json, struct, sys
d = sys.argv[1]
w = struct.pack('<6f', *[0.5 * i for i in range(6)])
ids = struct.pack('<3q', -1, 0, 2**40)
mean = struct.pack('<2d', 3.25, -1e-300)
mask = bytes([1, 0, 1, 1])
header = {
    'w': {'dtype': 'F32', 'shape': [2, 3], 'data_offsets': [0, 24]},
    'ids': {'dtype': 'I64', 'shape': [3], 'data_offsets': [24, 48]},
    'mean': {'dtype': 'F64', 'shape': [1, 2], 'data_offsets': [48, 64]},
    'mask': {'dtype': 'BOOL', 'shape': [2, 2], 'data_offsets': [64, 68]},
    '__metadata__': {'format': 'pt', 'plugen': '0.1.0'},
}
text = json.dumps(header).encode('utf-8')
text += b' ' * ((8 - len(text) % 8) % 8)
with open(d + '/py.safetensors', 'wb') as f:
    f.write(struct.pack('<Q', len(text)) + text + w + ids + mean + mask)

# And the other direction: parse plugen's file with struct and json only.
with open(d + '/plugen.safetensors', 'rb') as f:
    raw = f.read()
n, = struct.unpack('<Q', raw[:8])
h = json.loads(raw[8:8 + n])
data = raw[8 + n:]
assert h['__metadata__'] == {'source': 'plugen'}, h
e = h['latent_mean']
assert e['dtype'] == 'F32' and e['shape'] == [2, 2], e
b, end = e['data_offsets']
assert struct.unpack('<4f', data[b:end]) == (1.0, 2.0, 3.0, 4.0)
e = h['steps']
assert e['dtype'] == 'I64' and e['shape'] == [], e
b, end = e['data_offsets']
assert struct.unpack('<q', data[b:end]) == (12345,)
)";
  write_safetensors(
      dir / "plugen.safetensors",
      {{"latent_mean", torch::tensor({1.f, 2.f, 3.f, 4.f}).reshape({2, 2})}, {"steps", torch::tensor(int64_t{12345})}},
      {{"source", "plugen"}});
  REQUIRE(plugen_test::run_python(dir.path(), "st.py", script, {dir.path().string()}) == 0);

  const auto file = read_safetensors(dir / "py.safetensors");
  CHECK(file.metadata == std::map<std::string, std::string>{{"format", "pt"}, {"plugen", "0.1.0"}});
  REQUIRE(file.tensors.size() == 4);
  CHECK(torch::equal(file.tensors.at("w"), torch::arange(6, torch::kFloat32).reshape({2, 3}) * 0.5));
  CHECK(torch::equal(file.tensors.at("ids"), torch::tensor({int64_t{-1}, int64_t{0}, int64_t{1} << 40})));
  CHECK(torch::equal(file.tensors.at("mean"), torch::tensor({3.25, -1e-300}, torch::kFloat64).reshape({1, 2})));
  CHECK(torch::equal(file.tensors.at("mask"), torch::tensor({true, false, true, true}).reshape({2, 2})));
}

TEST_CASE("read_safetensors rejects corrupt preambles and headers with an IoError naming the file", "[safetensors]") {
  plugen_test::TempDir dir("st_reject_header");
  const std::string ok_header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string eight(8, '\0');
  CHECK_THAT(plugen_test::error_message<IoError>([&] { read_safetensors(dir / "absent.safetensors"); }),
             Catch::Contains("absent.safetensors") && Catch::Contains("no such file"));
  CHECK_NOTHROW(plugen::detail::parse_safetensors(st_test_file(ok_header, eight), "ok"));
  CHECK_THAT(st_test_reject(dir, "1234567"), Catch::Contains("7 bytes"));
  CHECK_THAT(st_test_reject(dir, st_test_file(ok_header, eight, uint64_t{1} << 40)),
             Catch::Contains("1099511627776") && Catch::Contains("more than the 100000000"));
  CHECK_THAT(st_test_reject(dir, st_test_file(ok_header, eight, ok_header.size() + 9)),
             Catch::Contains("only") && Catch::Contains("truncated"));
  CHECK_THAT(st_test_reject(dir, st_test_file(ok_header, "", ok_header.size() - 5)), Catch::Contains("not valid JSON"));
  CHECK_THAT(st_test_reject(dir, st_test_file("this is not json", eight)), Catch::Contains("not valid JSON"));
  CHECK_THAT(st_test_reject(dir, st_test_file("[1, 2]", "")),
             Catch::Contains("JSON object") && Catch::Contains("array"));
  CHECK_THAT(st_test_reject(dir, st_test_file(R"({"x": 3})", "")),
             Catch::Contains("tensor 'x'") && Catch::Contains("expected an object"));
  CHECK_THAT(st_test_reject(dir, st_test_file(R"({"__metadata__": {"epochs": 10}})", "")),
             Catch::Contains("metadata values must be strings") && Catch::Contains("'epochs'"));
  CHECK_THAT(st_test_reject(dir, st_test_file(R"({"__metadata__": ["a"]})", "")), Catch::Contains("'__metadata__'"));
  CHECK_THAT(st_test_reject(dir, st_test_file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                              R"("x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                              eight)),
             Catch::Contains("'x' twice"));
}

TEST_CASE("read_safetensors rejects bad entries: dtype, shape, offsets, overlaps, gaps", "[safetensors]") {
  plugen_test::TempDir dir("st_reject_entries");
  auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape, uint64_t b, uint64_t e) {
    return fmt::format(R"("{}":{{"dtype":"{}","shape":{},"data_offsets":[{},{}]}})", name, dtype, shape, b, e);
  };
  auto header = [](std::initializer_list<std::string> entries) {
    std::string out = "{";
    for (const auto& e : entries) out += (out.size() > 1 ? "," : "") + e;
    return out + "}";
  };
  const std::string data16(16, '\0');
  // Unknown dtype, and a known one LibTorch cannot hold.
  CHECK_THAT(st_test_reject(dir, st_test_file(header({entry("w", "F31", "[4]", 0, 16)}), data16)),
             Catch::Contains("tensor 'w'") && Catch::Contains("unknown dtype 'F31'") && Catch::Contains("F32"));
  {
    const auto path = dir / "u32.safetensors";
    plugen_test::write_bytes(path, st_test_file(header({entry("w", "U32", "[4]", 0, 16)}), data16));
    CHECK_NOTHROW(plugen::detail::parse_safetensors(read_file(path), path.string()));
    CHECK_THAT(plugen_test::error_message<IoError>([&] { read_safetensors(path); }),
               Catch::Contains("u32.safetensors") && Catch::Contains("'w'") && Catch::Contains("U32") &&
                   Catch::Contains("BF16"));
  }
  // Shapes: negative, fractional, not an array, overflowing.
  CHECK_THAT(st_test_reject(dir, st_test_file(header({entry("w", "F32", "[-4]", 0, 16)}), data16)),
             Catch::Contains("'w'") && Catch::Contains("non-negative integer"));
  CHECK_THAT(st_test_reject(dir, st_test_file(header({entry("w", "F32", "[4.0]", 0, 16)}), data16)),
             Catch::Contains("non-negative integer"));
  CHECK_THAT(st_test_reject(dir, st_test_file(header({entry("w", "F32", "4", 0, 16)}), data16)),
             Catch::Contains("array 'shape'"));
  CHECK_THAT(st_test_reject(dir, st_test_file(header({entry("w", "F32", "[4294967296, 4294967296]", 0, 16)}), data16)),
             Catch::Contains("overflows"));
  CHECK_THAT(st_test_reject(dir, st_test_file(R"({"w":{"shape":[4],"data_offsets":[0,16]}})", data16)),
             Catch::Contains("'dtype'"));
  CHECK_THAT(st_test_reject(dir, st_test_file(R"({"w":{"dtype":"F32","shape":[4]}})", data16)),
             Catch::Contains("'data_offsets'"));
  CHECK_THAT(st_test_reject(dir, st_test_file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0]}})", data16)),
             Catch::Contains("'data_offsets'"));
  // Offsets: reversed, beyond the buffer, wrong byte count for the shape.
  CHECK_THAT(st_test_reject(dir, st_test_file(header({entry("w", "F32", "[0]", 16, 0)}), data16)),
             Catch::Contains("end before they begin"));
  CHECK_THAT(st_test_reject(dir, st_test_file(header({entry("w", "F32", "[4]", 8, 24)}), data16)),
             Catch::Contains("'w'") && Catch::Contains("past the data buffer of 16 bytes"));
  CHECK_THAT(st_test_reject(dir, st_test_file(header({entry("w", "F64", "[4]", 0, 16)}), data16)),
             Catch::Contains("'w'") && Catch::Contains("span 16 bytes") && Catch::Contains("needs 32"));
  // Two tensors sharing bytes, a hole between tensors, bytes after the last one.
  CHECK_THAT(st_test_reject(
                 dir, st_test_file(header({entry("a", "F32", "[3]", 0, 12), entry("b", "F32", "[2]", 8, 16)}), data16)),
             Catch::Contains("'a' [0, 12]") && Catch::Contains("'b' [8, 16]") && Catch::Contains("overlap"));
  CHECK_THAT(st_test_reject(
                 dir, st_test_file(header({entry("a", "F32", "[1]", 0, 4), entry("b", "F32", "[2]", 8, 16)}), data16)),
             Catch::Contains("'b'") && Catch::Contains("gap"));
  CHECK_THAT(st_test_reject(dir, st_test_file(header({entry("a", "F32", "[2]", 0, 8)}), data16)),
             Catch::Contains("16 bytes") && Catch::Contains("cover only 8"));
  // Zero-size tensors take no bytes and may sit anywhere they do not split another tensor.
  CHECK_NOTHROW(plugen::detail::parse_safetensors(
      st_test_file(
          header({entry("a", "F32", "[4]", 0, 16), entry("z", "F64", "[0, 3]", 16, 16), entry("y", "U8", "[0]", 0, 0)}),
          data16),
      "zero"));
}
