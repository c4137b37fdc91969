// Huge-page advice (store/huge_pages.h) is advisory: whatever the kernel does with it, the data
// stays as it was, unaligned and small ranges are fine, and a buffer is advised once.
#include "store/huge_pages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace ragkit::retrieval::store {
namespace {

TEST(HugePages, AdviceLeavesTheDataAsItWas) {
  std::vector<uint32_t> big(6u << 20);  // 24 MB: several whole 2 MB pages, unaligned ends
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint32_t>(i * 2654435761u);
  advise_huge_pages(big.data() + 1, (big.size() - 1) * 4, (big.size() - 1) * 4);
  HugePageAdvice advice;
  advice.follow(big);
  for (size_t i = 0; i < big.size(); ++i) {
    ASSERT_EQ(big[i], static_cast<uint32_t>(i * 2654435761u)) << i;
  }
  big.resize(big.size() + 1000, 7);  // the buffer may move; pages faulted later still work
  advice.follow(big);
  EXPECT_EQ(big.back(), 7u);
}

TEST(HugePages, SmallAndEmptyRangesAreIgnored) {
  std::vector<char> small(100, 'x');
  advise_huge_pages(small.data(), small.size(), small.size());
  advise_huge_pages(nullptr, 0, 0);
  HugePageAdvice advice;
  advice.follow(small);
  advice.follow(std::vector<int>{});
  EXPECT_EQ(small[99], 'x');
}

}  // namespace
}  // namespace ragkit::retrieval::store
