// BpeTokenizer: BPE by merge ranks, as llama.cpp's LLAMA_VOCAB_TYPE_BPE (tokenizer.ggml.model =
// "gpt2": GPT-2, Llama 3, Qwen2, Falcon, StarCoder, MPT, DeepSeek, ...) and Hugging Face's BPE
// model:
//   1. the text (each piece between special tokens) is split into words by the pre-tokenizer
//      rules the vocabulary was trained with (PreTokenizer below, llama.cpp's regexes and custom
//      splitters reproduced by hand-written scanners);
//   2. byte-level vocabularies write each byte of a word as one code point of GPT-2's byte alphabet
//      (' ' -> 'Ġ'); SentencePiece-style ones (Hugging Face tokenizer.json with byte_fallback,
//      as TinyLlama's) replace ' ' by "▁" and keep the characters;
//   3. adjacent symbols are merged, the lowest-ranked merge first (leftmost on ties), until no
//      merge applies; with ignore_merges a word that is a token is taken whole first;
//   4. a symbol that is no token falls back to the tokens of its bytes: byte alphabet characters
//      (a byte the vocabulary has no character for is dropped, as llama.cpp drops it: Falcon
//      lacks 28, StarCoder 0xF1), or for SentencePiece-style vocabularies each character's
//      token, its <0xXX> tokens with byte_fallback, else the unknown token.
//
// decode() gives the exact bytes back: decode(tokenize(s)) == s for valid UTF-8 s and byte-level
// vocabularies (llama_detokenize's clean_up_tokenization_spaces heuristics are not applied: they
// change text, " ?" -> "?").
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

// How text is split into words before merging: llama.cpp's pre-tokenizer types
// (tokenizer.ggml.pre), each with the regexes llama.cpp (c392e5094) uses for it.
enum class PreTokenizer {
  kDefault,    // llama.cpp's fallback: punctuation runs, GPT-2's regex, digit runs, 3-digit groups
  kGpt2,       // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kLlama3,     // (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|...
  kQwen2,      // kLlama3 with single digits (\p{N})
  kFalcon,     // punctuation runs, GPT-2's regex, 3-digit groups
  kStarcoder,  // single digits, then GPT-2's regex (also refact, smollm)
  kDeepseekLlm,    // DeepSeek LLM's six regexes
  kDeepseekCoder,  // DeepSeek Coder's five regexes
  kNone,           // no split: each piece of text is one word
  kMetaspace,      // split before every "▁" (Hugging Face Metaspace with split = true)
};

// The rules for a tokenizer.ggml.pre value, with llama.cpp's aliases ("llama-bpe" -> kLlama3,
// "refact" -> kStarcoder, ...). An empty name is "default" (llama.cpp warns and uses it). Unknown
// names give nullopt: llama.cpp refuses them, and so does load_gguf_tokenizer.
std::optional<PreTokenizer> pre_tokenizer_from_name(std::string_view name);
const char* pre_tokenizer_name(PreTokenizer pre_tokenizer);
// The names pre_tokenizer_from_name() knows, comma-separated (for error messages).
std::string supported_pre_tokenizer_names();

struct BpeOptions {
  // The word-splitting rules. Default: GPT-2's.
  PreTokenizer pre_tokenizer = PreTokenizer::kGpt2;
  // GPT-2's byte alphabet (true) or SentencePiece-style characters with "▁" for spaces (false).
  // Default: true.
  bool byte_level = true;
  // Byte-level only: put a space in front of a text that does not start with one (Hugging Face
  // ByteLevel add_prefix_space). Default: false.
  bool add_prefix_space = false;
  // SentencePiece-style only: where a "▁" is put in front of the text. Default: kNone.
  enum class SpacePrefix {
    kNone,
    kPrepend,  // every piece of text between special tokens (the Prepend normalizer)
    kFirst,    // the piece at the start of the text, unless it starts with a space (Metaspace
               // prepend_scheme "first")
    kAlways,   // every piece that does not start with a space (Metaspace "always")
  };
  SpacePrefix space_prefix = SpacePrefix::kNone;
  // A character that is no token becomes its <0xXX> byte tokens. Default: false.
  bool byte_fallback = false;
  // Consecutive unknown tokens become one (Hugging Face fuse_unk). Default: false.
  bool fuse_unk = false;
  // A word that is a token is taken whole, merges or not (Llama 3). Default: false.
  bool ignore_merges = false;
  // Normalize each piece of text to NFC first (Qwen2's tokenizer.json). Default: false.
  bool nfc = false;
};

class BpeTokenizer final : public VocabTokenizer {
 public:
  // Fails (corruption) when the vocabulary contradicts itself: sizes that disagree, role ids out
  // of range, a byte-type token not spelled <0xXX>, add_bos without a BOS token. (No merges is
  // allowed: every word is then its characters.)
  static Result<std::unique_ptr<BpeTokenizer>> create(Vocabulary vocabulary, BpeOptions options);
  ~BpeTokenizer() override;

  const char* kind() const override { return "bpe"; }
  bool strips_leading_space() const override;

  const BpeOptions& options() const;

 protected:
  void tokenize_into(std::string_view text, bool parse_special,
                     std::vector<TokenId>& out) const override;
  const detail::Vocab& vocab() const override;

 private:
  struct Impl;
  explicit BpeTokenizer(std::unique_ptr<const Impl> impl);
  std::unique_ptr<const Impl> impl_;
};

}  // namespace ragkit::embed
