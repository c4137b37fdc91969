// A model written by quantize_gguf loads back and stays close to its F32 source: the mean
// Kullback-Leibler divergence KL(P_f32 || P_quantized) of the next-token distributions over a
// TinyStories-like text, per target type. Two sources: stories260K, the real pretrained model
// (its 64-wide rows take the per-tensor fallbacks: the Q4_K target gives Q5_0 matrices, Q6_K gives
// Q8_0), and llama-synth-F32 (random weights, 256-wide rows, so the k-quants are real k-quants).
// The bounds are about three times what was measured; the printed table is the report.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>

#include "ragkit/embed/generator.h"
#include "ragkit/embed/model.h"
#include "ragkit/embed/quantize.h"
#include "test_env.h"

namespace ragkit::embed {
namespace {

constexpr const char* kStory =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park "
    "with her big red ball. One day, she saw a small dog under a tree. The dog was sad because it "
    "was lost. Lily said, \"Do not worry, little dog. I will help you find your mom.\" They walked "
    "together and looked everywhere. At last they found the dog's mom near the pond. The dog was "
    "so happy that it jumped and barked. Lily smiled and went home to tell her mom about her new "
    "friend.";

// Log-probabilities of every next token after each prefix of `ids` (one batched prefill).
std::vector<std::vector<double>> next_token_log_probs(const Model& m, const std::vector<TokenId>& ids) {
  ThreadPool pool(2);
  Transformer tf(m, pool);
  KvCache cache(m.config(), static_cast<int64_t>(ids.size()));
  auto hidden = tf.forward_cached(ids, cache);
  EXPECT_TRUE(hidden.ok()) << hidden.status().to_string();
  if (!hidden.ok()) return {};
  const std::vector<float> states(hidden->begin(), hidden->end());
  std::vector<std::vector<double>> out;
  std::vector<float> logits(static_cast<size_t>(m.config().n_vocab));
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_TRUE(tf.logits(states.data() + i * static_cast<size_t>(m.config().n_embd), logits.data()).ok());
    double mx = -1e300, sum = 0;
    for (float v : logits) mx = std::max(mx, static_cast<double>(v));
    for (float v : logits) sum += std::exp(v - mx);
    std::vector<double> lp(logits.size());
    for (size_t v = 0; v < logits.size(); ++v) lp[v] = logits[v] - mx - std::log(sum);
    out.push_back(std::move(lp));
  }
  return out;
}

double mean_kl(const std::vector<std::vector<double>>& p, const std::vector<std::vector<double>>& q) {
  double total = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    for (size_t v = 0; v < p[i].size(); ++v) total += std::exp(p[i][v]) * (p[i][v] - q[i][v]);
  }
  return total / static_cast<double>(p.size());
}

void check_source(const std::string& name, const std::string& source,
                  const std::map<std::string, double>& bounds) {
  auto f32 = Model::load(source);
  ASSERT_TRUE(f32.ok()) << f32.status().to_string();
  const std::vector<TokenId> ids = (*f32)->tokenizer().encode_prompt(kStory);
  ASSERT_GT(ids.size(), 100u);
  const auto reference = next_token_log_probs(**f32, ids);
  const std::string dir = testing::make_temp_dir("ragkit-kl");
  for (const auto& [type_name, bound] : bounds) {
    auto type = dtype_from_name(type_name);
    ASSERT_TRUE(type.ok());
    const std::string out = dir + "/" + name + "-" + type_name + ".gguf";
    auto report = quantize_gguf(source, out, *type);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    auto q = Model::load(out);
    ASSERT_TRUE(q.ok()) << q.status().to_string();
    const double kl = mean_kl(reference, next_token_log_probs(**q, ids));
    std::printf("  %-16s %-5s (%s): %5.1f%% of the F32 size, mean KL %.3e over %zu tokens\n",
                name.c_str(), type_name.c_str(), (*q)->weight_type().c_str(),
                100.0 * static_cast<double>(report->bytes_out) / static_cast<double>(report->bytes_in),
                kl, ids.size());
    EXPECT_GE(kl, 0.0);
    EXPECT_LT(kl, bound) << name << " " << type_name;
  }
}

TEST(QuantizeKl, Stories260KStaysCloseToF32) {
  check_source("stories260K", testing::models_dir() + "/stories260K/stories260K.gguf",
               {{"F16", 1e-5}, {"Q8_0", 2e-3}, {"Q6_K", 2e-3}, {"Q4_K", 4e-2}, {"Q4_0", 1.5e-1}});
}

TEST(QuantizeKl, LlamaSynthKQuantsStayCloseToF32) {
  check_source("llama-synth", testing::golden_dir() + "/llama-synth-F32.gguf",
               {{"F16", 1e-6}, {"Q8_0", 1e-4}, {"Q6_K", 5e-4}, {"Q4_K", 5e-3}, {"Q4_0", 1e-2}});
}

}  // namespace
}  // namespace ragkit::embed
