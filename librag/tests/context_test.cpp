#include "ragkit/rag/context.h"

#include <gtest/gtest.h>

#include <sstream>

namespace ragkit::rag {
namespace {

Passage passage(uint64_t doc, uint64_t begin, uint64_t end, std::string text) {
  Passage p;
  p.document_id = doc;
  p.chunk_id = retrieval::make_chunk_id(doc, begin);
  p.path = "doc" + std::to_string(doc);
  p.location.byte_begin = begin;
  p.location.byte_end = end;
  p.text = std::move(text);
  return p;
}

std::vector<uint64_t> chunk_ids(const std::vector<Passage>& ps) {
  std::vector<uint64_t> out;
  for (const auto& p : ps) out.push_back(p.chunk_id);
  return out;
}

TEST(DropRedundant, OverlappingChunksOfOneDocumentKeepTheBetterRanked) {
  const std::vector<Passage> ranked = {
      passage(1, 100, 200, "alpha beta gamma delta"),
      passage(1, 120, 210, "beta gamma delta epsilon zeta"),  // 80 of 90 bytes covered: drop
      passage(1, 190, 300, "one overlap sentence only here"),  // 10 bytes shared: keep
      passage(2, 100, 200, "another document entirely different"),  // same range, other doc
  };
  const auto kept = drop_redundant(ranked);
  EXPECT_EQ(chunk_ids(kept), std::vector<uint64_t>({ranked[0].chunk_id, ranked[2].chunk_id,
                                                    ranked[3].chunk_id}));
}

TEST(DropRedundant, NearDuplicateTextAcrossDocumentsIsDropped) {
  const std::string text =
      "To rotate the signing keys run the rotate command on the primary, then restart the "
      "workers so that they load the new key from the vault.";
  const std::vector<Passage> ranked = {
      passage(1, 0, 10, text),
      passage(2, 0, 10, text + " Done."),                       // near-duplicate
      passage(3, 0, 10, "Completely different words about gardening tomatoes in spring."),
  };
  const auto kept = drop_redundant(ranked);
  EXPECT_EQ(chunk_ids(kept), std::vector<uint64_t>({ranked[0].chunk_id, ranked[2].chunk_id}));
  RedundancyOptions off;
  off.duplicate_jaccard = 1.0;
  EXPECT_EQ(drop_redundant(ranked, off).size(), 3u);
}

// A tokenizer stand-in: one token per word.
size_t count_words(std::string_view text) {
  std::istringstream in{std::string(text)};
  size_t n = 0;
  std::string w;
  while (in >> w) ++n;
  return n;
}
std::string first_words(std::string_view text, size_t n) {
  std::istringstream in{std::string(text)};
  std::string out, w;
  for (size_t i = 0; i < n && in >> w; ++i) out += (i ? " " : "") + w;
  return out;
}
std::string frame(const Passage& p, size_t n) {
  std::string out = "[";
  out.append(std::to_string(n)).append("] ").append(p.text);
  return out;
}

TEST(FitToBudget, TakesPassagesInRankOrderAndSkipsOnesThatDoNotFit) {
  const std::vector<Passage> ranked = {
      passage(1, 0, 1, "a b c d"),          // 5 tokens framed
      passage(2, 0, 1, "a b c d e f g h"),  // 9: does not fit after the first
      passage(3, 0, 1, "a b"),              // 3: fits
  };
  const BudgetedContext c = fit_to_budget(ranked, 10, count_words, first_words, frame);
  EXPECT_EQ(chunk_ids(c.passages), std::vector<uint64_t>({ranked[0].chunk_id, ranked[2].chunk_id}));
  EXPECT_EQ(c.tokens, 8u);
  EXPECT_EQ(c.dropped, 1u);
  EXPECT_FALSE(c.truncated);
}

TEST(FitToBudget, CutsTheBestPassageWhenNothingFitsWhole) {
  const std::vector<Passage> ranked = {passage(1, 0, 1, "one two three four five six seven"),
                                       passage(2, 0, 1, "a b c d e f g h i j")};
  const BudgetedContext c = fit_to_budget(ranked, 4, count_words, first_words, frame);
  ASSERT_EQ(c.passages.size(), 1u);
  EXPECT_EQ(c.passages[0].text, "one two three");
  EXPECT_EQ(c.tokens, 4u);
  EXPECT_TRUE(c.truncated);
  EXPECT_EQ(c.dropped, 1u);
  EXPECT_TRUE(fit_to_budget(ranked, 0, count_words, first_words, frame).passages.empty());
  EXPECT_TRUE(fit_to_budget({}, 10, count_words, first_words, frame).passages.empty());
}

}  // namespace
}  // namespace ragkit::rag
