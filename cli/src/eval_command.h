// `rag eval beir DIR`: indexes a BEIR data set (corpus.jsonl as title + " " + text, one chunk per
// document), runs its judged queries in the chosen mode and prints nDCG@10, recall@100 and MRR@10
// (--json: {"ndcg@10", "recall@100", "mrr@10", "queries", ...}). Lexical mode needs no model.
#pragma once

#include "cli_util.h"

namespace ragkit::cli {

Command add_eval_command(CLI::App& app);

}  // namespace ragkit::cli
