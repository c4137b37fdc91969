// TextAnalyzer: ICU word segmentation -> possessives -> case folding -> stop words -> stemming.
//
// Each analyze() call borrows a Worker (break iterator, stemmer, scratch buffers) from a pool, so
// concurrent calls never share ICU or Snowball state and a warm worker analyzes a chunk without
// allocating, apart from the term strings it appends (short terms fit the small-string buffer).
#include "ragkit/retrieval/text_analyzer.h"

#include <libstemmer.h>
#include <unicode/brkiter.h>
#include <unicode/locid.h>
#include <unicode/ubrk.h>
#include <unicode/uchar.h>
#include <unicode/ustring.h>
#include <unicode/utext.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>

namespace ragkit::retrieval {
namespace {

// Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, sorted for binary search.
constexpr std::array<std::string_view, 33> kEnglishStopWords = {
    "a",   "an",    "and",  "are",   "as",    "at",   "be",   "but", "by",  "for",  "if",
    "in",  "into",  "is",   "it",    "no",    "not",  "of",   "on",  "or",  "such", "that",
    "the", "their", "then", "there", "these", "they", "this", "to",  "was", "will", "with"};

bool is_english_stop_word(std::string_view word) {
  return std::binary_search(kEnglishStopWords.begin(), kEnglishStopWords.end(), word);
}

// ICU takes int32_t lengths; a text past this size is analyzed in pieces (see analyze()).
constexpr size_t kMaxPieceBytes = size_t{1} << 28;

// Where to cut `text` (longer than kMaxPieceBytes) so that no word and no UTF-8 sequence is
// split: after the last ASCII space in the final 64 KiB of the piece, else before a lead byte.
size_t piece_end(std::string_view text) {
  const size_t limit = kMaxPieceBytes;
  for (size_t i = limit; i > limit - (size_t{1} << 16); --i) {
    const char c = text[i - 1];
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') return i;
  }
  size_t i = limit;
  while (i > limit - 4 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
  return i;
}

// The per-call state that ICU and Snowball do not let threads share.
struct Worker {
  std::unique_ptr<icu::BreakIterator> words;
  sb_stemmer* stemmer = nullptr;  // owned; null when not stemming
  UText text = UTEXT_INITIALIZER;
  std::u16string utf16;   // the whole text, repaired
  std::u16string folded;  // one word, case-folded
  std::string word;       // one word, case-folded, UTF-8

  Worker() = default;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker() {
    utext_close(&text);
    if (stemmer != nullptr) sb_stemmer_delete(stemmer);
  }
};

}  // namespace

struct TextAnalyzer::Impl {
  AnalyzerOptions options;
  std::string stemmer_algorithm;  // empty when not stemming
  bool english_stop_words = false;

  mutable std::mutex mutex;  // guards prototype (clone() is not documented thread-safe) and idle
  std::unique_ptr<icu::BreakIterator> prototype;
  mutable std::vector<std::unique_ptr<Worker>> idle;

  Result<std::unique_ptr<Worker>> make_worker() const;
  std::unique_ptr<Worker> acquire() const;
  void release(std::unique_ptr<Worker> worker) const;
  void analyze_piece(Worker& w, std::string_view text, std::vector<std::string>& terms) const;
  void add_word(Worker& w, std::u16string_view word, std::vector<std::string>& terms) const;
};

// Called with `mutex` held.
Result<std::unique_ptr<Worker>> TextAnalyzer::Impl::make_worker() const {
  auto w = std::make_unique<Worker>();
  w->words.reset(prototype->clone());
  if (w->words == nullptr) return Status::internal("text analyzer: out of memory cloning ICU");
  if (!stemmer_algorithm.empty()) {
    w->stemmer = sb_stemmer_new(stemmer_algorithm.c_str(), "UTF_8");
    if (w->stemmer == nullptr) {
      return Status::internal("text analyzer: cannot create stemmer '" + stemmer_algorithm + "'");
    }
  }
  return w;
}

std::unique_ptr<Worker> TextAnalyzer::Impl::acquire() const {
  std::lock_guard<std::mutex> lock(mutex);
  if (!idle.empty()) {
    std::unique_ptr<Worker> w = std::move(idle.back());
    idle.pop_back();
    return w;
  }
  // Only fails when memory runs out; the stemmer's name was checked by create().
  auto w = make_worker();
  if (!w.ok()) abort_with_status(w.status());
  return std::move(w).value();
}

void TextAnalyzer::Impl::release(std::unique_ptr<Worker> worker) const {
  std::lock_guard<std::mutex> lock(mutex);
  idle.push_back(std::move(worker));
}

void TextAnalyzer::Impl::analyze_piece(Worker& w, std::string_view text,
                                       std::vector<std::string>& terms) const {
  // Every UTF-8 byte becomes at most one UTF-16 unit (a 4-byte sequence becomes 2), and an
  // invalid sequence becomes one U+FFFD per maximal ill-formed subpart, so size() is enough.
  w.utf16.resize(text.size());
  UErrorCode status = U_ZERO_ERROR;
  int32_t length = 0;
  u_strFromUTF8WithSub(w.utf16.data(), static_cast<int32_t>(w.utf16.size()), &length, text.data(),
                       static_cast<int32_t>(text.size()), 0xFFFD, nullptr, &status);
  if (U_FAILURE(status)) return;  // cannot happen: the buffer is large enough
  utext_openUChars(&w.text, w.utf16.data(), length, &status);
  w.words->setText(&w.text, status);
  if (U_FAILURE(status)) return;

  int32_t start = w.words->first();
  for (int32_t end = w.words->next(); end != icu::BreakIterator::DONE;
       start = end, end = w.words->next()) {
    // UBRK_WORD_NONE covers spaces, punctuation, symbols and emoji; everything at or above the
    // limit is a letter, number, kana or ideographic word.
    if (w.words->getRuleStatus() < UBRK_WORD_NONE_LIMIT) continue;
    add_word(w, std::u16string_view(w.utf16.data() + start, static_cast<size_t>(end - start)),
             terms);
  }
}

void TextAnalyzer::Impl::add_word(Worker& w, std::u16string_view word,
                                  std::vector<std::string>& terms) const {
  if (word.size() > kMaxWordLength) return;
  // Lucene's EnglishPossessiveFilter: a trailing 's after an apostrophe, typographic apostrophe
  // or fullwidth apostrophe. It runs for every language there too; so here.
  if (word.size() >= 2 && (word.back() == u's' || word.back() == u'S')) {
    const char16_t apostrophe = word[word.size() - 2];
    if (apostrophe == u'\'' || apostrophe == u'\u2019' || apostrophe == u'\uFF07') {
      word.remove_suffix(2);
    }
  }
  if (word.empty()) return;

  w.word.clear();
  const bool ascii = std::all_of(word.begin(), word.end(), [](char16_t c) { return c < 0x80; });
  if (ascii) {
    for (char16_t c : word) {
      w.word.push_back(static_cast<char>(c >= u'A' && c <= u'Z' ? c + (u'a' - u'A') : c));
    }
  } else {
    // Full case folding may lengthen a word (ß -> ss, ŉ -> ʼn): at most 3 units per unit.
    UErrorCode status = U_ZERO_ERROR;
    w.folded.resize(word.size() * 3);
    const int32_t folded_length =
        u_strFoldCase(w.folded.data(), static_cast<int32_t>(w.folded.size()), word.data(),
                      static_cast<int32_t>(word.size()), U_FOLD_CASE_DEFAULT, &status);
    if (U_FAILURE(status)) return;
    // Each UTF-16 unit needs at most 3 UTF-8 bytes.
    w.word.resize(static_cast<size_t>(folded_length) * 3);
    int32_t utf8_length = 0;
    u_strToUTF8WithSub(w.word.data(), static_cast<int32_t>(w.word.size()), &utf8_length,
                       w.folded.data(), folded_length, 0xFFFD, nullptr, &status);
    if (U_FAILURE(status)) return;
    w.word.resize(static_cast<size_t>(utf8_length));
  }
  // ICU never puts a control character inside a word; the index's keys depend on it, so check.
  if (w.word.find('\0') != std::string::npos) return;
  if (english_stop_words && is_english_stop_word(w.word)) return;

  if (w.stemmer == nullptr) {
    terms.push_back(w.word);
    return;
  }
  const sb_symbol* stem =
      sb_stemmer_stem(w.stemmer, reinterpret_cast<const sb_symbol*>(w.word.data()),
                      static_cast<int>(w.word.size()));
  const int stem_length = sb_stemmer_length(w.stemmer);
  if (stem == nullptr || stem_length <= 0) return;  // null: Snowball ran out of memory
  terms.emplace_back(reinterpret_cast<const char*>(stem), static_cast<size_t>(stem_length));
}

Result<std::unique_ptr<TextAnalyzer>> TextAnalyzer::create(AnalyzerOptions options) {
  auto impl = std::make_unique<Impl>();
  const bool english = options.language == "english";
  impl->english_stop_words = english && options.remove_stop_words;
  if (options.stem) impl->stemmer_algorithm = english ? "porter" : options.language;
  impl->options = std::move(options);

  UErrorCode status = U_ZERO_ERROR;
  impl->prototype.reset(icu::BreakIterator::createWordInstance(icu::Locale::getRoot(), status));
  if (U_FAILURE(status) || impl->prototype == nullptr) {
    return Status::internal(std::string("text analyzer: ICU word break iterator: ") +
                            u_errorName(status));
  }

  // Check the language now, with the first worker, instead of on first use.
  if (!impl->stemmer_algorithm.empty()) {
    sb_stemmer* probe = sb_stemmer_new(impl->stemmer_algorithm.c_str(), "UTF_8");
    if (probe == nullptr) {
      std::string known;
      for (const char** name = sb_stemmer_list(); *name != nullptr; ++name) {
        if (!known.empty()) known += ", ";
        known += *name;
      }
      return Status::invalid_argument("text analyzer: no stemmer for language '" +
                                      impl->options.language + "'; known: " + known);
    }
    sb_stemmer_delete(probe);
  }
  {
    std::lock_guard<std::mutex> lock(impl->mutex);
    RAGKIT_ASSIGN_OR_RETURN(std::unique_ptr<Worker> first, impl->make_worker());
    impl->idle.push_back(std::move(first));
  }
  return std::unique_ptr<TextAnalyzer>(new TextAnalyzer(std::move(impl)));
}

TextAnalyzer::TextAnalyzer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TextAnalyzer::~TextAnalyzer() = default;

const AnalyzerOptions& TextAnalyzer::options() const { return impl_->options; }

void TextAnalyzer::analyze(std::string_view text, std::vector<std::string>& terms) const {
  std::unique_ptr<Worker> worker = impl_->acquire();
  while (text.size() > kMaxPieceBytes) {
    const size_t end = piece_end(text);
    impl_->analyze_piece(*worker, text.substr(0, end), terms);
    text.remove_prefix(end);
  }
  impl_->analyze_piece(*worker, text, terms);
  impl_->release(std::move(worker));
}

}  // namespace ragkit::retrieval
