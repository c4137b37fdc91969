// The JSON shapes that `rag search --json`, `rag ask --json` and the HTTP service share, so a
// script sees the same fields from the command line and from the service.
//
//   search result: {"rank", "score", "path", "chunk_id", "start_line", "end_line", "page",
//                   "heading", "text"} (+ "dense_rank", "dense_score", "lexical_rank",
//                   "lexical_score" for hybrid searches)
//   documents:     {"documents": [{"path", "type", "chunks", "bytes", "mtime_ns", "title",
//                   "content_hash"}]} (`rag docs --json`, GET /v1/documents)
//   answer:        {"answer", "kind", "sources": [{"n", "path", "start_line", "end_line",
//                   "page", "heading", "score", "text", "cited"}], "cited": [n...],
//                   "prompt_tokens", "completion_tokens", "stop_reason"}
//
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <span>

#include "ragkit/rag/answerer.h"
#include "ragkit/rag/passage.h"

namespace ragkit::rag {

nlohmann::ordered_json search_result_json(const Passage& passage, size_t rank, SearchMode mode);
nlohmann::ordered_json search_results_json(std::span<const Passage> passages, SearchMode mode);
nlohmann::ordered_json source_json(const Passage& passage, size_t n, bool cited);
nlohmann::ordered_json answer_json(const Answer& answer);
nlohmann::ordered_json documents_json(std::span<const retrieval::DocumentRecord> documents);

}  // namespace ragkit::rag
