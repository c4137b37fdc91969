// Passage: one retrieved chunk with everything an answer needs to quote and cite it — its text,
// where it lies in which document, and how each retriever scored it.
//
// Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ragkit/common/status.h"
#include "ragkit/retrieval/document.h"

namespace ragkit::rag {

// How passages are found: by meaning (the embedding model and FAISS), by words (BM25), or by
// both fused with reciprocal ranks.
enum class SearchMode { kDense, kLexical, kHybrid };
const char* search_mode_name(SearchMode mode);  // "dense", "lexical", "hybrid"
// The inverse of search_mode_name(); invalid_argument naming the three otherwise.
Result<SearchMode> parse_search_mode(std::string_view name);

struct Passage {
  uint64_t chunk_id = 0;
  uint64_t document_id = 0;
  std::string path;  // the document key (a path relative to the collection's base folder)
  std::string text;
  retrieval::ChunkLocation location;  // byte and line range, page, heading path
  // The ranking score of the search: cosine (dense), BM25 (lexical) or RRF (hybrid).
  float score = 0.0f;
  // Each retriever's rank (1-based; 0 = not among its candidates) and score.
  uint32_t dense_rank = 0;
  float dense_score = 0.0f;
  uint32_t lexical_rank = 0;
  float lexical_score = 0.0f;
};

// "path:12-30 (page 3)": the place a person opens to read the passage.
std::string passage_location(const Passage& passage);

}  // namespace ragkit::rag
