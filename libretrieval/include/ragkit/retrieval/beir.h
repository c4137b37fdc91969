// BEIR-format retrieval evaluation: the data set (corpus.jsonl, queries.jsonl,
// qrels/<split>.tsv) and the measures the BEIR leaderboards report — nDCG@10, recall@100 and
// MRR@10, computed as trec_eval / pytrec_eval compute them (graded gains, log2 discounts, the
// ideal ranking from the judgements; recall over the documents judged relevant).
//
// Thread-safety: plain values and free functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ragkit/common/status.h"

namespace ragkit::retrieval {

struct BeirDocument {
  std::string id;
  std::string title;
  std::string text;
  // What is indexed: title + " " + text, as BEIR's own evaluation scripts do.
  std::string indexed_text() const { return title.empty() ? text : title + " " + text; }
};

struct BeirQuery {
  std::string id;
  std::string text;
};

struct BeirDataset {
  std::vector<BeirDocument> corpus;
  // The queries that have judgements in the split, in file order.
  std::vector<BeirQuery> queries;
  // query id -> document id -> relevance grade (> 0: relevant).
  std::map<std::string, std::map<std::string, int>> qrels;
};

// Reads `dir`/{corpus.jsonl, queries.jsonl, qrels/<split>.tsv}. Malformed lines are errors that
// name the file and line.
Result<BeirDataset> load_beir(const std::string& dir, const std::string& split = "test");

struct RetrievalMetrics {
  double ndcg_at_10 = 0;
  double recall_at_100 = 0;
  double mrr_at_10 = 0;
  size_t queries = 0;
};

// `ranked[i]`: the document ids retrieved for dataset.queries[i], best first (duplicates are
// counted once, at their best rank). Averages over all the dataset's queries.
RetrievalMetrics evaluate_rankings(const BeirDataset& dataset,
                                   const std::vector<std::vector<std::string>>& ranked);

}  // namespace ragkit::retrieval
