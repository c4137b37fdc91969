// split_words(): the pre-tokenizers of BpeTokenizer, as llama.cpp's unicode_regex_split runs them.
//
// A pre-tokenizer is a list of passes. The text starts as one segment; each pass splits every
// segment into the pass's matches and the gaps between them, both kept (llama.cpp's
// unicode_regex_split_stl and custom splitters). Two passes are llama.cpp's hand-written
// scanners (GPT-2's and Llama 3's regexes) transcribed rule by rule, quirks included; the others
// reproduce std::regex over llama.cpp's "collapsed" text, where every non-ASCII code point stands
// for its class (\p{L}, \p{N}, \p{P}, White_Space as \s) and non-ASCII whitespace never matches
// an explicit character range.
//
// Thread-safety: free functions over the caller's scratch.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "ragkit/embed/bpe_tokenizer.h"

namespace ragkit::embed::detail {

struct SplitScratch {
  std::vector<char32_t> code_points;
  std::vector<uint16_t> flags;
  std::vector<uint32_t> byte_offsets;  // of each code point, then the text's size
  std::vector<uint32_t> ends;          // segment ends, in code points
  std::vector<uint32_t> next_ends;
};

// Appends to `word_ends` the end (byte offset into `text`) of each word of `text`, in order;
// the words cover the text. `text` must be valid UTF-8.
void split_words(PreTokenizer pre_tokenizer, std::string_view text,
                 std::vector<uint32_t>& word_ends, SplitScratch& scratch);

}  // namespace ragkit::embed::detail
