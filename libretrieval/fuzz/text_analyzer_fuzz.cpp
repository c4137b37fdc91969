// libFuzzer target for TextAnalyzer: arbitrary bytes (invalid UTF-8, controls, every script,
// lone surrogates, combining marks, dictionary scripts) go through the default English analyzer
// and through one that only segments and folds. What must hold for any input:
//   - every term is non-empty, well-formed UTF-8 and free of NUL bytes (the index's keys rely on
//     it) and no longer than a folded, stemmed word can be;
//   - analyze() is deterministic and appends without touching what `terms` already held;
//   - stop words and stemming never add terms: the English analyzer gives at most as many terms
//     as the segmenting one.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/utf8.h"
#include "ragkit/retrieval/text_analyzer.h"

namespace {

using ragkit::retrieval::AnalyzerOptions;
using ragkit::retrieval::TextAnalyzer;

std::unique_ptr<TextAnalyzer> make(AnalyzerOptions options) {
  auto analyzer = TextAnalyzer::create(std::move(options));
  if (!analyzer.ok()) __builtin_trap();
  return std::move(analyzer).value();
}

const TextAnalyzer& english() {
  static const std::unique_ptr<TextAnalyzer> analyzer = make({});
  return *analyzer;
}

const TextAnalyzer& segmenting() {
  static const std::unique_ptr<TextAnalyzer> analyzer = [] {
    AnalyzerOptions options;
    options.stem = false;
    options.remove_stop_words = false;
    return make(options);
  }();
  return *analyzer;
}

void check_terms(const std::vector<std::string>& terms, size_t from) {
  // A word has at most kMaxWordLength UTF-16 units; folding triples them at most and each unit
  // takes at most 3 UTF-8 bytes.
  constexpr size_t kMaxTermBytes = TextAnalyzer::kMaxWordLength * 3 * 3;
  for (size_t i = from; i < terms.size(); ++i) {
    const std::string& term = terms[i];
    if (term.empty() || term.size() > kMaxTermBytes) __builtin_trap();
    if (term.find('\0') != std::string::npos) __builtin_trap();
    if (!ragkit::is_valid_utf8(term)) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  std::vector<std::string> words = {"kept"};
  segmenting().analyze(text, words);
  if (words.empty() || words.front() != "kept") __builtin_trap();
  check_terms(words, 1);

  std::vector<std::string> terms;
  english().analyze(text, terms);
  check_terms(terms, 0);
  if (terms.size() > words.size() - 1) __builtin_trap();

  std::vector<std::string> again;
  english().analyze(text, again);
  if (again != terms) __builtin_trap();
  return 0;
}
