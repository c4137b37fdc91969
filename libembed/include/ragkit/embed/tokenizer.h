// Tokenizer: text <-> token ids, the interface every vocabulary type implements: WordPiece for
// BERT-family encoders (WordPieceTokenizer), SentencePiece-BPE (SpmTokenizer) and byte-level BPE
// (BpeTokenizer) for generators. The rules follow llama.cpp's llama_tokenize/llama_detokenize;
// the implementations say where they differ and why.
//
// Three ways in:
//   tokenize(text)         plain text, nothing added. Control-token text ("<|im_end|>", "</s>")
//                          is tokenized as ordinary characters, so a document can never inject a
//                          control token. User-defined tokens (type 4: added words, runs of
//                          spaces) are matched wherever their text occurs, as llama.cpp and
//                          Hugging Face do; they are text, not control.
//   tokenize_special(text) llama_tokenize(parse_special = true): control, user-defined and
//                          unknown-type token texts become those tokens, the text between them
//                          is tokenized as by tokenize(). For prompt templates we write ourselves.
//   encode(text)           tokenize() plus what the model adds to one input ([CLS] .. [SEP], BOS,
//                          EOS when the vocabulary asks): llama_tokenize(add_special = true).
//   encode_prompt(text)    encode() with tokenize_special(): the generator's prompt path.
//
// And out: token_piece(id) gives the bytes a token stands for (control tokens: none), decode()
// concatenates them, TokenTextStream (token_text_stream.h) turns a stream of ids into valid UTF-8.
//
// Thread-safety: a constructed tokenizer is immutable; every method may be called concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
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
  // Like tokenize(), but the texts of control, user-defined and unknown-type tokens become those
  // tokens. Default: tokenize() (vocabularies without such tokens).
  virtual std::vector<TokenId> tokenize_special(std::string_view text) const;
  // Ids with the special tokens the model adds to one input ([CLS] ... [SEP] for BERT, BOS for
  // Llama).
  virtual std::vector<TokenId> encode(std::string_view text) const = 0;
  // encode() over tokenize_special(): llama_tokenize(add_special = true, parse_special = true).
  // Default: encode().
  virtual std::vector<TokenId> encode_prompt(std::string_view text) const;
  // How many special tokens encode() adds around the text (2 for BERT, 1 for Llama's BOS).
  virtual size_t n_special_tokens() const = 0;
  // encode() for a text whose tokenize() result is given, truncating the text's ids so that the
  // result has at most max_tokens ids. Returns whether anything was cut.
  virtual bool add_special_tokens(std::vector<TokenId>& ids, size_t max_tokens) const = 0;

  virtual size_t vocab_size() const = 0;
  // The vocabulary entry, as the model's vocabulary spells it ("##ing", "[CLS]", "▁the", "Ġthe").
  virtual std::string_view token_text(TokenId id) const = 0;
  virtual std::optional<TokenId> token_id(std::string_view text) const = 0;
  // "wordpiece", "spm", "bpe".
  virtual const char* kind() const = 0;

  // The bytes token `id` decodes to, as llama_token_to_piece(special = false): "▁the" -> " the",
  // "<0xE2>" -> the byte 0xE2, "Ġthe" -> " the"; control, unknown-type and unused tokens and ids
  // out of range -> "". May be part of a UTF-8 character. The view lives as long as the tokenizer.
  virtual std::string_view token_piece(TokenId id) const = 0;
  std::string token_to_piece(TokenId id) const { return std::string(token_piece(id)); }
  // Whether decode() drops one leading space of the first token's piece: true for vocabularies
  // that prepend a space when tokenizing (SentencePiece's add_space_prefix), as
  // llama_detokenize does. Default: false.
  virtual bool strips_leading_space() const { return false; }
  // The pieces of `ids` concatenated, exactly (no clean-up of spaces before punctuation), minus
  // one leading space of the first piece when strips_leading_space(), as llama_detokenize does:
  // decode(tokenize(s)) == s, while decode(encode(s)) keeps the space after BOS (BOS is the first
  // token and decodes to nothing). Bytes, not necessarily valid UTF-8 (ids may end inside a
  // character); see TokenTextStream for text.
  std::string decode(std::span<const TokenId> ids) const;

  virtual std::optional<TokenId> bos_id() const = 0;
  virtual std::optional<TokenId> eos_id() const = 0;
  // Whether generating `id` ends the generation: EOS, EOT, EOM and llama.cpp's end-of-generation
  // texts (see is_end_of_generation_text in vocabulary.h). False out of range.
  virtual bool is_end_of_generation(TokenId id) const = 0;
  // Whether `id` is a control token (decodes to nothing, never produced by tokenize()).
  virtual bool is_control(TokenId id) const = 0;
};

}  // namespace ragkit::embed
