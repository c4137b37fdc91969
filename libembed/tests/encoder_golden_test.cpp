// The encoder against llama.cpp's outputs for the random BERT model in ../shared/golden
// (bert-synth): token ids, per-token hidden states, and mean/CLS sentence embeddings for the F32
// and F16 derivations of the shipped Q8_0 file and for the Q8_0 file itself, within the
// tolerances stated in the golden README.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ragkit/embed/encoder.h"
#include "ragkit/embed/gguf.h"
#include "ragkit/embed/gguf_writer.h"
#include "ragkit/embed/model.h"
#include "ragkit/embed/transformer.h"
#include "json_file.h"
#include "test_env.h"

namespace ragkit::embed {
namespace {

using testing::load_json;

// Writes a copy of `src` whose Q8_0 tensors are converted to `target` (F32 or F16) — the exact
// derivations the goldens were computed on (llama-quantize --allow-requantize ... F32 / F16).
void write_variant(const std::string& src, const std::string& dst, DType target) {
  auto g = GgufFile::open(src);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  GgufWriter w;
  w.copy_metadata(**g);
  std::vector<float> row;
  for (const auto& info : (*g)->tensors()) {
    TensorView t = (*g)->view(info);
    if (t.dtype != DType::kQ8_0) {
      ASSERT_TRUE(w.add_tensor(info.name, t.dtype, info.n_dims, info.ne,
                               {static_cast<const uint8_t*>(t.data), t.n_bytes})
                      .ok());
      continue;
    }
    const size_t n = static_cast<size_t>(t.row_length());
    const size_t width = target == DType::kF32 ? 4 : 2;
    row.resize(n);
    // Sized once and filled row by row (this runs in every test's process, sanitized builds
    // included, on 17 MB of weights).
    std::vector<uint8_t> out(static_cast<size_t>(t.n_rows()) * n * width);
    std::vector<uint16_t> halves(n);
    for (int64_t r = 0; r < t.n_rows(); ++r) {
      ASSERT_TRUE(dequantize_row(t.dtype, t.row(r), row.data(), static_cast<int64_t>(n)).ok());
      uint8_t* dst = out.data() + static_cast<size_t>(r) * n * width;
      if (target == DType::kF32) {
        std::memcpy(dst, row.data(), n * 4);
      } else {
        for (size_t i = 0; i < n; ++i) halves[i] = fp32_to_fp16(row[i]);
        std::memcpy(dst, halves.data(), n * 2);
      }
    }
    ASSERT_TRUE(w.add_tensor(info.name, target, info.n_dims, info.ne, out).ok());
  }
  Status s = w.write(dst);
  ASSERT_TRUE(s.ok()) << s.to_string();
}

class BertSynthGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string golden = testing::golden_dir();
    if (golden.empty()) return;
    dir_ = new std::string(testing::make_temp_dir("ragkit-bert-synth"));
    q8_ = new std::string(golden + "/bert-synth-Q8_0.gguf");
    write_variant(*q8_, *dir_ + "/bert-synth-F32.gguf", DType::kF32);
    write_variant(*q8_, *dir_ + "/bert-synth-F16.gguf", DType::kF16);
  }
  static std::string model_path(const std::string& variant) {
    return variant == "Q8_0" ? *q8_ : *dir_ + "/bert-synth-" + variant + ".gguf";
  }
  static std::string* dir_;
  static std::string* q8_;
};
std::string* BertSynthGolden::dir_ = nullptr;
std::string* BertSynthGolden::q8_ = nullptr;

struct Tolerance {
  const char* variant;
  double max_abs;
  double min_cos;
};

void check_embeddings(const std::string& model, const nlohmann::json& golden, Pooling pooling,
                      const Tolerance& tol) {
  EncoderOptions opts;
  opts.pooling = pooling;
  for (bool normalize : {true, false}) {
    opts.normalize = normalize;
    auto enc = Encoder::open(model, opts);
    ASSERT_TRUE(enc.ok()) << enc.status().to_string();
    std::vector<std::string> texts;
    for (const auto& c : golden["cases"]) texts.push_back(c["text"].get<std::string>());
    auto r = (*enc)->embed(texts);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ(r->dim, 384u);
    const char* key = pooling == Pooling::kMean ? "mean" : "cls";
    for (size_t i = 0; i < texts.size(); ++i) {
      const auto& c = golden["cases"][i];
      EXPECT_EQ((*enc)->tokenizer().encode(texts[i]), c["tokens"].get<std::vector<TokenId>>())
          << texts[i];
      auto want = c[key][normalize ? "l2" : "raw"].get<std::vector<float>>();
      auto got = r->vector(i);
      double max_abs = 0, dot = 0, na = 0, nb = 0;
      for (size_t j = 0; j < want.size(); ++j) {
        max_abs = std::max(max_abs, std::fabs(static_cast<double>(got[j]) - want[j]));
        dot += static_cast<double>(got[j]) * want[j];
        na += static_cast<double>(got[j]) * got[j];
        nb += static_cast<double>(want[j]) * want[j];
      }
      const double cos = dot / std::sqrt(na * nb);
      // The tolerances are for unit vectors; a raw vector is its unit vector times its norm.
      const double bound = normalize ? tol.max_abs : tol.max_abs * std::max(1.0, std::sqrt(nb));
      EXPECT_LE(max_abs, bound) << tol.variant << " " << key << (normalize ? " l2" : " raw")
                                << " case " << i;
      EXPECT_GE(cos, tol.min_cos) << tol.variant << " " << key << " case " << i;
      if (normalize) {
        EXPECT_NEAR(std::sqrt(na), 1.0, 1e-6);
      }
    }
  }
}

TEST_F(BertSynthGolden, EmbeddingsMatchLlamaCpp) {
  const std::string golden = testing::golden_dir();
  ASSERT_FALSE(golden.empty());
  const Tolerance tolerances[] = {{"F32", 1e-4, 0.99999}, {"F16", 2e-4, 0.99999}, {"Q8_0", 2e-3, 0.9999}};
  for (const Tolerance& tol : tolerances) {
    SCOPED_TRACE(tol.variant);
    auto json = load_json(golden + "/bert-synth-" + tol.variant + ".embed.json");
    check_embeddings(model_path(tol.variant), json, Pooling::kMean, tol);
    check_embeddings(model_path(tol.variant), json, Pooling::kCls, tol);
  }
}

TEST_F(BertSynthGolden, TokenStatesMatchLlamaCpp) {
  const std::string golden = testing::golden_dir();
  ASSERT_FALSE(golden.empty());
  auto json = load_json(golden + "/bert-synth-F32.token-states.json");
  auto model = Model::load(model_path("F32"));
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  ThreadPool pool(2);
  Transformer tf(**model, pool);
  for (const auto& c : json["cases"]) {
    auto ids = c["tokens"].get<std::vector<TokenId>>();
    std::vector<int32_t> pos(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) pos[i] = static_cast<int32_t>(i);
    SequenceSpan span{0, static_cast<int64_t>(ids.size())};
    auto states = tf.forward(ids, pos, {&span, 1});
    ASSERT_TRUE(states.ok()) << states.status().to_string();
    const auto& hidden = c["hidden"];
    double max_abs = 0, scale = 0;
    for (size_t t = 0; t < ids.size(); ++t) {
      auto want = hidden[t].get<std::vector<float>>();
      for (size_t j = 0; j < want.size(); ++j) {
        max_abs = std::max(max_abs, std::fabs(static_cast<double>((*states)[t * 384 + j]) - want[j]));
        scale = std::max(scale, std::fabs(static_cast<double>(want[j])));
      }
    }
    EXPECT_LE(max_abs, 1e-4 * std::max(1.0, scale)) << c["text"];
  }
}

TEST_F(BertSynthGolden, BatchedEqualsOneByOne) {
  const std::string golden = testing::golden_dir();
  ASSERT_FALSE(golden.empty());
  auto json = load_json(golden + "/bert-synth-F32.embed.json");
  std::vector<std::string> texts;
  for (const auto& c : json["cases"]) texts.push_back(c["text"].get<std::string>());
  for (int copy = 0; copy < 5; ++copy) texts.push_back(texts[static_cast<size_t>(copy)] + " again");
  auto enc = Encoder::open(model_path("F32"));
  ASSERT_TRUE(enc.ok()) << enc.status().to_string();
  auto batched = (*enc)->embed(texts);
  ASSERT_TRUE(batched.ok());
  for (size_t i = 0; i < texts.size(); ++i) {
    auto single = (*enc)->embed(std::span<const std::string>(&texts[i], 1));
    ASSERT_TRUE(single.ok());
    double ss = 0;
    for (size_t j = 0; j < 384; ++j) {
      EXPECT_NEAR(single->vectors[j], batched->vector(i)[j], 1e-5) << "text " << i << " dim " << j;
      ss += static_cast<double>(batched->vector(i)[j]) * batched->vector(i)[j];
    }
    EXPECT_NEAR(std::sqrt(ss), 1.0, 1e-6);
  }
}

TEST_F(BertSynthGolden, TruncationIsReported) {
  EncoderOptions opts;
  opts.max_seq_length = 16;
  auto enc = Encoder::open(model_path("Q8_0"), opts);
  ASSERT_TRUE(enc.ok()) << enc.status().to_string();
  std::vector<std::string> texts = {"short text",
                                    "this sentence has many more than sixteen tokens once it is "
                                    "split into word pieces by the tokenizer of the model"};
  auto r = (*enc)->embed(texts);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->truncated[0]);
  EXPECT_TRUE(r->truncated[1]);
  EXPECT_EQ(r->n_tokens[1], 16u);
  EXPECT_GT(r->n_tokens_full[1], 16u);
  EXPECT_EQ(r->n_truncated(), 1u);
}

}  // namespace
}  // namespace ragkit::embed
