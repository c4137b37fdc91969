#include "eval_command.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>
#include <vector>

#include "collection_util.h"
#include "ragkit/retrieval/beir.h"
#include "ragkit/retrieval/collection.h"

namespace ragkit::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr size_t kRetrieved = 100;      // recall@100 needs the top 100
constexpr size_t kDocumentsPerBatch = 256;

struct EvalArgs {
  std::string dir;
  std::string model;
  std::string mode = "hybrid";
  std::string split = "test";
  std::string db;  // default: a temporary collection, removed afterwards
  bool json = false;
};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int run_eval_beir(const EvalArgs& a) {
  auto dataset = retrieval::load_beir(a.dir, a.split);
  if (!dataset.ok()) return report_error(dataset.status());

  // Dense and hybrid need the model; lexical needs none and keeps no vectors.
  std::unique_ptr<embed::Encoder> encoder;
  if (a.mode != "lexical") {
    auto path = resolve_model(a.model.empty() ? kDefaultEmbeddingModel : a.model);
    if (!path.ok()) return report_error(path.status());
    auto opened = open_encoder(*path);
    if (!opened.ok()) return report_error(opened.status());
    encoder = std::move(*opened);
  }

  std::error_code ec;
  const bool temporary = a.db.empty();
  const std::string db = temporary ? (fs::temp_directory_path() /
                                      ("ragkit-eval-" + std::to_string(::getpid()))).string()
                                   : a.db;
  if (temporary) fs::remove_all(db, ec);
  struct Cleanup {
    bool active;
    std::string dir;
    ~Cleanup() {
      std::error_code e;
      if (active) fs::remove_all(dir, e);
    }
  } cleanup{temporary, db};

  retrieval::CollectionOptions copts;
  copts.sync_writes = false;  // rebuilt from the data set whenever needed
  if (encoder) {
    copts.model_id = encoder->model_id();
    copts.dimension = static_cast<uint32_t>(encoder->dim());
  }
  auto collection = retrieval::Collection::open(db, copts);
  if (!collection.ok()) return report_error(collection.status());

  // Index: one chunk per document (title + " " + text), as BEIR's evaluations do; the encoder
  // truncates long documents at the model's max_seq_length, as sentence-transformers does.
  const auto index_start = Clock::now();
  size_t truncated = 0;
  std::vector<retrieval::DocumentInput> batch;
  std::vector<std::string> texts;
  for (size_t at = 0; at < dataset->corpus.size(); at += kDocumentsPerBatch) {
    const size_t n = std::min(kDocumentsPerBatch, dataset->corpus.size() - at);
    batch.assign(n, {});
    texts.clear();
    for (size_t i = 0; i < n; ++i) {
      const auto& doc = dataset->corpus[at + i];
      batch[i].path = doc.id;
      batch[i].title = doc.title;
      batch[i].chunks.resize(1);
      batch[i].chunks[0].text = doc.indexed_text();
      texts.push_back(batch[i].chunks[0].text);
    }
    if (encoder) {
      auto embedded = encoder->embed(texts);
      if (!embedded.ok()) return report_error(embedded.status());
      truncated += embedded->n_truncated();
      for (size_t i = 0; i < n; ++i) {
        const auto v = embedded->vector(i);
        batch[i].chunks[0].embedding.assign(v.begin(), v.end());
      }
    }
    Status written = (*collection)->upsert_many(batch);
    if (!written.ok()) return report_error(written);
  }
  Status flushed = (*collection)->flush();
  if (!flushed.ok()) return report_error(flushed);
  const double index_seconds = seconds_since(index_start);

  const auto search_start = Clock::now();
  std::vector<std::vector<std::string>> ranked(dataset->queries.size());
  std::vector<double> latency_ms(dataset->queries.size());  // embedding the query + searching
  for (size_t q = 0; q < dataset->queries.size(); ++q) {
    const auto query_start = Clock::now();
    const std::string& text = dataset->queries[q].text;
    std::vector<float> vector;
    if (encoder) {
      auto embedded = encoder->embed(std::span(&text, 1));
      if (!embedded.ok()) return report_error(embedded.status());
      vector = std::move(embedded->vectors);
    }
    Result<std::vector<retrieval::SearchHit>> hits = Status::internal("unreachable");
    if (a.mode == "lexical") {
      hits = (*collection)->search_lexical(text, kRetrieved);
    } else if (a.mode == "dense") {
      hits = (*collection)->search_dense(vector, kRetrieved);
    } else {
      hits = (*collection)->search_hybrid(text, vector, kRetrieved);
    }
    if (!hits.ok()) return report_error(hits.status());
    for (const auto& hit : *hits) ranked[q].push_back(hit.path);
    latency_ms[q] = seconds_since(query_start) * 1e3;
  }
  const double search_seconds = seconds_since(search_start);
  std::sort(latency_ms.begin(), latency_ms.end());
  const auto percentile = [&](double p) {
    return latency_ms[std::min(latency_ms.size() - 1, size_t(p * double(latency_ms.size())))];
  };
  const auto m = retrieval::evaluate_rankings(*dataset, ranked);

  if (a.json) {
    nlohmann::json out = {{"ndcg@10", m.ndcg_at_10},
                          {"recall@100", m.recall_at_100},
                          {"mrr@10", m.mrr_at_10},
                          {"queries", m.queries},
                          {"documents", dataset->corpus.size()},
                          {"mode", a.mode},
                          {"index_seconds", index_seconds},
                          {"search_seconds", search_seconds},
                          {"latency_ms", {{"p50", percentile(0.50)}, {"p99", percentile(0.99)}}},
                          {"truncated_documents", truncated}};
    if (encoder) out["model"] = encoder->model_id();
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("%s: %zu documents, %zu queries, %s%s\n", a.dir.c_str(), dataset->corpus.size(),
                m.queries, a.mode.c_str(),
                encoder ? (" with " + encoder->model_id()).c_str() : "");
    std::printf("  nDCG@10     %.4f\n  recall@100  %.4f\n  MRR@10      %.4f\n", m.ndcg_at_10,
                m.recall_at_100, m.mrr_at_10);
    std::printf("  indexing %.1f s, searching %.2f s (%.0f queries/s; per query p50 %.2f ms, "
                "p99 %.2f ms)\n",
                index_seconds, search_seconds, double(m.queries) / search_seconds,
                percentile(0.50), percentile(0.99));
    if (truncated > 0) {
      std::printf("  %zu documents were longer than the model's max_seq_length and truncated\n",
                  truncated);
    }
  }
  return finish_output();
}

}  // namespace

Command add_eval_command(CLI::App& app) {
  CLI::App* eval = app.add_subcommand("eval", "Measure retrieval quality on a benchmark");
  eval->require_subcommand(1);
  auto args = std::make_shared<EvalArgs>();
  CLI::App* beir = eval->add_subcommand(
      "beir", "Index a BEIR data set (corpus.jsonl, queries.jsonl, qrels/test.tsv) and print "
              "nDCG@10, recall@100 and MRR@10");
  beir->add_option("dir", args->dir, "The data set's folder")->required();
  beir->add_option("-m,--model", args->model,
                   "Embedding model for dense and hybrid (default all-MiniLM-L6-v2)");
  beir->add_option("--mode", args->mode, "dense, lexical or hybrid (default)")
      ->check(CLI::IsMember({"dense", "lexical", "hybrid"}));
  beir->add_option("--split", args->split, "Judgements to use: qrels/<split>.tsv (default test)");
  beir->add_option("--db", args->db, "Keep the collection here (default: temporary)");
  beir->add_flag("--json", args->json, "Print the measures as JSON");
  return {eval, [args] { return run_eval_beir(*args); }};
}

}  // namespace ragkit::cli
