// The Retriever under concurrency: texts embedded in shared batches across threads come back as
// each caller's own, equal to embedding them one at a time.
#include "ragkit/rag/retriever.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "random_model.h"
#include "test_env.h"

namespace ragkit::rag {
namespace {

TEST(Retriever, ConcurrentCallersGetTheirOwnVectorsFromSharedBatches) {
  ASSERT_FALSE(testing::random_minilm_model().empty());
  auto encoder = embed::Encoder::open(testing::random_minilm_model());
  ASSERT_TRUE(encoder.ok()) << encoder.status().message();
  retrieval::CollectionOptions options;
  options.model_id = (*encoder)->model_id();
  options.dimension = static_cast<uint32_t>((*encoder)->dim());
  auto collection = retrieval::Collection::open(testing::make_temp_dir("retriever") + "/db", options);
  ASSERT_TRUE(collection.ok()) << collection.status().message();

  std::vector<std::string> texts;
  for (int i = 0; i < 48; ++i) {
    texts.push_back("query number " + std::to_string(i) + std::string(i % 7, '!') +
                    (i % 3 ? " about keys" : " on the rotation of the signing keys every day"));
  }
  const Retriever retriever(**collection, encoder->get());
  std::vector<std::vector<float>> alone;
  for (const std::string& t : texts) {
    auto v = retriever.embed_query(t);
    ASSERT_TRUE(v.ok()) << v.status().message();
    ASSERT_EQ(v->size(), 384u);
    alone.push_back(std::move(*v));
  }

  // A dense search hands back the vector it embedded; a lexical one embeds nothing.
  std::vector<float> searched;
  ASSERT_TRUE(retriever.retrieve(texts[0], {.k = 3, .mode = SearchMode::kHybrid, .filter = {}},
                                 &searched)
                  .ok());
  EXPECT_EQ(searched, alone[0]);
  std::vector<float> untouched;
  ASSERT_TRUE(retriever.retrieve(texts[0], {.k = 3, .mode = SearchMode::kLexical, .filter = {}},
                                 &untouched)
                  .ok());
  EXPECT_TRUE(untouched.empty());

  constexpr int kThreads = 8;
  std::vector<std::vector<std::vector<float>>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < texts.size(); i += kThreads) {
        if (i % 5 == 0) {  // some callers hand over several texts at once
          const std::vector<std::string> two = {texts[i], texts[(i + 1) % texts.size()]};
          auto v = retriever.embed_texts(two);
          got[t].push_back(v.ok() ? std::vector<float>(v->begin(), v->begin() + 384)
                                  : std::vector<float>{});
        } else {
          auto v = retriever.embed_query(texts[i]);
          got[t].push_back(v.ok() ? std::move(*v) : std::vector<float>{});
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    size_t k = 0;
    for (size_t i = t; i < texts.size(); i += kThreads, ++k) {
      ASSERT_EQ(got[t][k].size(), 384u) << "text " << i;
      float worst = 0;
      for (size_t j = 0; j < 384; ++j) worst = std::max(worst, std::fabs(got[t][k][j] - alone[i][j]));
      EXPECT_LT(worst, 1e-4f) << "text " << i << " got another caller's vector or a different one";
    }
  }
}

TEST(Retriever, WithoutAnEncoderDenseSearchIsAClearError) {
  auto collection = retrieval::Collection::open(testing::make_temp_dir("retriever-lex") + "/db");
  ASSERT_TRUE(collection.ok());
  const Retriever retriever(**collection, nullptr);
  EXPECT_FALSE(retriever.dense_available());
  EXPECT_EQ(retriever.effective_mode(SearchMode::kHybrid), SearchMode::kLexical);
  auto dense = retriever.retrieve("keys", {.k = 3, .mode = SearchMode::kDense, .filter = {}});
  ASSERT_FALSE(dense.ok());
  EXPECT_NE(dense.status().message().find("use lexical search"), std::string::npos);
  auto lexical = retriever.retrieve("keys", {.k = 3, .mode = SearchMode::kLexical, .filter = {}});
  ASSERT_TRUE(lexical.ok());
  EXPECT_TRUE(lexical->empty());
  auto none = retriever.embed_query("keys");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace ragkit::rag
