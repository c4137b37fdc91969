// `rag generate`: text from a causal model (llama family, GPT-2), streamed to stdout as it forms;
// with --chat the prompt is wrapped in the model's chat template first. --json prints one JSON
// object at the end instead: {"text", "tokens", "prompt_tokens", "completion_tokens",
// "stop_reason", "prefill_tokens_per_second", "decode_tokens_per_second"}.
#pragma once

#include "cli_util.h"

namespace ragkit::cli {

Command add_generate_command(CLI::App& app);

}  // namespace ragkit::cli
