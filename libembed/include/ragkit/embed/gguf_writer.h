// GgufWriter: writes GGUF v3 files — metadata of every value type and tensors at aligned offsets.
// Used by `rag quantize` and by tests that derive model variants (F32, F16) from a shipped file.
// write() goes to a temporary file that is renamed into place, so a reader never sees half a file.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/embed/gguf.h"
#include "ragkit/embed/tensor.h"

namespace ragkit::embed {

class GgufWriter {
 public:
  // alignment: a power of two; written as general.alignment when it is not the default 32.
  explicit GgufWriter(uint64_t alignment = 32);

  // Sets (or replaces) a metadata value; the value's `type` decides how it is written.
  void set(const std::string& key, GgufValue value);
  void set_string(const std::string& key, std::string value);
  void set_uint32(const std::string& key, uint32_t value);
  // Copies every metadata value of `file` except general.alignment.
  void copy_metadata(const GgufFile& file);

  // Adds a tensor; `data` must hold exactly the tensor's bytes and is copied.
  Status add_tensor(const std::string& name, DType dtype, int n_dims, std::array<int64_t, 4> ne,
                    std::span<const uint8_t> data);

  Status write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    DType dtype;
    int n_dims;
    std::array<int64_t, 4> ne;
    std::vector<uint8_t> data;
  };
  uint64_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace ragkit::embed
