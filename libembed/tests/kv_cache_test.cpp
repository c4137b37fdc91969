// The KV cache's element types. An F16 cache (llama.cpp's default) must give what the F32 one
// gives within half-precision rounding — against llama.cpp's logits for llama-synth-F32 (made
// with an F32 cache) and between a batch prefill (keys widened for sgemm) and token-by-token
// decoding (the sliced decode kernel reading halves) — and hold half the bytes.
#include "ragkit/embed/kv_cache.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "json_file.h"
#include "ragkit/embed/model.h"
#include "ragkit/embed/transformer.h"
#include "test_env.h"

namespace ragkit::embed {
namespace {

TEST(KvCache, TypeNamesRoundTrip) {
  EXPECT_STREQ(kv_type_name(KvType::kF32), "f32");
  EXPECT_STREQ(kv_type_name(KvType::kF16), "f16");
  EXPECT_EQ(parse_kv_type("f16"), KvType::kF16);
  EXPECT_EQ(parse_kv_type("F32"), KvType::kF32);
  EXPECT_EQ(parse_kv_type("q8_0"), std::nullopt);
  EXPECT_EQ(parse_kv_type(""), std::nullopt);
}

// A model of n_layer layers, 16 wide, 4 heads of 4 sharing 2 key/value heads.
ModelConfig small_config(int64_t n_layer) {
  ModelConfig c;
  c.n_embd = 16;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.n_layer = n_layer;
  return c;
}

TEST(KvCache, HalfCacheHoldsHalfTheBytesAndStoresRoundedValues) {
  const ModelConfig c = small_config(3);
  KvCache f32(c, 10, KvType::kF32), f16(c, 10, KvType::kF16);
  EXPECT_EQ(f32.bytes(), 2u * 3 * 10 * 8 * sizeof(float));
  EXPECT_EQ(f16.bytes(), f32.bytes() / 2);
  // Two tokens' rows [2][n_head_kv * head_dim] into layer 1: head h of token i at its place.
  std::vector<float> k(16), v(16);
  for (int i = 0; i < 16; ++i) {
    k[static_cast<size_t>(i)] = 1.0f + static_cast<float>(i) / 3.0f;
    v[static_cast<size_t>(i)] = -static_cast<float>(i);
  }
  f16.store(1, k.data(), v.data(), 2);
  f32.store(1, k.data(), v.data(), 2);
  for (int64_t token = 0; token < 2; ++token) {
    for (int64_t h = 0; h < 2; ++h) {
      for (int64_t j = 0; j < 4; ++j) {
        const size_t from = static_cast<size_t>(token * 8 + h * 4 + j);
        EXPECT_EQ(f32.keys(1, h)[token * 4 + j], k[from]);
        EXPECT_EQ(f16.keys_f16(1, h)[token * 4 + j], fp32_to_fp16(k[from]));
        EXPECT_EQ(f16.values_f16(1, h)[token * 4 + j], fp32_to_fp16(v[from]));
      }
    }
  }
}

// The cache's memory moves with it (it is held in one mapping, not in vectors), and a cache of no
// tokens holds none.
TEST(KvCache, MovesWithItsContentsAndAnEmptyCacheHoldsNothing) {
  const ModelConfig c = small_config(2);
  std::vector<float> k(8), v(8);
  for (int i = 0; i < 8; ++i) {
    k[static_cast<size_t>(i)] = static_cast<float>(i);
    v[static_cast<size_t>(i)] = 0.5f * static_cast<float>(i);
  }
  KvCache a(c, 4, KvType::kF32);
  a.store(1, k.data(), v.data(), 1);
  KvCache b(std::move(a));
  EXPECT_EQ(b.bytes(), 2u * 2 * 4 * 8 * sizeof(float));
  for (int64_t h = 0; h < 2; ++h) {
    for (int64_t j = 0; j < 4; ++j) {
      EXPECT_EQ(b.keys(1, h)[j], k[static_cast<size_t>(h * 4 + j)]);
      EXPECT_EQ(b.values(1, h)[j], v[static_cast<size_t>(h * 4 + j)]);
    }
  }
  KvCache none(c, 0, KvType::kF16);
  EXPECT_EQ(none.bytes(), 0u);
  EXPECT_EQ(none.capacity(), 0);
}

struct Logits {
  std::vector<float> batch;    // the last position's logits after a prefill in batches of 3
  std::vector<float> stepped;  // the same after feeding one token at a time
};

Logits run(const Model& m, const std::vector<TokenId>& ids, KvType type) {
  ThreadPool pool(2);
  Transformer tf(m, pool);
  KvCache cache(m.config(), 64, type);
  const size_t vocab = static_cast<size_t>(m.config().n_vocab);
  Logits out{std::vector<float>(vocab), std::vector<float>(vocab)};
  // Batches of 3: from the second batch on, the batch attends to cached keys and values.
  auto hidden = tf.forward_cached(ids, cache, 3);
  EXPECT_TRUE(hidden.ok()) << hidden.status().to_string();
  if (!hidden.ok()) return out;
  const int64_t last = static_cast<int64_t>(hidden->size()) / m.config().n_embd - 1;
  EXPECT_TRUE(tf.logits(hidden->data() + last * m.config().n_embd, out.batch.data()).ok());
  cache.clear();
  for (const TokenId id : ids) {
    auto h = tf.forward_cached(std::span(&id, 1), cache);
    EXPECT_TRUE(h.ok());
    if (!h.ok()) return out;
    EXPECT_TRUE(tf.logits(h->data(), out.stepped.data()).ok());
  }
  return out;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  double d = 0;
  for (size_t i = 0; i < b.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

TEST(KvCache, HalfCacheStaysWithinRoundingOfLlamaCppsLogits) {
  const std::string golden_dir = testing::golden_dir();
  const nlohmann::json golden = testing::load_json(golden_dir + "/llama-synth-F32.generate.json");
  auto model = Model::load(golden_dir + "/llama-synth-F32.gguf");
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  for (const auto& c : golden["cases"]) {
    SCOPED_TRACE(c["prompt"].get<std::string>());
    const auto ids = c["prompt_tokens"].get<std::vector<TokenId>>();
    const auto want = c["last_logits"].get<std::vector<double>>();
    double scale = 1.0;
    for (double v : want) scale = std::max(scale, std::fabs(v));
    const Logits f32 = run(**model, ids, KvType::kF32);
    const Logits f16 = run(**model, ids, KvType::kF16);
    // F32: llama.cpp's own tolerance for F32 models; F16 keys and values: the F16 one.
    EXPECT_LE(max_abs_diff(f32.batch, want), 1e-4 * scale);
    EXPECT_LE(max_abs_diff(f32.stepped, want), 1e-4 * scale);
    EXPECT_LE(max_abs_diff(f16.batch, want), 2e-3 * scale);
    EXPECT_LE(max_abs_diff(f16.stepped, want), 2e-3 * scale);
    // And the rounding does something: the two caches do not give identical logits.
    EXPECT_GT(
        max_abs_diff(f16.stepped, std::vector<double>(f32.stepped.begin(), f32.stepped.end())),
        0.0);
  }
}

}  // namespace
}  // namespace ragkit::embed
