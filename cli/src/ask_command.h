// `rag ask QUESTION`: an answer from the indexed documents (--db, default ./.ragkit), with its
// sources. Retrieval (hybrid by default) picks the passages, the generator (--generator, a GGUF
// file or Hugging Face directory) writes the answer from them, streamed to stdout, citing them
// as [n]; the sources follow (path:lines (page), heading, score; cited ones marked). Without a
// generator the answer is extractive: the sources' best sentences. When nothing relevant is
// found the answer says so. --json prints {"answer", "kind", "sources": [{"n", "path",
// "start_line", "end_line", "page", "heading", "score", "chunk_id", "cited", "text"}], "cited",
// "prompt_tokens", "completion_tokens", "stop_reason"} at the end instead.
//
// `rag chat`: the same, as a conversation: questions are read from stdin one per line, earlier
// questions and answers stay in the prompt while they fit the window ("/reset" forgets them,
// "/exit" or end of input quits).
#pragma once

#include "cli_util.h"

namespace ragkit::cli {

Command add_ask_command(CLI::App& app);
Command add_chat_command(CLI::App& app);

}  // namespace ragkit::cli
