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

struct SafetensorsTensorInfo {
  std::string name;
  DType dtype = DType::kF32;      // F32, F16, BF16 (others are rejected by the model loader)
  std::vector<int64_t> shape;     // PyTorch order
  size_t begin = 0, end = 0;      // byte offsets into the data section
};

class SafetensorsFile {
 public:
  static Result<std::unique_ptr<SafetensorsFile>> open(const std::string& path);
  static Result<std::unique_ptr<SafetensorsFile>> parse(std::span<const uint8_t> bytes,
                                                        std::string name);
  const std::string& name() const { return name_; }
  const std::vector<SafetensorsTensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const SafetensorsTensorInfo* find(std::string_view name) const;
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
  static Result<std::unique_ptr<SafetensorsModel>> open_dir(const std::string& dir);
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
  DType dtype = DType::kF32;     // F32, F16 or BF16
  std::vector<int64_t> shape;    // PyTorch order
  std::span<const uint8_t> data;
};
Status write_safetensors(const std::string& path, const std::vector<SafetensorsWriteTensor>& tensors,
                         const std::map<std::string, std::string>& metadata = {});

}  // namespace ragkit::embed
