// `rag bench`: the figures we report, measured side by side with a peer on the same machine.
//
// `rag bench embed` embeds 1,024 passages of 100-200 words with ragkit's encoder and with a
// PyTorch implementation of the same model (bench/torch_embed_peer.py, same threads, batch 32,
// torch.inference_mode), and prints tokens/s, passages/s, the ratio, the share of the machine's
// sgemm rate reached on the matrix work, and peak memory.
#pragma once

#include "cli_util.h"

namespace ragkit::cli {

Command add_bench_command(CLI::App& app);

}  // namespace ragkit::cli
