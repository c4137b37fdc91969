#include "ragkit/common/status.h"

#include <gtest/gtest.h>

namespace ragkit {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return Status::invalid_argument("value must be positive");
  return v;
}

Result<int> twice(int v) {
  RAGKIT_ASSIGN_OR_RETURN(int x, parse_positive(v));
  return 2 * x;
}

TEST(Status, OkAndErrors) {
  EXPECT_TRUE(Status().ok());
  Status s = Status::corruption("bad header").with_context("model.gguf");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_EQ(s.message(), "model.gguf: bad header");
  EXPECT_EQ(s.to_string(), "corrupt: model.gguf: bad header");
}

TEST(Status, ResultPropagates) {
  EXPECT_EQ(*twice(4), 8);
  Result<int> r = twice(-1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_DEATH((void)r.value(), "value must be positive");
}

}  // namespace
}  // namespace ragkit
