// What must hold for any input to the ingestion fuzz targets (markdown_loader_fuzz,
// html_loader_fuzz, pdf_loader_fuzz, chunker_fuzz): a loaded document's blocks and source map stay
// inside its text and the file, its text is valid UTF-8, and chunking it keeps every chunk within
// the budget, inside the text and the file. A violation traps, so libFuzzer reports it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ragkit/common/utf8.h"
#include "ragkit/retrieval/chunker.h"
#include "ragkit/retrieval/document_loader.h"

namespace ragkit::retrieval::fuzz {

inline void require(bool condition) {
  if (!condition) __builtin_trap();
}

// A counter like WordPiece on a small vocabulary: one token per 4 bytes of each word.
inline size_t count_pieces(std::string_view text) {
  size_t n = 0, word = 0;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      n += (word + 3) / 4;
      word = 0;
    } else {
      ++word;
    }
  }
  return n + (word + 3) / 4;
}

inline void check_document(const LoadedDocument& doc, size_t file_size) {
  require(is_valid_utf8(doc.text));
  size_t previous_end = 0;
  for (const TextBlock& block : doc.blocks) {
    require(block.text_begin >= previous_end && block.text_begin < block.text_end &&
            block.text_end <= doc.text.size());
    previous_end = block.text_end;
  }
  size_t previous_span_end = 0;
  const uint64_t limit =
      doc.positions == PositionSpace::kOriginalFile ? file_size : doc.text.size();
  for (const SourceSpan& span : doc.source_map.spans) {
    require(span.text_begin >= previous_span_end && span.text_begin < span.text_end &&
            span.text_end <= doc.text.size());
    require(span.byte_begin <= span.byte_end && span.byte_end <= limit);
    previous_span_end = span.text_end;
  }
}

inline void check_chunks(const LoadedDocument& doc, size_t file_size, const ChunkOptions& options) {
  auto chunks = chunk_document(doc, count_pieces, options);
  require(chunks.ok());
  const uint64_t limit =
      doc.positions == PositionSpace::kOriginalFile ? file_size : doc.text.size();
  size_t previous_begin = 0;
  for (const Chunk& c : *chunks) {
    // A single code point is never cut, so the budget holds whenever it fits 4 bytes of text.
    if (options.chunk_tokens >= 1) require(c.token_count <= options.chunk_tokens);
    require(c.token_count == count_pieces(c.text));
    require(c.text_begin >= previous_begin && c.text_begin < c.text_end &&
            c.text_end <= doc.text.size());
    require(std::string_view(doc.text).substr(c.text_begin, c.text_end - c.text_begin) == c.text);
    require(c.overlap_bytes < c.text.size() || c.overlap_bytes == 0);
    require(c.byte_begin <= c.byte_end && c.byte_end <= limit);
    require(c.line_begin >= 1 && c.line_begin <= c.line_end);
    require(is_valid_utf8(c.text));
    previous_begin = c.text_begin;
  }
}

// The body of every loader fuzzer: any bytes load without crashing (an error is fine), and a
// document that loads keeps the invariants above, chunked too.
inline int fuzz_loader(const uint8_t* data, size_t size, FileType type) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto doc = load_document_from_memory(bytes, type, "fuzz");
  if (!doc.ok()) return 0;
  check_document(*doc, size);
  ChunkOptions options;
  options.chunk_tokens = 24;
  check_chunks(*doc, size, options);
  return 0;
}

}  // namespace ragkit::retrieval::fuzz
