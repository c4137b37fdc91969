// The architecture table's causal rows beyond GGUF llama, each against an independent reference:
//  * gpt2 (learned positions, LayerNorm, GELU, fused q/k/v, Conv1D checkpoints, tied head) from a
//    Hugging Face directory and from a GGUF converted in the test, against the float64 reference
//    tools/reference/gpt2_reference.py (fixture tests/fixtures/gpt2-random);
//  * llama from a Hugging Face directory (rotate_half rotary, un-permuted q/k) and qwen2 from GGUF
//    (rotate_half, q/k/v biases), both rebuilt from llama-synth-F32.gguf, against llama.cpp's
//    logits for that file in ../shared/golden.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "random_model.h"
#include "ragkit/embed/gguf.h"
#include "ragkit/embed/gguf_writer.h"
#include "ragkit/embed/kv_cache.h"
#include "ragkit/embed/model.h"
#include "ragkit/embed/safetensors.h"
#include "ragkit/embed/transformer.h"
#include "json_file.h"
#include "test_env.h"

namespace ragkit::embed {
namespace {

using testing::load_json;

std::span<const uint8_t> bytes_of(const std::vector<float>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float)};
}

std::vector<float> floats_of(const TensorView& t) {
  std::vector<float> v(static_cast<size_t>(t.n_elements()));
  for (int64_t r = 0; r < t.n_rows(); ++r) {
    EXPECT_TRUE(dequantize_row(t.dtype, t.row(r), v.data() + r * t.ne[0], t.ne[0]).ok());
  }
  return v;
}

// [rows][cols] -> [cols][rows]
std::vector<float> transpose(const std::vector<float>& m, int64_t rows, int64_t cols) {
  std::vector<float> t(m.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) t[static_cast<size_t>(c * rows + r)] = m[static_cast<size_t>(r * cols + c)];
  }
  return t;
}

// Logits after every token of `ids`, fed in one batch (all rows) — and the same from feeding the
// tokens one by one, which must agree.
std::vector<std::vector<float>> run_all_positions(const Model& m, const std::vector<TokenId>& ids) {
  ThreadPool pool(2);
  Transformer tf(m, pool);
  KvCache cache(m.config(), static_cast<int64_t>(ids.size()));
  auto hidden = tf.forward_cached(ids, cache);
  EXPECT_TRUE(hidden.ok()) << hidden.status().to_string();
  if (!hidden.ok()) return {};
  const std::vector<float> states(hidden->begin(), hidden->end());
  const int64_t d = m.config().n_embd;
  std::vector<std::vector<float>> out(ids.size(), std::vector<float>(static_cast<size_t>(m.config().n_vocab)));
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_TRUE(tf.logits(states.data() + static_cast<int64_t>(i) * d, out[i].data()).ok());
  }
  // Incremental decoding from an empty cache gives the same logits.
  cache.clear();
  std::vector<float> step(static_cast<size_t>(m.config().n_vocab));
  for (size_t i = 0; i < ids.size(); ++i) {
    auto h = tf.forward_cached(std::span(&ids[i], 1), cache);
    EXPECT_TRUE(h.ok());
    EXPECT_TRUE(tf.logits(h->data(), step.data()).ok());
    for (size_t v = 0; v < step.size(); ++v) {
      EXPECT_NEAR(step[v], out[i][v], 1e-4) << "position " << i << " token " << v;
      if (std::fabs(step[v] - out[i][v]) > 1e-4) return out;
    }
  }
  // One token more than the cache holds is refused, and the cache is unchanged.
  auto full = tf.forward_cached(std::span(ids.data(), 1), cache);
  EXPECT_FALSE(full.ok());
  EXPECT_EQ(cache.size(), static_cast<int64_t>(ids.size()));
  return out;
}

void expect_matches_gpt2_reference(const Model& m) {
  const nlohmann::json ref = load_json(testing::source_dir() + "/tests/fixtures/gpt2-random/reference.json");
  ASSERT_EQ(ref["cases"].size(), 3u);
  for (const auto& c : ref["cases"]) {
    const auto ids = c["ids"].get<std::vector<TokenId>>();
    SCOPED_TRACE(ids.size());
    const auto logits = run_all_positions(m, ids);
    ASSERT_EQ(logits.size(), ids.size());
    const auto want = c["last_logits"].get<std::vector<double>>();
    double max_abs = 0, max_diff = 0;
    for (size_t v = 0; v < want.size(); ++v) {
      max_abs = std::max(max_abs, std::fabs(want[v]));
      max_diff = std::max(max_diff, std::fabs(want[v] - logits.back()[v]));
    }
    EXPECT_LE(max_diff, 1e-4 * std::max(1.0, max_abs));
    const auto argmax = c["argmax"].get<std::vector<int>>();
    for (size_t i = 0; i < ids.size(); ++i) {
      const auto& row = logits[i];
      EXPECT_EQ(std::max_element(row.begin(), row.end()) - row.begin(), argmax[i]) << "position " << i;
    }
  }
}

TEST(Gpt2Architecture, HuggingFaceDirectoryMatchesReference) {
  const std::string dir = testing::make_temp_dir("ragkit-gpt2");
  ASSERT_TRUE(testing::make_random_gpt2_model(dir).ok());
  auto model = Model::load(dir);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_EQ((*model)->arch().name, "gpt2");
  EXPECT_EQ((*model)->config().n_ff, 256);
  expect_matches_gpt2_reference(**model);
}

TEST(Gpt2Architecture, GgufWithFusedQkvMatchesReference) {
  // Converted the way llama.cpp's converter does: Conv1D matrices transposed to [out][in] rows,
  // c_attn kept fused as attn_qkv, no output tensor (tied).
  const std::string dir = testing::make_temp_dir("ragkit-gpt2-gguf");
  ASSERT_TRUE(testing::make_random_gpt2_model(dir).ok());
  auto st = SafetensorsFile::open(dir + "/model.safetensors");
  ASSERT_TRUE(st.ok());
  const int64_t d = 64, ff = 256, vocab = 512, ctx = 64;
  GgufWriter w;
  w.set_string("general.architecture", "gpt2");
  w.set_uint32("gpt2.embedding_length", d);
  w.set_uint32("gpt2.block_count", 2);
  w.set_uint32("gpt2.attention.head_count", 4);
  w.set_uint32("gpt2.feed_forward_length", ff);
  w.set_uint32("gpt2.context_length", ctx);
  GgufValue eps;
  eps.type = GgufType::kFloat32;
  eps.f = 1e-5;
  w.set("gpt2.attention.layer_norm_epsilon", eps);
  w.set_string("tokenizer.ggml.model", "bert");
  GgufValue tokens;
  tokens.type = GgufType::kArray;
  tokens.array_type = GgufType::kString;
  const char* specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (int i = 0; i < vocab; ++i) tokens.strings.push_back(i < 5 ? specials[i] : "tok" + std::to_string(i));
  w.set("tokenizer.ggml.tokens", tokens);
  auto get = [&](const std::string& name) {
    const SafetensorsTensorInfo* t = (*st)->find("transformer." + name);
    EXPECT_NE(t, nullptr) << name;
    return t ? floats_of((*st)->view(*t)) : std::vector<float>();
  };
  auto add = [&](const std::string& name, std::vector<float> v, std::array<int64_t, 4> ne, int dims) {
    ASSERT_TRUE(w.add_tensor(name, DType::kF32, dims, ne, bytes_of(v)).ok());
  };
  add("token_embd.weight", get("wte.weight"), {d, vocab, 1, 1}, 2);
  add("position_embd.weight", get("wpe.weight"), {d, ctx, 1, 1}, 2);
  for (int i = 0; i < 2; ++i) {
    const std::string h = "h." + std::to_string(i) + ".", b = "blk." + std::to_string(i) + ".";
    add(b + "attn_norm.weight", get(h + "ln_1.weight"), {d, 1, 1, 1}, 1);
    add(b + "attn_norm.bias", get(h + "ln_1.bias"), {d, 1, 1, 1}, 1);
    add(b + "attn_qkv.weight", transpose(get(h + "attn.c_attn.weight"), d, 3 * d), {d, 3 * d, 1, 1}, 2);
    add(b + "attn_qkv.bias", get(h + "attn.c_attn.bias"), {3 * d, 1, 1, 1}, 1);
    add(b + "attn_output.weight", transpose(get(h + "attn.c_proj.weight"), d, d), {d, d, 1, 1}, 2);
    add(b + "attn_output.bias", get(h + "attn.c_proj.bias"), {d, 1, 1, 1}, 1);
    add(b + "ffn_norm.weight", get(h + "ln_2.weight"), {d, 1, 1, 1}, 1);
    add(b + "ffn_norm.bias", get(h + "ln_2.bias"), {d, 1, 1, 1}, 1);
    add(b + "ffn_up.weight", transpose(get(h + "mlp.c_fc.weight"), d, ff), {d, ff, 1, 1}, 2);
    add(b + "ffn_up.bias", get(h + "mlp.c_fc.bias"), {ff, 1, 1, 1}, 1);
    add(b + "ffn_down.weight", transpose(get(h + "mlp.c_proj.weight"), ff, d), {ff, d, 1, 1}, 2);
    add(b + "ffn_down.bias", get(h + "mlp.c_proj.bias"), {d, 1, 1, 1}, 1);
  }
  add("output_norm.weight", get("ln_f.weight"), {d, 1, 1, 1}, 1);
  add("output_norm.bias", get("ln_f.bias"), {d, 1, 1, 1}, 1);
  ASSERT_TRUE(w.write(dir + "/gpt2.gguf").ok());
  auto model = Model::load(dir + "/gpt2.gguf");
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  expect_matches_gpt2_reference(**model);
}

// llama-synth-F32.gguf's q/k rows are in llama.cpp's interleaved order; Hugging Face (and GGUF
// qwen2) keep rotate_half order. Undoes the converter's permutation: within each head, GGUF row
// 2i + e holds HF row e * head_dim / 2 + i.
std::vector<float> unpermute_rows(const std::vector<float>& m, int64_t n_heads, int64_t head_dim, int64_t in) {
  std::vector<float> out(m.size());
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t i = 0; i < head_dim / 2; ++i) {
      for (int64_t e = 0; e < 2; ++e) {
        const int64_t from = h * head_dim + 2 * i + e, to = h * head_dim + e * (head_dim / 2) + i;
        std::copy_n(m.begin() + from * in, in, out.begin() + to * in);
      }
    }
  }
  return out;
}

struct LlamaSynth {
  std::unique_ptr<GgufFile> gguf;
  nlohmann::json golden;
};

LlamaSynth open_llama_synth() {
  const std::string golden = testing::golden_dir();
  auto g = GgufFile::open(golden + "/llama-synth-F32.gguf");
  EXPECT_TRUE(g.ok());
  return {g.ok() ? std::move(*g) : nullptr, load_json(golden + "/llama-synth-F32.generate.json")};
}

void expect_matches_llama_synth_golden(const Model& m, const nlohmann::json& golden) {
  ThreadPool pool(2);
  Transformer tf(m, pool);
  for (const auto& c : golden["cases"]) {
    const auto ids = c["prompt_tokens"].get<std::vector<TokenId>>();
    KvCache cache(m.config(), 64);
    auto hidden = tf.forward_cached(ids, cache);
    ASSERT_TRUE(hidden.ok()) << hidden.status().to_string();
    std::vector<float> logits(512);
    ASSERT_TRUE(tf.logits(hidden->data() + (ids.size() - 1) * m.config().n_embd, logits.data()).ok());
    const auto want = c["last_logits"].get<std::vector<double>>();
    double max_diff = 0;
    for (size_t v = 0; v < want.size(); ++v) max_diff = std::max(max_diff, std::fabs(want[v] - logits[v]));
    EXPECT_LE(max_diff, 1e-4) << c["prompt"];
  }
}

TEST(LlamaArchitecture, HuggingFaceDirectoryMatchesLlamaCpp) {
  LlamaSynth s = open_llama_synth();
  ASSERT_NE(s.gguf, nullptr);
  const std::string dir = testing::make_temp_dir("ragkit-hf-llama");
  const int64_t d = 256, hd = 64;
  std::vector<std::vector<float>> keep;
  std::vector<SafetensorsWriteTensor> writes;
  auto put = [&](const std::string& name, std::vector<float> v, std::vector<int64_t> shape) {
    keep.push_back(std::move(v));
    writes.push_back({name, DType::kF32, shape, bytes_of(keep.back())});
  };
  keep.reserve(64);
  for (const auto& info : s.gguf->tensors()) {
    std::vector<float> v = floats_of(s.gguf->view(info));
    std::string name = info.name;
    const std::string base = name.substr(0, name.rfind('.'));
    std::string hf;
    if (base == "token_embd") hf = "model.embed_tokens";
    else if (base == "output_norm") hf = "model.norm";
    else if (base == "output") hf = "lm_head";
    else {
      const auto dot = base.find('.', 4);
      const std::string layer = base.substr(4, dot - 4), part = base.substr(dot + 1);
      const std::string p = "model.layers." + layer + ".";
      if (part == "attn_norm") hf = p + "input_layernorm";
      if (part == "ffn_norm") hf = p + "post_attention_layernorm";
      if (part == "attn_q") { hf = p + "self_attn.q_proj"; v = unpermute_rows(v, 4, hd, d); }
      if (part == "attn_k") { hf = p + "self_attn.k_proj"; v = unpermute_rows(v, 2, hd, d); }
      if (part == "attn_v") hf = p + "self_attn.v_proj";
      if (part == "attn_output") hf = p + "self_attn.o_proj";
      if (part == "ffn_gate") hf = p + "mlp.gate_proj";
      if (part == "ffn_up") hf = p + "mlp.up_proj";
      if (part == "ffn_down") hf = p + "mlp.down_proj";
    }
    ASSERT_FALSE(hf.empty()) << name;
    std::vector<int64_t> shape;
    for (int i = info.n_dims - 1; i >= 0; --i) shape.push_back(info.ne[static_cast<size_t>(i)]);
    put(hf + ".weight", std::move(v), shape);
  }
  ASSERT_TRUE(write_safetensors(dir + "/model.safetensors", writes).ok());
  nlohmann::json config = {{"model_type", "llama"}, {"hidden_size", d}, {"intermediate_size", 512},
                           {"num_hidden_layers", 2}, {"num_attention_heads", 4},
                           {"num_key_value_heads", 2}, {"max_position_embeddings", 256},
                           {"vocab_size", 512}, {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0},
                           {"hidden_act", "silu"}, {"tie_word_embeddings", false}};
  // Only the weights matter here: a made-up WordPiece vocabulary of the right size lets it load.
  nlohmann::json vocab = nlohmann::json::object();
  const char* specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (int i = 0; i < 512; ++i) vocab[i < 5 ? specials[i] : "tok" + std::to_string(i)] = i;
  nlohmann::json tokenizer = {{"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
                              {"model", {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"vocab", vocab}}}};
  std::ofstream(dir + "/config.json") << config.dump();
  std::ofstream(dir + "/tokenizer.json") << tokenizer.dump();
  auto model = Model::load(dir);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_EQ((*model)->config().rope_style, RopeStyle::kHalf);
  expect_matches_llama_synth_golden(**model, s.golden);
}

TEST(Qwen2Architecture, GgufWithHalfRotaryAndBiasesMatchesLlamaCpp) {
  // llama-synth as a qwen2 file: qwen2.* keys, rotate_half q/k rows, and zero q/k/v biases, which
  // must load (qwen2 has them) and change nothing.
  LlamaSynth s = open_llama_synth();
  ASSERT_NE(s.gguf, nullptr);
  GgufWriter w;
  for (const auto& [key, value] : s.gguf->metadata()) {
    std::string k = key;
    if (k.rfind("llama.", 0) == 0) k = "qwen2." + k.substr(6);
    if (k == "general.architecture") {
      w.set_string(k, "qwen2");
      continue;
    }
    w.set(k, value);
  }
  for (const auto& info : s.gguf->tensors()) {
    std::vector<float> v = floats_of(s.gguf->view(info));
    if (info.name.find("attn_q.weight") != std::string::npos) v = unpermute_rows(v, 4, 64, 256);
    if (info.name.find("attn_k.weight") != std::string::npos) v = unpermute_rows(v, 2, 64, 256);
    ASSERT_TRUE(w.add_tensor(info.name, DType::kF32, info.n_dims, info.ne, bytes_of(v)).ok());
    for (const char* part : {"attn_q", "attn_k", "attn_v"}) {
      const std::string weight = std::string(part) + ".weight";
      if (info.name.size() > weight.size() && info.name.ends_with(weight)) {
        std::vector<float> zeros(static_cast<size_t>(info.ne[1]), 0.0f);
        const std::string bias = info.name.substr(0, info.name.size() - 6) + "bias";
        ASSERT_TRUE(w.add_tensor(bias, DType::kF32, 1, {info.ne[1], 1, 1, 1}, bytes_of(zeros)).ok());
      }
    }
  }
  const std::string dir = testing::make_temp_dir("ragkit-qwen2");
  ASSERT_TRUE(w.write(dir + "/qwen2.gguf").ok());
  auto model = Model::load(dir + "/qwen2.gguf");
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_EQ((*model)->arch().name, "qwen2");
  EXPECT_NE((*model)->weights().layers[0].q.bias, nullptr);
  expect_matches_llama_synth_golden(**model, s.golden);
}

TEST(Architectures, UnknownOneIsAClearErrorListingTheSupported) {
  LlamaSynth s = open_llama_synth();
  ASSERT_NE(s.gguf, nullptr);
  GgufWriter w;
  w.copy_metadata(*s.gguf);
  w.set_string("general.architecture", "mamba");
  const std::string dir = testing::make_temp_dir("ragkit-mamba");
  ASSERT_TRUE(w.write(dir + "/m.gguf").ok());
  auto model = Model::load(dir + "/m.gguf");
  ASSERT_FALSE(model.ok());
  const std::string msg = model.status().to_string();
  EXPECT_NE(msg.find("'mamba'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("llama, qwen2, gpt2"), std::string::npos) << msg;
}

// An optional integer key that is present with another type is an error naming the key, not an
// abort (generator_gguf_fuzz found a float32 llama.rope.dimension_count taking `rag` down).
TEST(LlamaArchitecture, OptionalIntegerKeysOfAnotherTypeAreErrors) {
  auto source = GgufFile::open(testing::golden_dir() + "/llama-synth-F32.gguf");
  ASSERT_TRUE(source.ok()) << source.status().to_string();
  const std::string dir = testing::make_temp_dir("ragkit-llama-bad-key");
  for (const std::string key : {"llama.rope.dimension_count", "llama.attention.head_count_kv"}) {
    GgufWriter w;
    w.copy_metadata(**source);
    GgufValue wrong;
    wrong.type = GgufType::kFloat32;
    wrong.f = 16.5;
    w.set(key, wrong);
    for (const GgufTensorInfo& t : (*source)->tensors()) {
      const TensorView v = (*source)->view(t);
      ASSERT_TRUE(w.add_tensor(t.name, t.dtype, t.n_dims, t.ne,
                               {static_cast<const uint8_t*>(v.data), v.n_bytes})
                      .ok());
    }
    const std::string path = dir + "/bad.gguf";
    ASSERT_TRUE(w.write(path).ok());
    auto model = Model::load(path);
    ASSERT_FALSE(model.ok()) << key;
    EXPECT_NE(model.status().message().find(key), std::string::npos) << model.status().to_string();
  }
}

}  // namespace
}  // namespace ragkit::embed
