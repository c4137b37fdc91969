// `rag bench search`: query latency of an indexed collection, per search mode, as a user of
// `rag search` or the service sees it: embedding the query (dense, hybrid), searching, and
// reading the hits' chunks — one query at a time, after a warm-up pass over the same queries.
//
// Queries come from a file: BEIR's queries.jsonl ({"_id", "text"} per line) or plain text, one
// query per line. Prints p50/p90/p99/mean latency and queries/s per mode (--json: an object per
// mode).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace ragkit::cli {

struct BenchSearchOptions {
  std::string db = ".ragkit";
  std::string queries;  // the file (required)
  std::string model;    // embedding model; default: the one the collection was indexed with
  std::vector<std::string> modes = {"lexical", "dense", "hybrid"};
  size_t k = 10;
  size_t max_queries = 0;  // 0: all of them
  bool json = false;
};

void add_bench_search_options(CLI::App& command, BenchSearchOptions& options);
int run_bench_search(const BenchSearchOptions& options);

}  // namespace ragkit::cli
