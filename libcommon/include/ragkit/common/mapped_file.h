// MappedFile: a read-only memory map of a whole file, unmapped in the destructor.
//
// Model weights are read straight from the map: nothing is copied, and the kernel pages in only
// what is touched. Move-only. An empty file maps to an empty span (no mmap call).
//
// MapMode::kInMemory reads the file into anonymous memory instead (llama.cpp's --no-mmap), in
// 2 MB pages where the kernel allows them (MADV_HUGEPAGE; Debian's THP setting is "madvise").
// The page cache of a file map comes in 4 KB pages here (ext4 maps few large folios, and
// read-only file THP is not built in), so a decode step that streams the whole model takes a TLB
// miss and restarts the hardware prefetchers every 4 KB: in memory, a 538 MB F32 model decodes
// about a third faster and a Q8_0 one about a tenth. It costs the model's size in process memory
// and the time to read it at load; the bytes are read-only afterwards all the same.
// Thread-safety: the bytes are immutable; concurrent reads are safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "ragkit/common/huge_page_memory.h"
#include "ragkit/common/status.h"

namespace ragkit {

enum class MapMode { kMapped, kInMemory };

class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path, MapMode mode = MapMode::kMapped);

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
  HugePageMemory memory_;  // kInMemory: holds the bytes (data_ points into it); else empty
  std::string path_;
};

// Reads a whole (small) file into a string: configs, vocabularies, JSON.
Result<std::string> read_file(const std::string& path);

}  // namespace ragkit
