// make_random_bert_model: a Hugging Face model directory with a real model's configuration and
// tokenizer and deterministic random weights, so tests can check the encoder's numbers against a
// PyTorch reference without shipping (or downloading) 90 MB of trained weights.
//
// The weights depend only on the seed and on each tensor's name without its prefix, through a
// self-contained splitmix64 + Box-Muller generator (never <random>'s distributions, which differ
// between standard libraries; only libm's log/sin/cos could move a last bit). Whatever the dtype
// or naming style asked for, a "bert."-named F16 copy holds the F16 rounding of the very values of
// the plain F32 copy, so every variant is checked against one reference
// (tests/fixtures/minilm-random/reference.json).
//
// Thread-safety: make_random_bert_model only touches `out_dir`; calls with different out_dirs may
// run concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/embed/tensor.h"

namespace ragkit::testing {

struct RandomBertOptions {
  // Seeds every tensor's stream (mixed with the tensor's name). Default: 42.
  uint64_t seed = 42;
  // Stored dtype: kF32, kF16 or kBF16 (values are drawn in float and rounded to nearest even).
  // Default: kF32.
  embed::DType dtype = embed::DType::kF32;
  // Prepended to every tensor name: "" as sentence-transformers checkpoints save them, "bert." as
  // BertForMaskedLM / BertForSequenceClassification do. Does not change the values. Default: "".
  std::string name_prefix = "";
};

// Copies config.json, vocab.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json,
// modules.json, sentence_bert_config.json, config_sentence_transformers.json and
// 1_Pooling/config.json from `source_dir` (the all-MiniLM-L6-v2 folder; files it lacks are skipped,
// except config.json) into `out_dir` (created if needed), and writes out_dir/model.safetensors
// with random weights shaped by config.json's hidden_size, num_hidden_layers, intermediate_size,
// vocab_size, max_position_embeddings and type_vocab_size, named as Hugging Face's BertModel
// saves them (embeddings.*, encoder.layer.N.*, pooler.dense.*).
Status make_random_bert_model(const std::string& source_dir, const std::string& out_dir,
                              const RandomBertOptions& options = {});

// all-MiniLM-L6-v2 ($RAGKIT_MODELS_DIR) with random weights (default options), made once per
// process in a temporary folder: the end-to-end tests' embedding model. "" after a failed
// expectation that says what went wrong.
const std::string& random_minilm_model();

// A tiny GPT-2 (GPT2LMHeadModel layout: "transformer." names, Conv1D [in, out] matrices, tied LM
// head) with deterministic random weights, for checking the gpt2 architecture against the PyTorch
// reference tools/reference/gpt2_reference.py (fixture tests/fixtures/gpt2-random). Writes
// config.json, model.safetensors and a WordPiece tokenizer.json of `vocab` made-up tokens (the
// test feeds token ids; the tokenizer only has to load).
struct RandomGpt2Options {
  uint64_t seed = 42;
  int64_t n_embd = 64;
  int64_t n_layer = 2;
  int64_t n_head = 4;
  int64_t n_positions = 64;
  int64_t vocab = 512;
};
Status make_random_gpt2_model(const std::string& out_dir, const RandomGpt2Options& options = {});

// A llama-architecture GGUF with deterministic random F32 weights (std 0.02 matrices, norms
// 1 + N(0, 0.05), like golden/llama-synth) and the tokenizer of another GGUF copied unchanged
// (every tokenizer.* key), for benchmarks of real model shapes. The vocabulary size is the
// tokenizer's. Tied embeddings leave out output.weight (SmolLM2 does).
struct RandomLlamaOptions {
  uint64_t seed = 42;
  int64_t n_embd = 576;  // defaults: SmolLM2-135M's shape
  int64_t n_layer = 30;
  int64_t n_head = 9;
  int64_t n_head_kv = 3;
  int64_t n_ff = 1536;
  int64_t n_ctx = 2048;
  float rope_base = 100000.0f;
  bool tied_embeddings = true;
};
Status make_random_llama_gguf(const std::string& tokenizer_gguf, const std::string& out_path,
                              const RandomLlamaOptions& options = {});

// The deterministic generator behind the weights, exposed so tests can check its stability.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next_u64();
  // Uniform in (0, 1]: never 0, so log() in Box-Muller is finite.
  double next_unit();
  // Standard normal by Box-Muller (both values of each pair are used).
  double next_normal();

 private:
  uint64_t state_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// `count` values of mean + std * N(0, 1) from the stream of (seed, name).
std::vector<float> random_normal_values(uint64_t seed, const std::string& name, size_t count,
                                        double mean, double std);

}  // namespace ragkit::testing
