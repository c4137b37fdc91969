// HugePageMemory: writable, 2 MB-aligned bytes that keep their address when moved.
#include "ragkit/common/huge_page_memory.h"

#include <gtest/gtest.h>

#include <cstring>

namespace ragkit {
namespace {

TEST(HugePageMemory, AlignedWritableAndMovable) {
  for (size_t n : {size_t{1}, (size_t{2} << 20) + 5}) {
    auto memory = HugePageMemory::allocate(n);
    ASSERT_TRUE(memory.ok()) << memory.status().to_string();
    ASSERT_EQ(memory->size(), n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(memory->data()) % (uintptr_t{2} << 20), 0u);
    std::memset(memory->data(), 0x5A, n);
    memory->make_read_only();
    uint8_t* at = memory->data();
    HugePageMemory moved = std::move(*memory);
    EXPECT_EQ(moved.data(), at);
    EXPECT_EQ(memory->data(), nullptr);
    EXPECT_EQ(moved.data()[n - 1], 0x5A);
  }
}

}  // namespace
}  // namespace ragkit
