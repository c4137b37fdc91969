// `rag index FOLDER`: brings the collection (--db, default ./.ragkit) in step with a folder —
// new files added, changed ones replaced, deleted ones removed, unchanged ones skipped by content
// hash — and prints what it did: added, updated, removed, unchanged, skipped with reasons,
// chunks, tokens, seconds, tokens/s. A progress line on a terminal, plain lines otherwise;
// --json prints the summary as one JSON object.
#pragma once

#include "cli_util.h"

namespace ragkit::cli {

Command add_index_command(CLI::App& app);

}  // namespace ragkit::cli
