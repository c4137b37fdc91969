#include "bench_search.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "collection_util.h"
#include "ragkit/rag/retriever.h"

namespace ragkit::cli {
namespace {

using Clock = std::chrono::steady_clock;

Result<std::vector<std::string>> read_queries(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("cannot read the queries file " + path);
  const bool jsonl = path.ends_with(".jsonl");
  std::vector<std::string> queries;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (!jsonl) {
      queries.push_back(line);
      continue;
    }
    const nlohmann::json doc = nlohmann::json::parse(line, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("text") ||
        !doc["text"].is_string()) {
      return Status::invalid_argument(path + ":" + std::to_string(number) +
                                      ": not a JSON object with a \"text\" string");
    }
    queries.push_back(doc["text"].get<std::string>());
  }
  if (queries.empty()) return Status::invalid_argument(path + " holds no queries");
  return queries;
}

double percentile(const std::vector<double>& sorted, double p) {
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * double(sorted.size())))];
}

}  // namespace

void add_bench_search_options(CLI::App& cmd, BenchSearchOptions& o) {
  cmd.add_option("--db", o.db, "Collection folder (default ./.ragkit)");
  cmd.add_option("--queries", o.queries,
                 "Queries: BEIR queries.jsonl or a text file with one query per line")
      ->required();
  cmd.add_option("-m,--model", o.model,
                 "Embedding model (default: the one the collection was indexed with)");
  cmd.add_option("--modes", o.modes, "Search modes to measure (default lexical dense hybrid)")
      ->check(CLI::IsMember({"dense", "lexical", "hybrid"}))
      ->delimiter(',');
  cmd.add_option("-k", o.k, "Results per query (default 10)")->check(CLI::Range(1, 1000));
  cmd.add_option("--max-queries", o.max_queries, "Use only the first N queries (default all)");
  cmd.add_flag("--json", o.json, "Print the figures as JSON");
}

int run_bench_search(const BenchSearchOptions& o) {
  Result<std::vector<std::string>> queries = read_queries(o.queries);
  if (!queries.ok()) return report_error(queries.status());
  if (o.max_queries > 0 && queries->size() > o.max_queries) queries->resize(o.max_queries);
  auto collection = open_collection_for_reading(o.db);
  if (!collection.ok()) return report_error(collection.status());
  const bool dense_wanted = std::any_of(o.modes.begin(), o.modes.end(),
                                        [](const std::string& m) { return m != "lexical"; });
  std::unique_ptr<embed::Encoder> encoder;
  if (dense_wanted) {
    auto opened = open_query_encoder(o.db, **collection, o.model);
    if (!opened.ok()) return report_error(opened.status());
    encoder = std::move(*opened);
  }
  const rag::Retriever retriever(**collection, encoder.get());
  const retrieval::CollectionStats stats = (*collection)->stats();

  nlohmann::ordered_json out = {{"db", o.db},
                                {"documents", stats.documents},
                                {"chunks", stats.chunks},
                                {"index_type", stats.index_factory},
                                {"queries", queries->size()},
                                {"k", o.k},
                                {"threads", ThreadPool::default_pool().size()}};
  if (!o.json) {
    std::printf("%s: %llu documents, %llu chunks (%s); %zu queries, k=%zu, %d threads\n",
                o.db.c_str(), (unsigned long long)stats.documents,
                (unsigned long long)stats.chunks,
                stats.index_factory.empty() ? "lexical-only" : stats.index_factory.c_str(),
                queries->size(), o.k, ThreadPool::default_pool().size());
  }
  for (const std::string& mode_name : o.modes) {
    Result<rag::SearchMode> mode = rag::parse_search_mode(mode_name);
    if (!mode.ok()) return report_error(mode.status());
    rag::RetrieveOptions options;
    options.k = o.k;
    options.mode = *mode;
    std::vector<double> latency_ms;
    latency_ms.reserve(queries->size());
    double total_seconds = 0;
    for (int pass = 0; pass < 2; ++pass) {  // pass 0 warms caches (pages, ICU, the pool)
      latency_ms.clear();
      const auto pass_start = Clock::now();
      for (const std::string& q : *queries) {
        const auto start = Clock::now();
        Result<std::vector<rag::Passage>> hits = retriever.retrieve(q, options);
        if (!hits.ok()) return report_error(hits.status());
        latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      }
      total_seconds = std::chrono::duration<double>(Clock::now() - pass_start).count();
    }
    std::sort(latency_ms.begin(), latency_ms.end());
    double mean = 0;
    for (double l : latency_ms) mean += l;
    mean /= double(latency_ms.size());
    const double qps = double(latency_ms.size()) / total_seconds;
    out[mode_name] = {{"p50_ms", percentile(latency_ms, 0.50)},
                      {"p90_ms", percentile(latency_ms, 0.90)},
                      {"p99_ms", percentile(latency_ms, 0.99)},
                      {"mean_ms", mean},
                      {"queries_per_s", qps}};
    if (!o.json) {
      std::printf("%-8s p50 %7.2f ms  p90 %7.2f ms  p99 %7.2f ms  mean %7.2f ms  %8.1f queries/s\n",
                  mode_name.c_str(), percentile(latency_ms, 0.50), percentile(latency_ms, 0.90),
                  percentile(latency_ms, 0.99), mean, qps);
    }
  }
  if (o.json) std::printf("%s\n", out.dump(2).c_str());
  return finish_output();
}

}  // namespace ragkit::cli
