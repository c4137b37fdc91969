#include "ragkit/common/huge_page_memory.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace ragkit {

Result<HugePageMemory> HugePageMemory::allocate(size_t bytes) {
  constexpr size_t kHuge = kHugePageBytes;
  const size_t length = bytes + kHuge;  // room to align the start
  void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return Status::io_error("cannot allocate " + std::to_string(bytes) +
                            " bytes: " + std::strerror(errno));
  }
  HugePageMemory memory;
  memory.region_ = p;
  memory.region_size_ = length;
  memory.size_ = bytes;
  memory.data_ = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + kHuge - 1) &
                                            ~uintptr_t{kHuge - 1});
  ::madvise(memory.data_, bytes, MADV_HUGEPAGE);  // advice only
  return memory;
}

HugePageMemory::HugePageMemory(HugePageMemory&& other) noexcept
    : data_(other.data_),
      size_(other.size_),
      region_(other.region_),
      region_size_(other.region_size_) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.region_ = nullptr;
  other.region_size_ = 0;
}

HugePageMemory& HugePageMemory::operator=(HugePageMemory&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = other.data_;
    size_ = other.size_;
    region_ = other.region_;
    region_size_ = other.region_size_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.region_ = nullptr;
    other.region_size_ = 0;
  }
  return *this;
}

HugePageMemory::~HugePageMemory() { reset(); }

void HugePageMemory::make_read_only() {
  if (region_ != nullptr) ::mprotect(region_, region_size_, PROT_READ);
}

void HugePageMemory::reset() {
  if (region_ != nullptr) ::munmap(region_, region_size_);
  data_ = nullptr;
  size_ = 0;
  region_ = nullptr;
  region_size_ = 0;
}

}  // namespace ragkit
