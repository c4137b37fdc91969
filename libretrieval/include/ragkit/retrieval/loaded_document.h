// LoadedDocument: a file turned into UTF-8 text, with what the chunker needs to say where every
// piece of that text came from.
//
// `text` is what gets chunked and embedded: markup removed, entities decoded, invalid UTF-8
// repaired. It is cut into TextBlocks (paragraphs, headings, list items, code blocks, PDF pages'
// paragraphs) joined by "\n\n"; each block carries its heading path and page. The chunker never
// lets a sentence cross a block.
//
// Positions. `source_map` maps byte offsets of `text` back to byte offsets of the ORIGINAL file
// (PositionSpace::kOriginalFile) with a sorted list of SourceSpans. A span whose text and source
// lengths are equal maps byte for byte (text copied verbatim: prose, a word of HTML). Where the
// loader changed the length, the span is atomic: every offset inside maps to the span's whole
// source range. So
//   - a repaired invalid byte (1 source byte -> 3 bytes of U+FFFD) maps to that one byte;
//   - a stripped BOM maps nowhere: text offset 0 is source byte 3;
//   - CRLF -> "\n" maps the "\n" to both bytes;
//   - "&amp;" -> "&" maps "&" to the 5 bytes of the entity;
//   - text between spans (a separator the loader inserted) maps to the end of the span before.
// A chunk's byte range [source_begin(first byte), source_end(last byte + 1)) therefore always
// covers the source of every character in the chunk, and is exact for verbatim text.
// PDF text has no byte position in the (compressed) file: there the positions are offsets into
// `text` itself (PositionSpace::kExtractedText) and lines are lines of the page's extracted text.
//
// Lines are 1-based; "\n", "\r\n" and a lone "\r" each end a line (what cmark, browsers and
// editors count). Pages are 1-based; 0 means the format has none.
//
// Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ragkit::retrieval {

struct SourceSpan {
  size_t text_begin = 0;  // [text_begin, text_end) of the loaded text
  size_t text_end = 0;
  uint64_t byte_begin = 0;  // [byte_begin, byte_end) of the source
  uint64_t byte_end = 0;

  bool verbatim() const { return text_end - text_begin == byte_end - byte_begin; }
};

// Text offsets -> source offsets through sorted, non-overlapping spans (see the header comment).
struct SourceMap {
  std::vector<SourceSpan> spans;  // sorted by text_begin, non-overlapping

  // Source offset of the character starting at text offset `t`.
  uint64_t source_begin(size_t t) const;
  // Source offset just past the character ending at text offset `t` (exclusive end).
  uint64_t source_end(size_t t) const;
  // Appends a span, merging it into the last one when both are verbatim and contiguous on both
  // sides. Empty text ranges are dropped.
  void add(SourceSpan span);
};

struct TextBlock {
  size_t text_begin = 0;  // [text_begin, text_end) of LoadedDocument::text, no edge whitespace
  size_t text_end = 0;
  // The headings above the block, outermost first, joined by " > ": "Install > Linux". A
  // heading's own block carries its own heading last.
  std::string heading_path;
  uint32_t page = 0;  // 1-based; 0: not a paged format
  // Lines are its units (code, <pre>): the chunker takes each line as a sentence instead of
  // letting ICU find sentences across them.
  bool preformatted = false;
};

enum class PositionSpace {
  kOriginalFile,   // byte and line positions are those of the file on disk
  kExtractedText,  // positions are offsets into LoadedDocument::text (PDF)
};

struct LoadedDocument {
  std::string text;   // valid UTF-8
  std::string title;  // HTML <title>, PDF Title, else the first heading; may be empty
  // For a person, one line each: "invalid UTF-8 at byte 17 (2 places) replaced with U+FFFD".
  std::vector<std::string> warnings;
  std::vector<TextBlock> blocks;  // in text order, non-overlapping
  SourceMap source_map;
  PositionSpace positions = PositionSpace::kOriginalFile;
  // Offset (in the position space) where each line starts; line_starts[0] == 0.
  std::vector<uint64_t> line_starts;
  // kExtractedText only: offset where the text of each page that has text starts, in order.
  std::vector<uint64_t> page_starts;

  // The 1-based line holding position `offset` (in the position space); for PDF, counted from
  // the first line of its page.
  uint32_t line_at(uint64_t offset) const;
};

// Where each line of `bytes` starts ("\n", "\r\n" and a lone "\r" end lines).
std::vector<uint64_t> compute_line_starts(std::string_view bytes);

}  // namespace ragkit::retrieval
