// `rag tokenize`: the token ids a model's tokenizer gives a text, by default with the special
// tokens the encoder adds ([CLS] ... [SEP]), which is exactly what `rag embed` feeds the model.
#pragma once

#include "cli_util.h"

namespace ragkit::cli {

Command add_tokenize_command(CLI::App& app);

}  // namespace ragkit::cli
