#include "ragkit/retrieval/beir.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_set>

namespace ragkit::retrieval {
namespace {

// Calls fn(json, line_number) for every non-empty line of a JSON Lines file.
template <typename Fn>
Status for_each_json_line(const std::string& path, Fn fn) {
  std::ifstream in(path);
  if (!in) return Status::not_found(path + ": cannot read");
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line == "\r") continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("_id")) {
      return Status::corruption(path + ":" + std::to_string(number) +
                                ": not a JSON object with an \"_id\"");
    }
    RAGKIT_RETURN_IF_ERROR(fn(j, number));
  }
  return Status();
}

std::string string_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  return it->dump();  // BEIR ids are sometimes numbers
}

}  // namespace

Result<BeirDataset> load_beir(const std::string& dir, const std::string& split) {
  BeirDataset data;
  RAGKIT_RETURN_IF_ERROR(for_each_json_line(dir + "/corpus.jsonl", [&](const nlohmann::json& j,
                                                                       size_t) {
    data.corpus.push_back({string_field(j, "_id"), string_field(j, "title"),
                           string_field(j, "text")});
    return Status();
  }));

  const std::string qrels_path = dir + "/qrels/" + split + ".tsv";
  std::ifstream qrels(qrels_path);
  if (!qrels) return Status::not_found(qrels_path + ": cannot read");
  std::string line;
  size_t number = 0;
  while (std::getline(qrels, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string query, doc, grade_text;
    if (!(fields >> query >> doc >> grade_text)) {
      return Status::corruption(qrels_path + ":" + std::to_string(number) +
                                ": expected query-id, corpus-id and score");
    }
    char* end = nullptr;
    const long grade = std::strtol(grade_text.c_str(), &end, 10);
    if (*end != '\0') {
      if (number == 1) continue;  // the header line: query-id corpus-id score
      return Status::corruption(qrels_path + ":" + std::to_string(number) + ": score '" +
                                grade_text + "' is not an integer");
    }
    data.qrels[query][doc] = static_cast<int>(grade);
  }

  RAGKIT_RETURN_IF_ERROR(for_each_json_line(dir + "/queries.jsonl", [&](const nlohmann::json& j,
                                                                        size_t) {
    std::string id = string_field(j, "_id");
    if (data.qrels.count(id)) data.queries.push_back({std::move(id), string_field(j, "text")});
    return Status();
  }));
  if (data.queries.empty()) {
    return Status::invalid_argument(dir + ": no query of queries.jsonl has judgements in " +
                                    qrels_path);
  }
  return data;
}

RetrievalMetrics evaluate_rankings(const BeirDataset& dataset,
                                   const std::vector<std::vector<std::string>>& ranked) {
  RetrievalMetrics m;
  m.queries = dataset.queries.size();
  if (m.queries == 0) return m;
  for (size_t q = 0; q < dataset.queries.size(); ++q) {
    const auto judged_it = dataset.qrels.find(dataset.queries[q].id);
    if (judged_it == dataset.qrels.end()) continue;
    const auto& judged = judged_it->second;
    // Dedup the ranking, keeping each document's best rank.
    std::vector<std::string> run;
    std::unordered_set<std::string> seen;
    if (q < ranked.size()) {
      for (const auto& id : ranked[q]) {
        if (seen.insert(id).second) run.push_back(id);
      }
    }
    auto grade_of = [&](const std::string& id) {
      auto it = judged.find(id);
      return it == judged.end() ? 0 : std::max(it->second, 0);
    };
    double dcg = 0;
    for (size_t r = 0; r < run.size() && r < 10; ++r) dcg += grade_of(run[r]) / std::log2(r + 2.0);
    std::vector<int> ideal;
    for (const auto& [id, grade] : judged) {
      if (grade > 0) ideal.push_back(grade);
    }
    std::sort(ideal.rbegin(), ideal.rend());
    double idcg = 0;
    for (size_t r = 0; r < ideal.size() && r < 10; ++r) idcg += ideal[r] / std::log2(r + 2.0);
    if (idcg > 0) m.ndcg_at_10 += dcg / idcg;

    size_t found = 0;
    for (size_t r = 0; r < run.size() && r < 100; ++r) found += grade_of(run[r]) > 0;
    if (!ideal.empty()) m.recall_at_100 += double(found) / double(ideal.size());

    for (size_t r = 0; r < run.size() && r < 10; ++r) {
      if (grade_of(run[r]) > 0) {
        m.mrr_at_10 += 1.0 / double(r + 1);
        break;
      }
    }
  }
  m.ndcg_at_10 /= double(m.queries);
  m.recall_at_100 /= double(m.queries);
  m.mrr_at_10 /= double(m.queries);
  return m;
}

}  // namespace ragkit::retrieval
