// Model: a transformer's configuration, weights and tokenizer, loaded from a GGUF file or a
// Hugging Face model directory (config.json + safetensors + tokenizer files), with the weights
// left in the mmap'd files wherever their layout allows.
//
// Tensor names are normalised to the GGUF convention ("blk.3.attn_q.weight") whatever the source,
// through the architecture table, so the transformer core sees one layout. Loading validates every
// shape against the configuration; a missing or mis-shaped tensor is an error naming the tensor.
// Thread-safety: immutable after load(); share it freely across threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/embed/architecture.h"
#include "ragkit/embed/pooling.h"
#include "ragkit/embed/tensor.h"
#include "ragkit/embed/tokenizer.h"

namespace ragkit::embed {

// y = x W^T + b for W stored as rows of `in` values (ne = {in, out}).
struct Linear {
  TensorView weight;
  const float* bias = nullptr;  // [out] or nullptr
  // The same rows packed eight at a time for the AVX-512 VNNI kernels (ops/packed_rows.h), or
  // nullptr. The loader packs Q8_0/Q4_0/Q5_0/Q4_K matrices on such CPUs (ModelLoadOptions::repack);
  // `weight` stays valid for every other use.
  const uint8_t* packed = nullptr;
  int64_t in() const { return weight.ne[0]; }
  int64_t out() const { return weight.ne[1]; }
};

struct NormWeights {
  const float* weight = nullptr;  // [n_embd]
  const float* bias = nullptr;    // [n_embd] for LayerNorm with bias, else nullptr
};

struct LayerWeights {
  NormWeights attn_norm;  // before attention (pre-norm) or after the residual add (post-norm)
  Linear q, k, v, o;
  NormWeights ffn_norm;   // before the FFN (pre-norm) or after its residual add (post-norm)
  Linear up, gate, down;  // gate only for gated FFNs
};

struct ModelWeights {
  TensorView token_embd;     // [n_embd, n_vocab]
  TensorView position_embd;  // learned positions: [n_embd, n_ctx_train]
  TensorView token_types;    // BERT segments: [n_embd, n_token_types]
  NormWeights embd_norm;
  std::vector<LayerWeights> layers;
  NormWeights output_norm;
  Linear output;             // LM head (generators)
};

struct ModelLoadOptions {
  // Read the weights into memory in 2 MB pages instead of mapping the file (llama.cpp's
  // --no-mmap): faster decoding, at the cost of the model's size in process memory and the
  // time to read it (mapped_file.h). Default: false (mapped).
  bool in_memory = false;
  // Pack the rows of Q8_0, Q4_0, Q5_0 and Q4_K matrices eight at a time into process memory where
  // the CPU has kernels for that layout (AVX-512 VNNI; ops/packed_rows.h), as llama.cpp repacks
  // weights for its CPU kernels (its --no-repack turns that off): faster decoding and prefill, at
  // the cost of those matrices' size in process memory and the time to pack them at load.
  // Default: true.
  bool repack = true;
};

class Model {
 public:
  // `path`: a .gguf file or a directory with config.json.
  static Result<std::unique_ptr<Model>> load(const std::string& path,
                                             const ModelLoadOptions& options = {});
  ~Model();

  const ModelConfig& config() const { return config_; }
  const ArchitectureSpec& arch() const { return *config_.arch; }
  const ModelWeights& weights() const { return weights_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }

  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }
  const char* format() const { return format_; }  // "gguf" or "safetensors"
  // The most common weight type of the matrices ("F32", "Q8_0", ...).
  const std::string& weight_type() const { return weight_type_; }
  uint64_t n_params() const { return n_params_; }
  // Bytes of matrix rows packed at load (ModelLoadOptions::repack); 0 when none were.
  size_t packed_bytes() const;
  // The Jinja chat template the model ships (GGUF tokenizer.chat_template, or
  // tokenizer_config.json's chat_template); "" when it has none (base models).
  const std::string& chat_template() const { return chat_template_; }

  // What the model's files declare for sentence embeddings (sentence-transformers modules,
  // bert.pooling_type); unset when they say nothing.
  std::optional<Pooling> declared_pooling() const { return declared_pooling_; }
  std::optional<bool> declared_normalize() const { return declared_normalize_; }
  std::optional<size_t> declared_max_seq_length() const { return declared_max_seq_length_; }

 private:
  Model() = default;
  friend class ModelLoader;

  ModelConfig config_;
  ModelWeights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::string name_, path_, weight_type_, chat_template_;
  const char* format_ = "";
  uint64_t n_params_ = 0;
  std::optional<Pooling> declared_pooling_;
  std::optional<bool> declared_normalize_;
  std::optional<size_t> declared_max_seq_length_;

  struct Storage;  // keeps the mapped files and converted buffers alive
  std::unique_ptr<Storage> storage_;
};

// Reads row `row` of an embedding table (any dequantizable type) into out[ne[0]].
Status read_embedding_row(const TensorView& table, int64_t row, float* out);

}  // namespace ragkit::embed
