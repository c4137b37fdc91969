// load_hf_tokenizer: the tokenizer of a Hugging Face model directory.
//
// Reads tokenizer.json (Hugging Face tokenizers) when the directory has one, else vocab.txt with
// the tokenizer_config.json beside it (transformers' BertTokenizer files). tokenizer.json models:
//   WordPiece  BERT-family encoders -> WordPieceTokenizer (see wordpiece_tokenizer.h);
//   BPE        byte-level (GPT-2, SmolLM2, Qwen2.5, Llama 3: ByteLevel, optionally after Digits or
//              a Split regex) or SentencePiece-style with byte_fallback (TinyLlama, Llama 2:
//              Prepend/Replace normalizer or Metaspace) -> BpeTokenizer; added_tokens become
//              control (special) or user-defined tokens; BOS/EOS/UNK and add_bos_token /
//              add_eos_token come from tokenizer_config.json, else from the post-processor.
// Another model type, or a normalizer / pre-tokenizer these do not cover, is not_supported
// naming it; a directory with neither file is not_found.
//
// Thread-safety: a free function.
#pragma once

#include <memory>
#include <string>

#include "ragkit/common/status.h"
#include "ragkit/embed/tokenizer.h"

namespace ragkit::embed {

Result<std::unique_ptr<Tokenizer>> load_hf_tokenizer(const std::string& model_dir);

}  // namespace ragkit::embed
