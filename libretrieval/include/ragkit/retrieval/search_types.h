// Small value types shared by the dense, lexical and hybrid searches.
#pragma once

#include <cstdint>

namespace ragkit::retrieval {

// One hit of a single retriever: a chunk and its score (cosine for dense, BM25 for lexical),
// higher is better.
struct ScoredChunk {
  uint64_t chunk_id = 0;
  float score = 0.0f;
};

}  // namespace ragkit::retrieval
