#pragma once
/// @file
/// The safetensors layout without LibTorch (nlohmann::json only), so the torch-free inference path can reuse
/// it: a parser/validator that turns a file's header into entries and metadata, and the encoder of the header
/// plugen writes.
///
/// Layout: an 8-byte little-endian u64 N, N bytes of JSON header
/// `{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}}`
/// (possibly padded with trailing spaces), then the data buffer, little-endian, row-major; offsets are
/// relative to the start of the data buffer. As in the reference implementation, the tensors must tile the
/// data buffer exactly: no overlaps, no gaps, no trailing bytes.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "plugen/core/check.hpp"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "plugen's .npy and safetensors readers assume a little-endian host"
#endif

namespace plugen::detail {

/// Largest JSON header accepted (the reference implementation's limit): only bounds a corrupt length field.
inline constexpr uint64_t safetensors_max_header_bytes = 100'000'000;
/// Largest rank accepted for one tensor.
inline constexpr size_t safetensors_max_rank = 64;
/// The reserved header key holding the string-to-string metadata.
inline constexpr std::string_view safetensors_metadata_key = "__metadata__";

/// One safetensors dtype name and its element size.
struct SafetensorsDtype {
  /// The name in the header, e.g. "F32".
  std::string_view name;
  /// Bytes per element.
  uint64_t itemsize;
};

/// Every dtype the parser knows (the torch layer loads a subset).
inline constexpr SafetensorsDtype safetensors_dtypes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},  {"I32", 4},     {"I16", 2},     {"I8", 1},
    {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1},   {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
};

/// Bytes per element of the dtype `name`, or 0 when the name is unknown.
inline uint64_t safetensors_itemsize(std::string_view name) {
  for (const auto& d : safetensors_dtypes) {
    if (d.name == name) return d.itemsize;
  }
  return 0;
}

/// "F64, F32, ..." for messages.
inline std::string safetensors_known_dtypes() {
  std::string out;
  for (const auto& d : safetensors_dtypes) {
    if (!out.empty()) out += ", ";
    out += d.name;
  }
  return out;
}

/// One tensor of a safetensors file: where its bytes are in the data buffer and how to read them.
struct SafetensorsEntry {
  /// The tensor's name (the header key).
  std::string name;
  /// The dtype name, e.g. "F32"; always one of `safetensors_dtypes`.
  std::string dtype;
  /// Dimensions (empty for a 0-d tensor).
  std::vector<int64_t> shape;
  /// First byte, relative to the start of the data buffer.
  uint64_t begin = 0;
  /// One past the last byte; end - begin == numel * itemsize.
  uint64_t end = 0;
};

/// The validated layout of a safetensors file.
struct SafetensorsLayout {
  /// The tensors, sorted by name.
  std::vector<SafetensorsEntry> entries;
  /// The `__metadata__` map (empty when the file has none).
  std::map<std::string, std::string> metadata;
  /// Offset of the data buffer from the start of the file (8 + header length).
  uint64_t data_offset = 0;
  /// Size of the data buffer in bytes.
  uint64_t data_size = 0;
};

/// The header length N stored in the first 8 bytes, checked against the file size and the 100 MB limit.
/// Throws an IoError naming `file` when the file is too short or N cannot be right.
inline uint64_t safetensors_header_length(const unsigned char* first8, uint64_t file_size, const std::string& file) {
  PLUGEN_CHECK(file_size >= 8, IoError,
               "safetensors '{}': the file has {} bytes, fewer than the 8 of the header length field", file, file_size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | first8[i];
  PLUGEN_CHECK(n <= safetensors_max_header_bytes, IoError,
               "safetensors '{}': the header length field says {} bytes, more than the {} allowed (corrupt file or not "
               "a safetensors file)",
               file, n, safetensors_max_header_bytes);
  PLUGEN_CHECK(n <= file_size - 8, IoError,
               "safetensors '{}': the header length field says {} bytes, but only {} bytes follow it (truncated file?)",
               file, n, file_size - 8);
  PLUGEN_CHECK(n >= 2, IoError, "safetensors '{}': the header has {} bytes, too few for a JSON object", file, n);
  return n;
}

/// Parses and validates the JSON header `header` of `file`, whose data buffer has `data_size` bytes:
/// known dtypes, shapes of non-negative integers, offsets with end - begin == numel * itemsize (overflow
/// checked) that tile [0, data_size) exactly, a metadata object of strings, no repeated names. Every failure is
/// an IoError naming the file and, where one is involved, the tensor.
inline SafetensorsLayout parse_safetensors_header(std::string_view header, uint64_t data_size,
                                                  const std::string& file) {
  using json = nlohmann::json;
  SafetensorsLayout layout;
  layout.data_offset = 8 + header.size();
  layout.data_size = data_size;

  // nlohmann keeps the last of repeated keys: find repeats with the parser callback (depth 1 = top level).
  std::unordered_set<std::string> keys;
  std::string repeated;
  json::parser_callback_t watch_keys = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      if (!keys.insert(parsed.get<std::string>()).second && repeated.empty()) repeated = parsed.get<std::string>();
    }
    return true;
  };
  json root;
  try {
    root = json::parse(header.begin(), header.end(), watch_keys);
  } catch (const json::exception& e) {
    throw IoError(fmt::format("safetensors '{}': the header is not valid JSON: {}", file, e.what()));
  }
  PLUGEN_CHECK(root.is_object(), IoError, "safetensors '{}': expected the header to be a JSON object, found a {}", file,
               root.type_name());
  PLUGEN_CHECK(repeated.empty(), IoError, "safetensors '{}': the header has the key '{}' twice", file, repeated);

  for (const auto& [key, value] : root.items()) {
    if (key == safetensors_metadata_key) {
      PLUGEN_CHECK(value.is_object(), IoError, "safetensors '{}': expected '__metadata__' to be an object, found a {}",
                   file, value.type_name());
      for (const auto& [mkey, mvalue] : value.items()) {
        PLUGEN_CHECK(mvalue.is_string(), IoError, "safetensors '{}': metadata values must be strings, but '{}' is a {}",
                     file, mkey, mvalue.type_name());
        layout.metadata.emplace(mkey, mvalue.get<std::string>());
      }
      continue;
    }
    SafetensorsEntry entry;
    entry.name = key;
    PLUGEN_CHECK(value.is_object(), IoError, "safetensors '{}': tensor '{}': expected an object, found a {}", file, key,
                 value.type_name());
    const auto dtype = value.find("dtype");
    PLUGEN_CHECK(dtype != value.end() && dtype->is_string(), IoError,
                 "safetensors '{}': tensor '{}': expected a string 'dtype'", file, key);
    entry.dtype = dtype->get<std::string>();
    const uint64_t itemsize = safetensors_itemsize(entry.dtype);
    PLUGEN_CHECK(itemsize > 0, IoError, "safetensors '{}': tensor '{}' has the unknown dtype '{}'; known dtypes are {}",
                 file, key, entry.dtype, safetensors_known_dtypes());

    const auto shape = value.find("shape");
    PLUGEN_CHECK(shape != value.end() && shape->is_array(), IoError,
                 "safetensors '{}': tensor '{}': expected an array 'shape'", file, key);
    PLUGEN_CHECK(shape->size() <= safetensors_max_rank, IoError,
                 "safetensors '{}': tensor '{}' has {} dimensions, more than the {} allowed", file, key, shape->size(),
                 safetensors_max_rank);
    uint64_t bytes = itemsize;
    bool overflow = false;
    for (const auto& d : *shape) {
      PLUGEN_CHECK(d.is_number_unsigned() && d.get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max()),
                   IoError, "safetensors '{}': tensor '{}': expected non-negative integer dimensions, found {}", file,
                   key, d.dump());
      const uint64_t u = d.get<uint64_t>();
      entry.shape.push_back(static_cast<int64_t>(u));
      if (u != 0 && bytes > std::numeric_limits<uint64_t>::max() / u) overflow = true;
      if (!overflow && u != 0) bytes *= u;
    }
    PLUGEN_CHECK(!overflow && bytes <= uint64_t(std::numeric_limits<int64_t>::max()), IoError,
                 "safetensors '{}': tensor '{}': the byte size of shape {} overflows 64 bits", file, key,
                 shape->dump());
    if (std::find(entry.shape.begin(), entry.shape.end(), 0) != entry.shape.end()) bytes = 0;

    const auto offsets = value.find("data_offsets");
    PLUGEN_CHECK(offsets != value.end() && offsets->is_array() && offsets->size() == 2 &&
                     (*offsets)[0].is_number_unsigned() && (*offsets)[1].is_number_unsigned(),
                 IoError,
                 "safetensors '{}': tensor '{}': expected 'data_offsets' [begin, end] of non-negative integers", file,
                 key);
    entry.begin = (*offsets)[0].get<uint64_t>();
    entry.end = (*offsets)[1].get<uint64_t>();
    PLUGEN_CHECK(entry.begin <= entry.end, IoError,
                 "safetensors '{}': tensor '{}': data_offsets [{}, {}] end before they begin", file, key, entry.begin,
                 entry.end);
    PLUGEN_CHECK(entry.end <= data_size, IoError,
                 "safetensors '{}': tensor '{}': data_offsets [{}, {}] reach past the data buffer of {} bytes "
                 "(truncated file?)",
                 file, key, entry.begin, entry.end, data_size);
    PLUGEN_CHECK(entry.end - entry.begin == bytes, IoError,
                 "safetensors '{}': tensor '{}': data_offsets [{}, {}] span {} bytes, but shape {} of {} needs {}",
                 file, key, entry.begin, entry.end, entry.end - entry.begin, shape->dump(), entry.dtype, bytes);
    layout.entries.push_back(std::move(entry));
  }

  // The tensors must tile the buffer: sort by position and walk it.
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : layout.entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t covered = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const auto* e : by_offset) {
    PLUGEN_CHECK(e->begin >= covered, IoError,
                 "safetensors '{}': tensors '{}' [{}, {}] and '{}' [{}, {}] overlap in the data buffer", file,
                 previous ? previous->name : "", previous ? previous->begin : 0, covered, e->name, e->begin, e->end);
    PLUGEN_CHECK(e->begin == covered, IoError,
                 "safetensors '{}': tensor '{}' starts at byte {} of the data buffer, but the tensors before it end at "
                 "byte {}: unused gap (safetensors packs tensors contiguously)",
                 file, e->name, e->begin, covered);
    covered = e->end;
    previous = e;
  }
  PLUGEN_CHECK(covered == data_size, IoError,
               "safetensors '{}': the data buffer has {} bytes but the tensors cover only {} (trailing bytes)", file,
               data_size, covered);
  // nlohmann's object iterates in key order, so entries are already sorted by name.
  return layout;
}

/// Parses and validates a whole safetensors file given as bytes; see `parse_safetensors_header`.
inline SafetensorsLayout parse_safetensors(std::string_view bytes, const std::string& file) {
  const uint64_t n =
      safetensors_header_length(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), file);
  return parse_safetensors_header(bytes.substr(8, static_cast<size_t>(n)), bytes.size() - 8 - n, file);
}

/// The 8-byte length and the JSON header for `entries` (offsets already assigned) and `metadata`, padded with
/// spaces so the data buffer starts at a multiple of 8 bytes. `__metadata__` is omitted when empty. Throws a
/// ConfigError naming `file` when a name or a metadata string is not valid UTF-8.
inline std::string encode_safetensors_header(const std::vector<SafetensorsEntry>& entries,
                                             const std::map<std::string, std::string>& metadata,
                                             const std::string& file) {
  using json = nlohmann::json;
  json root = json::object();
  for (const auto& e : entries) {
    root[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {e.begin, e.end}}};
  }
  if (!metadata.empty()) root[std::string(safetensors_metadata_key)] = metadata;
  std::string text;
  try {
    text = root.dump(-1, ' ', false, json::error_handler_t::strict);
  } catch (const json::exception& e) {
    throw ConfigError(
        fmt::format("write_safetensors: cannot encode the header of '{}': {} (names and metadata must be "
                    "valid UTF-8)",
                    file, e.what()));
  }
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  std::string out(8, '\0');
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + text;
}

}  // namespace plugen::detail
