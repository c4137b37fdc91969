// Private to the loaders: turning file bytes into valid UTF-8 (decode_utf8), and assembling a
// LoadedDocument's text, blocks and source map piece by piece (DocumentBuilder).
//
// Loaders parse the DECODED text (cmark and gumbo need valid UTF-8, and cmark must not see a
// BOM); DocumentBuilder composes the positions they give, which are offsets into the decoded
// text, with the decoder's map, so the document's source map points into the original bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/retrieval/loaded_document.h"

namespace ragkit::retrieval::ingest {

struct DecodedText {
  std::string text;  // valid UTF-8, no BOM, no NUL
  SourceMap map;     // text -> original bytes
  std::vector<std::string> warnings;
};

// Strips a UTF-8 BOM; replaces every byte that does not begin a valid UTF-8 sequence (and NUL)
// with U+FFFD (3 bytes of text mapped to that 1 source byte); one warning names the first
// offset and how many bytes were replaced.
DecodedText decode_utf8(std::string_view bytes);

class DocumentBuilder {
 public:
  // `decoded` is the map from the text the loader parses to the file; nullptr when the loader's
  // positions are already final (PDF).
  DocumentBuilder(LoadedDocument& document, const SourceMap* decoded);

  // Ends the open block, if any, and opens one. Blocks are separated by "\n\n" in the text.
  void begin_block(std::string heading_path, uint32_t page, bool preformatted);
  // Closes the open block: trims its edge whitespace; a block with no text is removed.
  void end_block();
  bool block_open() const { return open_; }
  // The text of the open block so far ("" when none is open).
  std::string_view open_block_text() const;

  // Appends `piece`, the text of positions [begin, end) of the parsed text.
  void append(std::string_view piece, size_t begin, size_t end);
  // Appends text with no position of its own (a space between words, a newline).
  void append_unmapped(std::string_view piece);
  // Appends `piece` with every run of ASCII whitespace collapsed to one space (none at the start
  // of a block or after a space). Each word is located in `source` (the parsed text) searching
  // forward from the cursor within [window_begin, window_end); a word not found there (an
  // entity, an escape) maps to the cursor's neighbourhood, atomically.
  void append_words(std::string_view piece, std::string_view source, size_t window_begin,
                    size_t window_end);
  // Appends `piece` verbatim, located in `source` as append_words locates a word.
  void append_located(std::string_view piece, std::string_view source, size_t window_begin,
                      size_t window_end);
  // Gives the open block its heading path (a heading's path is known only after its text).
  void set_open_block_heading(std::string heading_path) {
    pending_.heading_path = std::move(heading_path);
  }
  // Where append_words starts looking; loaders set it at each block's source start.
  void set_cursor(size_t position) { cursor_ = position; }

 private:
  LoadedDocument& document_;
  const SourceMap* decoded_;
  bool open_ = false;
  size_t block_start_ = 0;      // text offset where the open block's text starts
  size_t separator_start_ = 0;  // text offset before the open block's separator
  size_t cursor_ = 0;
  TextBlock pending_;
};

}  // namespace ragkit::retrieval::ingest
