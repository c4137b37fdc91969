#include "ragkit/rag/citations.h"

#include <gtest/gtest.h>

namespace ragkit::rag {
namespace {

using V = std::vector<size_t>;

TEST(Citations, SingleGroupedAndRangedForms) {
  EXPECT_EQ(find_citations("Keys rotate daily [2].", 3), V({2}));
  EXPECT_EQ(find_citations("See [1][3] and [1].", 3), V({1, 3}));
  EXPECT_EQ(find_citations("Both [1, 3] agree; also [2,3].", 3), V({1, 2, 3}));
  EXPECT_EQ(find_citations("Pages [1-3].", 5), V({1, 2, 3}));
  EXPECT_EQ(find_citations("Pages [2\xe2\x80\x93" "4].", 5), V({2, 3, 4}));
  EXPECT_EQ(find_citations("As [Source 2] says", 3), V({2}));
}

TEST(Citations, NumbersThatNameNoSourceAreText) {
  EXPECT_EQ(find_citations("In [2024] it changed [4]", 3), V());
  EXPECT_EQ(find_citations("[0] [ 1 ] [x] [1a] [", 3), V({1}));
  EXPECT_EQ(find_citations("[1, 7]", 3), V());  // a group with a number outside is not one
  EXPECT_EQ(find_citations("[3-1] [99999999999999]", 3), V());
  EXPECT_EQ(find_citations("no citations at all", 3), V());
  EXPECT_EQ(find_citations("[1]", 0), V());
}

}  // namespace
}  // namespace ragkit::rag
