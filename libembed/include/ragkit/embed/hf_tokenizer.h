// load_hf_tokenizer: the tokenizer of a Hugging Face model directory.
//
// Reads tokenizer.json (Hugging Face tokenizers) when the directory has one, else vocab.txt with
// the tokenizer_config.json beside it (transformers' BertTokenizer files). Today both describe
// WordPiece vocabularies; a tokenizer.json of another model type is not_supported, and a
// directory with neither file is not_found.
#pragma once

#include <memory>
#include <string>

#include "ragkit/common/status.h"
#include "ragkit/embed/tokenizer.h"

namespace ragkit::embed {

Result<std::unique_ptr<Tokenizer>> load_hf_tokenizer(const std::string& model_dir);

}  // namespace ragkit::embed
