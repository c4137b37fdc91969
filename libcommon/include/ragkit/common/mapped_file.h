// MappedFile: a read-only memory map of a whole file, unmapped in the destructor.
//
// Model weights are read straight from the map: nothing is copied, and the kernel pages in only
// what is touched. Move-only. An empty file maps to an empty span (no mmap call).
// Thread-safety: the bytes are immutable; concurrent reads are safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "ragkit/common/status.h"

namespace ragkit {

class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  void reset();
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Reads a whole (small) file into a string: configs, vocabularies, JSON.
Result<std::string> read_file(const std::string& path);

}  // namespace ragkit
