// `rag serve`: the HTTP service (services/, ragkit::services::Server) over one collection: search,
// grounded answers, document uploads, OpenAI-compatible embeddings and chat completions, health,
// metrics and a web page. It opens the collection for writing (uploads are indexed into it), the
// embedding model it was indexed with (rag.json, or --model; none for a lexical-only collection)
// and, with --generator, a causal model for answers (without one, answers are extractive).
//
// It prints "rag serve: listening on http://HOST:PORT" on stdout once it accepts connections
// (--port 0 picks a free port), and on SIGTERM or SIGINT drains: stops accepting, lets requests
// in flight finish (--drain-seconds), flushes and closes the collection and exits 0.
#pragma once

#include "cli_util.h"

namespace ragkit::cli {

Command add_serve_command(CLI::App& app);

}  // namespace ragkit::cli
