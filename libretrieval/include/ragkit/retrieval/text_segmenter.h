// TextSegmenter: ICU sentence and word boundaries of UTF-8 text, as byte offsets.
//
// ICU iterates the UTF-8 bytes directly through a UText (no UTF-16 copy), so its boundaries are
// byte offsets into the string given. Creating the iterators loads ICU's rules (tens of
// microseconds); one segmenter serves a whole document.
//
// Thread-safety: not thread-safe (the iterators keep state); one per thread.
#pragma once

#include <unicode/brkiter.h>

#include <memory>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"

namespace ragkit::retrieval {

class TextSegmenter {
 public:
  static Result<TextSegmenter> create();

  // Boundaries of `text` (valid UTF-8), 0 and text.size() included, increasing.
  std::vector<size_t> sentence_boundaries(std::string_view text) const;
  std::vector<size_t> word_boundaries(std::string_view text) const;

 private:
  std::vector<size_t> boundaries(icu::BreakIterator& iterator, std::string_view text) const;
  std::unique_ptr<icu::BreakIterator> sentences_;
  std::unique_ptr<icu::BreakIterator> words_;
};

}  // namespace ragkit::retrieval
