// Hand-built blocks for the legacy types no shipped GGUF uses (Q4_1, Q5_0, Q5_1), so their bit
// layouts are checked somewhere; the k-quants and Q4_0 are covered by gguf_test's golden rows.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "ragkit/embed/tensor.h"

namespace ragkit::embed {
namespace {

constexpr uint16_t kHalfOne = 0x3C00;
constexpr uint16_t kHalfHalf = 0x3800;
constexpr uint16_t kHalfMinusOne = 0xBC00;

void put_u16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v & 0xFF));
  b.push_back(static_cast<uint8_t>(v >> 8));
}

// qh with bits 0 and 31 set: the fifth bit of value 0 and of value 31.
void put_qh(std::vector<uint8_t>& b) {
  for (uint8_t v : {0x01, 0x00, 0x00, 0x80}) b.push_back(v);
}

// qs[0] = 0x21 (value 0 low nibble 1, value 16 high nibble 2), qs[15] = 0xF0.
void put_qs(std::vector<uint8_t>& b) {
  for (int j = 0; j < 16; ++j) b.push_back(j == 0 ? 0x21 : j == 15 ? 0xF0 : 0x00);
}

// Dequantizes from an odd offset so a misaligned read would show up under UBSan.
std::vector<float> run(DType type, const std::vector<uint8_t>& block) {
  std::vector<uint8_t> buf(1, 0xAA);
  buf.insert(buf.end(), block.begin(), block.end());
  std::vector<float> out(32, -999.0f);
  Status s = dequantize_row(type, buf.data() + 1, out.data(), 32);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return out;
}

TEST(Dequantize, Q4_1) {
  std::vector<uint8_t> b;
  put_u16(b, kHalfHalf);
  put_u16(b, kHalfMinusOne);
  put_qs(b);
  ASSERT_EQ(b.size(), dtype_traits(DType::kQ4_1).type_size);
  std::vector<float> y = run(DType::kQ4_1, b);
  EXPECT_EQ(y[0], -0.5f);
  EXPECT_EQ(y[16], 0.0f);
  EXPECT_EQ(y[1], -1.0f);
  EXPECT_EQ(y[15], -1.0f);
  EXPECT_EQ(y[31], 6.5f);
}

TEST(Dequantize, Q5_0) {
  std::vector<uint8_t> b;
  put_u16(b, kHalfOne);
  put_qh(b);
  put_qs(b);
  ASSERT_EQ(b.size(), dtype_traits(DType::kQ5_0).type_size);
  std::vector<float> y = run(DType::kQ5_0, b);
  EXPECT_EQ(y[0], 1.0f);     // 1 | 16, minus 16
  EXPECT_EQ(y[16], -14.0f);  // 2, minus 16
  EXPECT_EQ(y[1], -16.0f);
  EXPECT_EQ(y[15], -16.0f);
  EXPECT_EQ(y[31], 15.0f);  // 15 | 16, minus 16
}

TEST(Dequantize, Q5_1) {
  std::vector<uint8_t> b;
  put_u16(b, kHalfHalf);
  put_u16(b, kHalfMinusOne);
  put_qh(b);
  put_qs(b);
  ASSERT_EQ(b.size(), dtype_traits(DType::kQ5_1).type_size);
  std::vector<float> y = run(DType::kQ5_1, b);
  EXPECT_EQ(y[0], 7.5f);  // 17 * 0.5 - 1
  EXPECT_EQ(y[16], 0.0f);
  EXPECT_EQ(y[15], -1.0f);
  EXPECT_EQ(y[31], 14.5f);  // 31 * 0.5 - 1
}

TEST(Dequantize, PartialBlockIsRejected) {
  std::vector<uint8_t> buf(256, 0);
  std::vector<float> out(256);
  for (DType t : {DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ4_K, DType::kQ6_K}) {
    EXPECT_FALSE(dequantize_row(t, buf.data(), out.data(), 48).ok()) << dtype_name(t);
  }
}

}  // namespace
}  // namespace ragkit::embed
