// WordPieceTokenizer: BERT's tokenizer, exactly as Hugging Face's BertTokenizer / tokenizers'
// BertNormalizer + BertPreTokenizer + WordPiece do it:
//   1. clean text: drop U+0000, U+FFFD and control characters (Cc/Cf except \t \n \r), map
//      whitespace to ' ';
//   2. put spaces around CJK ideographs (handle_chinese_chars);
//   3. lower-case and strip accents (NFD, drop Mn) through ICU, when configured;
//   4. split on whitespace and on every punctuation character (ASCII symbol ranges + Unicode P*);
//   5. greedy longest-match-first WordPiece with the "##" continuation prefix; a word longer than
//      max_input_chars_per_word or with no match becomes [UNK].
// encode() wraps the ids in [CLS] ... [SEP].
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/embed/tokenizer.h"

namespace ragkit::embed {

struct WordPieceOptions {
  // Lower-case the text. Default: true (uncased models).
  bool lowercase = true;
  // Strip accents; unset means "same as lowercase" (BertTokenizer's rule). Default: unset.
  std::optional<bool> strip_accents;
  // Put spaces around CJK ideographs. Default: true.
  bool handle_chinese_chars = true;
  // Remove control characters and normalise whitespace. Default: true.
  bool clean_text = true;
  // Words longer than this many code points become [UNK]. Default: 100.
  size_t max_input_chars_per_word = 100;
  std::string continuing_subword_prefix = "##";
  std::string unk_token = "[UNK]";
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  std::string mask_token = "[MASK]";
};

class WordPieceTokenizer final : public Tokenizer {
 public:
  // `vocab[i]` is the text of token i ("##" prefix for continuations).
  static Result<std::unique_ptr<WordPieceTokenizer>> from_vocab(std::vector<std::string> vocab,
                                                                WordPieceOptions options);
  // vocab.txt: one token per line; options from tokenizer_config.json beside it when present.
  static Result<std::unique_ptr<WordPieceTokenizer>> from_vocab_file(const std::string& path,
                                                                     WordPieceOptions options);
  // tokenizer.json (Hugging Face tokenizers) with a WordPiece model and a BertNormalizer.
  static Result<std::unique_ptr<WordPieceTokenizer>> from_tokenizer_json(std::string_view json,
                                                                         const std::string& name);
  // llama.cpp's GGUF spelling of a BERT vocabulary: word-initial tokens carry a U+2581 prefix,
  // continuation tokens have no "##", [bracketed] special tokens are unchanged.
  static Result<std::unique_ptr<WordPieceTokenizer>> from_gguf_vocab(
      const std::vector<std::string>& tokens, WordPieceOptions options);

  std::vector<TokenId> tokenize(std::string_view text) const override;
  std::vector<TokenId> encode(std::string_view text) const override;
  size_t n_special_tokens() const override { return 2; }
  bool add_special_tokens(std::vector<TokenId>& ids, size_t max_tokens) const override;
  size_t vocab_size() const override { return vocab_.size(); }
  std::string_view token_text(TokenId id) const override;
  std::optional<TokenId> token_id(std::string_view text) const override;
  const char* kind() const override { return "wordpiece"; }

  TokenId cls_id() const { return cls_id_; }
  TokenId sep_id() const { return sep_id_; }
  TokenId unk_id() const { return unk_id_; }
  TokenId pad_id() const { return pad_id_; }
  const WordPieceOptions& options() const { return options_; }

 private:
  WordPieceTokenizer() = default;
  WordPieceOptions options_;
  std::vector<std::string> vocab_;
  std::unordered_map<std::string, TokenId> index_;
  TokenId cls_id_ = -1, sep_id_ = -1, unk_id_ = -1, pad_id_ = -1;
};

}  // namespace ragkit::embed
