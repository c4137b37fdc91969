// TextAnalyzer: text -> index terms, the same way for chunks at indexing time and for queries.
//
// The pipeline is modelled on Lucene's EnglishAnalyzer, the analyzer behind the published BM25
// baselines (Anserini's BEIR runs), so our BM25 figures can be compared with theirs:
//
//   UTF-8 (invalid bytes repaired to U+FFFD)
//     -> ICU word segmentation (UAX #29, dictionaries for CJK and Thai); only segments that ICU
//        tags as words, numbers, kana or ideographs are kept, punctuation and spaces are not
//     -> English possessive removal ("John's", "John’s" -> "John")
//     -> Unicode case folding ("Straße" and "STRASSE" both -> "strasse")
//     -> stop words (Lucene's 33-word English set), optional
//     -> stemming (Porter for English, as Lucene's PorterStemFilter; Snowball otherwise), optional
//
// Differences from Lucene, on purpose: full case folding instead of lower-casing (ß -> ss); a
// word longer than kMaxWordLength UTF-16 units (a hash, a base64 blob) is dropped rather than
// split; emoji are not terms.
//
// Terms are non-empty, valid UTF-8 and never contain a NUL byte (the lexical index relies on
// that for its key layout).
//
// Thread-safety: analyze() may be called concurrently from any number of threads. The ICU break
// iterator and the Snowball stemmer are not thread-safe, so each call borrows a private set of
// them from a pool inside the analyzer (created on first need, reused afterwards).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"

namespace ragkit::retrieval {

struct AnalyzerOptions {
  // Snowball algorithm name (see libstemmer's sb_stemmer_list(): "english", "german", ...).
  // "english" stems with the original Porter algorithm, which is what Lucene's EnglishAnalyzer
  // uses, not with Snowball's newer "english" (Porter2) algorithm.
  // Default: "english"
  std::string language = "english";
  // Reduce words to their stem ("running", "runs" -> "run").
  // Default: true
  bool stem = true;
  // Drop Lucene's English stop words ("the", "of", ...). Only English has a stop-word list;
  // for other languages this option has no effect.
  // Default: true
  bool remove_stop_words = true;
};

class TextAnalyzer {
 public:
  // Words longer than this many UTF-16 code units are dropped (Lucene's StandardTokenizer limit).
  static constexpr size_t kMaxWordLength = 255;

  // Fails with invalid_argument when `options.language` has no stemmer.
  static Result<std::unique_ptr<TextAnalyzer>> create(AnalyzerOptions options = {});
  ~TextAnalyzer();
  TextAnalyzer(const TextAnalyzer&) = delete;
  TextAnalyzer& operator=(const TextAnalyzer&) = delete;

  // Appends the terms of `text`, in text order, to `terms` (which is not cleared). Any bytes are
  // accepted: invalid UTF-8 becomes U+FFFD, which is not part of any word.
  void analyze(std::string_view text, std::vector<std::string>& terms) const;

  const AnalyzerOptions& options() const;

 private:
  struct Impl;
  explicit TextAnalyzer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ragkit::retrieval
