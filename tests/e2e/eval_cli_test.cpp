// End-to-end: `rag eval beir` run as a user runs it. Lexical mode needs no embedding model: it
// indexes BM25 postings in a lexical-only collection (no vectors, no FAISS index) and must
// reproduce the BM25 quality measured on SciFact.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "rag_process.h"
#include "test_env.h"

namespace ragkit::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// BM25 on SciFact (BEIR's test split, 300 queries). The lexical index alone gives nDCG@10 0.6777
// (libretrieval/tests/scifact_bm25_test.cpp); through `rag eval` it must stay near Anserini's
// BM25 figure for SciFact, 0.665.
constexpr double kScifactNdcg10 = 0.665;
constexpr double kNdcgTolerance = 0.015;

TEST(EvalCli, LexicalBeirOnScifactMatchesBm25WithoutAModel) {
  const std::string data = data_dir();
  ASSERT_FALSE(data.empty());
  const std::string scifact = data + "/scifact";
  ASSERT_TRUE(fs::exists(scifact + "/corpus.jsonl"))
      << scifact << "/corpus.jsonl is missing (RAGKIT_DATA_DIR=" << data << ")";
  RunResult r = run_rag({"eval", "beir", scifact, "--mode", "lexical", "--json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const json m = parse_json(r);
  ASSERT_TRUE(m.is_object()) << r.out;
  EXPECT_EQ(m["mode"], "lexical");
  EXPECT_EQ(m["queries"], 300) << m.dump(2);
  EXPECT_EQ(m["documents"], 5183) << m.dump(2);
  EXPECT_FALSE(m.contains("model")) << "lexical mode must not load a model: " << m.dump(2);
  const double ndcg = m["ndcg@10"].get<double>();
  EXPECT_NEAR(ndcg, kScifactNdcg10, kNdcgTolerance) << m.dump(2);
  // Recall and MRR of the same run, in bands around what BM25 gives on SciFact (0.908, 0.64).
  EXPECT_GT(m["recall@100"].get<double>(), 0.85) << m.dump(2);
  EXPECT_LE(m["recall@100"].get<double>(), 1.0);
  EXPECT_GT(m["mrr@10"].get<double>(), 0.58) << m.dump(2);
  EXPECT_LT(m["mrr@10"].get<double>(), 0.72) << m.dump(2);
}

// A hand-made BEIR folder: lexical mode keeps (with --db) a collection without vectors.
TEST(EvalCli, LexicalBeirKeepsALexicalOnlyCollection) {
  const std::string base = make_temp_dir("ragkit-e2e-eval");
  const std::string set = base + "/tiny";
  fs::create_directories(set + "/qrels");
  write_whole_file(set + "/corpus.jsonl",
                   "{\"_id\": \"d1\", \"title\": \"Zebras\", \"text\": \"Zebras have stripes.\"}\n"
                   "{\"_id\": \"d2\", \"title\": \"Owls\", \"text\": \"Owls hunt at night.\"}\n"
                   "{\"_id\": \"d3\", \"title\": \"Bees\", \"text\": \"Bees make honey.\"}\n");
  write_whole_file(set + "/queries.jsonl",
                   "{\"_id\": \"q1\", \"text\": \"which animal has stripes\"}\n"
                   "{\"_id\": \"q2\", \"text\": \"who makes honey\"}\n");
  write_whole_file(set + "/qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n");
  const std::string db = base + "/db";
  RunResult r = run_rag({"eval", "beir", set, "--mode", "lexical", "--db", db, "--json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const json m = parse_json(r);
  EXPECT_EQ(m["queries"], 2) << m.dump(2);
  EXPECT_DOUBLE_EQ(m["ndcg@10"].get<double>(), 1.0) << m.dump(2);
  EXPECT_DOUBLE_EQ(m["mrr@10"].get<double>(), 1.0) << m.dump(2);
  EXPECT_TRUE(fs::exists(db + "/db/CURRENT")) << "--db keeps the collection";
  EXPECT_FALSE(fs::exists(db + "/index.faiss")) << "a lexical-only collection has no FAISS index";
}

}  // namespace
}  // namespace ragkit::testing
