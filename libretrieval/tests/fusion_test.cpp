// reciprocal_rank_fusion against a straightforward reference (every chunk of the union, its
// first position on each side, a full sort), and a hand-checked example.
#include "ragkit/retrieval/fusion.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

namespace ragkit::retrieval {
namespace {

// First 1-based position of `id` in `list`, 0 when absent.
int rank_in(const std::vector<ScoredChunk>& list, uint64_t id) {
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].chunk_id == id) return static_cast<int>(i + 1);
  }
  return 0;
}

std::vector<FusedHit> reference(const std::vector<ScoredChunk>& dense,
                                const std::vector<ScoredChunk>& lexical, size_t k, double rrf_k) {
  std::set<uint64_t> ids;
  for (const auto& c : dense) ids.insert(c.chunk_id);
  for (const auto& c : lexical) ids.insert(c.chunk_id);
  std::vector<FusedHit> all;
  for (uint64_t id : ids) {
    FusedHit hit{.chunk_id = id};
    hit.dense_rank = rank_in(dense, id);
    hit.lexical_rank = rank_in(lexical, id);
    if (hit.dense_rank) {
      hit.dense_score = dense[hit.dense_rank - 1].score;
      hit.score += 1.0 / (rrf_k + hit.dense_rank);
    }
    if (hit.lexical_rank) {
      hit.lexical_score = lexical[hit.lexical_rank - 1].score;
      hit.score += 1.0 / (rrf_k + hit.lexical_rank);
    }
    all.push_back(hit);
  }
  auto best_rank = [](const FusedHit& h) {
    int r = 1 << 30;
    if (h.dense_rank) r = std::min(r, h.dense_rank);
    if (h.lexical_rank) r = std::min(r, h.lexical_rank);
    return r;
  };
  std::sort(all.begin(), all.end(), [&](const FusedHit& a, const FusedHit& b) {
    if (a.score != b.score) return a.score > b.score;
    if (best_rank(a) != best_rank(b)) return best_rank(a) < best_rank(b);
    return a.chunk_id < b.chunk_id;
  });
  if (all.size() > k) all.resize(k);
  return all;
}

void expect_equal(const std::vector<FusedHit>& got, const std::vector<FusedHit>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("position " + std::to_string(i));
    EXPECT_EQ(got[i].chunk_id, want[i].chunk_id);
    EXPECT_DOUBLE_EQ(got[i].score, want[i].score);
    EXPECT_EQ(got[i].dense_rank, want[i].dense_rank);
    EXPECT_EQ(got[i].dense_score, want[i].dense_score);
    EXPECT_EQ(got[i].lexical_rank, want[i].lexical_rank);
    EXPECT_EQ(got[i].lexical_score, want[i].lexical_score);
  }
}

TEST(ReciprocalRankFusion, HandCheckedExample) {
  const std::vector<ScoredChunk> dense = {{1, 0.9f}, {2, 0.8f}, {3, 0.7f}};
  const std::vector<ScoredChunk> lexical = {{3, 12.5f}, {4, 7.0f}};
  const auto fused = reciprocal_rank_fusion(dense, lexical, 10);
  ASSERT_EQ(fused.size(), 4u);
  // 3 is on both sides: 1/63 + 1/61. Then 1 (1/61). Then 2 and 4 tie at 1/62 with the same
  // best rank 2: the smaller id first.
  EXPECT_EQ(fused[0].chunk_id, 3u);
  EXPECT_DOUBLE_EQ(fused[0].score, 1.0 / 63 + 1.0 / 61);
  EXPECT_EQ(fused[0].dense_rank, 3);
  EXPECT_EQ(fused[0].dense_score, 0.7f);
  EXPECT_EQ(fused[0].lexical_rank, 1);
  EXPECT_EQ(fused[0].lexical_score, 12.5f);
  EXPECT_EQ(fused[1].chunk_id, 1u);
  EXPECT_EQ(fused[1].lexical_rank, 0);
  EXPECT_EQ(fused[1].lexical_score, 0.0f);
  EXPECT_EQ(fused[2].chunk_id, 2u);
  EXPECT_EQ(fused[3].chunk_id, 4u);
  EXPECT_EQ(fused[3].dense_rank, 0);
  EXPECT_EQ(fused[3].lexical_rank, 2);
  EXPECT_EQ(fused[2].score, fused[3].score);

  // k cuts the list; k = 0 and empty inputs give nothing; one side alone keeps its order.
  EXPECT_EQ(reciprocal_rank_fusion(dense, lexical, 2).size(), 2u);
  EXPECT_TRUE(reciprocal_rank_fusion(dense, lexical, 0).empty());
  EXPECT_TRUE(reciprocal_rank_fusion({}, {}, 5).empty());
  const auto dense_only = reciprocal_rank_fusion(dense, {}, 5);
  ASSERT_EQ(dense_only.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(dense_only[i].chunk_id, dense[i].chunk_id);
}

TEST(ReciprocalRankFusion, TiesPreferTheBetterBestRank) {
  // With rrf_k = 0: 1/1 (rank 1 alone) vs 1/2 + 1/2 (rank 2 on both sides) tie exactly.
  const std::vector<ScoredChunk> dense = {{9, 1.0f}, {6, 0.5f}};
  const std::vector<ScoredChunk> lexical = {{5, 3.0f}, {6, 2.0f}};
  const auto fused = reciprocal_rank_fusion(dense, lexical, 10, 0.0);
  ASSERT_EQ(fused.size(), 3u);
  EXPECT_EQ(fused[0].score, fused[2].score);
  // 5, 9 and 6 all score 1: 5 and 9 have best rank 1 (5 < 9), 6 has best rank 2.
  EXPECT_EQ(fused[0].chunk_id, 5u);
  EXPECT_EQ(fused[1].chunk_id, 9u);
  EXPECT_EQ(fused[2].chunk_id, 6u);
}

TEST(ReciprocalRankFusion, DuplicatesCountAtTheirFirstPosition) {
  const std::vector<ScoredChunk> dense = {{1, 0.9f}, {2, 0.8f}, {1, 0.1f}};
  const auto fused = reciprocal_rank_fusion(dense, {}, 10);
  ASSERT_EQ(fused.size(), 2u);
  EXPECT_EQ(fused[0].chunk_id, 1u);
  EXPECT_EQ(fused[0].dense_rank, 1);
  EXPECT_EQ(fused[0].dense_score, 0.9f);
  EXPECT_DOUBLE_EQ(fused[0].score, 1.0 / 61);
}

TEST(ReciprocalRankFusion, MatchesReferenceOnRandomLists) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 500; ++round) {
    auto make_list = [&](size_t n) {
      std::vector<ScoredChunk> list;
      float score = 100.0f;
      for (size_t i = 0; i < n; ++i) {
        score -= static_cast<float>(rng() % 3);  // equal scores happen; ranks still differ
        list.push_back({rng() % 60, score});     // ids overlap between sides, may repeat
      }
      return list;
    };
    const auto dense = make_list(rng() % 40);
    const auto lexical = make_list(rng() % 40);
    const size_t k = rng() % 50;
    const double rrf_k = round % 3 == 0 ? 0.0 : (round % 3 == 1 ? 60.0 : 1.5);
    SCOPED_TRACE("round " + std::to_string(round));
    expect_equal(reciprocal_rank_fusion(dense, lexical, k, rrf_k),
                 reference(dense, lexical, k, rrf_k));
  }
}

}  // namespace
}  // namespace ragkit::retrieval
