// HNSW's efSearch must reach FAISS. FAISS 1.7.3 ignores SearchParametersHNSW::efSearch (its
// search reads the graph's own efSearch, 16 by default), so a collection that only passed the
// parameter searched every HNSW query with 16 candidates, whatever DenseSearchParams asked.
// On 2,000 uniform random 384-dimensional unit vectors that gives recall@10 near 0.55; with 256
// candidates it is above 0.98.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "ragkit/retrieval/collection.h"
#include "test_env.h"

namespace ragkit::retrieval {
namespace {

constexpr size_t kDim = 384;
constexpr size_t kDocs = 100, kChunksPerDoc = 20, kQueries = 50, kTopK = 10;

std::vector<float> unit_vectors(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n * kDim);
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (size_t j = 0; j < kDim; ++j) s += double(v[i * kDim + j] = normal(rng)) * v[i * kDim + j];
    for (size_t j = 0; j < kDim; ++j) v[i * kDim + j] /= static_cast<float>(std::sqrt(s));
  }
  return v;
}

TEST(HnswEfSearch, LargerEfSearchReachesFaissAndRaisesRecall) {
  const std::string dir = testing::make_temp_dir("ragkit-hnsw-ef") + "/c";
  CollectionOptions options;
  options.dimension = kDim;
  options.index_factory = "HNSW32";
  options.sync_writes = false;
  auto collection = Collection::open(dir, options);
  ASSERT_TRUE(collection.ok()) << collection.status().to_string();

  const auto data = unit_vectors(kDocs * kChunksPerDoc, 1);
  std::vector<DocumentInput> docs(kDocs);
  for (size_t d = 0; d < kDocs; ++d) {
    docs[d].path = "doc-" + std::to_string(d);
    docs[d].chunks.resize(kChunksPerDoc);
    for (size_t c = 0; c < kChunksPerDoc; ++c) {
      const float* v = &data[(d * kChunksPerDoc + c) * kDim];
      docs[d].chunks[c].text = "chunk";
      docs[d].chunks[c].embedding.assign(v, v + kDim);
    }
  }
  ASSERT_TRUE((*collection)->upsert_many(docs).ok());

  // Brute force over the stored vectors: the exact top 10 of each query.
  std::vector<std::pair<uint64_t, std::vector<float>>> stored;
  ASSERT_TRUE((*collection)
                  ->for_each_vector([&](uint64_t id, std::span<const float> v) {
                    stored.emplace_back(id, std::vector<float>(v.begin(), v.end()));
                  })
                  .ok());
  const auto queries = unit_vectors(kQueries, 2);
  auto recall = [&](int ef_search) {
    DenseSearchParams params;
    params.ef_search = ef_search;
    size_t hits = 0;
    for (size_t q = 0; q < kQueries; ++q) {
      const float* query = &queries[q * kDim];
      std::vector<std::pair<float, uint64_t>> scored;
      for (const auto& [id, v] : stored) {
        float dot = 0;
        for (size_t j = 0; j < kDim; ++j) dot += query[j] * v[j];
        scored.emplace_back(-dot, id);
      }
      std::partial_sort(scored.begin(), scored.begin() + kTopK, scored.end());
      std::set<uint64_t> exact;
      for (size_t r = 0; r < kTopK; ++r) exact.insert(scored[r].second);
      auto found = (*collection)->search_dense(std::span(query, kDim), kTopK, {}, params);
      EXPECT_TRUE(found.ok()) << found.status().to_string();
      if (!found.ok()) return 0.0;
      for (const auto& hit : *found) hits += exact.count(hit.chunk_id);
    }
    return double(hits) / double(kQueries * kTopK);
  };
  const double narrow = recall(16);
  const double wide = recall(256);
  EXPECT_GT(wide, 0.98) << "efSearch 256 (narrow 16 gave " << narrow << ")";
  EXPECT_GT(wide, narrow + 0.2) << "efSearch does not reach the graph search";
  // And back: the setting follows each search, it does not stick.
  EXPECT_NEAR(recall(16), narrow, 1e-12);
}

}  // namespace
}  // namespace ragkit::retrieval
