// End-to-end tests of the `rag` command line: each test runs the built binary in a child process,
// as a user or a script would, and checks its stdout, stderr and exit code.
//
// Models: a Hugging Face directory with all-MiniLM-L6-v2's real configuration and tokenizer and
// random weights (make_random_bert_model), and llama.cpp's golden BERT GGUF, whose embeddings
// llama.cpp computed, so `rag embed` is checked against an independent implementation.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
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

double norm(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x * x;
  return std::sqrt(sum);
}

double cosine(const std::vector<double>& a, const std::vector<double>& b) {
  double dot = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) dot += a[i] * b[i];
  return dot / (norm(a) * norm(b));
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

// Plain `rag embed` output: one line per text, numbers separated by spaces.
std::vector<std::vector<double>> parse_plain_vectors(const std::string& out) {
  std::vector<std::vector<double>> vectors;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream numbers(line);
    std::vector<double> v;
    double x;
    while (numbers >> x) v.push_back(x);
    vectors.push_back(std::move(v));
  }
  return vectors;
}

// all-MiniLM-L6-v2's configuration and tokenizer with random weights, made once per process.
class CliTest : public ::testing::Test {
 protected:
  static const std::string& random_model() { return random_minilm_model(); }

  static std::string golden_gguf() {
    const std::string golden = golden_dir();
    return golden.empty() ? "" : golden + "/bert-synth-Q8_0.gguf";
  }

  static json golden_embeddings() {
    const std::string golden = golden_dir();
    if (golden.empty()) return json();
    return json::parse(read_whole_file(golden + "/bert-synth-Q8_0.embed.json"));
  }
};

// `rag bench store --keep`: the first run loads and keeps the collection, the second searches
// the same one again (no insert, no writes) and finds the same neighbours.
TEST(BenchStoreCli, KeptCollectionsAreSearchedAgainWithoutARebuild) {
  const std::string dir = make_temp_dir("ragkit-bench-keep");
  const std::vector<std::string> args = {"bench", "store", "--sizes", "2000", "--index", "HNSW16",
                                         "--dimension", "16", "--queries", "20", "--ef-search",
                                         "32", "--peer", "none", "--dir", dir, "--keep", "--json"};
  RunResult first = run_rag(args);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  const json built = parse_json(first)["runs"][0]["ragkit"];
  EXPECT_GT(built["insert_vectors_per_s"].get<double>(), 0);
  EXPECT_FALSE(built.contains("reused"));
  EXPECT_FALSE(built.contains("delete_document_ms"));  // a kept collection is never written

  RunResult second = run_rag(args);
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  const json reused = parse_json(second)["runs"][0]["ragkit"];
  EXPECT_TRUE(reused["reused"].get<bool>());
  EXPECT_FALSE(reused.contains("insert_vectors_per_s"));
  EXPECT_EQ(reused["search"][0]["recall_at_10"], built["search"][0]["recall_at_10"]);

  // The printed report of a kept collection beside the FAISS peer: no ragkit insert figure to
  // divide by, FAISS's own still shown.
  std::vector<std::string> with_peer = args;
  with_peer.erase(with_peer.begin() + 12, with_peer.begin() + 14);  // --peer none
  with_peer.pop_back();                                             // --json
  RunResult printed = run_rag(with_peer);
  ASSERT_EQ(printed.exit_code, 0) << describe(printed);
  EXPECT_NE(printed.out.find("a kept collection"), std::string::npos) << printed.out;
  EXPECT_NE(printed.out.find("faiss"), std::string::npos) << printed.out;

  RunResult no_dir = run_rag({"bench", "store", "--sizes", "2000", "--keep"});
  EXPECT_NE(no_dir.exit_code, 0);
  EXPECT_NE(no_dir.err.find("--keep needs --dir"), std::string::npos) << describe(no_dir);
  fs::remove_all(dir);
}

TEST_F(CliTest, HelpListsTheSubcommands) {
  RunResult r = run_rag({"--help"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("embed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tokenize"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--threads"), std::string::npos) << r.out;
}

TEST_F(CliTest, EverySubcommandExplainsItsOptions) {
  RunResult embed = run_rag({"embed", "--help"});
  ASSERT_EQ(embed.exit_code, 0) << describe(embed);
  for (const char* option :
       {"--model", "--json", "--pooling", "--no-normalize", "--max-seq-length"}) {
    EXPECT_NE(embed.out.find(option), std::string::npos) << option << " missing in:\n" << embed.out;
  }
  RunResult tokenize = run_rag({"tokenize", "--help"});
  ASSERT_EQ(tokenize.exit_code, 0) << describe(tokenize);
  for (const char* option : {"--model", "--json", "--no-special", "--verbose"}) {
    EXPECT_NE(tokenize.out.find(option), std::string::npos) << option << " missing in:\n"
                                                            << tokenize.out;
  }
}

TEST_F(CliTest, CommandLineMistakesAreUsageErrors) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{},
                                             {"frobnicate"},
                                             {"embed", "--bogus", "x"},
                                             {"embed", "--model", "m", "--pooling", "max", "x"},
                                             {"embed", "x"},  // --model missing
                                             {"--threads", "0", "embed", "--model", "m", "x"}}) {
    RunResult r = run_rag(args);
    EXPECT_EQ(r.exit_code, 2) << describe(r);
    EXPECT_NE(r.err.find("rag: error:"), std::string::npos) << describe(r);
  }
}

TEST_F(CliTest, TokenizeJsonFromHuggingFaceDirectory) {
  ASSERT_FALSE(random_model().empty());
  RunResult r =
      run_rag({"tokenize", "--model", random_model(), "--json", "How do I reset my password?"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  json doc = parse_json(r);
  EXPECT_EQ(doc["ids"], json({101, 2129, 2079, 1045, 25141, 2026, 20786, 1029, 102}));
  EXPECT_EQ(doc["tokens"],
            json({"[CLS]", "how", "do", "i", "reset", "my", "password", "?", "[SEP]"}));
}

TEST_F(CliTest, TokenizePlainVerboseAndWithoutSpecialTokens) {
  ASSERT_FALSE(random_model().empty());
  const std::string text = "How do I reset my password?";
  RunResult plain = run_rag({"tokenize", "--model", random_model(), text});
  ASSERT_EQ(plain.exit_code, 0) << describe(plain);
  EXPECT_EQ(plain.out, "101 2129 2079 1045 25141 2026 20786 1029 102\n");

  RunResult bare = run_rag({"tokenize", "--model", random_model(), "--no-special", text});
  ASSERT_EQ(bare.exit_code, 0) << describe(bare);
  EXPECT_EQ(bare.out, "2129 2079 1045 25141 2026 20786 1029\n");

  RunResult verbose = run_rag({"tokenize", "--model", random_model(), "--verbose", "unaffable"});
  ASSERT_EQ(verbose.exit_code, 0) << describe(verbose);
  EXPECT_EQ(verbose.out.rfind("101\t[CLS]\n", 0), 0u) << verbose.out;
  EXPECT_NE(verbose.out.find("\t##"), std::string::npos) << "expected a ##-piece:\n" << verbose.out;
  EXPECT_NE(verbose.out.find("102\t[SEP]\n"), std::string::npos) << verbose.out;

  RunResult from_stdin = run_rag({"tokenize", "--model", random_model(), "-"}, text + "\n");
  ASSERT_EQ(from_stdin.exit_code, 0) << describe(from_stdin);
  EXPECT_EQ(from_stdin.out, plain.out);
}

// The GGUF tokenizer path against the token ids llama.cpp produced for the golden sentences.
TEST_F(CliTest, TokenizeGgufMatchesLlamaCpp) {
  json golden = golden_embeddings();
  ASSERT_TRUE(golden.contains("cases"));
  for (const json& c : golden["cases"]) {
    RunResult r =
        run_rag({"tokenize", "--model", golden_gguf(), "--json", c["text"].get<std::string>()});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(parse_json(r)["ids"], c["tokens"]) << c["text"];
  }
}

TEST_F(CliTest, EmbedJsonGivesUnitVectors) {
  ASSERT_FALSE(random_model().empty());
  RunResult r = run_rag({"embed", "--model", random_model(), "--json",
                         "How do I reset my password?", "The cat sat on the mat."});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  json doc = parse_json(r);
  EXPECT_EQ(doc["dim"], 384);
  EXPECT_TRUE(doc["model"].is_string() && !doc["model"].get<std::string>().empty()) << doc["model"];
  EXPECT_EQ(doc["truncated"], json({false, false}));
  ASSERT_EQ(doc["embeddings"].size(), 2u);
  std::vector<std::vector<double>> vectors;
  for (const json& e : doc["embeddings"]) vectors.push_back(e.get<std::vector<double>>());
  for (const auto& v : vectors) {
    ASSERT_EQ(v.size(), 384u);
    EXPECT_NEAR(norm(v), 1.0, 1e-5);
  }
  EXPECT_LT(cosine(vectors[0], vectors[1]), 0.9999) << "two different texts, one vector";
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST_F(CliTest, EmbedPlainOutputAgreesWithJson) {
  ASSERT_FALSE(random_model().empty());
  const std::vector<std::string> texts = {"first text", "a second, longer text about retrieval"};
  std::vector<std::string> args = {"embed", "--model", random_model()};
  args.insert(args.end(), texts.begin(), texts.end());
  RunResult plain = run_rag(args);
  ASSERT_EQ(plain.exit_code, 0) << describe(plain);
  args.push_back("--json");
  RunResult as_json = run_rag(args);
  ASSERT_EQ(as_json.exit_code, 0) << describe(as_json);

  std::vector<std::vector<double>> lines = parse_plain_vectors(plain.out);
  json embeddings = parse_json(as_json)["embeddings"];
  ASSERT_EQ(lines.size(), 2u) << plain.out.substr(0, 500);
  ASSERT_EQ(embeddings.size(), 2u);
  for (size_t i = 0; i < lines.size(); ++i) {
    ASSERT_EQ(lines[i].size(), 384u);
    // 6 decimals: each printed number is within half a unit of the 6th decimal.
    EXPECT_LE(max_abs_diff(lines[i], embeddings[i].get<std::vector<double>>()), 5.01e-7);
  }
}

TEST_F(CliTest, EmbedReadsOneTextPerLineFromStdin) {
  ASSERT_FALSE(random_model().empty());
  RunResult from_args =
      run_rag({"embed", "--model", random_model(), "alpha", "beta gamma", "delta"});
  ASSERT_EQ(from_args.exit_code, 0) << describe(from_args);
  RunResult from_stdin =
      run_rag({"embed", "--model", random_model(), "-"}, "alpha\r\nbeta gamma\ndelta\n");
  ASSERT_EQ(from_stdin.exit_code, 0) << describe(from_stdin);
  std::vector<std::vector<double>> a = parse_plain_vectors(from_args.out);
  std::vector<std::vector<double>> b = parse_plain_vectors(from_stdin.out);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_LE(max_abs_diff(a[i], b[i]), 2e-6) << "text " << i;
}

TEST_F(CliTest, EmbedOptionsChangeTheVectors) {
  ASSERT_FALSE(random_model().empty());
  auto embed_one = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"embed", "--model", random_model(), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("How do I reset my password?");
    RunResult r = run_rag(args);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    json doc = parse_json(r);
    return doc["embeddings"][0].get<std::vector<double>>();
  };
  const std::vector<double> mean = embed_one({});
  const std::vector<double> cls = embed_one({"--pooling", "cls"});
  const std::vector<double> raw = embed_one({"--no-normalize"});
  EXPECT_LT(cosine(mean, cls), 0.9999) << "--pooling cls gave the mean vector";
  EXPECT_GT(std::abs(norm(raw) - 1.0), 1e-3) << "--no-normalize still gave a unit vector";
  EXPECT_NEAR(cosine(mean, raw), 1.0, 1e-5) << "normalising should only rescale";
  // --threads, before or after the subcommand, must not change the numbers.
  EXPECT_LE(max_abs_diff(embed_one({"--threads", "1"}), mean), 1e-5);
  RunResult global = run_rag({"--threads", "1", "embed", "--model", random_model(), "--json",
                              "How do I reset my password?"});
  ASSERT_EQ(global.exit_code, 0) << describe(global);
  EXPECT_LE(max_abs_diff(parse_json(global)["embeddings"][0].get<std::vector<double>>(), mean),
            1e-5);
}

TEST_F(CliTest, EmbedWarnsAboutTruncatedTexts) {
  ASSERT_FALSE(random_model().empty());
  RunResult r =
      run_rag({"embed", "--model", random_model(), "--json", "--max-seq-length", "8", "short",
               "this sentence has clearly more than eight word pieces in it, surely"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(parse_json(r)["truncated"], json({false, true}));
  EXPECT_NE(r.err.find("rag: warning: text 2 has"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cut to 8"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("text 1 "), std::string::npos) << r.err;
}

// `rag embed` on llama.cpp's golden BERT file gives llama.cpp's sentence embeddings (tolerances
// for Q8_0 weights from golden/README.md: max abs <= 2e-3, cosine >= 0.9999).
TEST_F(CliTest, EmbedGgufMatchesLlamaCpp) {
  json golden = golden_embeddings();
  ASSERT_TRUE(golden.contains("cases"));
  struct Variant {
    std::vector<std::string> flags;
    const char* pooling;
    const char* values;
  };
  for (const Variant& variant :
       {Variant{{"--pooling", "mean"}, "mean", "l2"}, Variant{{"--pooling", "cls"}, "cls", "l2"},
        Variant{{"--pooling", "mean", "--no-normalize"}, "mean", "raw"}}) {
    std::vector<std::string> args = {"embed", "--model", golden_gguf(), "--json"};
    args.insert(args.end(), variant.flags.begin(), variant.flags.end());
    for (const json& c : golden["cases"]) args.push_back(c["text"].get<std::string>());
    RunResult r = run_rag(args);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    json embeddings = parse_json(r)["embeddings"];
    ASSERT_EQ(embeddings.size(), golden["cases"].size());
    for (size_t i = 0; i < embeddings.size(); ++i) {
      const auto ours = embeddings[i].get<std::vector<double>>();
      const auto theirs =
          golden["cases"][i][variant.pooling][variant.values].get<std::vector<double>>();
      ASSERT_EQ(ours.size(), theirs.size());
      const double scale = std::string(variant.values) == "raw" ? norm(theirs) : 1.0;
      EXPECT_GE(cosine(ours, theirs), 0.9999) << variant.pooling << " case " << i;
      EXPECT_LE(max_abs_diff(ours, theirs), 2e-3 * scale) << variant.pooling << " case " << i;
    }
  }
}

TEST_F(CliTest, MissingModelIsAnErrorNamingThePath) {
  for (const char* command : {"embed", "tokenize"}) {
    RunResult r = run_rag({command, "--model", "/nonexistent/model.gguf", "x"});
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_NE(r.err.find("rag: error:"), std::string::npos) << describe(r);
    EXPECT_NE(r.err.find("/nonexistent/model.gguf"), std::string::npos) << describe(r);
    EXPECT_TRUE(r.out.empty()) << describe(r);
  }
}

TEST_F(CliTest, DirectoryWithoutWeightsSaysWhereToGetThem) {
  const std::string models = models_dir();
  ASSERT_FALSE(models.empty());
  RunResult r = run_rag({"embed", "--model", models + "/all-MiniLM-L6-v2", "x"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("rag: error:"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("model.safetensors"), std::string::npos) << describe(r);
}

TEST_F(CliTest, AFolderThatIsNoModelIsNamedAsSuch) {
  // Not every folder is a model without its weights: one without config.json gets no advice
  // about all-MiniLM-L6-v2's weights.
  const std::string dir = make_temp_dir("ragkit-e2e-not-a-model");
  std::ofstream(dir + "/notes.txt") << "just notes\n";
  RunResult r = run_rag({"embed", "--model", dir, "x"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("not a model folder"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << describe(r);
  EXPECT_EQ(r.err.find("all-MiniLM-L6-v2"), std::string::npos) << describe(r);
}

TEST_F(CliTest, TruncatedSafetensorsIsAnErrorNotACrash) {
  ASSERT_FALSE(random_model().empty());
  const std::string dir = make_temp_dir("ragkit-e2e-truncated") + "/model";
  fs::copy(random_model(), dir, fs::copy_options::recursive);
  const std::string weights = dir + "/model.safetensors";
  ASSERT_TRUE(fs::exists(weights));
  for (uintmax_t size : {fs::file_size(weights) / 2, uintmax_t{100}, uintmax_t{7}}) {
    fs::resize_file(weights, size);
    RunResult r = run_rag({"embed", "--model", dir, "x"});
    EXPECT_EQ(r.signal, 0) << "cut to " << size << " bytes: " << describe(r);
    EXPECT_EQ(r.exit_code, 1) << "cut to " << size << " bytes: " << describe(r);
    EXPECT_NE(r.err.find("rag: error:"), std::string::npos) << describe(r);
  }
}

TEST_F(CliTest, TruncatedGgufIsAnErrorNotACrash) {
  const std::string source = golden_gguf();
  ASSERT_FALSE(source.empty());
  const std::string bytes = read_whole_file(source);
  ASSERT_GT(bytes.size(), 1u << 20);
  const std::string path = make_temp_dir("ragkit-e2e-truncated") + "/cut.gguf";
  for (size_t size : {bytes.size() - 1000, size_t{1} << 20, size_t{4096}, size_t{24}, size_t{3}}) {
    write_whole_file(path, bytes.substr(0, size));
    for (const char* command : {"embed", "tokenize"}) {
      RunResult r = run_rag({command, "--model", path, "x"});
      EXPECT_EQ(r.signal, 0) << command << ", cut to " << size << " bytes: " << describe(r);
      EXPECT_EQ(r.exit_code, 1) << command << ", cut to " << size << " bytes: " << describe(r);
      EXPECT_NE(r.err.find("rag: error:"), std::string::npos) << describe(r);
    }
  }
}

}  // namespace
}  // namespace ragkit::testing
