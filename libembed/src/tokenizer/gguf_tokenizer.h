// load_gguf_tokenizer: the tokenizer a GGUF file's tokenizer.* keys describe, read the way
// llama.cpp's llama_vocab::load reads them (c392e5094):
//   tokenizer.ggml.model  "bert" -> WordPieceTokenizer, "llama" -> SpmTokenizer,
//                         "gpt2" -> BpeTokenizer; anything else is not_supported.
//   tokens, token_type, scores (spm), merges (gpt2; required), pre (gpt2: the pre-tokenizer;
//   missing or "default" -> llama.cpp's default rules; a name llama.cpp does not know is
//   not_supported, as llama.cpp refuses it too), add_space_prefix (spm, default true),
//   bos/eos/unknown/eot/eom_token_id, add_bos_token / add_eos_token.
// Defaults where a key is missing, as llama.cpp: SPM has BOS 1, EOS 2, UNK 0 and adds BOS; BPE
// adds BOS only for the Llama 3 family (and when add_bos_token says so). Unlike llama.cpp, a BPE
// vocabulary without bos/eos keys has no BOS/EOS (llama.cpp assumes id 11, Falcon's).
// llama.cpp's model-name rule for Phi-3 is kept: its special tokens swallow the whitespace after
// them (RSTRIP) except <unk>, <s> and <|endoftext|>.
// Metadata that contradicts itself (array lengths that disagree, a role id out of range, a token
// type outside 0..6, a merge without a space, missing tokens or merges) is corruption naming the
// file and the key; nothing is read out of bounds.
//
// Thread-safety: a free function; the GgufFile is only read.
#pragma once

#include <memory>

#include "ragkit/common/status.h"
#include "ragkit/embed/gguf.h"
#include "ragkit/embed/tokenizer.h"

namespace ragkit::embed {

Result<std::unique_ptr<Tokenizer>> load_gguf_tokenizer(const GgufFile& gguf);

}  // namespace ragkit::embed
