#include "ragkit/rag/passage.h"

namespace ragkit::rag {

const char* search_mode_name(SearchMode mode) {
  switch (mode) {
    case SearchMode::kDense: return "dense";
    case SearchMode::kLexical: return "lexical";
    case SearchMode::kHybrid: return "hybrid";
  }
  return "hybrid";
}

Result<SearchMode> parse_search_mode(std::string_view name) {
  if (name == "dense") return SearchMode::kDense;
  if (name == "lexical") return SearchMode::kLexical;
  if (name == "hybrid") return SearchMode::kHybrid;
  return Status::invalid_argument("unknown search mode \"" + std::string(name) +
                                  "\": use dense, lexical or hybrid");
}

std::string passage_location(const Passage& passage) {
  std::string loc = passage.path;
  const retrieval::ChunkLocation& l = passage.location;
  if (l.line_begin > 0) {
    loc.append(":").append(std::to_string(l.line_begin));
    if (l.line_end > l.line_begin) loc.append("-").append(std::to_string(l.line_end));
  }
  if (l.page > 0) loc.append(" (page ").append(std::to_string(l.page)).append(")");
  return loc;
}

}  // namespace ragkit::rag
