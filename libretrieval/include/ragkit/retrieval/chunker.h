// chunk_document: a LoadedDocument -> chunks of whole sentences that fit the embedding model.
//
// Sentences are found by ICU's sentence BreakIterator (locale "en@ss=standard": English
// abbreviations such as "Mr." and "e.g." do not end sentences) inside each TextBlock; inside a
// block that is not preformatted a single newline is a space (hard-wrapped prose keeps its
// sentences whole); in a preformatted block (code) each line is a sentence. A sentence never
// crosses a block.
//
// Chunks are filled with whole sentences up to ChunkOptions::chunk_tokens, counted by the
// TokenCounter (the embedding model's own tokenizer, without its special tokens): nothing is
// ever cut by the model later. A sentence longer than the budget is split at ICU word boundaries
// into the longest pieces that fit, and a word longer than the budget at code point boundaries.
// Each chunk after the first of a section starts with the last `overlap_sentences` whole
// sentences of the chunk before (never a piece of a long sentence), only while they take at most
// max_overlap_share of the budget; the overlap counts against the budget.
//
// Sections: a chunk never spans two headings paths or two pages. A heading starts a new chunk
// (its text is the first sentence of that chunk, and heading_path names it), so a search hit
// never mixes two sections and its heading path is true for all of its text. A PDF page change
// starts one too: citations name one page, and that page is then right for every sentence.
// The cost is a short chunk at the end of a section or page; no overlap crosses either.
//
// Chunk text is `text[text_begin, text_end)` of the LoadedDocument (blocks inside a chunk keep
// their "\n\n"), so the chunks of a section concatenated, minus each chunk's first overlap_bytes,
// give the section's sentences in order.
//
// Thread-safety: chunk_document may run concurrently (each call has its own ICU iterators) when
// the counter may.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/retrieval/loaded_document.h"

namespace ragkit::retrieval {

// The number of tokens the embedding model's tokenizer gives `text`, special tokens excluded.
// Must not give fewer tokens for a text than for any of its prefixes cut at a word boundary
// (true of WordPiece, SentencePiece and byte-level BPE in practice).
using TokenCounter = std::function<size_t(std::string_view text)>;

struct ChunkOptions {
  // Token budget of one chunk, overlap included (`--chunk-tokens`).
  size_t chunk_tokens = 200;  // Default: 200
  // Whole sentences repeated from the end of the chunk before (`--overlap`); 0 for none.
  size_t overlap_sentences = 1;  // Default: 1
  // The overlap takes at most this share of chunk_tokens; longer sentences are not repeated.
  double max_overlap_share = 0.15;  // Default: 0.15
  // The model's limit: max_seq_length minus its special tokens. chunk_tokens above it is an
  // error, so a chunk is never truncated by the encoder. The CLI sets it from the model.
  size_t max_tokens = 254;  // Default: 254 (all-MiniLM-L6-v2: 256 minus [CLS] and [SEP])
};

struct Chunk {
  std::string text;
  size_t text_begin = 0;  // [text_begin, text_end) of LoadedDocument::text
  size_t text_end = 0;
  // The first overlap_bytes bytes of `text` repeat the end of the chunk before.
  size_t overlap_bytes = 0;
  // [byte_begin, byte_end) of the original file (LoadedDocument::positions says of what, see
  // loaded_document.h): covers the source of every character of the chunk.
  uint64_t byte_begin = 0;
  uint64_t byte_end = 0;
  uint32_t line_begin = 0;  // 1-based, inclusive
  uint32_t line_end = 0;
  uint32_t page = 0;          // 1-based; 0: not a paged format
  std::string heading_path;   // "Install > Linux"; "" when no heading is above
  size_t token_count = 0;     // TokenCounter(text), never above chunk_tokens
  size_t sentence_count = 0;  // sentences or pieces of sentences, overlap included
};

// Errors: kInvalidArgument for options out of range (chunk_tokens 0 or above max_tokens,
// max_overlap_share outside [0, 1)); kInternal when ICU cannot build its iterators.
Result<std::vector<Chunk>> chunk_document(const LoadedDocument& document,
                                          const TokenCounter& count_tokens,
                                          const ChunkOptions& options = {});

}  // namespace ragkit::retrieval
