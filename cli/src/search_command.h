// `rag search QUERY`: the passages of the collection (--db, default ./.ragkit) that answer a
// query, by meaning (dense), by words (lexical, BM25) or both fused (hybrid, the default). Each
// result: rank, score, path:lines (page), heading path and the passage, its best-matching
// sentence highlighted on a terminal. --json prints {"results": [{"rank", "score", "path",
// "chunk_id", "start_line", "end_line", "page", "heading", "text"}]}.
//
// `rag docs`: the documents of the collection, one per line (--json: {"documents": [...]}).
#pragma once

#include "cli_util.h"

namespace ragkit::cli {

Command add_search_command(CLI::App& app);
Command add_docs_command(CLI::App& app);

}  // namespace ragkit::cli
