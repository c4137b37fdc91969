// Vocab: the part of a SentencePiece-BPE or byte-level BPE tokenizer that does not depend on how
// text is merged: token texts and attributes, the text -> id index, each token's decoded piece,
// the special-token roles, and the split of a text at special tokens (llama.cpp's
// tokenizer_st_partition).
//
// Thread-safety: immutable after build(); every const method may be called concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/embed/tokenizer.h"
#include "ragkit/embed/vocabulary.h"
#include "tokenizer/token_index.h"

namespace ragkit::embed::detail {

// llama.cpp's token attributes (llama_token_attr), as bits.
enum TokenAttr : uint16_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1 << 0,
  kAttrUnused = 1 << 1,
  kAttrNormal = 1 << 2,
  kAttrControl = 1 << 3,
  kAttrUserDefined = 1 << 4,
  kAttrByte = 1 << 5,
  kAttrLstrip = 1 << 7,
  kAttrRstrip = 1 << 8,
  kAttrEndOfGeneration = 1 << 15,  // ours: the token ends a generation
};

// "<0xE2>" -> 0xE2 (how SentencePiece spells byte tokens); -1 for any other text.
int parse_byte_token(std::string_view text);

// A piece of text between special tokens (token < 0), or one special token.
struct Fragment {
  TokenId token;
  uint32_t begin;  // bytes of the text, for text fragments
  uint32_t end;
};

class Vocab {
 public:
  // Takes the texts, types and roles of `vocabulary` (merges and scores stay with the caller).
  // `piece_of(id, text, attrs)` gives the bytes a normal or byte token decodes to. Fails with
  // corruption naming the problem when the vocabulary contradicts itself.
  Status build(Vocabulary& vocabulary,
               const std::function<std::string(TokenId, std::string_view, uint16_t)>& piece_of);

  size_t size() const { return texts_.size(); }
  std::string_view text(TokenId id) const { return texts_[static_cast<size_t>(id)]; }
  uint16_t attrs(TokenId id) const { return attrs_[static_cast<size_t>(id)]; }
  bool in_range(TokenId id) const { return id >= 0 && static_cast<size_t>(id) < texts_.size(); }
  // Any token, or -1.
  TokenId find(std::string_view text) const { return index_.find(text); }
  // Whether tokenize() may produce the token from text (not control, not unknown-type).
  bool is_text_token(TokenId id) const { return (attrs(id) & (kAttrControl | kAttrUnknown)) == 0; }
  std::string_view piece(TokenId id) const;

  // Splits `text` at the special tokens it contains: with parse_special, control, user-defined
  // and unknown-type tokens; without, user-defined tokens only. Longer tokens are matched first
  // (then lower ids), each leftmost-first in the text the earlier ones left, and lstrip/rstrip
  // tokens swallow the ASCII whitespace beside them, exactly as tokenizer_st_partition.
  void partition(std::string_view text, bool parse_special, std::vector<Fragment>& out) const;

  std::optional<TokenId> bos() const { return bos_; }
  std::optional<TokenId> eos() const { return eos_; }
  std::optional<TokenId> unk() const { return unk_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool is_end_of_generation(TokenId id) const {
    return in_range(id) && (attrs(id) & kAttrEndOfGeneration) != 0;
  }
  bool is_control(TokenId id) const { return in_range(id) && (attrs(id) & kAttrControl) != 0; }

  // Shared implementations of Tokenizer's special-token methods: `body(text, out)` appends the
  // tokens of the text.
  size_t n_special_tokens() const { return (add_bos_ ? 1 : 0) + (add_eos_ ? 1 : 0); }
  bool add_special_tokens(std::vector<TokenId>& ids, size_t max_tokens) const;
  void add_bos_to(std::vector<TokenId>& out) const {
    if (add_bos_) out.push_back(*bos_);
  }
  void add_eos_to(std::vector<TokenId>& out) const {
    if (add_eos_) out.push_back(*eos_);
  }

 private:
  struct TrieNode {
    uint32_t first_child = 0;
    uint16_t n_children = 0;
    int32_t special = -1;  // index into specials_ of the token ending here
  };
  struct Special {
    TokenId id;
    uint32_t length;
    bool parse_only;  // control or unknown-type: matched only with parse_special
    bool lstrip, rstrip;
  };
  void build_specials();

  std::vector<std::string> texts_;
  std::vector<uint16_t> attrs_;
  TokenIndex index_;
  std::string piece_bytes_;
  std::vector<uint32_t> piece_offsets_;  // size() + 1
  std::vector<Special> specials_;        // longest first, then lowest id
  std::vector<TrieNode> trie_;           // over the special texts; trie_[0] is the root
  std::vector<uint8_t> trie_labels_;     // the byte leading to each node
  std::array<bool, 256> special_first_byte_{};
  bool has_user_defined_ = false;
  std::optional<TokenId> bos_, eos_, unk_;
  bool add_bos_ = false, add_eos_ = false;
};

}  // namespace ragkit::embed::detail
