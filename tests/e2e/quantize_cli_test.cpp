// End-to-end tests of `rag quantize`: the built binary quantizes real models in a child process;
// the outputs are read back with ragkit's GGUF reader and used by `rag tokenize` / `rag embed`.
//
// stories260K (64-wide matrices, a 172-wide ffn_down) must quantize to every type through the
// per-tensor fallbacks; its Q6_K and Q4_0 outputs must equal the files llama-quantize made
// (golden stories260K-Q8_0.gguf / -Q4_0.gguf), tensor for tensor. The golden BERT model
// requantized to F16 must embed like llama.cpp's F16 reference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "rag_process.h"
#include "ragkit/embed/gguf.h"
#include "test_env.h"

namespace ragkit::testing {
namespace {

namespace fs = std::filesystem;
using embed::DType;
using embed::GgufFile;
using nlohmann::json;

std::unique_ptr<GgufFile> open_gguf(const std::string& path) {
  auto f = GgufFile::open(path);
  EXPECT_TRUE(f.ok()) << f.status().to_string();
  return f.ok() ? std::move(*f) : nullptr;
}

// name -> type name of every tensor.
std::map<std::string, std::string> tensor_types(const GgufFile& f) {
  std::map<std::string, std::string> types;
  for (const auto& t : f.tensors()) types[t.name] = embed::dtype_name(t.dtype);
  return types;
}

class QuantizeCliTest : public ::testing::Test {
 protected:
  void SetUp() override { tmp_ = make_temp_dir("ragkit-e2e-quantize"); }
  static std::string stories() {
    const std::string models = models_dir();
    return models.empty() ? "" : models + "/stories260K/stories260K.gguf";
  }
  std::string tmp_;
};

TEST_F(QuantizeCliTest, Stories260KQuantizesToEveryType) {
  ASSERT_FALSE(stories().empty());
  auto source = open_gguf(stories());
  ASSERT_TRUE(source);
  for (const std::string type : {"Q8_0", "Q4_0", "Q4_K", "Q6_K", "F16"}) {
    SCOPED_TRACE(type);
    const std::string out = tmp_ + "/stories-" + type + ".gguf";
    RunResult r = run_rag({"quantize", stories(), out, type});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.out.find("quantized "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("blk.0.ffn_down.weight"), std::string::npos) << r.out;
    auto q = open_gguf(out);
    ASSERT_TRUE(q);
    ASSERT_EQ(q->tensors().size(), source->tensors().size());
    for (const auto& t : q->tensors()) {
      SCOPED_TRACE(t.name);
      const embed::GgufTensorInfo* s = source->find_tensor(t.name);
      ASSERT_NE(s, nullptr);
      EXPECT_EQ(t.ne, s->ne);
      const std::string got = embed::dtype_name(t.dtype);
      if (t.n_dims < 2) {
        EXPECT_EQ(got, "F32");  // norms
      } else if (t.name.find("ffn_down") != std::string::npos) {
        EXPECT_EQ(got, "F16");  // 172 values per row fit no block
      } else if (type == "Q8_0" || type == "F16") {
        EXPECT_EQ(got, type);
      } else if (type == "Q4_0") {
        EXPECT_EQ(got, t.name == "output.weight" ? "Q8_0" : "Q4_0");
      } else if (type == "Q6_K") {
        EXPECT_EQ(got, "Q8_0");  // 64 is not a multiple of 256
      } else {
        EXPECT_TRUE(got == "Q5_0" || got == "Q8_0") << got;  // Q4_K -> Q5_0, Q6_K -> Q8_0
      }
    }
    // The metadata came along: the vocabulary and the architecture.
    EXPECT_EQ(*q->get_string("general.architecture"), "llama");
    EXPECT_EQ((*q->get_string_array("tokenizer.ggml.tokens"))->size(), 512u);
    EXPECT_FALSE(fs::exists(out + ".tmp"));
  }
}

TEST_F(QuantizeCliTest, Stories260KEqualsWhatLlamaQuantizeWrote) {
  ASSERT_FALSE(stories().empty());
  const std::string golden = golden_dir();
  ASSERT_FALSE(golden.empty());
  // The golden files: llama-quantize ... Q6_K (fallbacks give Q8_0 + F16), and TQ2_0 with Q4_0
  // token embeddings (Q4_0 matrices, Q8_0 output, F16 ffn_down) = ragkit's Q4_0 choices.
  for (const auto& [type, file] : std::vector<std::pair<std::string, std::string>>{
           {"Q6_K", "stories260K-Q8_0.gguf"}, {"Q4_0", "stories260K-Q4_0.gguf"}}) {
    SCOPED_TRACE(type);
    const std::string out = tmp_ + "/" + type + ".gguf";
    RunResult r = run_rag({"quantize", stories(), out, type});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto ours = open_gguf(out);
    auto theirs = open_gguf(golden + "/" + file);
    ASSERT_TRUE(ours && theirs);
    EXPECT_EQ(tensor_types(*ours), tensor_types(*theirs));
    for (const auto& t : theirs->tensors()) {
      const embed::GgufTensorInfo* o = ours->find_tensor(t.name);
      ASSERT_NE(o, nullptr) << t.name;
      ASSERT_EQ(o->n_bytes, t.n_bytes) << t.name;
      EXPECT_EQ(0, std::memcmp(ours->view(*o).data, theirs->view(t).data, t.n_bytes)) << t.name;
    }
  }
}

TEST_F(QuantizeCliTest, JsonReportNamesEveryTensorAndItsFallback) {
  ASSERT_FALSE(stories().empty());
  const std::string out = tmp_ + "/q4k.gguf";
  RunResult r = run_rag({"quantize", "--json", stories(), out, "q4_k_m"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  json doc = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out;
  EXPECT_EQ(doc["type"], "Q4_K");
  EXPECT_EQ(doc["file_type"], 15);
  ASSERT_TRUE(doc["tensors"].is_array());
  auto source = open_gguf(stories());
  ASSERT_TRUE(source);
  EXPECT_EQ(doc["tensors"].size(), source->tensors().size());
  for (const json& t : doc["tensors"]) {
    if (t["to"] == "F16") {
      EXPECT_NE(t["note"].get<std::string>().find("172 values per row"), std::string::npos) << t;
    }
    if (t["to"] == "Q5_0") {
      EXPECT_NE(t["note"].get<std::string>().find("not a multiple of 256"), std::string::npos)
          << t;
    }
  }
  EXPECT_LT(doc["bytes_out"].get<size_t>(), doc["bytes_in"].get<size_t>());
}

TEST_F(QuantizeCliTest, RequantizedBertEmbedsLikeLlamaCppF16Reference) {
  const std::string golden = golden_dir();
  ASSERT_FALSE(golden.empty());
  const std::string in = golden + "/bert-synth-Q8_0.gguf";
  const std::string out = tmp_ + "/bert-f16.gguf";

  RunResult refused = run_rag({"quantize", in, out, "F16"});
  EXPECT_EQ(refused.exit_code, 1) << describe(refused);
  EXPECT_NE(refused.err.find("--allow-requantize"), std::string::npos) << describe(refused);
  EXPECT_FALSE(fs::exists(out));

  RunResult r = run_rag({"quantize", "--allow-requantize", in, out, "F16"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);

  // The tokenizer came along...
  RunResult tok = run_rag({"tokenize", "--model", out, "How do I reset my password?"});
  ASSERT_EQ(tok.exit_code, 0) << describe(tok);
  EXPECT_EQ(tok.out, "101 2129 2079 1045 25141 2026 20786 1029 102\n");

  // ... and the model is llama.cpp's F16 reference (golden README: the Q8_0 values rounded to
  // F16): its embeddings match bert-synth-F16.embed.json within the F16 tolerance.
  const json reference = json::parse(read_whole_file(golden + "/bert-synth-F16.embed.json"));
  std::vector<std::string> args = {"embed", "--model", out, "--json", "--pooling", "mean"};
  for (const json& c : reference["cases"]) args.push_back(c["text"].get<std::string>());
  RunResult emb = run_rag(args);
  ASSERT_EQ(emb.exit_code, 0) << describe(emb);
  json doc = json::parse(emb.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << emb.out.substr(0, 500);
  ASSERT_EQ(doc["embeddings"].size(), reference["cases"].size());
  for (size_t i = 0; i < reference["cases"].size(); ++i) {
    const std::vector<double> want = reference["cases"][i]["mean"]["l2"].get<std::vector<double>>();
    const std::vector<double> got = doc["embeddings"][i].get<std::vector<double>>();
    ASSERT_EQ(got.size(), want.size());
    double worst = 0, dot = 0, na = 0, nb = 0;
    for (size_t k = 0; k < want.size(); ++k) {
      worst = std::max(worst, std::fabs(got[k] - want[k]));
      dot += got[k] * want[k];
      na += got[k] * got[k];
      nb += want[k] * want[k];
    }
    EXPECT_LE(worst, 2e-4) << "sentence " << i;
    EXPECT_GE(dot / std::sqrt(na * nb), 0.99999) << "sentence " << i;
  }
}

TEST_F(QuantizeCliTest, MistakesAreReportedAndLeaveNoFile) {
  ASSERT_FALSE(stories().empty());
  const std::string out = tmp_ + "/never.gguf";
  RunResult bad_type = run_rag({"quantize", stories(), out, "Q3_K"});
  EXPECT_EQ(bad_type.exit_code, 1) << describe(bad_type);
  EXPECT_NE(bad_type.err.find("rag: error: cannot quantize to 'Q3_K'"), std::string::npos)
      << describe(bad_type);
  RunResult missing = run_rag({"quantize", tmp_ + "/missing.gguf", out, "Q8_0"});
  EXPECT_EQ(missing.exit_code, 1) << describe(missing);
  EXPECT_NE(missing.err.find("missing.gguf"), std::string::npos) << describe(missing);
  RunResult no_dir = run_rag({"quantize", stories(), tmp_ + "/no/such/dir/out.gguf", "Q8_0"});
  EXPECT_EQ(no_dir.exit_code, 1) << describe(no_dir);
  RunResult usage = run_rag({"quantize", stories()});
  EXPECT_EQ(usage.exit_code, 2) << describe(usage);
  EXPECT_TRUE(fs::is_empty(tmp_));

  RunResult help = run_rag({"quantize", "--help"});
  EXPECT_EQ(help.exit_code, 0) << describe(help);
  EXPECT_NE(help.out.find("--allow-requantize"), std::string::npos) << help.out;
}

}  // namespace
}  // namespace ragkit::testing
