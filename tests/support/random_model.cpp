#include "random_model.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include <gtest/gtest.h>

#include "ragkit/embed/gguf.h"
#include "ragkit/embed/gguf_writer.h"
#include "ragkit/embed/safetensors.h"
#include "test_env.h"

namespace ragkit::testing {

uint64_t SplitMix64::next_u64() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double SplitMix64::next_unit() {
  // The top 53 bits give every double of the grid k / 2^53; +1 moves the range to (0, 1].
  return static_cast<double>((next_u64() >> 11) + 1) * 0x1.0p-53;
}

double SplitMix64::next_normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double radius = std::sqrt(-2.0 * std::log(next_unit()));
  const double angle = 6.283185307179586476925 * next_unit();
  spare_ = radius * std::sin(angle);
  has_spare_ = true;
  return radius * std::cos(angle);
}

namespace {

// FNV-1a: a fixed, documented hash so a tensor's stream never depends on std::hash.
uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// How each kind of tensor is drawn, tuned so the model is a useful test (figures in
// tests/fixtures/minilm-random/README.md). Initialising as training starts (std 0.02, LayerNorm 1
// and 0) gives sentence vectors that all point the same way (pairwise cosine ~0.99), which cannot
// tell a broken encoder from a working one. Three traps shaped the values below:
//  * Strong attention (large query/key gains) makes the network chaotic: rounding the weights to
//    bfloat16 then moves the embeddings to cosine ~0.92 and float32 arithmetic eats the tolerance.
//  * Attention outputs larger than the residual smooth every token of a sentence into one vector
//    (first, last and mean token states agree to cosine 0.9997), so pooling and positions go
//    untested.
//  * GELU of zero-mean inputs has a positive mean, which the FFN output turns into one direction
//    shared by every token of every sentence (pairwise cosine > 0.92). A negative intermediate
//    bias keeps GELU's inputs around its bend, where its mean is small.
struct Init {
  double mean;
  double std;
};
constexpr Init kTokenEmbedding{0.0, 0.5};      // unit-scale rows, as in trained BERTs
constexpr Init kPositionEmbedding{0.0, 0.2};   // shared by all sentences: smaller than tokens
constexpr Init kTokenTypeEmbedding{0.0, 0.1};  // row 0 is added to every token
constexpr Init kLayerNormWeight{1.0, 0.1};
constexpr Init kLayerNormBias{0.0, 0.05};
constexpr Init kBias{0.0, 0.05};
constexpr Init kIntermediateBias{-1.0, 0.05};
// Matrices: std = gain / sqrt(fan_in), so each output of x W^T has std ~gain for unit inputs
// whatever the width (gain 1: 0.051 for 384 inputs, 0.026 for 1536).
constexpr double kQueryKeyGain = 1.5;  // scores of std ~2: neither flat nor one-hot
constexpr double kValueGain = 1.0;
constexpr double kAttentionOutputGain = 0.5;  // attention adds std ~0.5 to a residual of ~1
constexpr double kFeedForwardInGain = 1.0;    // pre-GELU N(-1, 1): around GELU's bend
constexpr double kFeedForwardOutGain = 1.0;
constexpr double kPoolerGain = 1.0;  // sentence-transformers never reads the pooler

Result<int64_t> config_int(const nlohmann::json& config, const char* key, const std::string& path) {
  auto it = config.find(key);
  if (it == config.end() || !it->is_number_integer() || it->get<int64_t>() <= 0) {
    return Status::invalid_argument(path + ": needs a positive integer \"" + key + "\"");
  }
  return it->get<int64_t>();
}

Status copy_bytes(const std::filesystem::path& from, const std::filesystem::path& to) {
  // Read and write rather than std::filesystem::copy_file: the shared source files are
  // read-only and copy_file would carry that mode over, so a second run could not overwrite them.
  std::ifstream in(from, std::ios::binary);
  if (!in) return Status::io_error("cannot read " + from.string());
  std::ostringstream bytes;
  bytes << in.rdbuf();
  std::error_code ec;
  std::filesystem::create_directories(to.parent_path(), ec);
  if (ec) {
    return Status::io_error("cannot create " + to.parent_path().string() + ": " + ec.message());
  }
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  const std::string data = bytes.str();
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) return Status::io_error("cannot write " + to.string());
  return Status::ok_status();
}

// One tensor being built: values are drawn in float, then stored in the requested dtype.
struct PendingTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

PendingTensor make_tensor(const RandomBertOptions& options, const std::string& name,
                          std::vector<int64_t> shape, Init init) {
  size_t count = 1;
  for (int64_t d : shape) count *= static_cast<size_t>(d);
  const std::vector<float> values =
      random_normal_values(options.seed, name, count, init.mean, init.std);
  PendingTensor t{options.name_prefix + name, std::move(shape), {}};
  if (options.dtype == embed::DType::kF32) {
    t.bytes.resize(count * sizeof(float));
    std::memcpy(t.bytes.data(), values.data(), t.bytes.size());  // safetensors is little-endian
  } else {
    t.bytes.resize(count * sizeof(uint16_t));
    for (size_t i = 0; i < count; ++i) {
      const uint16_t h = options.dtype == embed::DType::kF16 ? embed::fp32_to_fp16(values[i])
                                                             : embed::fp32_to_bf16(values[i]);
      std::memcpy(t.bytes.data() + 2 * i, &h, 2);
    }
  }
  return t;
}

Init matrix_init(double gain, int64_t fan_in) {
  return {0.0, gain / std::sqrt(static_cast<double>(fan_in))};
}

}  // namespace

std::vector<float> random_normal_values(uint64_t seed, const std::string& name, size_t count,
                                        double mean, double std) {
  SplitMix64 rng(seed ^ fnv1a64(name));
  std::vector<float> values(count);
  for (float& v : values) v = static_cast<float>(mean + std * rng.next_normal());
  return values;
}

const std::string& random_minilm_model() {
  static const std::string dir = [] {
    const std::string models = models_dir();
    if (models.empty()) return std::string();
    const std::string out = make_temp_dir("ragkit-random-minilm") + "/minilm-random";
    Status made = make_random_bert_model(models + "/all-MiniLM-L6-v2", out);
    if (!made.ok()) {
      ADD_FAILURE() << "make_random_bert_model: " << made.to_string();
      return std::string();
    }
    return out;
  }();
  return dir;
}

Status make_random_bert_model(const std::string& source_dir, const std::string& out_dir,
                              const RandomBertOptions& options) {
  if (options.dtype != embed::DType::kF32 && options.dtype != embed::DType::kF16 &&
      options.dtype != embed::DType::kBF16) {
    return Status::invalid_argument(
        std::string("random model dtype must be F32, F16 or BF16, not ") +
        embed::dtype_name(options.dtype));
  }
  namespace fs = std::filesystem;
  const fs::path src(source_dir);
  const fs::path dst(out_dir);
  const std::string config_path = (src / "config.json").string();

  nlohmann::json config;
  {
    std::ifstream in(config_path);
    if (!in) return Status::not_found(config_path + ": missing (is the source a model folder?)");
    config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded() || !config.is_object()) {
      return Status::corruption(config_path + ": not a JSON object");
    }
  }
  RAGKIT_ASSIGN_OR_RETURN(const int64_t hidden, config_int(config, "hidden_size", config_path));
  RAGKIT_ASSIGN_OR_RETURN(const int64_t n_layers,
                          config_int(config, "num_hidden_layers", config_path));
  RAGKIT_ASSIGN_OR_RETURN(const int64_t ffn, config_int(config, "intermediate_size", config_path));
  RAGKIT_ASSIGN_OR_RETURN(const int64_t vocab, config_int(config, "vocab_size", config_path));
  RAGKIT_ASSIGN_OR_RETURN(const int64_t n_positions,
                          config_int(config, "max_position_embeddings", config_path));
  RAGKIT_ASSIGN_OR_RETURN(const int64_t n_types,
                          config_int(config, "type_vocab_size", config_path));

  std::error_code ec;
  fs::create_directories(dst, ec);
  if (ec) return Status::io_error("cannot create " + out_dir + ": " + ec.message());
  for (const char* file : {"config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json",
                           "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
                           "config_sentence_transformers.json", "1_Pooling/config.json"}) {
    if (!fs::exists(src / file)) continue;  // only config.json is required (checked above)
    RAGKIT_RETURN_IF_ERROR(copy_bytes(src / file, dst / file));
  }

  std::vector<PendingTensor> tensors;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, Init init) {
    tensors.push_back(make_tensor(options, name, std::move(shape), init));
  };
  // A linear layer as PyTorch stores it: weight [out, in], bias [out].
  auto add_linear = [&](const std::string& prefix, int64_t out, int64_t in, double gain,
                        Init bias = kBias) {
    add(prefix + ".weight", {out, in}, matrix_init(gain, in));
    add(prefix + ".bias", {out}, bias);
  };
  auto add_layer_norm = [&](const std::string& prefix) {
    add(prefix + ".weight", {hidden}, kLayerNormWeight);
    add(prefix + ".bias", {hidden}, kLayerNormBias);
  };

  add("embeddings.word_embeddings.weight", {vocab, hidden}, kTokenEmbedding);
  add("embeddings.position_embeddings.weight", {n_positions, hidden}, kPositionEmbedding);
  add("embeddings.token_type_embeddings.weight", {n_types, hidden}, kTokenTypeEmbedding);
  add_layer_norm("embeddings.LayerNorm");
  for (int64_t l = 0; l < n_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l);
    add_linear(p + ".attention.self.query", hidden, hidden, kQueryKeyGain);
    add_linear(p + ".attention.self.key", hidden, hidden, kQueryKeyGain);
    add_linear(p + ".attention.self.value", hidden, hidden, kValueGain);
    add_linear(p + ".attention.output.dense", hidden, hidden, kAttentionOutputGain);
    add_layer_norm(p + ".attention.output.LayerNorm");
    add_linear(p + ".intermediate.dense", ffn, hidden, kFeedForwardInGain, kIntermediateBias);
    add_linear(p + ".output.dense", hidden, ffn, kFeedForwardOutGain);
    add_layer_norm(p + ".output.LayerNorm");
  }
  add_linear("pooler.dense", hidden, hidden, kPoolerGain);

  std::vector<embed::SafetensorsWriteTensor> writes;
  writes.reserve(tensors.size());
  for (const PendingTensor& t : tensors) {
    writes.push_back({t.name, options.dtype, t.shape, std::span<const uint8_t>(t.bytes)});
  }
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},  // what transformers expects of a PyTorch checkpoint
      {"ragkit_random_seed", std::to_string(options.seed)},
  };
  return embed::write_safetensors((dst / "model.safetensors").string(), writes, metadata);
}

Status make_random_gpt2_model(const std::string& out_dir, const RandomGpt2Options& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return Status::io_error("cannot create " + out_dir + ": " + ec.message());
  const int64_t d = o.n_embd, ff = 4 * o.n_embd;
  // Gains large enough that attention is far from uniform and every block moves the residual
  // stream, so a mistake anywhere shows in the logits.
  std::vector<PendingTensor> tensors;
  RandomBertOptions r;
  r.seed = o.seed;
  r.name_prefix = "transformer.";
  auto add = [&](const std::string& name, std::vector<int64_t> shape, Init init) {
    tensors.push_back(make_tensor(r, name, std::move(shape), init));
  };
  add("wte.weight", {o.vocab, d}, {0.0, 0.5});
  add("wpe.weight", {o.n_positions, d}, {0.0, 0.3});
  for (int64_t i = 0; i < o.n_layer; ++i) {
    const std::string p = "h." + std::to_string(i) + ".";
    add(p + "ln_1.weight", {d}, {1.0, 0.1});
    add(p + "ln_1.bias", {d}, {0.0, 0.1});
    add(p + "attn.c_attn.weight", {d, 3 * d}, matrix_init(1.5, d));
    add(p + "attn.c_attn.bias", {3 * d}, {0.0, 0.1});
    add(p + "attn.c_proj.weight", {d, d}, matrix_init(0.7, d));
    add(p + "attn.c_proj.bias", {d}, {0.0, 0.05});
    add(p + "ln_2.weight", {d}, {1.0, 0.1});
    add(p + "ln_2.bias", {d}, {0.0, 0.1});
    add(p + "mlp.c_fc.weight", {d, ff}, matrix_init(1.0, d));
    add(p + "mlp.c_fc.bias", {ff}, {0.0, 0.1});
    add(p + "mlp.c_proj.weight", {ff, d}, matrix_init(0.7, ff));
    add(p + "mlp.c_proj.bias", {d}, {0.0, 0.05});
  }
  add("ln_f.weight", {d}, {1.0, 0.1});
  add("ln_f.bias", {d}, {0.0, 0.1});
  std::vector<embed::SafetensorsWriteTensor> writes;
  for (const PendingTensor& t : tensors) {
    writes.push_back({t.name, embed::DType::kF32, t.shape, t.bytes});
  }
  RAGKIT_RETURN_IF_ERROR(
      embed::write_safetensors((fs::path(out_dir) / "model.safetensors").string(), writes, {}));

  nlohmann::json config = {{"model_type", "gpt2"},        {"architectures", {"GPT2LMHeadModel"}},
                           {"n_embd", d},                 {"n_layer", o.n_layer},
                           {"n_head", o.n_head},          {"n_positions", o.n_positions},
                           {"n_inner", nullptr},          {"vocab_size", o.vocab},
                           {"layer_norm_epsilon", 1e-5},  {"activation_function", "gelu_new"},
                           {"tie_word_embeddings", true}};
  nlohmann::json vocab = nlohmann::json::object();
  const char* specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (int64_t i = 0; i < o.vocab; ++i) {
    vocab[i < 5 ? specials[i] : "tok" + std::to_string(i)] = i;
  }
  nlohmann::json tokenizer = {
      {"version", "1.0"},
      {"normalizer", {{"type", "BertNormalizer"}, {"lowercase", true}}},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"model", {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"continuing_subword_prefix", "##"},
                 {"max_input_chars_per_word", 100}, {"vocab", vocab}}}};
  for (const auto& [name, json] : {std::pair{"config.json", config}, std::pair{"tokenizer.json", tokenizer}}) {
    std::ofstream out(fs::path(out_dir) / name);
    out << json.dump(2);
    if (!out) return Status::io_error("cannot write " + out_dir + "/" + name);
  }
  return Status::ok_status();
}

Status make_random_llama_gguf(const std::string& tokenizer_gguf, const std::string& out_path,
                              const RandomLlamaOptions& o) {
  RAGKIT_ASSIGN_OR_RETURN(auto vocab_file, embed::GgufFile::open(tokenizer_gguf));
  RAGKIT_ASSIGN_OR_RETURN(const std::vector<std::string>* tokens,
                          vocab_file->get_string_array("tokenizer.ggml.tokens"));
  const int64_t vocab = static_cast<int64_t>(tokens->size());
  const int64_t d = o.n_embd, kv = o.n_head_kv * (o.n_embd / o.n_head);
  embed::GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", "llama-random-seed" + std::to_string(o.seed));
  auto u32 = [&](const std::string& key, int64_t v) { w.set_uint32(key, static_cast<uint32_t>(v)); };
  auto f32 = [&](const std::string& key, double v) {
    embed::GgufValue value;
    value.type = embed::GgufType::kFloat32;
    value.f = v;
    w.set(key, value);
  };
  u32("llama.context_length", o.n_ctx);
  u32("llama.embedding_length", d);
  u32("llama.feed_forward_length", o.n_ff);
  u32("llama.block_count", o.n_layer);
  u32("llama.attention.head_count", o.n_head);
  u32("llama.attention.head_count_kv", o.n_head_kv);
  u32("llama.rope.dimension_count", o.n_embd / o.n_head);
  f32("llama.rope.freq_base", o.rope_base);
  f32("llama.attention.layer_norm_rms_epsilon", 1e-5);
  u32("general.file_type", 0);
  for (const auto& [key, value] : vocab_file->metadata()) {
    if (key.rfind("tokenizer.", 0) == 0) w.set(key, value);
  }
  auto add = [&](const std::string& name, int64_t in, int64_t out, double mean, double std) -> Status {
    const std::vector<float> v = random_normal_values(o.seed, name, static_cast<size_t>(in * out), mean, std);
    return w.add_tensor(name, embed::DType::kF32, out == 1 ? 1 : 2, {in, out, 1, 1},
                        {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float)});
  };
  RAGKIT_RETURN_IF_ERROR(add("token_embd.weight", d, vocab, 0.0, 0.02));
  for (int64_t i = 0; i < o.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    RAGKIT_RETURN_IF_ERROR(add(p + "attn_norm.weight", d, 1, 1.0, 0.05));
    RAGKIT_RETURN_IF_ERROR(add(p + "attn_q.weight", d, d, 0.0, 0.02));
    RAGKIT_RETURN_IF_ERROR(add(p + "attn_k.weight", d, kv, 0.0, 0.02));
    RAGKIT_RETURN_IF_ERROR(add(p + "attn_v.weight", d, kv, 0.0, 0.02));
    RAGKIT_RETURN_IF_ERROR(add(p + "attn_output.weight", d, d, 0.0, 0.02));
    RAGKIT_RETURN_IF_ERROR(add(p + "ffn_norm.weight", d, 1, 1.0, 0.05));
    RAGKIT_RETURN_IF_ERROR(add(p + "ffn_gate.weight", d, o.n_ff, 0.0, 0.02));
    RAGKIT_RETURN_IF_ERROR(add(p + "ffn_up.weight", d, o.n_ff, 0.0, 0.02));
    RAGKIT_RETURN_IF_ERROR(add(p + "ffn_down.weight", o.n_ff, d, 0.0, 0.02));
  }
  RAGKIT_RETURN_IF_ERROR(add("output_norm.weight", d, 1, 1.0, 0.05));
  if (!o.tied_embeddings) RAGKIT_RETURN_IF_ERROR(add("output.weight", d, vocab, 0.0, 0.02));
  return w.write(out_path);
}

}  // namespace ragkit::testing
