#include "ragkit/retrieval/loaded_document.h"

#include <algorithm>

namespace ragkit::retrieval {

uint64_t SourceMap::source_begin(size_t t) const {
  if (spans.empty()) return t;
  // The last span starting at or before t.
  auto it = std::upper_bound(spans.begin(), spans.end(), t,
                             [](size_t v, const SourceSpan& s) { return v < s.text_begin; });
  if (it == spans.begin()) return spans.front().byte_begin;
  const SourceSpan& span = *(it - 1);
  if (t >= span.text_end) {
    // In a gap the loader inserted: the next span's start, else the end of this one.
    return it != spans.end() ? it->byte_begin : span.byte_end;
  }
  return span.verbatim() ? span.byte_begin + (t - span.text_begin) : span.byte_begin;
}

uint64_t SourceMap::source_end(size_t t) const {
  if (spans.empty()) return t;
  // The last span starting before t.
  auto it = std::lower_bound(spans.begin(), spans.end(), t,
                             [](const SourceSpan& s, size_t v) { return s.text_begin < v; });
  if (it == spans.begin()) return spans.front().byte_begin;
  const SourceSpan& span = *(it - 1);
  if (t >= span.text_end) return span.byte_end;
  return span.verbatim() ? span.byte_begin + (t - span.text_begin) : span.byte_end;
}

void SourceMap::add(SourceSpan span) {
  if (span.text_end <= span.text_begin) return;
  if (!spans.empty()) {
    SourceSpan& last = spans.back();
    if (last.verbatim() && span.verbatim() && last.text_end == span.text_begin &&
        last.byte_end == span.byte_begin) {
      last.text_end = span.text_end;
      last.byte_end = span.byte_end;
      return;
    }
  }
  spans.push_back(span);
}

uint32_t LoadedDocument::line_at(uint64_t offset) const {
  if (line_starts.empty()) return 0;
  const auto line_it = std::upper_bound(line_starts.begin(), line_starts.end(), offset);
  uint64_t line = static_cast<uint64_t>(line_it - line_starts.begin());  // 1-based
  if (positions == PositionSpace::kExtractedText && !page_starts.empty()) {
    auto page_it = std::upper_bound(page_starts.begin(), page_starts.end(), offset);
    if (page_it != page_starts.begin()) {
      const uint64_t page_start = *(page_it - 1);
      const auto first = std::upper_bound(line_starts.begin(), line_starts.end(), page_start);
      line -= static_cast<uint64_t>(first - line_starts.begin()) - 1;
    }
  }
  return static_cast<uint32_t>(line);
}

std::vector<uint64_t> compute_line_starts(std::string_view bytes) {
  std::vector<uint64_t> starts = {0};
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\n') {
      starts.push_back(i + 1);
    } else if (bytes[i] == '\r') {
      if (i + 1 < bytes.size() && bytes[i + 1] == '\n') ++i;
      starts.push_back(i + 1);
    }
  }
  return starts;
}

}  // namespace ragkit::retrieval
