// VocabTokenizer: what the generator tokenizers (SentencePiece-BPE, byte-level BPE) share — the
// Tokenizer methods that only need the vocabulary (special tokens, BOS/EOS, pieces, lookups)
// and the four entry points, written once over the one thing each subclass provides:
// tokenize_into(), its segmentation of text into ids.
//
// Thread-safety: as Tokenizer — immutable after construction.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "ragkit/embed/tokenizer.h"

namespace ragkit::embed {

namespace detail {
class Vocab;
}  // namespace detail

class VocabTokenizer : public Tokenizer {
 public:
  std::vector<TokenId> tokenize(std::string_view text) const final;
  std::vector<TokenId> tokenize_special(std::string_view text) const final;
  std::vector<TokenId> encode(std::string_view text) const final;
  std::vector<TokenId> encode_prompt(std::string_view text) const final;
  size_t n_special_tokens() const final;
  bool add_special_tokens(std::vector<TokenId>& ids, size_t max_tokens) const final;
  size_t vocab_size() const final;
  std::string_view token_text(TokenId id) const final;
  std::optional<TokenId> token_id(std::string_view text) const final;
  std::string_view token_piece(TokenId id) const final;
  std::optional<TokenId> bos_id() const final;
  std::optional<TokenId> eos_id() const final;
  bool is_end_of_generation(TokenId id) const final;
  bool is_control(TokenId id) const final;

 protected:
  // Appends the ids of `text` to `out`; with parse_special, control/user-defined token texts
  // become those tokens.
  virtual void tokenize_into(std::string_view text, bool parse_special,
                             std::vector<TokenId>& out) const = 0;
  virtual const detail::Vocab& vocab() const = 0;

 private:
  std::vector<TokenId> run(std::string_view text, bool parse_special, bool add_special) const;
};

}  // namespace ragkit::embed
