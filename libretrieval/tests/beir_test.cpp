// BEIR loading and the retrieval measures, on a hand-made data set whose figures are worked out
// below by hand (trec_eval's definitions: linear gains, log2(rank + 1) discounts).
#include "ragkit/retrieval/beir.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "test_env.h"

namespace ragkit::retrieval {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::string make_dataset() {
  const std::string dir = testing::make_temp_dir("ragkit-beir");
  write(fs::path(dir) / "corpus.jsonl",
        "{\"_id\": \"d1\", \"title\": \"Alpha\", \"text\": \"first\"}\n"
        "{\"_id\": \"d2\", \"title\": \"\", \"text\": \"second\"}\n"
        "{\"_id\": 3, \"title\": \"Gamma\", \"text\": \"third\"}\n");
  write(fs::path(dir) / "queries.jsonl",
        "{\"_id\": \"q1\", \"text\": \"one\"}\n"
        "{\"_id\": \"q2\", \"text\": \"two\"}\n"
        "{\"_id\": \"q3\", \"text\": \"not judged\"}\n");
  write(fs::path(dir) / "qrels" / "test.tsv",
        "query-id\tcorpus-id\tscore\n"
        "q1\td1\t1\n"
        "q1\t3\t2\n"
        "q2\td2\t1\n"
        "q2\td1\t0\n");
  return dir;
}

TEST(Beir, LoadsCorpusJudgedQueriesAndGrades) {
  auto data = load_beir(make_dataset());
  ASSERT_TRUE(data.ok()) << data.status().to_string();
  ASSERT_EQ(data->corpus.size(), 3u);
  EXPECT_EQ(data->corpus[0].indexed_text(), "Alpha first");
  EXPECT_EQ(data->corpus[1].indexed_text(), "second");
  EXPECT_EQ(data->corpus[2].id, "3");  // numeric ids read as text
  ASSERT_EQ(data->queries.size(), 2u);  // q3 has no judgements
  EXPECT_EQ(data->queries[1].text, "two");
  EXPECT_EQ(data->qrels.at("q1").at("3"), 2);
}

TEST(Beir, MeasuresMatchHandComputedValues) {
  auto data = load_beir(make_dataset());
  ASSERT_TRUE(data.ok());
  // q1: relevant d1 (1) and 3 (2); ranking: x, 3, d1.
  //   DCG = 2/log2(3) + 1/log2(4); IDCG = 2/log2(2) + 1/log2(3). MRR = 1/2. recall = 1.
  // q2: relevant d2 (1); ranking: d1 (grade 0), d1 again (ignored), nothing else. nDCG 0, MRR 0,
  //   recall 0.
  const std::vector<std::vector<std::string>> ranked = {{"x", "3", "d1"}, {"d1", "d1"}};
  const auto m = evaluate_rankings(*data, ranked);
  const double dcg = 2 / std::log2(3.0) + 1 / std::log2(4.0);
  const double idcg = 2 / std::log2(2.0) + 1 / std::log2(3.0);
  EXPECT_EQ(m.queries, 2u);
  EXPECT_NEAR(m.ndcg_at_10, (dcg / idcg + 0) / 2, 1e-12);
  EXPECT_NEAR(m.mrr_at_10, (0.5 + 0) / 2, 1e-12);
  EXPECT_NEAR(m.recall_at_100, (1.0 + 0) / 2, 1e-12);
}

TEST(Beir, PerfectRankingScoresOne) {
  auto data = load_beir(make_dataset());
  ASSERT_TRUE(data.ok());
  const auto m = evaluate_rankings(*data, {{"3", "d1"}, {"d2"}});
  EXPECT_NEAR(m.ndcg_at_10, 1.0, 1e-12);
  EXPECT_NEAR(m.mrr_at_10, 1.0, 1e-12);
  EXPECT_NEAR(m.recall_at_100, 1.0, 1e-12);
}

TEST(Beir, MalformedFilesAreNamedErrors) {
  const std::string dir = make_dataset();
  write(fs::path(dir) / "corpus.jsonl", "{\"_id\": \"d1\"}\nnot json\n");
  auto data = load_beir(dir);
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("corpus.jsonl:2"), std::string::npos)
      << data.status().to_string();
  EXPECT_FALSE(load_beir(dir + "/nowhere").ok());
}

}  // namespace
}  // namespace ragkit::retrieval
