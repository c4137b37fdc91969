// `rag quantize`: a GGUF model to a smaller GGUF with quantized weight matrices (Q8_0, Q4_0,
// Q4_K, Q6_K, or F16/BF16), choosing each tensor's type the way llama.cpp's llama-quantize does
// (ragkit/embed/quantize.h has the rules). Prints what became of every tensor; --json for scripts.
// The output appears atomically: on any error no file (or half file) is left at OUT.
#pragma once

#include "cli_util.h"

namespace ragkit::cli {

Command add_quantize_command(CLI::App& app);

}  // namespace ragkit::cli
