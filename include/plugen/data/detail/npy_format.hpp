#pragma once
/// @file
/// The NumPy .npy format without LibTorch: the preamble (magic, version, header length), a parser for the
/// header's Python dict literal, the dtypes plugen reads, and the header plugen writes. Reused by the
/// torch layer (`plugen/data/npy.hpp`) and by the torch-free inference path.
///
/// Layout (numpy.lib.format): "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32 LE for 2.0 and
/// 3.0), the header `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces and
/// ending in '\n', then the raw data.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "plugen/core/check.hpp"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "plugen's .npy and safetensors readers assume a little-endian host"
#endif

namespace plugen::detail {

/// The six bytes every .npy file starts with.
inline constexpr std::string_view npy_magic{"\x93NUMPY", 6};
/// Largest header plugen accepts: real headers are below 1 KiB; this only bounds a corrupt length field.
inline constexpr uint64_t npy_max_header_bytes = uint64_t{1} << 20;
/// Largest rank plugen accepts (NumPy's own limit is 32 before 2.0, 64 after).
inline constexpr size_t npy_max_rank = 64;

/// One element type plugen reads and writes: NumPy's descr ("<f4"), its size, and a short name.
struct NpyDtype {
  /// The descr plugen writes, e.g. "<f4" or "|u1".
  std::string_view descr;
  /// NumPy's kind letter: 'f' float, 'i' signed int, 'u' unsigned int, 'b' bool.
  char kind;
  /// Bytes per element.
  size_t itemsize;
};

/// Every dtype the .npy layer supports, in the order listed in messages.
inline constexpr NpyDtype npy_dtypes[] = {
    {"<f4", 'f', 4}, {"<f8", 'f', 8}, {"<f2", 'f', 2}, {"<i8", 'i', 8}, {"<i4", 'i', 4},
    {"<i2", 'i', 2}, {"|i1", 'i', 1}, {"|u1", 'u', 1}, {"|b1", 'b', 1},
};

/// "<f4, <f8, ..." for messages.
inline std::string npy_supported_dtypes() {
  std::string out;
  for (const auto& d : npy_dtypes) {
    if (!out.empty()) out += ", ";
    out += d.descr;
  }
  return out;
}

/// The supported dtype a descr names, or nullptr. Accepts '<' and '=' (little-endian host) for multi-byte
/// types and any byte-order character for one-byte types (NumPy writes '|').
inline const NpyDtype* find_npy_dtype(std::string_view descr) {
  if (descr.size() < 3) return nullptr;
  const char order = descr[0];
  const std::string_view code = descr.substr(1);
  for (const auto& d : npy_dtypes) {
    if (code != d.descr.substr(1)) continue;
    if (d.itemsize == 1 ? (order == '<' || order == '>' || order == '|' || order == '=')
                        : (order == '<' || order == '=')) {
      return &d;
    }
  }
  return nullptr;
}

/// A parsed .npy header.
struct NpyHeader {
  /// The dtype descr as written in the file, e.g. "<f4".
  std::string descr;
  /// True when the data is stored in Fortran (column-major) order.
  bool fortran_order = false;
  /// Dimensions; empty for a 0-d array.
  std::vector<int64_t> shape;
};

/// Recursive-descent parser of the Python literal in a .npy header: a dict of string keys whose values are
/// strings, True/False, or tuples of non-negative integers. Everything else is rejected with an IoError
/// naming the file and the offending position.
class NpyHeaderParser {
 public:
  /// Parses `text` (the header after the length field) of the file `file`.
  NpyHeaderParser(std::string_view text, std::string file) : text_(text), file_(std::move(file)) {}

  /// Parses the whole header.
  NpyHeader parse() {
    NpyHeader header;
    bool have_descr = false, have_order = false, have_shape = false;
    skip_space();
    expect('{', "'{' opening the header dict");
    skip_space();
    while (peek() != '}') {
      const std::string key = parse_string();
      skip_space();
      expect(':', "':' after a dict key");
      skip_space();
      if (key == "descr") {
        fail_if(have_descr, "the key 'descr' appears twice");
        if (peek() == '[') fail("structured dtypes (a list as 'descr') are not supported");
        header.descr = parse_string();
        have_descr = true;
      } else if (key == "fortran_order") {
        fail_if(have_order, "the key 'fortran_order' appears twice");
        header.fortran_order = parse_bool();
        have_order = true;
      } else if (key == "shape") {
        fail_if(have_shape, "the key 'shape' appears twice");
        header.shape = parse_shape();
        have_shape = true;
      } else {
        fail(fmt::format("unexpected key '{}' (a .npy header has 'descr', 'fortran_order' and 'shape')", key));
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
      } else if (peek() != '}') {
        fail("expected ',' or '}' after a dict value");
      }
    }
    ++pos_;
    skip_space();
    fail_if(pos_ != text_.size(), "unexpected text after the header dict");
    fail_if(!have_descr || !have_order || !have_shape,
            "missing key(s): a .npy header needs 'descr', 'fortran_order' and 'shape'");
    return header;
  }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  [[noreturn]] void fail(const std::string& what) const {
    throw IoError(fmt::format("read_npy: '{}' has an unparsable header: {} (at character {} of \"{}\")", file_, what,
                              pos_, printable(text_)));
  }
  void fail_if(bool cond, const char* what) const {
    if (cond) fail(what);
  }

  // The header with control characters escaped and cut to a readable length, for messages.
  static std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 200)) {
      if (c == '\n') {
        out += "\\n";
      } else if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
        out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
      } else {
        out += c;
      }
    }
    if (s.size() > 200) out += "...";
    return out;
  }

  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  void expect(char c, const char* what) {
    if (peek() != c || pos_ >= text_.size()) fail(fmt::format("expected {}", what));
    ++pos_;
  }

  // A single- or double-quoted Python string without escapes (NumPy never writes any in these keys).
  std::string parse_string() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    const size_t start = ++pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\') fail("escape sequences in strings are not supported");
      ++pos_;
    }
    if (pos_ >= text_.size()) fail("unterminated string");
    return std::string(text_.substr(start, pos_++ - start));
  }

  bool parse_bool() {
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail("expected True or False for 'fortran_order'");
  }

  // A non-negative decimal integer (Python 2 files may add an 'L' suffix), overflow-checked against int64.
  int64_t parse_dimension() {
    if (peek() == '-') fail("negative dimension in 'shape'");
    if (peek() == '+') ++pos_;
    if (peek() < '0' || peek() > '9') fail("expected a non-negative integer in 'shape'");
    uint64_t value = 0;
    while (peek() >= '0' && peek() <= '9') {
      const auto digit = static_cast<uint64_t>(peek() - '0');
      if (value > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - digit) / 10) {
        fail("a dimension in 'shape' overflows a 64-bit integer");
      }
      value = value * 10 + digit;
      ++pos_;
    }
    if (peek() == 'L' || peek() == 'l') ++pos_;
    return static_cast<int64_t>(value);
  }

  // "()", "(3,)", "(3, 4)", "(3, 4,)".
  std::vector<int64_t> parse_shape() {
    expect('(', "a tuple '(...)' for 'shape'");
    std::vector<int64_t> shape;
    skip_space();
    while (peek() != ')') {
      if (shape.size() >= npy_max_rank) fail(fmt::format("'shape' has more than {} dimensions", npy_max_rank));
      shape.push_back(parse_dimension());
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
      } else if (peek() != ')') {
        fail("expected ',' or ')' in 'shape'");
      }
    }
    ++pos_;
    return shape;
  }

  std::string_view text_;
  std::string file_;
  size_t pos_ = 0;
};

/// Parses the header text of `file` (everything between the length field and the data).
inline NpyHeader parse_npy_header(std::string_view text, const std::string& file) {
  return NpyHeaderParser(text, file).parse();
}

/// Number of elements of `shape` times `itemsize`, or nothing (false) if that overflows 64 bits.
inline bool npy_byte_count(const std::vector<int64_t>& shape, uint64_t itemsize, uint64_t& bytes) {
  uint64_t total = itemsize;
  bool zero = false;
  for (int64_t d : shape) {
    if (d == 0) zero = true;
    // Keep checking the other dimensions so a (0, huge) shape cannot overflow numel computations later.
    const auto u = static_cast<uint64_t>(d);
    if (u != 0 && total > std::numeric_limits<uint64_t>::max() / u) return false;
    if (u != 0) total *= u;
  }
  if (total > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  bytes = zero ? 0 : total;
  return true;
}

/// The preamble of a .npy file: format version and where the header text lies.
struct NpyPreamble {
  /// Format major version (1, 2 or 3).
  int major = 1;
  /// Bytes of magic, version and length field (10 for version 1.0, 12 otherwise).
  uint64_t size = 10;
  /// Bytes of header text after the preamble.
  uint64_t header_len = 0;
};

/// Validates the preamble at the start of `file` from its first `available` (up to 12) bytes and the file's
/// size: the magic string, a supported version, and a header length within limits and within the file. Every
/// failure is an IoError naming the file.
inline NpyPreamble parse_npy_preamble(const unsigned char* first, uint64_t available, uint64_t file_size,
                                      const std::string& file) {
  PLUGEN_CHECK(file_size >= 10 && available >= 10, IoError,
               "read_npy: '{}' is not a .npy file: it has {} bytes, fewer than the 10 of the smallest preamble", file,
               file_size);
  PLUGEN_CHECK(std::memcmp(first, npy_magic.data(), npy_magic.size()) == 0, IoError,
               "read_npy: '{}' is not a .npy file: expected the magic string \"\\x93NUMPY\" at the start", file);
  NpyPreamble p;
  p.major = first[6];
  const int minor = first[7];
  PLUGEN_CHECK((p.major == 1 || p.major == 2 || p.major == 3) && minor == 0, IoError,
               "read_npy: '{}' has .npy format version {}.{}; supported versions are 1.0, 2.0 and 3.0", file, p.major,
               minor);
  p.size = p.major == 1 ? 10 : 12;
  PLUGEN_CHECK(file_size >= p.size && available >= p.size, IoError,
               "read_npy: '{}' is truncated: it ends inside the {}-byte preamble of format version {}.0", file, p.size,
               p.major);
  for (uint64_t i = p.size; i-- > 8;) p.header_len = (p.header_len << 8) | first[i];
  PLUGEN_CHECK(p.header_len <= npy_max_header_bytes, IoError,
               "read_npy: '{}' declares a header of {} bytes, more than the {} plugen accepts (corrupt length field?)",
               file, p.header_len, npy_max_header_bytes);
  PLUGEN_CHECK(p.header_len <= file_size - p.size, IoError,
               "read_npy: '{}' is truncated: the header declares {} bytes but only {} bytes follow the preamble", file,
               p.header_len, file_size - p.size);
  return p;
}

/// Checks a parsed header of `file` against the `data_bytes` that follow it: a supported dtype, a shape whose
/// byte size does not overflow and equals `data_bytes`. Returns the dtype; every failure is an IoError.
inline const NpyDtype& check_npy_data(const NpyHeader& header, uint64_t data_bytes, const std::string& file);

/// "(3, 4)" / "(3,)" / "()" as Python writes a tuple.
inline std::string npy_shape_tuple(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1) out += ",";
  return out + ")";
}

inline const NpyDtype& check_npy_data(const NpyHeader& header, uint64_t data_bytes, const std::string& file) {
  const NpyDtype* dtype = find_npy_dtype(header.descr);
  PLUGEN_CHECK(dtype != nullptr, IoError, "read_npy: '{}' has dtype '{}'{}; supported dtypes are {}", file,
               header.descr, !header.descr.empty() && header.descr[0] == '>' ? " (big-endian)" : "",
               npy_supported_dtypes());
  uint64_t expected = 0;
  PLUGEN_CHECK(npy_byte_count(header.shape, dtype->itemsize, expected), IoError,
               "read_npy: '{}' declares shape {} of {}, whose size in bytes overflows 64 bits", file,
               npy_shape_tuple(header.shape), header.descr);
  PLUGEN_CHECK(expected == data_bytes, IoError,
               "read_npy: '{}' has {} bytes of data, but shape {} of {} needs {} bytes ({})", file, data_bytes,
               npy_shape_tuple(header.shape), header.descr, expected,
               expected > data_bytes ? "the file is truncated" : "the file has trailing bytes");
  return *dtype;
}

/// Validates a whole .npy file given as bytes (preamble, header, data size) without reading the data; the
/// torch-free core of `read_npy`, also the fuzzing entry point. Returns the header; failures are IoErrors.
inline NpyHeader parse_npy(std::string_view bytes, const std::string& file) {
  const auto* first = reinterpret_cast<const unsigned char*>(bytes.data());
  const NpyPreamble p = parse_npy_preamble(first, std::min<uint64_t>(bytes.size(), 12), bytes.size(), file);
  NpyHeader header =
      parse_npy_header(bytes.substr(static_cast<size_t>(p.size), static_cast<size_t>(p.header_len)), file);
  (void)check_npy_data(header, bytes.size() - p.size - p.header_len, file);
  return header;
}

/// The complete preamble plugen writes before the data: magic, version 1.0 (2.0 when the header exceeds
/// 65535 bytes), length, and the dict padded with spaces so the data starts at a multiple of 64 bytes.
inline std::string encode_npy_header(std::string_view descr, const std::vector<int64_t>& shape) {
  const std::string dict =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, npy_shape_tuple(shape));
  for (int major : {1, 2}) {
    const size_t prefix = npy_magic.size() + 2 + (major == 1 ? 2 : 4);
    size_t total = prefix + dict.size() + 1;  // + '\n'
    total = (total + 63) / 64 * 64;
    const size_t header_len = total - prefix;
    if (major == 1 && header_len > 0xFFFF) continue;
    std::string out(npy_magic);
    out += static_cast<char>(major);
    out += '\0';
    for (size_t i = 0; i < (major == 1 ? 2u : 4u); ++i) out += static_cast<char>((header_len >> (8 * i)) & 0xFF);
    out += dict;
    out.append(header_len - dict.size() - 1, ' ');
    out += '\n';
    return out;
  }
  throw ShapeError(fmt::format("write_npy: a shape of rank {} does not fit a .npy header", shape.size()));
}

}  // namespace plugen::detail
