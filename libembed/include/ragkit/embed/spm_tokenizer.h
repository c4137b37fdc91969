// SpmTokenizer: SentencePiece-style BPE by piece scores, as llama.cpp's LLAMA_VOCAB_TYPE_SPM
// (tokenizer.ggml.model = "llama": Llama 1/2, Mistral, TinyLlama, Phi-3, stories260K):
//   1. the text (each piece of it between special tokens) gets a space in front when
//      add_space_prefix is on, and every ' ' becomes U+2581 "▁";
//   2. it is split into characters, and adjacent symbols are merged while their concatenation is
//      a piece of the vocabulary, the pair whose piece has the highest score first (leftmost on
//      ties);
//   3. a final symbol that is no piece (a character the vocabulary lacks) becomes byte tokens
//      <0xXX>, one per UTF-8 byte (the unknown token where a byte token is missing).
// Control and unknown-type pieces never take part in step 2 (llama.cpp lets a merge produce
// "<s>"; SentencePiece does not, and a document must not produce control tokens).
// The text is merged in chunks that start at a "▁" after a non-"▁" character when no piece spans
// such a boundary (checked at construction); the result is the same as merging it whole.
//
// decode() drops the space the prefix added (llama_detokenize's remove_space), so
// decode(tokenize(s)) == s for valid UTF-8 s, except that a "▁" in s comes back as the space it
// stands for in SentencePiece (as in llama.cpp and SentencePiece itself).
//
// Thread-safety: immutable after create(); every method may be called concurrently.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/embed/tokenizer.h"
#include "ragkit/embed/vocab_tokenizer.h"
#include "ragkit/embed/vocabulary.h"

namespace ragkit::embed {

struct SpmOptions {
  // Put a space in front of the text and of every piece of text that follows a special token
  // (tokenizer.ggml.add_space_prefix). Default: true (llama.cpp's default for SPM).
  bool add_space_prefix = true;
};

class SpmTokenizer final : public VocabTokenizer {
 public:
  // Fails (corruption) when the vocabulary contradicts itself: sizes that disagree, role ids out
  // of range, a byte-type token not spelled <0xXX>, add_bos without a BOS token.
  static Result<std::unique_ptr<SpmTokenizer>> create(Vocabulary vocabulary, SpmOptions options);
  ~SpmTokenizer() override;

  const char* kind() const override { return "spm"; }
  bool strips_leading_space() const override;

  const SpmOptions& options() const;

 protected:
  void tokenize_into(std::string_view text, bool parse_special,
                     std::vector<TokenId>& out) const override;
  const detail::Vocab& vocab() const override;

 private:
  struct Impl;
  explicit SpmTokenizer(std::unique_ptr<const Impl> impl);
  std::unique_ptr<const Impl> impl_;
};

}  // namespace ragkit::embed
