// `rag tokenize`: the token ids a model's tokenizer gives a text, by default with the special
// tokens the model adds — [CLS] ... [SEP] for an encoder (exactly what `rag embed` feeds it), BOS
// and parsed control tokens for a generator (what `rag generate` feeds it).
#pragma once

#include "cli_util.h"

namespace ragkit::cli {

Command add_tokenize_command(CLI::App& app);

}  // namespace ragkit::cli
