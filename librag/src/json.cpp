#include "ragkit/rag/json.h"

#include <algorithm>

namespace ragkit::rag {

nlohmann::ordered_json search_result_json(const Passage& p, size_t rank, SearchMode mode) {
  const retrieval::ChunkLocation& l = p.location;
  nlohmann::ordered_json out = {{"rank", rank},
                                {"score", p.score},
                                {"path", p.path},
                                {"chunk_id", p.chunk_id},
                                {"start_line", l.line_begin},
                                {"end_line", l.line_end},
                                {"page", l.page},
                                {"heading", l.heading_path},
                                {"text", p.text}};
  if (mode == SearchMode::kHybrid) {
    out["dense_rank"] = p.dense_rank;
    out["dense_score"] = p.dense_score;
    out["lexical_rank"] = p.lexical_rank;
    out["lexical_score"] = p.lexical_score;
  }
  return out;
}

nlohmann::ordered_json search_results_json(std::span<const Passage> passages, SearchMode mode) {
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  for (size_t i = 0; i < passages.size(); ++i) {
    results.push_back(search_result_json(passages[i], i + 1, mode));
  }
  return {{"results", std::move(results)}};
}

nlohmann::ordered_json source_json(const Passage& p, size_t n, bool cited) {
  const retrieval::ChunkLocation& l = p.location;
  return {{"n", n},
          {"path", p.path},
          {"start_line", l.line_begin},
          {"end_line", l.line_end},
          {"page", l.page},
          {"heading", l.heading_path},
          {"score", p.score},
          {"chunk_id", p.chunk_id},
          {"cited", cited},
          {"text", p.text}};
}

nlohmann::ordered_json answer_json(const Answer& a) {
  nlohmann::ordered_json sources = nlohmann::ordered_json::array();
  for (size_t i = 0; i < a.sources.size(); ++i) {
    const bool cited = std::binary_search(a.cited.begin(), a.cited.end(), i + 1);
    sources.push_back(source_json(a.sources[i], i + 1, cited));
  }
  return {{"answer", a.text},
          {"kind", answer_kind_name(a.kind)},
          {"sources", std::move(sources)},
          {"cited", a.cited},
          {"prompt_tokens", a.prompt_tokens},
          {"completion_tokens", a.completion_tokens},
          {"stop_reason", a.stop_reason}};
}

nlohmann::ordered_json documents_json(std::span<const retrieval::DocumentRecord> documents) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const retrieval::DocumentRecord& d : documents) {
    out.push_back({{"path", d.path},
                   {"type", d.file_type},
                   {"chunks", d.chunk_count},
                   {"bytes", d.size_bytes},
                   {"mtime_ns", d.mtime_ns},
                   {"title", d.title},
                   {"content_hash", d.content_hash}});
  }
  return {{"documents", std::move(out)}};
}

}  // namespace ragkit::rag
