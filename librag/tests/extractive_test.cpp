#include "ragkit/rag/extractive.h"

#include <gtest/gtest.h>

namespace ragkit::rag {
namespace {

Passage passage(std::string text) {
  Passage p;
  p.text = std::move(text);
  return p;
}

TEST(Extractive, PicksTheSentencesThatShareTheQuestionsRareWords) {
  auto analyzer = retrieval::TextAnalyzer::create();
  ASSERT_TRUE(analyzer.ok());
  const std::vector<Passage> sources = {
      passage("The service starts on boot. Signing keys are rotated every ninety days by\nthe "
              "rotate-keys job.\n\nLogs go to the journal."),
      passage("Backups run nightly at two in the morning. Keys for backups live in the vault."),
  };
  auto s = extract_sentences("How often are signing keys rotated?", sources, **analyzer, {}, {});
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_FALSE(s->empty());
  EXPECT_EQ((*s)[0].text, "Signing keys are rotated every ninety days by the rotate-keys job.");
  EXPECT_EQ((*s)[0].source, 1u);
  EXPECT_LE(s->size(), 3u);
  EXPECT_EQ(join_extracted(std::span(s->data(), 1)),
            "Signing keys are rotated every ninety days by the rotate-keys job [1].");
}

TEST(Extractive, DenseScoresJoinTheLexicalOnes) {
  auto analyzer = retrieval::TextAnalyzer::create();
  ASSERT_TRUE(analyzer.ok());
  const std::vector<Passage> sources = {passage("Alpha sentence that is long enough. "
                                                "Beta sentence that is long enough too.")};
  // No shared words; the "embedding" puts the second sentence next to the query.
  const std::vector<float> query = {0.0f, 1.0f};
  const SentenceEmbedder embed = [](std::span<const std::string> texts) {
    std::vector<float> v;
    for (const auto& t : texts) {
      const bool beta = t.rfind("Beta", 0) == 0;
      v.push_back(beta ? 0.0f : 1.0f);
      v.push_back(beta ? 1.0f : 0.0f);
    }
    return Result<std::vector<float>>(v);
  };
  auto s = extract_sentences("zzz", sources, **analyzer, query, embed, {.max_sentences = 1});
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ((*s)[0].text, "Beta sentence that is long enough too.");
}

TEST(Extractive, ShortFragmentsAndRepeatsAreNotAnswers) {
  auto analyzer = retrieval::TextAnalyzer::create();
  ASSERT_TRUE(analyzer.ok());
  const std::vector<Passage> sources = {passage("Keys.\n\nKeys are kept in the vault forever."),
                                        passage("Keys are kept in the vault forever.")};
  auto s = extract_sentences("keys", sources, **analyzer, {}, {});
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ((*s)[0].source, 1u);
  auto none = extract_sentences("keys", {}, **analyzer, {}, {});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace ragkit::rag
