// WordPieceTokenizer: BERT's tokenizer, exactly as Hugging Face's BertTokenizer / tokenizers'
// BertNormalizer + BertPreTokenizer + WordPiece do it:
//   1. clean text: drop U+0000, U+FFFD and "control" characters (every general category C*:
//      Cc, Cf, Co, Cn — both HF implementations test the category's first letter — except
//      \t \n \r), map whitespace to ' ';
//   2. put spaces around CJK ideographs (handle_chinese_chars; BertTokenizer's ranges — the
//      tokenizers library's copy starts extension E at U+2B920, not U+2B820);
//   3. strip accents (NFD, drop Mn), then lower-case each code point on its own (full mappings,
//      no context: word-final 'Σ' -> 'σ', as the tokenizers library and llama.cpp do), through
//      ICU, when configured;
//   4. split on whitespace and on every punctuation character (ASCII symbol ranges + Unicode P*);
//   5. greedy longest-match-first WordPiece with the "##" continuation prefix; a word longer than
//      max_input_chars_per_word or with no match becomes [UNK].
// encode() wraps the ids in [CLS] ... [SEP]. Decoding: a word-initial token's piece is " word",
// a continuation's is the text after "##", and [CLS], [SEP], [PAD], [MASK] and [UNK] decode to
// nothing (llama_token_to_piece on llama.cpp's spelling of the same vocabulary); decode() drops
// the first piece's leading space. [CLS] is bos_id() and [SEP] eos_id(); an encoder ends no
// generation.
//
// Special-token text inside the input ("[SEP]" typed in a document) is tokenized as ordinary text,
// never as the special token: documents are untrusted and must not inject control tokens.
//
// Thread-safety: immutable after construction; tokenize()/encode() may be called concurrently
// (every scratch buffer lives on the caller's stack).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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
  // vocab.txt: one token per line; do_lower_case, strip_accents, tokenize_chinese_chars and the
  // special tokens from tokenizer_config.json beside it, when present, override `options`.
  static Result<std::unique_ptr<WordPieceTokenizer>> from_vocab_file(const std::string& path,
                                                                     WordPieceOptions options);
  // tokenizer.json (Hugging Face tokenizers) with a WordPiece model, a BertNormalizer (or none)
  // and a BertPreTokenizer; anything else is not_supported. `name` is used in messages.
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
  std::string_view token_piece(TokenId id) const override;
  bool strips_leading_space() const override { return true; }
  std::optional<TokenId> bos_id() const override { return cls_id_; }
  std::optional<TokenId> eos_id() const override { return sep_id_; }
  bool is_end_of_generation(TokenId) const override { return false; }
  bool is_control(TokenId id) const override;

  TokenId cls_id() const { return cls_id_; }
  TokenId sep_id() const { return sep_id_; }
  TokenId unk_id() const { return unk_id_; }
  // -1 when the vocabulary has no pad token.
  TokenId pad_id() const { return pad_id_; }
  const WordPieceOptions& options() const { return options_; }

 private:
  // Open-addressing hash table from piece text to id, probed with string_views: it runs once per
  // word over millions of words and must never allocate. A slot holds the key's first 8 bytes,
  // so most keys (English words are short) are compared without touching the key arena.
  class PieceIndex {
   public:
    // Later duplicates win, as in BertTokenizer's vocab loading.
    void build(const std::vector<std::pair<std::string_view, TokenId>>& entries);
    // -1 when absent.
    TokenId find(std::string_view key) const;
    // Length in bytes of the longest key: longer candidates need no probe.
    size_t max_key_bytes() const { return max_key_bytes_; }

   private:
    struct Slot {
      uint64_t head = 0;   // the key's first min(length, 8) bytes, zero-padded
      uint32_t check = 0;  // hash bits 40..63 above min(length, 255)
      TokenId id = -1;     // -1: empty
    };
    struct Key {
      uint32_t offset = 0;  // in arena_
      uint32_t length = 0;
    };
    std::string arena_;        // keys back to back
    std::vector<Slot> slots_;  // power-of-two size, at most half full
    std::vector<Key> keys_;    // per slot
    size_t mask_ = 0;
    size_t max_key_bytes_ = 0;
  };

  // Byte trie over every token, children of a node contiguous (breadth-first layout). Greedy
  // longest-match-first is a longest-prefix search, so one walk along the word finds the piece
  // that would otherwise take one hash probe per candidate length (scientific text is full of
  // long words that are not single tokens).
  class PieceTrie {
   public:
    // Later duplicates win, as in PieceIndex.
    void build(const std::vector<std::string>& vocab);
    // The node that `prefix` leads to from the root, or -1.
    int32_t walk(std::string_view prefix) const;
    // The longest token that continues `node`'s prefix with a prefix of `text` ending on a
    // character boundary: {id, bytes of text used}, id -1 when none.
    std::pair<TokenId, size_t> longest_prefix(int32_t node, std::string_view text) const;

   private:
    int32_t child(int32_t node, unsigned char byte) const;
    struct Node {
      uint32_t first_child = 0;
      uint32_t n_children = 0;
      TokenId id = -1;  // the token ending here, -1 for none
    };
    std::vector<Node> nodes_;             // nodes_[0] is the root
    std::vector<uint8_t> labels_;         // the byte leading to each node, sorted among siblings
    std::vector<int32_t> root_children_;  // 256 entries: the root's children by byte, -1 none
  };

  WordPieceTokenizer() = default;
  struct Scratch;
  // tokenize(), appending to `out` (encode() puts [CLS] first without shifting the ids).
  void tokenize_into(std::string_view text, std::vector<TokenId>& out) const;
  // The whitespace-delimited token that starts at text[start] and holds a non-ASCII byte: cleans
  // it, splits off CJK ideographs, and appends the ids of the pieces. Returns where the next
  // token may start.
  size_t tokenize_mixed_token(std::string_view text, size_t start, Scratch& scratch,
                              std::vector<TokenId>& out) const;
  // Splits one cleaned token on punctuation, lower-casing and stripping accents as configured,
  // and appends the WordPiece ids of each word.
  void append_ascii_token(std::string& token, std::vector<TokenId>& out) const;
  void append_unicode_token(std::string_view token, Scratch& scratch,
                            std::vector<TokenId>& out) const;
  // Greedy longest-match-first over one word (valid UTF-8, already normalised).
  void append_word_pieces(std::string_view word, bool ascii, std::vector<TokenId>& out) const;

  WordPieceOptions options_;
  bool strip_accents_ = true;  // options_.strip_accents resolved against lowercase
  std::vector<std::string> vocab_;
  PieceIndex index_;                // every token, as spelled: token_id() and whole-word probes
  PieceTrie trie_;                  // every token, for the piece-by-piece search
  int32_t continuation_root_ = -1;  // trie_ node of the continuation prefix; -1: no such tokens
  TokenId cls_id_ = -1, sep_id_ = -1, unk_id_ = -1, pad_id_ = -1, mask_id_ = -1;
  std::string piece_bytes_;              // every token's piece, back to back
  std::vector<uint32_t> piece_offsets_;  // vocab_.size() + 1
};

}  // namespace ragkit::embed
