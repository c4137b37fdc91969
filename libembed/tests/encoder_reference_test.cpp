// The encoder against an independent PyTorch implementation of the sentence-transformers
// pipeline (tools/reference/sentence_embedding_reference.py), on a model directory with
// all-MiniLM-L6-v2's exact configuration and tokenizer and random weights generated here
// (tests/support/random_model.h). The reference's outputs are stored as a fixture so CI needs no
// torch; tests/fixtures/minilm-random/README.md says how to regenerate them.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "random_model.h"
#include "ragkit/embed/encoder.h"
#include "test_env.h"

namespace ragkit::embed {
namespace {

struct Reference {
  std::vector<std::string> texts;
  nlohmann::json cases;
};

Reference load_reference() {
  const std::string path = testing::source_dir() + "/tests/fixtures/minilm-random/reference.json";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "missing fixture " << path;
  Reference r;
  if (!in.good()) return r;
  nlohmann::json j = nlohmann::json::parse(in);
  r.cases = j["cases"];
  for (const auto& c : r.cases) r.texts.push_back(c["text"].get<std::string>());
  return r;
}

// Models are made once per variant for the whole binary (each is ~90 MB and takes seconds).
std::string make_model(const testing::RandomBertOptions& options) {
  static std::map<std::string, std::string>* made = new std::map<std::string, std::string>();
  const std::string key = std::to_string(static_cast<int>(options.dtype)) + options.name_prefix;
  if (auto it = made->find(key); it != made->end()) return it->second;
  const std::string models = testing::models_dir();
  if (models.empty()) return "";
  const std::string dir = testing::make_temp_dir("ragkit-minilm-random");
  Status s = testing::make_random_bert_model(models + "/all-MiniLM-L6-v2", dir, options);
  EXPECT_TRUE(s.ok()) << s.to_string();
  (*made)[key] = dir;
  return dir;
}

double cosine(std::span<const float> a, const std::vector<double>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t j = 0; j < b.size(); ++j) {
    dot += a[j] * b[j];
    na += static_cast<double>(a[j]) * a[j];
    nb += b[j] * b[j];
  }
  return dot / std::sqrt(na * nb);
}

double max_abs_diff(std::span<const float> a, const std::vector<double>& b) {
  double m = 0;
  for (size_t j = 0; j < b.size(); ++j) m = std::max(m, std::fabs(a[j] - b[j]));
  return m;
}

// Embeds the reference sentences with the given options and compares each with `key` of the
// reference (a pooled vector) at the given cosine bound.
void compare(const std::string& model, const Reference& ref, EncoderOptions options,
             const char* key, double min_cos, double max_abs) {
  auto enc = Encoder::open(model, options);
  ASSERT_TRUE(enc.ok()) << enc.status().to_string();
  auto r = (*enc)->embed(ref.texts);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  for (size_t i = 0; i < ref.texts.size(); ++i) {
    const auto& c = ref.cases[i];
    EXPECT_EQ(r->n_tokens[i], c["ids"].size()) << "case " << i;
    const auto want = c[key].get<std::vector<double>>();
    EXPECT_GE(cosine(r->vector(i), want), min_cos) << key << " case " << i;
    EXPECT_LE(max_abs_diff(r->vector(i), want), max_abs) << key << " case " << i;
  }
}

TEST(EncoderReference, MiniLmConfigMatchesPyTorchSentenceTransformers) {
  Reference ref = load_reference();
  ASSERT_FALSE(ref.texts.empty());
  const std::string model = make_model({});
  ASSERT_FALSE(model.empty());

  auto enc = Encoder::open(model);
  ASSERT_TRUE(enc.ok()) << enc.status().to_string();
  // What the model's files declare: mean pooling, normalisation, max_seq_length 256.
  EXPECT_EQ((*enc)->pooling(), Pooling::kMean);
  EXPECT_TRUE((*enc)->normalize());
  EXPECT_EQ((*enc)->max_seq_length(), 256u);
  EXPECT_EQ((*enc)->dim(), 384u);
  auto r = (*enc)->embed(ref.texts);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  for (size_t i = 0; i < ref.texts.size(); ++i) {
    const auto& c = ref.cases[i];
    // Same token ids as the reference's own BertTokenizer (truncated the same way).
    EXPECT_EQ((*enc)->tokenizer().encode(ref.texts[i]).size(), c["n_tokens_full"].get<size_t>())
        << "case " << i;
    EXPECT_EQ(r->truncated[i], c["truncated"].get<bool>()) << "case " << i;
    const auto want = c["mean"].get<std::vector<double>>();
    const double cos = cosine(r->vector(i), want);
    EXPECT_GE(cos, 0.99999) << "case " << i;
    EXPECT_LE(max_abs_diff(r->vector(i), want), 1e-4) << "case " << i;
    double ss = 0;
    for (float v : r->vector(i)) ss += static_cast<double>(v) * v;
    EXPECT_NEAR(std::sqrt(ss), 1.0, 1e-6);
  }
  // The fixture is discriminative: unrelated sentences are far apart.
  auto a = ref.cases[0]["mean"].get<std::vector<double>>();
  EXPECT_LT(cosine(r->vector(1), a), 0.99);
}

TEST(EncoderReference, PoolingModes) {
  Reference ref = load_reference();
  ASSERT_FALSE(ref.texts.empty());
  const std::string model = make_model({});
  ASSERT_FALSE(model.empty());
  for (auto [pooling, key] : {std::pair{Pooling::kMean, "mean_raw"}, std::pair{Pooling::kCls, "cls_raw"},
                              std::pair{Pooling::kLast, "last_raw"}}) {
    EncoderOptions o;
    o.pooling = pooling;
    o.normalize = false;
    SCOPED_TRACE(key);
    compare(model, ref, o, key, 0.99999, 1e-4);
  }
}

TEST(EncoderReference, HalfPrecisionAndPrefixedCheckpoints) {
  Reference ref = load_reference();
  ASSERT_FALSE(ref.texts.empty());
  // "bert."-prefixed names (BertForXxx checkpoints) load to the same model.
  testing::RandomBertOptions prefixed;
  prefixed.name_prefix = "bert.";
  compare(make_model(prefixed), ref, {}, "mean", 0.99999, 1e-4);
  // F16 and BF16 weights hold the rounded values of the same draw: close, not equal.
  testing::RandomBertOptions f16;
  f16.dtype = DType::kF16;
  compare(make_model(f16), ref, {}, "mean", 0.9999, 5e-3);
  testing::RandomBertOptions bf16;
  bf16.dtype = DType::kBF16;
  compare(make_model(bf16), ref, {}, "mean", 0.999, 2e-2);
}

}  // namespace
}  // namespace ragkit::embed
