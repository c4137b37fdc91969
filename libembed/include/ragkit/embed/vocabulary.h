// Vocabulary: what a SentencePiece-BPE or byte-level BPE vocabulary consists of, in the form a
// GGUF file (tokenizer.ggml.*) or a Hugging Face tokenizer.json describes it: the token texts,
// their types, the merge priorities (SentencePiece scores or BPE merges) and which tokens play
// the special roles (BOS, EOS, ...). SpmTokenizer::create and BpeTokenizer::create build from it.
//
// Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ragkit/embed/tokenizer.h"

namespace ragkit::embed {

// llama.cpp's token types (tokenizer.ggml.token_type); the numbers are the GGUF values.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,       // ordinary text
  kUnknown = 2,      // <unk>-like: never produced from text, decodes to nothing
  kControl = 3,      // <s>, </s>, <|im_end|>: only from tokenize_special(), decodes to nothing
  kUserDefined = 4,  // matched as a whole wherever its text occurs, decodes to its text
  kUnused = 5,       // reserved slots; decode to nothing
  kByte = 6,         // <0xXX> byte-fallback tokens
};

struct Vocabulary {
  // Token i's text as the vocabulary spells it (U+2581 for spaces in SentencePiece vocabularies,
  // GPT-2's byte alphabet in byte-level ones). Every id is tokens.size() - 1 or less.
  std::vector<std::string> tokens;
  // Same size as tokens, or empty: every token is kNormal.
  std::vector<TokenType> types;
  // SentencePiece only: piece scores, higher merges first. Same size as tokens, or empty (all 0).
  std::vector<float> scores;
  // BPE only: the merges, rank = index ("Ġ" + "t" -> "Ġt" first, ...).
  std::vector<std::pair<std::string, std::string>> merges;

  // Special tokens whose neighbouring whitespace is swallowed when they are matched in text
  // (Hugging Face's AddedToken lstrip/rstrip; llama.cpp's LSTRIP/RSTRIP attributes).
  std::vector<TokenId> lstrip_tokens;
  std::vector<TokenId> rstrip_tokens;

  // Roles. Unset: the vocabulary has none.
  std::optional<TokenId> bos;
  std::optional<TokenId> eos;
  std::optional<TokenId> unk;
  std::optional<TokenId> eot;  // end of turn (<|eot_id|>, <|im_end|>)
  std::optional<TokenId> eom;  // end of message (<|eom_id|>)
  // Whether encode() puts BOS first / EOS last. Needs the token.
  bool add_bos = false;
  bool add_eos = false;
};

// Whether llama.cpp treats a token with this text as end-of-generation (and as control, whatever
// its declared type): <|eot_id|>, <|im_end|>, <|end|>, <end_of_turn>, <|endoftext|>,
// <|end_of_text|>, </s>, <|eom_id|>, <EOT>, _<EOT>, <end_of_utterance>, <｜end▁of▁sentence｜>.
bool is_end_of_generation_text(std::string_view text);

}  // namespace ragkit::embed
