// SafetensorsFile / SafetensorsModel: read Hugging Face safetensors weights through mmap.
//
// A file is an 8-byte little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets}, and the data. Every offset is validated against the file size and
// against the dtype and shape (no overlaps, no reads out of bounds). SafetensorsModel opens
// either `model.safetensors` or the shards listed in `model.safetensors.index.json`.
// Shapes are converted to the ggml convention (ne[0] = innermost = last PyTorch dimension).
// Thread-safety: immutable after open().
#pragma once

#include <map>
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

// Every dtype of the safetensors table is accepted so a file with, say, I64 position ids still
// opens; only F32, F16 and BF16 are weights the model loader reads (`is_float_weight`). The
// others map to the ggml type of the same width: F64, I64, I32, I16, I8, and U8 / BOOL as I8
// (check `file_dtype` for signedness). Dtypes outside the table are rejected when parsing.
struct SafetensorsTensorInfo {
  std::string name;
  DType dtype = DType::kF32;    // F32, F16, BF16 (others are rejected by the model loader)
  std::string file_dtype;       // as written in the header: "F32", "BF16", "U8", "BOOL", ...
  bool is_float_weight = true;  // F32, F16 or BF16
  std::vector<int64_t> shape;   // PyTorch order, at most 4 dims; {} for a scalar
  size_t begin = 0, end = 0;    // byte offsets into the data section
};

// One safetensors file. tensors() are in data order (ascending offsets).
class SafetensorsFile {
 public:
  // Upper bound on the JSON header, as in the reference implementation: a length beyond it is
  // corruption, not a reason to allocate.
  static constexpr uint64_t kMaxHeaderBytes = 100'000'000;

  // `mode`: map the file (default) or read it into memory (mapped_file.h).
  static Result<std::unique_ptr<SafetensorsFile>> open(const std::string& path,
                                                       MapMode mode = MapMode::kMapped);
  // Parses bytes owned by the caller (they must outlive the SafetensorsFile). `name` is used in
  // messages.
  static Result<std::unique_ptr<SafetensorsFile>> parse(std::span<const uint8_t> bytes,
                                                        std::string name);
  const std::string& name() const { return name_; }
  const std::vector<SafetensorsTensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // nullptr when absent.
  const SafetensorsTensorInfo* find(std::string_view name) const;
  // `info` must be one of tensors(). The view points into the file's bytes (ne reversed from
  // `shape`, a scalar is ne {1}); its data may be unaligned when the header length is not a
  // multiple of 8, so readers copy rather than cast.
  TensorView view(const SafetensorsTensorInfo& info) const;

 private:
  SafetensorsFile() = default;
  MappedFile file_;
  std::span<const uint8_t> bytes_;
  std::string name_;
  size_t data_offset_ = 0;
  std::vector<SafetensorsTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  friend class SafetensorsParser;
};

// All weights of a Hugging Face model directory, single-file or sharded.
class SafetensorsModel {
 public:
  // `model.safetensors` when present, else the shards named by the `weight_map` of
  // `model.safetensors.index.json` (plain file names only; each listed tensor must be in the
  // shard that lists it). not_found when the directory has neither file.
  static Result<std::unique_ptr<SafetensorsModel>> open_dir(const std::string& dir,
                                                            MapMode mode = MapMode::kMapped);
  // Every tensor of every shard, in name order.
  std::vector<std::string> tensor_names() const;
  // not_found names the tensor and the directory.
  Result<TensorView> find(std::string_view name) const;
  bool contains(std::string_view name) const;

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::unordered_map<std::string, std::pair<size_t, size_t>> index_;  // name -> (shard, tensor)
};

// Writes tensors to a safetensors file (used by tests and tools that make models).
struct SafetensorsWriteTensor {
  std::string name;
  DType dtype = DType::kF32;   // F32, F16 or BF16 (F64, I64, I32, I16, I8 also written)
  std::vector<int64_t> shape;  // PyTorch order
  std::span<const uint8_t> data;
};
// The data is laid out in the given order; the header is padded with spaces to a multiple of 8
// bytes so the data section starts 8-byte aligned. Written to
// `path + ".tmp"` and renamed, so readers never see half a file. invalid_argument when a
// tensor's data size does not match its shape and dtype, or a name repeats.
Status write_safetensors(const std::string& path,
                         const std::vector<SafetensorsWriteTensor>& tensors,
                         const std::map<std::string, std::string>& metadata = {});

}  // namespace ragkit::embed
