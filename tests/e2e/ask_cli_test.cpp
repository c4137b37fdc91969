// End-to-end: `rag ask` and `rag chat` on an indexed folder, run as a user runs them, with the
// real stories260K generator (its answers are children's-story nonsense: the pipeline, budget,
// template and citations are what is checked) and extractively without a generator.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "rag_process.h"
#include "random_model.h"
#include "test_env.h"

namespace ragkit::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class AskCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_FALSE(random_minilm_model().empty());
    base_ = make_temp_dir("ragkit-e2e-ask");
    const std::string notes = base_ + "/notes";
    db_ = base_ + "/.ragkit";
    fs::create_directories(notes);
    write_whole_file(notes + "/rotation.txt",
                     "Key rotation.\n\n"
                     "The signing keys are rotated every ninety days by the\n"
                     "zebracorn job, which publishes the new public key first.\n\n"
                     "Old keys stay valid for a week after the rotation.\n");
    write_whole_file(notes + "/garden.md",
                     "# Garden\n\nLily planted red tomatoes behind the school.\n\n"
                     "## Watering\n\nThe tomatoes are watered every morning at seven.\n");
    RunResult r = run_rag({"index", notes, "--db", db_, "--model", random_minilm_model()});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
  }

  static std::string generator() {
    return models_dir() + "/stories260K/stories260K.gguf";
  }

  static std::string base_, db_;
};
std::string AskCli::base_, AskCli::db_;

TEST_F(AskCli, GeneratesAnAnswerWithNumberedSourcesAsJson) {
  RunResult r = run_rag({"ask", "How often are the signing keys rotated?", "--db", db_,
                         "--generator", generator(), "--temperature", "0", "--max-tokens", "24",
                         "--json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const json a = parse_json(r);
  EXPECT_EQ(a["kind"], "generated");
  EXPECT_FALSE(a["answer"].get<std::string>().empty());
  ASSERT_FALSE(a["sources"].empty());
  EXPECT_EQ(a["sources"][0]["n"], 1);
  bool rotation = false;
  for (const json& s : a["sources"]) {
    rotation |= s["path"].get<std::string>().ends_with("rotation.txt");
    EXPECT_GT(s["start_line"].get<int>(), 0);
    EXPECT_FALSE(s["text"].get<std::string>().empty());
  }
  EXPECT_TRUE(rotation) << a.dump(2);
  EXPECT_GT(a["prompt_tokens"].get<int>(), 50);
  EXPECT_GT(a["completion_tokens"].get<int>(), 0);
  EXPECT_LE(a["completion_tokens"].get<int>(), 24);
  EXPECT_TRUE(a["cited"].is_array());

  // Greedy is deterministic: the same answer again, and the streamed text is the same answer.
  RunResult again = run_rag({"ask", "How often are the signing keys rotated?", "--db", db_,
                             "--generator", generator(), "--temperature", "0", "--max-tokens",
                             "24", "--json"});
  EXPECT_EQ(parse_json(again)["answer"], a["answer"]);
  RunResult streamed = run_rag({"ask", "How often are the signing keys rotated?", "--db", db_,
                                "--generator", generator(), "--temperature", "0",
                                "--max-tokens", "24"});
  ASSERT_EQ(streamed.exit_code, 0) << describe(streamed);
  EXPECT_EQ(streamed.out.rfind(a["answer"].get<std::string>(), 0), 0u) << streamed.out;
  EXPECT_NE(streamed.out.find("\nSources:\n"), std::string::npos) << streamed.out;
  EXPECT_NE(streamed.out.find("[1] "), std::string::npos);
}

TEST_F(AskCli, ExtractiveWithoutAGeneratorQuotesTheRightSentence) {
  RunResult r = run_rag({"ask", "How often are the signing keys rotated?", "--db", db_,
                         "--mode", "lexical", "--json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const json a = parse_json(r);
  EXPECT_EQ(a["kind"], "extractive");
  const std::string answer = a["answer"];
  EXPECT_EQ(answer.rfind("The signing keys are rotated every ninety days by the zebracorn job, "
                         "which publishes the new public key first [1].",
                         0),
            0u)
      << answer;
  EXPECT_TRUE(a["sources"][0]["path"].get<std::string>().ends_with("rotation.txt"));
  EXPECT_EQ(a["cited"][0], 1);
  EXPECT_TRUE(a["sources"][0]["cited"].get<bool>());

  RunResult human = run_rag({"ask", "How often are the signing keys rotated?", "--db", db_,
                             "--mode", "lexical"});
  ASSERT_EQ(human.exit_code, 0) << describe(human);
  EXPECT_NE(human.err.find("answering extractively"), std::string::npos) << human.err;
  EXPECT_NE(human.out.find("*[1] "), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("notes/rotation.txt:1-6"), std::string::npos) << human.out;
}

TEST_F(AskCli, SaysItDoesNotKnowWhenNothingMatches) {
  RunResult r = run_rag({"ask", "quantum chromodynamics lattice", "--db", db_, "--mode",
                         "lexical", "--generator", generator(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const json a = parse_json(r);
  EXPECT_EQ(a["kind"], "no_answer");
  EXPECT_TRUE(a["sources"].empty());
  EXPECT_NE(a["answer"].get<std::string>().find("I don't know"), std::string::npos);
  EXPECT_EQ(a["completion_tokens"], 0);
}

TEST_F(AskCli, ChatAnswersEachLineAndKeepsTheConversation) {
  RunResult r = run_rag({"chat", "--db", db_, "--generator", generator(), "--temperature", "0",
                         "--max-tokens", "12", "--json"},
                        "How often are keys rotated?\n/reset\nWhen are the tomatoes watered?\n"
                        "And who planted them?\n");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  std::istringstream lines(r.out);
  std::vector<json> answers;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) answers.push_back(json::parse(line));
  }
  ASSERT_EQ(answers.size(), 3u) << r.out;
  for (const json& a : answers) EXPECT_EQ(a["kind"], "generated");
  // The third question carries the second turn in its prompt.
  EXPECT_GT(answers[2]["prompt_tokens"].get<int>(), answers[1]["prompt_tokens"].get<int>());
}

// `rag bench search` on the same collection: every mode measured over every query.
TEST_F(AskCli, BenchSearchReportsLatencyPerMode) {
  const std::string queries = base_ + "/queries.jsonl";
  write_whole_file(queries, "{\"_id\": \"1\", \"text\": \"signing keys\"}\n"
                            "{\"_id\": \"2\", \"text\": \"tomatoes watered\"}\n\n");
  RunResult r = run_rag({"bench", "search", "--db", db_, "--queries", queries, "--json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const json b = parse_json(r);
  EXPECT_EQ(b["queries"], 2);
  for (const char* mode : {"lexical", "dense", "hybrid"}) {
    ASSERT_TRUE(b.contains(mode)) << b.dump(2);
    EXPECT_GT(b[mode]["p50_ms"].get<double>(), 0.0);
    EXPECT_GE(b[mode]["p99_ms"].get<double>(), b[mode]["p50_ms"].get<double>());
    EXPECT_GT(b[mode]["queries_per_s"].get<double>(), 0.0);
  }
  write_whole_file(base_ + "/bad.jsonl", "{\"_id\": 1}\n");
  RunResult bad = run_rag({"bench", "search", "--db", db_, "--queries", base_ + "/bad.jsonl"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("bad.jsonl:1: not a JSON object with a \"text\" string"),
            std::string::npos)
      << bad.err;
}

TEST_F(AskCli, BadInputsAreClearErrors) {
  RunResult empty = run_rag({"ask", "  ", "--db", db_});
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_NE(empty.err.find("the question is empty"), std::string::npos) << empty.err;
  RunResult no_db = run_rag({"ask", "anything", "--db", base_ + "/missing"});
  EXPECT_EQ(no_db.exit_code, 1);
  EXPECT_NE(no_db.err.find("run `rag index FOLDER` first"), std::string::npos) << no_db.err;
  RunResult bad_generator = run_rag({"ask", "anything", "--db", db_, "--generator",
                                     base_ + "/nope.gguf"});
  EXPECT_EQ(bad_generator.exit_code, 1);
  EXPECT_NE(bad_generator.err.find("nope.gguf"), std::string::npos) << bad_generator.err;
}

}  // namespace
}  // namespace ragkit::testing
