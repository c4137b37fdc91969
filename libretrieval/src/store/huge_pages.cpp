#include "store/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

namespace ragkit::retrieval::store {

void advise_huge_pages(const void* data, size_t filled, size_t bytes) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const auto start = reinterpret_cast<uintptr_t>(data);
  const uintptr_t first = (start + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (start + bytes) & ~(kHuge - 1);
  if (first >= end) return;
  ::madvise(reinterpret_cast<void*>(first), end - first, MADV_HUGEPAGE);
  const uintptr_t filled_end = (start + filled) & ~(kHuge - 1);
  if (first < filled_end) {
    ::madvise(reinterpret_cast<void*>(first), filled_end - first, MADV_COLLAPSE);
  }
}

}  // namespace ragkit::retrieval::store
