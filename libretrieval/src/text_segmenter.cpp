#include "ragkit/retrieval/text_segmenter.h"

#include <unicode/locid.h>
#include <unicode/utext.h>

namespace ragkit::retrieval {

Result<TextSegmenter> TextSegmenter::create() {
  TextSegmenter segmenter;
  UErrorCode status = U_ZERO_ERROR;
  // "ss=standard": ICU's suppressions, so "Mr. Smith" or "e.g. this" are not two sentences.
  const icu::Locale locale("en@ss=standard");
  segmenter.sentences_.reset(icu::BreakIterator::createSentenceInstance(locale, status));
  if (U_FAILURE(status) || !segmenter.sentences_) {
    return Status::internal(std::string("ICU sentence break iterator: ") + u_errorName(status));
  }
  status = U_ZERO_ERROR;
  segmenter.words_.reset(icu::BreakIterator::createWordInstance(icu::Locale::getRoot(), status));
  if (U_FAILURE(status) || !segmenter.words_) {
    return Status::internal(std::string("ICU word break iterator: ") + u_errorName(status));
  }
  return segmenter;
}

std::vector<size_t> TextSegmenter::boundaries(icu::BreakIterator& iterator,
                                              std::string_view text) const {
  std::vector<size_t> out = {0};
  if (text.empty()) return out;
  UErrorCode status = U_ZERO_ERROR;
  UText* utext = utext_openUTF8(nullptr, text.data(), static_cast<int64_t>(text.size()), &status);
  if (U_SUCCESS(status)) iterator.setText(utext, status);
  if (U_SUCCESS(status)) {
    for (int32_t b = iterator.next(); b != icu::BreakIterator::DONE; b = iterator.next()) {
      const size_t offset = static_cast<size_t>(b);
      if (offset > out.back() && offset <= text.size()) out.push_back(offset);
    }
  }
  // The iterator keeps a pointer to the UText; point it at nothing before closing it.
  UErrorCode reset_status = U_ZERO_ERROR;
  UText* empty = utext_openUTF8(nullptr, "", 0, &reset_status);
  iterator.setText(empty, reset_status);
  utext_close(utext);
  utext_close(empty);
  if (out.back() != text.size()) out.push_back(text.size());
  return out;
}

std::vector<size_t> TextSegmenter::sentence_boundaries(std::string_view text) const {
  return boundaries(*sentences_, text);
}

std::vector<size_t> TextSegmenter::word_boundaries(std::string_view text) const {
  return boundaries(*words_, text);
}

}  // namespace ragkit::retrieval
