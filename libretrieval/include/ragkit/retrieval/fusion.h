// Reciprocal-rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009): merges a dense and a lexical
// result list by rank alone, so cosine similarities and BM25 scores never need a common scale.
// A chunk's fused score is the sum over the lists it appears in of 1 / (rrf_k + rank), ranks
// 1-based.
//
// Thread-safety: a pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ragkit/retrieval/search_types.h"

namespace ragkit::retrieval {

struct FusedHit {
  uint64_t chunk_id = 0;
  double score = 0.0;        // sum of 1 / (rrf_k + rank) over the lists holding the chunk
  int dense_rank = 0;        // 1-based rank in the dense list; 0 = not in it
  float dense_score = 0.0f;  // its score there (0 when absent)
  int lexical_rank = 0;      // 1-based rank in the lexical list; 0 = not in it
  float lexical_score = 0.0f;
};

// The k best chunks of the union of `dense` and `lexical` (each best first), best first.
// A chunk listed twice in one list counts at its first (best) position only. Equal fused scores
// are ordered by their best rank on either side (smaller first), then by smaller chunk id, so
// the result never depends on hash or input order beyond the two rankings.
// rrf_k: 60 in the original paper and in most hybrid search engines.
std::vector<FusedHit> reciprocal_rank_fusion(std::span<const ScoredChunk> dense,
                                             std::span<const ScoredChunk> lexical, size_t k,
                                             double rrf_k = 60.0);

}  // namespace ragkit::retrieval
