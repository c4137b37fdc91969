// Tokenizer: text -> token ids, the interface every vocabulary type implements
// (WordPiece for BERT-family encoders; SentencePiece-BPE and byte-level BPE for generators).
//
// Thread-safety: a constructed tokenizer is immutable; encode() may be called concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ragkit::embed {

using TokenId = int32_t;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Token ids of `text`, without special tokens. Invalid UTF-8 is treated as U+FFFD.
  virtual std::vector<TokenId> tokenize(std::string_view text) const = 0;
  // Ids with the special tokens the model adds to one input ([CLS] ... [SEP] for BERT).
  virtual std::vector<TokenId> encode(std::string_view text) const = 0;
  // How many special tokens encode() adds around the text (2 for BERT).
  virtual size_t n_special_tokens() const = 0;
  // encode() for a text whose tokenize() result is given, truncating the text's ids so that the
  // result has at most max_tokens ids. Returns whether anything was cut.
  virtual bool add_special_tokens(std::vector<TokenId>& ids, size_t max_tokens) const = 0;

  virtual size_t vocab_size() const = 0;
  // The vocabulary entry, as the model's vocabulary spells it ("##ing", "[CLS]").
  virtual std::string_view token_text(TokenId id) const = 0;
  virtual std::optional<TokenId> token_id(std::string_view text) const = 0;
  // "wordpiece", "spm", "bpe".
  virtual const char* kind() const = 0;
};

}  // namespace ragkit::embed
