// Transparent huge pages for the arrays a graph walk touches at random.
//
// An HNSW search at a million vectors jumps between hundreds of megabytes of neighbour lists and
// vector rows; with 4 KB pages nearly every jump also misses the TLB and walks the page tables.
// Debian's kernels hand out 2 MB pages only where a program asks (transparent_hugepage=madvise),
// so the store asks for the arrays its walks read: MADV_HUGEPAGE over an array's whole capacity
// (pages faulted in later come huge) and MADV_COLLAPSE over what is already there (Linux 6.1+;
// older kernels refuse it and the pages stay small: slower, never wrong).
#pragma once

#include <cstddef>
#include <vector>

namespace ragkit::retrieval::store {

// Advises [data, data + bytes) for huge pages, `filled` bytes of it collapsed now. Whole 2 MB
// pages inside the range only; small ranges and refusals are ignored.
void advise_huge_pages(const void* data, size_t filled, size_t bytes);

// Advises a vector's buffer once per buffer: call after anything that may have grown it.
class HugePageAdvice {
 public:
  template <typename T>
  void follow(const std::vector<T>& v) {
    if (v.data() == last_ || v.capacity() * sizeof(T) < kMinimumBytes) return;
    last_ = v.data();
    advise_huge_pages(v.data(), v.size() * sizeof(T), v.capacity() * sizeof(T));
  }

 private:
  static constexpr size_t kMinimumBytes = size_t{8} << 20;  // below that the TLB copes
  const void* last_ = nullptr;
};

}  // namespace ragkit::retrieval::store
