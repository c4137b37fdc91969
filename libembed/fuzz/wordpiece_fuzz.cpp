// libFuzzer target for the WordPiece tokenizer. The bytes are tokenized as text (invalid UTF-8,
// controls, every script) by two tokenizers built once from a small vocabulary: one with BERT's
// defaults and one cased without cleaning or CJK splitting, so both normalisation paths run.
// When the first byte is odd ('{' is) the bytes are also loaded as a tokenizer.json, and when
// the first byte is 2 mod 4 their lines become a GGUF-spelled vocabulary; a tokenizer that loads
// must then tokenize without breaking the invariants checked below.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/embed/wordpiece_tokenizer.h"

namespace {

using ragkit::embed::TokenId;
using ragkit::embed::WordPieceOptions;
using ragkit::embed::WordPieceTokenizer;

std::vector<std::string> builtin_vocab() {
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (char c = 33; c < 127; ++c) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum) vocab.emplace_back(1, c);
  }
  for (char c = '0'; c <= '9'; ++c) {
    vocab.emplace_back(1, c);
    vocab.push_back(std::string("##") + c);
  }
  for (char c = 'a'; c <= 'z'; ++c) {
    vocab.emplace_back(1, c);
    vocab.push_back(std::string("##") + c);
  }
  // English words and pieces, then accented, Greek, Cyrillic, CJK and kana pieces, non-ASCII
  // punctuation, a lone combining accent, and tokens made only of the continuation prefix.
  constexpr std::string_view kPieces =
      "the of and to in is for with that hello world token ##ization ##s ##es ##ing ##ed ##ly un "
      "##able re ##set pass ##word cafe de ##ja vu na ##ive zur ##ich sao paulo th ##e ##he ##ll "
      "##llo ##or ##ld an ##d quick brown fox Hello World HELLO "
      "caf\xC3\xA9 \xC3\xA9 ##\xC3\xA9 \xC3\x9F \xCF\x83 \xCF\x82 \xCE\xBF ##\xCE\xB4 ##\xCE\xBF "
      "##\xCF\x83 \xD0\xB6 ##\xD0\xB6 \xD0\xBC\xD0\xB8\xD1\x80 \xE5\x8C\x97 \xE4\xBA\xAC "
      "##\xE4\xBA\xAC \xE5\xA4\xA7 \xE5\xAD\xA6 \xE3\x81\x82 ##\xE3\x81\x82 \xE2\x80\x94 \xC2\xAB "
      "\xC2\xBB \xE2\x80\x9C \xE2\x80\x9D \xC2\xBD \xEF\xAC\x81 ##\xCC\x81 ## #### [unused0] [ ]";
  for (size_t start = 0; start < kPieces.size();) {
    size_t end = kPieces.find(' ', start);
    if (end == std::string_view::npos) end = kPieces.size();
    vocab.emplace_back(kPieces.substr(start, end - start));
    start = end + 1;
  }
  return vocab;
}

std::unique_ptr<WordPieceTokenizer> make_tokenizer(WordPieceOptions options) {
  auto result = WordPieceTokenizer::from_vocab(builtin_vocab(), std::move(options));
  if (!result.ok()) __builtin_trap();
  return std::move(result).value();
}

const WordPieceTokenizer& bert_tokenizer() {
  static const std::unique_ptr<WordPieceTokenizer> tokenizer = make_tokenizer({});
  return *tokenizer;
}

const WordPieceTokenizer& raw_tokenizer() {
  static const std::unique_ptr<WordPieceTokenizer> tokenizer = [] {
    WordPieceOptions options;
    options.lowercase = false;
    options.strip_accents = true;
    options.clean_text = false;
    options.handle_chinese_chars = false;
    options.max_input_chars_per_word = 8;
    return make_tokenizer(options);
  }();
  return *tokenizer;
}

// What must hold for any text: ids in range, tokenize() deterministic, encode() is
// [CLS] tokenize() [SEP], add_special_tokens() truncates exactly when it says so.
void check(const WordPieceTokenizer& tokenizer, std::string_view text) {
  const std::vector<TokenId> ids = tokenizer.tokenize(text);
  for (TokenId id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= tokenizer.vocab_size()) __builtin_trap();
  }
  if (tokenizer.tokenize(text) != ids) __builtin_trap();
  const std::vector<TokenId> encoded = tokenizer.encode(text);
  if (encoded.size() != ids.size() + 2 || encoded.front() != tokenizer.cls_id() ||
      encoded.back() != tokenizer.sep_id() ||
      !std::equal(ids.begin(), ids.end(), encoded.begin() + 1)) {
    __builtin_trap();
  }
  std::vector<TokenId> limited = ids;
  const bool cut = tokenizer.add_special_tokens(limited, 8);
  if (cut != (ids.size() > 6) || limited.size() != std::min<size_t>(ids.size(), 6) + 2) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  check(bert_tokenizer(), bytes);
  check(raw_tokenizer(), bytes);
  if (size == 0) return 0;

  if (data[0] & 1) {
    auto loaded = WordPieceTokenizer::from_tokenizer_json(bytes, "fuzz.json");
    if (loaded.ok()) {
      check(**loaded, "Hello, w\xC3\xB6rld! \xE5\x8C\x97\xE4\xBA\xAC [SEP] ##x \xFF");
      check(**loaded, bytes);
    }
  } else if ((data[0] & 3) == 2) {
    std::vector<std::string> tokens = {"[UNK]", "[CLS]", "[SEP]"};
    size_t start = 1;
    while (start <= size) {
      size_t end = bytes.find('\n', start);
      if (end == std::string_view::npos) end = size;
      tokens.emplace_back(bytes.substr(start, end - start));
      start = end + 1;
    }
    auto loaded = WordPieceTokenizer::from_gguf_vocab(tokens, {});
    if (!loaded.ok()) __builtin_trap();  // [UNK], [CLS] and [SEP] are there
    check(**loaded, bytes);
  }
  return 0;
}
