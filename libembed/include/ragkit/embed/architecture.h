// Architectures as data: one row per model family says which blocks the shared transformer core
// runs (norm type and placement, positions, activation, biases, attention mask) and how its
// tensors are named in GGUF files and in Hugging Face checkpoints. The core executes any row;
// nothing is hand-written per model. Adding a family is adding a row.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ragkit/common/status.h"

namespace ragkit::embed {

enum class NormType { kLayerNorm, kRmsNorm };
// kPost: x = norm(x + f(x)) (BERT). kPre: x = x + f(norm(x)) (llama, GPT-2).
enum class NormPlacement { kPre, kPost };
enum class PositionEncoding { kLearned, kRotary };
enum class Activation { kGeluErf, kGeluTanh, kSilu };
enum class AttentionMask { kBidirectional, kCausal };
// Which pairs of a head's values rotary embedding rotates together. kInterleaved: (x[2i],
// x[2i+1]) — llama.cpp's "normal" mode, which GGUF llama files are converted for. kHalf: (x[i],
// x[i + rope_dim/2]) — GPT-NeoX's rotate_half, what Hugging Face checkpoints and GGUF qwen2
// files use. Both rotate pair i by pos * base^(-2i / rope_dim).
enum class RopeStyle { kInterleaved, kHalf };

// Maps one of our canonical (GGUF) tensor names to a Hugging Face checkpoint name. "{N}" stands
// for the layer index. Names are given without the ".weight"/".bias" suffix, which is shared.
struct TensorNameMap {
  std::string_view gguf;
  std::string_view hf;
  // The checkpoint stores this matrix as [in, out] (GPT-2's Conv1D) instead of nn.Linear's
  // [out, in]; the loader transposes it.
  bool hf_transposed = false;
};

struct ArchitectureSpec {
  std::string_view name;          // general.architecture in GGUF: "bert", "llama", "gpt2"
  std::span<const std::string_view> hf_model_types;  // config.json "model_type" values
  NormType norm;
  NormPlacement placement;
  PositionEncoding positions;
  Activation default_activation;  // the config may override (hidden_act)
  AttentionMask mask;
  bool gated_ffn;        // down(act(gate(x)) * up(x)) instead of down(act(up(x)))
  bool linear_bias;      // every linear carries a bias (others load one where the file has it)
  bool embedding_norm;   // a norm right after the embeddings (BERT)
  bool token_types;      // segment embeddings added to the input (BERT)
  bool output_norm;      // a final norm after the last block (llama, GPT-2)
  RopeStyle gguf_rope;   // rotary pairing of this architecture's GGUF files
  std::span<const TensorNameMap> hf_names;
  std::span<const std::string_view> hf_prefixes;  // optional prefixes to strip ("bert.")
};

// The row for a GGUF general.architecture or a Hugging Face model_type, or nullptr.
const ArchitectureSpec* find_architecture(std::string_view name);
// "bert, llama, gpt2" — for error messages.
std::string supported_architectures();

const char* activation_name(Activation activation);

// Per-model numbers, read from GGUF metadata or config.json.
struct ModelConfig {
  const ArchitectureSpec* arch = nullptr;
  Activation activation = Activation::kGeluErf;
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t n_ff = 0;
  int64_t n_ctx_train = 0;    // position table size / trained context
  int64_t n_token_types = 0;  // BERT segment vocabulary
  float norm_eps = 1e-12f;
  float rope_base = 10000.0f;
  int64_t rope_dim = 0;
  RopeStyle rope_style = RopeStyle::kInterleaved;
  int64_t head_dim() const { return n_head > 0 ? n_embd / n_head : 0; }
  // Checks the numbers agree with each other (heads divide the width, ...).
  Status validate() const;
};

}  // namespace ragkit::embed
