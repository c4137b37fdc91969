#include "ragkit/embed/architecture.h"

namespace ragkit::embed {
namespace {

// Hugging Face BertModel names. sentence-transformers checkpoints have no prefix; BertForXxx
// checkpoints put everything under "bert.".
constexpr TensorNameMap kBertHfNames[] = {
    {"token_embd", "embeddings.word_embeddings"},
    {"position_embd", "embeddings.position_embeddings"},
    {"token_types", "embeddings.token_type_embeddings"},
    {"token_embd_norm", "embeddings.LayerNorm"},
    {"blk.{N}.attn_q", "encoder.layer.{N}.attention.self.query"},
    {"blk.{N}.attn_k", "encoder.layer.{N}.attention.self.key"},
    {"blk.{N}.attn_v", "encoder.layer.{N}.attention.self.value"},
    {"blk.{N}.attn_output", "encoder.layer.{N}.attention.output.dense"},
    {"blk.{N}.attn_output_norm", "encoder.layer.{N}.attention.output.LayerNorm"},
    {"blk.{N}.ffn_up", "encoder.layer.{N}.intermediate.dense"},
    {"blk.{N}.ffn_down", "encoder.layer.{N}.output.dense"},
    {"blk.{N}.layer_output_norm", "encoder.layer.{N}.output.LayerNorm"},
};
constexpr std::string_view kBertHfPrefixes[] = {"bert.", "model."};

constexpr TensorNameMap kLlamaHfNames[] = {
    {"token_embd", "model.embed_tokens"},
    {"output_norm", "model.norm"},
    {"output", "lm_head"},
    {"blk.{N}.attn_norm", "model.layers.{N}.input_layernorm"},
    {"blk.{N}.attn_q", "model.layers.{N}.self_attn.q_proj"},
    {"blk.{N}.attn_k", "model.layers.{N}.self_attn.k_proj"},
    {"blk.{N}.attn_v", "model.layers.{N}.self_attn.v_proj"},
    {"blk.{N}.attn_output", "model.layers.{N}.self_attn.o_proj"},
    {"blk.{N}.ffn_norm", "model.layers.{N}.post_attention_layernorm"},
    {"blk.{N}.ffn_gate", "model.layers.{N}.mlp.gate_proj"},
    {"blk.{N}.ffn_up", "model.layers.{N}.mlp.up_proj"},
    {"blk.{N}.ffn_down", "model.layers.{N}.mlp.down_proj"},
};

// GPT-2's checkpoints (GPT2LMHeadModel, under "transformer."; GPT2Model without it). Its linears
// are Conv1D modules storing [in, out]. The fused query/key/value projection keeps its GGUF name.
constexpr TensorNameMap kGpt2HfNames[] = {
    {"token_embd", "wte"},
    {"position_embd", "wpe"},
    {"output_norm", "ln_f"},
    {"output", "lm_head"},
    {"blk.{N}.attn_norm", "h.{N}.ln_1"},
    {"blk.{N}.attn_qkv", "h.{N}.attn.c_attn", true},
    {"blk.{N}.attn_output", "h.{N}.attn.c_proj", true},
    {"blk.{N}.ffn_norm", "h.{N}.ln_2"},
    {"blk.{N}.ffn_up", "h.{N}.mlp.c_fc", true},
    {"blk.{N}.ffn_down", "h.{N}.mlp.c_proj", true},
};
constexpr std::string_view kGpt2HfPrefixes[] = {"transformer."};

constexpr std::string_view kBertTypes[] = {"bert"};
// Mistral's and Qwen2's checkpoints share llama's module names; Qwen2 adds q/k/v biases, which
// the loader picks up wherever a file has them.
constexpr std::string_view kLlamaTypes[] = {"llama", "mistral"};
constexpr std::string_view kQwen2Types[] = {"qwen2"};
constexpr std::string_view kGpt2Types[] = {"gpt2"};

constexpr ArchitectureSpec kArchitectures[] = {
    {
        .name = "bert",
        .hf_model_types = kBertTypes,
        .norm = NormType::kLayerNorm,
        .placement = NormPlacement::kPost,
        .positions = PositionEncoding::kLearned,
        .default_activation = Activation::kGeluErf,
        .mask = AttentionMask::kBidirectional,
        .gated_ffn = false,
        .linear_bias = true,
        .embedding_norm = true,
        .token_types = true,
        .output_norm = false,
        .gguf_rope = RopeStyle::kInterleaved,
        .hf_names = kBertHfNames,
        .hf_prefixes = kBertHfPrefixes,
    },
    {
        .name = "llama",
        .hf_model_types = kLlamaTypes,
        .norm = NormType::kRmsNorm,
        .placement = NormPlacement::kPre,
        .positions = PositionEncoding::kRotary,
        .default_activation = Activation::kSilu,
        .mask = AttentionMask::kCausal,
        .gated_ffn = true,
        .linear_bias = false,
        .embedding_norm = false,
        .token_types = false,
        .output_norm = true,
        .gguf_rope = RopeStyle::kInterleaved,
        .hf_names = kLlamaHfNames,
        .hf_prefixes = {},
    },
    {
        .name = "qwen2",
        .hf_model_types = kQwen2Types,
        .norm = NormType::kRmsNorm,
        .placement = NormPlacement::kPre,
        .positions = PositionEncoding::kRotary,
        .default_activation = Activation::kSilu,
        .mask = AttentionMask::kCausal,
        .gated_ffn = true,
        .linear_bias = false,
        .embedding_norm = false,
        .token_types = false,
        .output_norm = true,
        .gguf_rope = RopeStyle::kHalf,
        .hf_names = kLlamaHfNames,
        .hf_prefixes = {},
    },
    {
        .name = "gpt2",
        .hf_model_types = kGpt2Types,
        .norm = NormType::kLayerNorm,
        .placement = NormPlacement::kPre,
        .positions = PositionEncoding::kLearned,
        .default_activation = Activation::kGeluTanh,
        .mask = AttentionMask::kCausal,
        .gated_ffn = false,
        .linear_bias = true,
        .embedding_norm = false,
        .token_types = false,
        .output_norm = true,
        .gguf_rope = RopeStyle::kInterleaved,
        .hf_names = kGpt2HfNames,
        .hf_prefixes = kGpt2HfPrefixes,
    },
};

}  // namespace

const ArchitectureSpec* find_architecture(std::string_view name) {
  for (const auto& a : kArchitectures) {
    if (a.name == name) return &a;
    for (std::string_view type : a.hf_model_types) {
      if (type == name) return &a;
    }
  }
  return nullptr;
}

std::string supported_architectures() {
  std::string s;
  for (const auto& a : kArchitectures) {
    if (!s.empty()) s += ", ";
    s += a.name;
  }
  return s;
}

const char* activation_name(Activation activation) {
  switch (activation) {
    case Activation::kGeluErf: return "gelu";
    case Activation::kGeluTanh: return "gelu_tanh";
    case Activation::kSilu: return "silu";
  }
  return "?";
}

Status ModelConfig::validate() const {
  auto bad = [](const std::string& what) { return Status::invalid_argument(what); };
  if (arch == nullptr) return bad("no architecture");
  if (n_vocab <= 0 || n_vocab > (1 << 24)) return bad("vocabulary size " + std::to_string(n_vocab) + " is out of range");
  if (n_embd <= 0 || n_embd > 65536) return bad("embedding width " + std::to_string(n_embd) + " is out of range");
  if (n_layer <= 0 || n_layer > 1024) return bad("layer count " + std::to_string(n_layer) + " is out of range");
  if (n_head <= 0 || n_embd % n_head != 0) {
    return bad("head count " + std::to_string(n_head) + " does not divide the width " + std::to_string(n_embd));
  }
  if (n_head_kv <= 0 || n_head % n_head_kv != 0) {
    return bad("key/value head count " + std::to_string(n_head_kv) + " does not divide the head count " +
               std::to_string(n_head));
  }
  if (n_ff <= 0 || n_ff > (1 << 20)) return bad("feed-forward width " + std::to_string(n_ff) + " is out of range");
  if (n_ctx_train <= 0 || n_ctx_train > (1 << 24)) {
    return bad("context length " + std::to_string(n_ctx_train) + " is out of range");
  }
  if (arch->token_types && (n_token_types <= 0 || n_token_types > 1024)) {
    return bad("token type count " + std::to_string(n_token_types) + " is out of range");
  }
  if (!(norm_eps > 0.0f) || norm_eps > 1.0f) return bad("norm epsilon is out of range");
  if (arch->positions == PositionEncoding::kRotary) {
    if (rope_dim <= 0 || rope_dim > head_dim() || rope_dim % 2 != 0) {
      return bad("rotary dimension " + std::to_string(rope_dim) + " does not fit the head size");
    }
  }
  return Status();
}

}  // namespace ragkit::embed
