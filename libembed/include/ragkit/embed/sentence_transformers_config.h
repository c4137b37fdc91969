// SentenceTransformersConfig: what a sentence-transformers model directory declares about turning
// token states into a sentence vector — pooling mode, L2 normalisation, sequence length, casing.
//
// Read from modules.json (the module list), <Pooling module path>/config.json and
// sentence_bert_config.json. These declarations override the architecture's defaults, because
// they are what the model was trained and evaluated with. A directory without modules.json is not
// a sentence-transformers model: present = false and no error (sentence_bert_config.json is still
// read). A malformed file gives corruption naming it; a pooling mode ragkit does not implement
// (max, mean_sqrt_len, weightedmean, or several at once) gives not_supported naming it.
// Thread-safety: plain function and value.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "ragkit/common/status.h"

namespace ragkit::embed {

struct SentenceTransformersConfig {
  bool present = false;                  // modules.json found
  std::optional<std::string> pooling;    // "mean", "cls" or "last" (see pooling_from_name)
  bool normalize = false;                // a sentence_transformers.models.Normalize is listed
  std::optional<size_t> max_seq_length;  // sentence_bert_config.json
  std::optional<bool> do_lower_case;     // sentence_bert_config.json
  // Types of listed modules that ragkit does not run (e.g. sentence_transformers.models.Dense):
  // embeddings computed without them differ from the reference, so a loader may refuse the model.
  std::vector<std::string> unsupported_modules;
};

Result<SentenceTransformersConfig> read_sentence_transformers_config(const std::string& model_dir);

}  // namespace ragkit::embed
