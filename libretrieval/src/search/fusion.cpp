#include "ragkit/retrieval/fusion.h"

#include <algorithm>
#include <unordered_map>

namespace ragkit::retrieval {
namespace {

int best_rank(const FusedHit& hit) {
  if (hit.dense_rank == 0) return hit.lexical_rank;
  if (hit.lexical_rank == 0) return hit.dense_rank;
  return std::min(hit.dense_rank, hit.lexical_rank);
}

bool better(const FusedHit& a, const FusedHit& b) {
  if (a.score != b.score) return a.score > b.score;
  const int rank_a = best_rank(a), rank_b = best_rank(b);
  if (rank_a != rank_b) return rank_a < rank_b;
  return a.chunk_id < b.chunk_id;
}

}  // namespace

std::vector<FusedHit> reciprocal_rank_fusion(std::span<const ScoredChunk> dense,
                                             std::span<const ScoredChunk> lexical, size_t k,
                                             double rrf_k) {
  std::vector<FusedHit> hits;
  if (k == 0) return hits;
  hits.reserve(dense.size() + lexical.size());
  std::unordered_map<uint64_t, size_t> index_of;  // chunk id -> position in `hits`
  index_of.reserve(dense.size() + lexical.size());
  auto hit_for = [&](uint64_t chunk_id) -> FusedHit& {
    auto [it, inserted] = index_of.try_emplace(chunk_id, hits.size());
    if (inserted) hits.push_back(FusedHit{.chunk_id = chunk_id});
    return hits[it->second];
  };
  for (size_t i = 0; i < dense.size(); ++i) {
    FusedHit& hit = hit_for(dense[i].chunk_id);
    if (hit.dense_rank != 0) continue;  // a duplicate further down the same list
    hit.dense_rank = static_cast<int>(i + 1);
    hit.dense_score = dense[i].score;
  }
  for (size_t i = 0; i < lexical.size(); ++i) {
    FusedHit& hit = hit_for(lexical[i].chunk_id);
    if (hit.lexical_rank != 0) continue;
    hit.lexical_rank = static_cast<int>(i + 1);
    hit.lexical_score = lexical[i].score;
  }
  // Summed in a fixed order (dense, then lexical) so equal rank pairs give bit-equal scores.
  for (FusedHit& hit : hits) {
    if (hit.dense_rank != 0) hit.score += 1.0 / (rrf_k + hit.dense_rank);
    if (hit.lexical_rank != 0) hit.score += 1.0 / (rrf_k + hit.lexical_rank);
  }
  const size_t keep = std::min(k, hits.size());
  std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(keep), hits.end(),
                    better);
  hits.resize(keep);
  return hits;
}

}  // namespace ragkit::retrieval
