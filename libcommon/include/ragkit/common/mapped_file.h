// MappedFile: a read-only memory map of a whole file, unmapped in the destructor.
//
// Model weights are read straight from the map: nothing is copied, and a small file is paged in
// as it is touched. Move-only. An empty file maps to an empty span (no mmap call).
//
// A file of model size (32 MB and more) is mapped at a 2 MB boundary, advised into huge pages
// and faulted in at once (llama.cpp's MAP_POPULATE), so that a kernel whose page cache holds
// large folios (ext4 and XFS on recent Linux) maps it in 2 MB pages: decoding streams every
// weight, and in 4 KB pages it takes a TLB miss and restarts the hardware prefetchers every 4 KB.
// When the cached pages are small ones (a file just downloaded or written by `rag quantize`),
// they are dropped and read again in 2 MB folios, once (mapped_file.cpp).
//
// MapMode::kInMemory reads the file into anonymous memory instead (llama.cpp's --no-mmap), in
// 2 MB pages where the kernel allows them (MADV_HUGEPAGE; Debian's THP setting is "madvise"):
// for kernels without large folios in the page cache (Linux 6.1's ext4). It costs the model's
// size in process memory and the time to read it at load.
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

// Gives the whole 2 MB pages inside [begin, begin + size) of a MappedFile opened kMapped back to
// the kernel (madvise MADV_DONTNEED): bytes the process has copied elsewhere and will not read
// again soon, such as the matrices a model loader repacked (llama.cpp unmaps such fragments too).
// They stay readable: a later read faults them in again from the file. Whole 2 MB pages only, so
// that the huge page mappings of the bytes around stay whole. Never call it on kInMemory bytes
// (anonymous memory would read back as zeros).
void release_mapped_range(const void* begin, size_t size);

// Reads a whole (small) file into a string: configs, vocabularies, JSON.
Result<std::string> read_file(const std::string& path);

}  // namespace ragkit
