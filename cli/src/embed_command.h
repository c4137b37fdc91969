// `rag embed`: sentence vectors for texts given on the command line or on stdin.
//
// Plain output is one line per text, the vector's numbers space-separated with 6 decimals, so it
// pipes into awk, paste or numpy.loadtxt; --json gives full float precision and the model id.
// Texts longer than the model's max_seq_length are cut, and each cut is reported on stderr.
#pragma once

#include "cli_util.h"

namespace ragkit::cli {

Command add_embed_command(CLI::App& app);

}  // namespace ragkit::cli
