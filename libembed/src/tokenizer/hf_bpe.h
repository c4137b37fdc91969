// bpe_from_tokenizer_json: a Hugging Face tokenizer.json whose model is BPE, as a BpeTokenizer.
//
// Two families are understood:
//   byte-level   pre_tokenizer ByteLevel (GPT-2, SmolLM2: Digits + ByteLevel, Llama 3 and
//                Qwen2.5: Split(regex) + ByteLevel); the Split regex must be one of the
//                pre-tokenizers BpeTokenizer implements (GPT-2's, Llama 3's, Qwen2's), compared
//                as text. normalizer null or NFC.
//   SentencePiece-style  model.byte_fallback with the Prepend("▁") + Replace(" " -> "▁")
//                normalizer (TinyLlama, Llama 2) or a Metaspace pre-tokenizer.
// added_tokens become control tokens ("special": true) or user-defined ones, with their
// lstrip/rstrip. BOS/EOS/UNK come from tokenizer_config.json (bos_token, eos_token, unk_token,
// add_bos_token, add_eos_token) when given, else from the post-processor's template
// (TemplateProcessing: the special tokens around $A) and model.unk_token.
// Anything else (another normalizer or pre-tokenizer, a Split regex not listed, dropout,
// subword prefixes) is not_supported, naming it; contradictions (ids with no token, merges of
// strings not in the vocabulary) are corruption.
//
// Thread-safety: a free function.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "ragkit/common/status.h"
#include "ragkit/embed/bpe_tokenizer.h"

namespace ragkit::embed {

// `root`: the parsed tokenizer.json; `config`: the parsed tokenizer_config.json or nullptr.
// `name` is used in messages.
Result<std::unique_ptr<BpeTokenizer>> bpe_from_tokenizer_json(const nlohmann::json& root,
                                                              const nlohmann::json* config,
                                                              const std::string& name);

}  // namespace ragkit::embed
