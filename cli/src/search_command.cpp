#include "search_command.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "collection_util.h"
#include "ragkit/rag/json.h"
#include "ragkit/rag/retriever.h"
#include "ragkit/retrieval/collection.h"
#include "ragkit/retrieval/text_analyzer.h"

namespace ragkit::cli {
namespace {

struct SearchArgs {
  std::string query;
  std::string db = kDefaultDb;
  std::string model;  // empty: the one `rag index` used
  size_t k = 5;
  std::string mode;  // empty: hybrid, or lexical on a lexical-only collection
  std::string path_glob;
  bool json = false;
};

// A passage's sentences as byte ranges: ends at '.', '!' or '?' followed by white space, and at
// blank lines. Only for choosing what to highlight, so a simple rule is enough.
std::vector<std::pair<size_t, size_t>> split_sentences(const std::string& text) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t begin = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool end_mark = (c == '.' || c == '!' || c == '?') && i + 1 < text.size() &&
                          (text[i + 1] == ' ' || text[i + 1] == '\n');
    const bool blank_line = c == '\n' && i + 1 < text.size() && text[i + 1] == '\n';
    if (end_mark || blank_line) {
      out.emplace_back(begin, i + 1);
      begin = i + 1;
    }
  }
  if (begin < text.size()) out.emplace_back(begin, text.size());
  return out;
}

// The sentence to highlight: the one sharing the most analysed terms with the query; for dense
// results without any shared term, the one whose embedding is nearest the query's.
std::pair<size_t, size_t> best_sentence(const std::string& text, const std::set<std::string>& query_terms,
                                        const retrieval::TextAnalyzer& analyzer,
                                        embed::Encoder* encoder,
                                        const std::vector<float>& query_vector) {
  const auto sentences = split_sentences(text);
  if (sentences.empty()) return {0, 0};
  size_t best = 0, best_hits = 0;
  std::vector<std::string> terms;
  for (size_t i = 0; i < sentences.size(); ++i) {
    terms.clear();
    analyzer.analyze(std::string_view(text).substr(sentences[i].first,
                                                   sentences[i].second - sentences[i].first),
                     terms);
    size_t hits = 0;
    for (const auto& t : std::set<std::string>(terms.begin(), terms.end())) hits += query_terms.count(t);
    if (hits > best_hits) best = i, best_hits = hits;
  }
  if (best_hits == 0 && encoder != nullptr && !query_vector.empty() && sentences.size() > 1) {
    std::vector<std::string> texts;
    for (const auto& [b, e] : sentences) texts.push_back(text.substr(b, e - b));
    auto embedded = encoder->embed(texts);
    if (embedded.ok()) {
      float best_score = -2.0f;
      for (size_t i = 0; i < texts.size(); ++i) {
        const auto v = embedded->vector(i);
        double dot = 0, norm = 0;
        for (size_t j = 0; j < v.size(); ++j) dot += double(v[j]) * query_vector[j], norm += double(v[j]) * v[j];
        const float score = norm > 0 ? float(dot / std::sqrt(norm)) : -1.0f;
        if (score > best_score) best_score = score, best = i;
      }
    }
  }
  return sentences[best];
}

// A passage for the terminal: every line indented under its result, blank lines dropped.
std::string indented(std::string_view text) {
  std::string out = "   ";
  bool line_start = true;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      if (!line_start) out += "\n   ";
      line_start = true;
      continue;
    }
    out += text[i];
    line_start = false;
  }
  return out;
}

int run_search(const SearchArgs& a) {
  auto collection = open_collection_for_reading(a.db);
  if (!collection.ok()) return report_error(collection.status());
  const bool lexical_only = (*collection)->stats().dimension == 0;
  std::string mode_name = a.mode;
  if (mode_name.empty()) {
    mode_name = lexical_only ? "lexical" : "hybrid";
    if (lexical_only && !a.json) {
      report_note(lexical_only_note(a.db));
    }
  }
  Result<rag::SearchMode> mode = rag::parse_search_mode(mode_name);
  if (!mode.ok()) return report_error(mode.status());
  if (*mode != rag::SearchMode::kLexical && lexical_only) {
    return report_error("the collection in " + a.db + " is lexical-only (made without an "
                        "embedding model): use --mode lexical");
  }
  std::unique_ptr<embed::Encoder> encoder;
  if (*mode != rag::SearchMode::kLexical) {
    auto opened = open_query_encoder(a.db, **collection, a.model);
    if (!opened.ok()) return report_error(opened.status());
    encoder = std::move(*opened);
  }
  const rag::Retriever retriever(**collection, encoder.get());
  rag::RetrieveOptions options;
  options.k = a.k;
  options.mode = *mode;
  options.filter.path_glob = a.path_glob;
  std::vector<float> query_vector;  // for highlighting: the vector the search embedded
  Result<std::vector<rag::Passage>> passages = retriever.retrieve(a.query, options, &query_vector);
  if (!passages.ok()) return report_error(passages.status());
  if (a.json) {
    std::printf("%s\n", rag::search_results_json(*passages, *mode).dump(2).c_str());
    return finish_output();
  }

  auto analyzer = retrieval::TextAnalyzer::create();
  if (!analyzer.ok()) return report_error(analyzer.status());
  std::vector<std::string> terms;
  (*analyzer)->analyze(a.query, terms);
  const std::set<std::string> query_terms(terms.begin(), terms.end());

  const bool tty = isatty(STDOUT_FILENO) != 0;
  for (size_t i = 0; i < passages->size(); ++i) {
    const rag::Passage& p = (*passages)[i];
    std::printf("%s%zu. %.4f  %s%s", tty ? "\033[1m" : "", i + 1, p.score,
                rag::passage_location(p).c_str(), tty ? "\033[0m" : "");
    if (!p.location.heading_path.empty()) std::printf("  [%s]", p.location.heading_path.c_str());
    std::printf("\n");
    const std::string& text = p.text;
    if (tty) {
      const auto [b, e] = best_sentence(text, query_terms, **analyzer, encoder.get(), query_vector);
      std::printf("%s\033[1;33m%s\033[0m%s\n\n", indented(text.substr(0, b)).c_str(),
                  indented(text.substr(b, e - b)).substr(3).c_str(),
                  indented(text.substr(e)).substr(3).c_str());
    } else {
      std::printf("%s\n\n", indented(text).c_str());
    }
  }
  if (passages->empty()) std::printf("no results\n");
  return finish_output();
}

int run_docs(const std::string& db, bool json) {
  auto collection = open_collection_for_reading(db);
  if (!collection.ok()) return report_error(collection.status());
  const auto docs = (*collection)->documents();
  if (json) {
    std::printf("%s\n", rag::documents_json(docs).dump(2).c_str());
    return finish_output();
  }
  uint64_t chunks = 0;
  for (const auto& d : docs) {
    std::printf("%-6s %5u chunks %10llu bytes  %s%s%s\n", d.file_type.c_str(), d.chunk_count,
                (unsigned long long)d.size_bytes, d.path.c_str(), d.title.empty() ? "" : "  — ",
                d.title.c_str());
    chunks += d.chunk_count;
  }
  std::printf("%zu documents, %llu chunks\n", docs.size(), (unsigned long long)chunks);
  return finish_output();
}

}  // namespace

Command add_search_command(CLI::App& app) {
  auto args = std::make_shared<SearchArgs>();
  CLI::App* cmd = app.add_subcommand("search", "Find the passages of the indexed documents that "
                                               "answer a query");
  cmd->add_option("query", args->query, "What to look for")->required();
  cmd->add_option("--db", args->db, "Collection folder (default ./.ragkit)");
  cmd->add_option("-k", args->k, "Number of results (default 5)")->check(CLI::Range(1, 1000));
  cmd->add_option("--mode", args->mode,
                  "dense, lexical or hybrid (default; lexical on a collection without vectors)")
      ->check(CLI::IsMember({"dense", "lexical", "hybrid"}));
  cmd->add_option("--path", args->path_glob,
                  "Only documents whose path matches this glob (\"docs/*.md\")");
  cmd->add_option("-m,--model", args->model,
                  "Embedding model (default: the one the collection was indexed with)");
  cmd->add_flag("--json", args->json, "Print the results as JSON");
  return {cmd, [args] { return run_search(*args); }};
}

Command add_docs_command(CLI::App& app) {
  auto db = std::make_shared<std::string>(kDefaultDb);
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("docs", "List the documents in a collection");
  cmd->add_option("--db", *db, "Collection folder (default ./.ragkit)");
  cmd->add_flag("--json", *json, "Print the list as JSON");
  return {cmd, [db, json] { return run_docs(*db, *json); }};
}

}  // namespace ragkit::cli
