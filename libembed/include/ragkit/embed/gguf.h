// GgufFile: reads a GGUF (v2 or v3) model file through mmap.
//
// Parses the header, every metadata key-value (all value types, nested arrays included) and the
// tensor infos, validates every length, offset and alignment against the file size, and hands out
// TensorViews pointing into the map. A truncated, corrupt or hostile file gives a Status naming the
// file and what is wrong; nothing is ever read out of bounds.
// Thread-safety: immutable after open(); concurrent reads are safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ragkit/common/mapped_file.h"
#include "ragkit/common/status.h"
#include "ragkit/embed/tensor.h"

namespace ragkit::embed {

enum class GgufType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};
const char* gguf_type_name(GgufType type);

// One metadata value. Scalars are widened (integers to int64/uint64, floats to double);
// arrays keep their element type and hold their elements in `array` (strings in `strings`
// when the element type is kString, to keep 100k-token vocabularies compact).
struct GgufValue {
  GgufType type = GgufType::kUint8;
  uint64_t u = 0;      // unsigned integer types and bool
  int64_t i = 0;       // signed integer types
  double f = 0;        // float types
  std::string str;     // kString
  GgufType array_type = GgufType::kUint8;   // kArray: element type
  std::vector<GgufValue> array;             // kArray of non-strings
  std::vector<std::string> strings;         // kArray of strings
  size_t array_size() const { return array_type == GgufType::kString ? strings.size() : array.size(); }
};

struct GgufTensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  int n_dims = 0;
  std::array<int64_t, 4> ne{1, 1, 1, 1};
  uint64_t offset = 0;   // from the start of the data section
  size_t n_bytes = 0;
};

class GgufFile {
 public:
  // `mode`: map the file (default) or read it into memory (mapped_file.h).
  static Result<std::unique_ptr<GgufFile>> open(const std::string& path,
                                                MapMode mode = MapMode::kMapped);
  // Parses bytes owned by the caller (they must outlive the GgufFile). `name` is used in messages.
  static Result<std::unique_ptr<GgufFile>> parse(std::span<const uint8_t> bytes, std::string name);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::string& name() const { return name_; }
  // Where the data section starts in the file (tensor offsets are relative to it), and the whole
  // file's bytes.
  size_t data_offset() const { return data_offset_; }
  std::span<const uint8_t> bytes() const { return bytes_; }

  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;

  // Typed getters: not_found if missing, invalid_argument if of another type. get_uint/get_int
  // accept any integer type whose value fits; get_float accepts float or integer types.
  Result<std::string> get_string(std::string_view key) const;
  Result<uint64_t> get_uint(std::string_view key) const;
  Result<int64_t> get_int(std::string_view key) const;
  Result<double> get_float(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;
  Result<const std::vector<std::string>*> get_string_array(std::string_view key) const;
  // Arrays of numbers, converted.
  Result<std::vector<float>> get_float_array(std::string_view key) const;
  Result<std::vector<int64_t>> get_int_array(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  TensorView view(const GgufTensorInfo& info) const;

 private:
  GgufFile() = default;
  MappedFile file_;
  std::span<const uint8_t> bytes_;
  std::string name_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  size_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::unordered_map<std::string, size_t> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
  friend class GgufParser;
};

}  // namespace ragkit::embed
