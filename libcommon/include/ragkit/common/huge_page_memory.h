// HugePageMemory: anonymous memory aligned to 2 MB and advised into huge pages (MADV_HUGEPAGE;
// Debian's THP setting is "madvise"), unmapped in the destructor. For large buffers streamed from
// start to end (weights read into memory, the bandwidth probe): 4 KB pages cost a TLB miss and a
// restart of the hardware prefetchers every 4 KB. Without THP it is 4 KB pages, still correct.
// Move-only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ragkit/common/status.h"

namespace ragkit {

// The huge page size these buffers and the mapped model files are aligned to.
inline constexpr size_t kHugePageBytes = size_t{2} << 20;

class HugePageMemory {
 public:
  // `bytes` writable bytes (> 0) starting at a 2 MB boundary.
  static Result<HugePageMemory> allocate(size_t bytes);

  HugePageMemory() = default;
  HugePageMemory(HugePageMemory&& other) noexcept;
  HugePageMemory& operator=(HugePageMemory&& other) noexcept;
  HugePageMemory(const HugePageMemory&) = delete;
  HugePageMemory& operator=(const HugePageMemory&) = delete;
  ~HugePageMemory();

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // No writes from now on (a write faults).
  void make_read_only();

 private:
  void reset();
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  void* region_ = nullptr;  // what mmap returned: data_ rounded down, with the alignment slack
  size_t region_size_ = 0;
};

}  // namespace ragkit
