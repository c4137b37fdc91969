#include "ragkit/embed/model.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "ops/packed_rows.h"
#include "ragkit/common/huge_page_memory.h"
#include "ragkit/common/mapped_file.h"
#include "ragkit/common/thread_pool.h"
#include "ragkit/embed/gguf.h"
#include "ragkit/embed/hf_tokenizer.h"
#include "ragkit/embed/safetensors.h"
#include "ragkit/embed/sentence_transformers_config.h"
#include "ragkit/embed/wordpiece_tokenizer.h"
#include "tokenizer/gguf_tokenizer.h"

namespace ragkit::embed {

struct Model::Storage {
  std::unique_ptr<GgufFile> gguf;
  std::unique_ptr<SafetensorsModel> safetensors;
  std::deque<std::vector<float>> float_buffers;  // converted norm weights and biases
  HugePageMemory packed;                         // packed matrix rows (ModelLoadOptions::repack)
};

Model::~Model() = default;

size_t Model::packed_bytes() const { return storage_ != nullptr ? storage_->packed.size() : 0; }

namespace {

std::string replace_layer(std::string_view templ, int64_t layer) {
  std::string s(templ);
  auto pos = s.find("{N}");
  if (pos != std::string::npos) s.replace(pos, 3, std::to_string(layer));
  return s;
}

// An F32 copy of a 2-D matrix with its two dimensions swapped, kept in `buffers`.
Result<TensorView> transpose_to_f32(const TensorView& t, std::deque<std::vector<float>>& buffers) {
  if (t.n_dims != 2) return Status::corruption("tensor '" + std::string(t.name) + "' is not a matrix");
  const int64_t cols = t.ne[0], rows = t.ne[1];
  std::vector<float> row(static_cast<size_t>(cols));
  auto& out = buffers.emplace_back(static_cast<size_t>(cols * rows));
  for (int64_t r = 0; r < rows; ++r) {
    RAGKIT_RETURN_IF_ERROR(dequantize_row(t.dtype, t.row(r), row.data(), cols).with_context(std::string(t.name)));
    for (int64_t c = 0; c < cols; ++c) out[static_cast<size_t>(c * rows + r)] = row[static_cast<size_t>(c)];
  }
  TensorView v = t;
  v.dtype = DType::kF32;
  v.ne[0] = rows;
  v.ne[1] = cols;
  v.data = out.data();
  v.n_bytes = out.size() * sizeof(float);
  return v;
}

// tokenizer_config.json's "chat_template": a string, or a list of {"name", "template"} of which
// "default" is the one for chat. "" when the file or the key is missing.
Result<std::string> read_hf_chat_template(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "tokenizer_config.json").string();
  if (!std::filesystem::exists(path)) return std::string();
  RAGKIT_ASSIGN_OR_RETURN(std::string text, read_file(path));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::corruption(path + ": not a JSON object");
  auto it = j.find("chat_template");
  if (it == j.end()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {
    for (const auto& entry : *it) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry["template"].is_string()) {
        return entry["template"].get<std::string>();
      }
    }
  }
  return std::string();
}

}  // namespace

// Builds a Model from one weight source. The source is abstracted as a lookup from canonical
// (GGUF) tensor names to views, so the shape checks and the layer assembly are written once.
class ModelLoader {
 public:
  using Lookup = std::function<Result<TensorView>(const std::string& canonical)>;
  using Has = std::function<bool(const std::string& canonical)>;

  ModelLoader(Model& model, Lookup lookup, Has has) : m_(model), lookup_(std::move(lookup)), has_(std::move(has)) {}

  static Result<std::unique_ptr<Model>> load_gguf(const std::string& path, MapMode mode);
  static Result<std::unique_ptr<Model>> load_hf_dir(const std::string& dir, MapMode mode);
  static Status pack_matrices(Model& model, bool release_rows);

  Status assemble();

 private:
  Result<TensorView> tensor(const std::string& name, std::initializer_list<int64_t> shape);
  Result<const float*> floats(const std::string& name, int64_t n);
  Result<Linear> linear(const std::string& base, int64_t in, int64_t out, bool bias);
  Status attention_projections(const std::string& prefix, LayerWeights& l);
  Result<NormWeights> norm(const std::string& base);

  Model& m_;
  Lookup lookup_;
  Has has_;
  std::map<std::string, int> weight_types_;
};

Result<TensorView> ModelLoader::tensor(const std::string& name, std::initializer_list<int64_t> shape) {
  RAGKIT_ASSIGN_OR_RETURN(TensorView t, lookup_(name));
  size_t i = 0;
  bool same = true;
  for (int64_t d : shape) {
    if (t.ne[i++] != d) same = false;
  }
  for (; i < 4; ++i) {
    if (t.ne[i] != 1) same = false;
  }
  if (!same) {
    std::string want = "[";
    for (int64_t d : shape) want += (want.size() > 1 ? ", " : "") + std::to_string(d);
    want += "]";
    return Status::corruption("tensor '" + name + "' has shape " + t.describe() + ", expected " + want +
                              " from the model configuration");
  }
  if (!can_dequantize(t.dtype)) {
    return Status::not_supported("tensor '" + name + "' has type " + dtype_name(t.dtype) +
                                 ", which ragkit cannot compute with yet");
  }
  return t;
}

Result<const float*> ModelLoader::floats(const std::string& name, int64_t n) {
  RAGKIT_ASSIGN_OR_RETURN(TensorView t, tensor(name, {n}));
  // Always a copy (a few KB a layer), never the mapped file's bytes: a norm beside a packed matrix
  // would keep that matrix's pages mapped (release_packed_pages).
  auto& buf = m_.storage_->float_buffers.emplace_back(static_cast<size_t>(n));
  RAGKIT_RETURN_IF_ERROR(dequantize_row(t.dtype, t.data, buf.data(), n).with_context(name));
  return buf.data();
}

Result<Linear> ModelLoader::linear(const std::string& base, int64_t in, int64_t out, bool bias) {
  Linear l;
  RAGKIT_ASSIGN_OR_RETURN(l.weight, tensor(base + ".weight", {in, out}));
  ++weight_types_[dtype_name(l.weight.dtype)];
  m_.n_params_ += static_cast<uint64_t>(in * out);
  // Architectures without biases still take one where a file has it (Qwen2's q/k/v).
  if (bias || has_(base + ".bias")) {
    RAGKIT_ASSIGN_OR_RETURN(l.bias, floats(base + ".bias", out));
    m_.n_params_ += static_cast<uint64_t>(out);
  }
  return l;
}

Status ModelLoader::attention_projections(const std::string& prefix, LayerWeights& l) {
  const ModelConfig& c = m_.config_;
  const int64_t d = c.n_embd, kv = c.n_head_kv * c.head_dim();
  const bool bias = c.arch->linear_bias;
  if (!has_(prefix + "attn_qkv.weight")) {
    RAGKIT_ASSIGN_OR_RETURN(l.q, linear(prefix + "attn_q", d, d, bias));
    RAGKIT_ASSIGN_OR_RETURN(l.k, linear(prefix + "attn_k", d, kv, bias));
    RAGKIT_ASSIGN_OR_RETURN(l.v, linear(prefix + "attn_v", d, kv, bias));
    return Status();
  }
  // One fused [d, d + 2 kv] projection (GPT-2): its rows are q's, then k's, then v's, so each
  // part is a view of consecutive rows.
  RAGKIT_ASSIGN_OR_RETURN(Linear qkv, linear(prefix + "attn_qkv", d, d + 2 * kv, bias));
  auto rows = [&qkv](int64_t first, int64_t count) {
    Linear part = qkv;
    part.weight.ne[1] = count;
    part.weight.data = qkv.weight.row(first);
    part.weight.n_bytes = qkv.weight.row_stride() * static_cast<size_t>(count);
    if (qkv.bias != nullptr) part.bias = qkv.bias + first;
    return part;
  };
  l.q = rows(0, d);
  l.k = rows(d, kv);
  l.v = rows(d + kv, kv);
  return Status();
}

Result<NormWeights> ModelLoader::norm(const std::string& base) {
  NormWeights n;
  const int64_t d = m_.config_.n_embd;
  RAGKIT_ASSIGN_OR_RETURN(n.weight, floats(base + ".weight", d));
  if (m_.config_.arch->norm == NormType::kLayerNorm && has_(base + ".bias")) {
    RAGKIT_ASSIGN_OR_RETURN(n.bias, floats(base + ".bias", d));
  }
  return n;
}

Status ModelLoader::assemble() {
  const ModelConfig& c = m_.config_;
  const ArchitectureSpec& a = *c.arch;
  ModelWeights& w = m_.weights_;
  const int64_t d = c.n_embd;

  RAGKIT_ASSIGN_OR_RETURN(w.token_embd, tensor("token_embd.weight", {d, c.n_vocab}));
  m_.n_params_ += static_cast<uint64_t>(d * c.n_vocab);
  if (a.positions == PositionEncoding::kLearned) {
    RAGKIT_ASSIGN_OR_RETURN(w.position_embd, tensor("position_embd.weight", {d, c.n_ctx_train}));
  }
  if (a.token_types) {
    RAGKIT_ASSIGN_OR_RETURN(w.token_types, tensor("token_types.weight", {d, c.n_token_types}));
  }
  if (a.embedding_norm) {
    RAGKIT_ASSIGN_OR_RETURN(w.embd_norm, norm("token_embd_norm"));
  }

  const bool post = a.placement == NormPlacement::kPost;
  w.layers.resize(static_cast<size_t>(c.n_layer));
  for (int64_t i = 0; i < c.n_layer; ++i) {
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    const std::string p = "blk." + std::to_string(i) + ".";
    RAGKIT_ASSIGN_OR_RETURN(l.attn_norm, norm(p + (post ? "attn_output_norm" : "attn_norm")));
    RAGKIT_RETURN_IF_ERROR(attention_projections(p, l));
    RAGKIT_ASSIGN_OR_RETURN(l.o, linear(p + "attn_output", d, d, a.linear_bias));
    RAGKIT_ASSIGN_OR_RETURN(l.ffn_norm, norm(p + (post ? "layer_output_norm" : "ffn_norm")));
    RAGKIT_ASSIGN_OR_RETURN(l.up, linear(p + "ffn_up", d, c.n_ff, a.linear_bias));
    if (a.gated_ffn) {
      RAGKIT_ASSIGN_OR_RETURN(l.gate, linear(p + "ffn_gate", d, c.n_ff, a.linear_bias));
    }
    RAGKIT_ASSIGN_OR_RETURN(l.down, linear(p + "ffn_down", c.n_ff, d, a.linear_bias));
  }
  if (a.output_norm) {
    RAGKIT_ASSIGN_OR_RETURN(w.output_norm, norm("output_norm"));
  }
  if (a.mask == AttentionMask::kCausal) {
    // Generators without a separate LM head reuse the token embeddings (tied weights).
    if (has_("output.weight")) {
      RAGKIT_ASSIGN_OR_RETURN(w.output, linear("output", d, c.n_vocab, false));
    } else {
      w.output.weight = w.token_embd;
    }
  }
  int best = 0;
  for (auto& [type, count] : weight_types_) {
    if (count > best) {
      best = count;
      m_.weight_type_ = type;
    }
  }
  return Status();
}

namespace {

// Every matrix of the layers, and the LM head (ModelWeights or const ModelWeights).
template <class Weights>
auto matrices_of(Weights& w) {
  std::vector<decltype(&w.output)> out;
  for (auto& l : w.layers) {
    for (auto* m : {&l.q, &l.k, &l.v, &l.o, &l.up, &l.gate, &l.down}) out.push_back(m);
  }
  out.push_back(&w.output);
  return out;
}

// Gives back the mapped file's pages that only packed matrices lay in (release_mapped_range):
// every whole 2 MB page between the first and the last packed matrix that no tensor still read
// through the map touches (the token embeddings, learned positions, token types and the matrices
// not packed; norms and biases are copies, floats()). Pages of tensors the model never reads go
// too. A lower instruction set forced later reads the rows again from the file.
void release_packed_pages(const Model& model) {
  const ModelWeights& w = model.weights();
  using Range = std::pair<uintptr_t, uintptr_t>;
  const auto range = [](const TensorView& t) {
    const uintptr_t b = reinterpret_cast<uintptr_t>(t.data);
    return Range(b, b + t.n_bytes);
  };
  std::vector<Range> kept;
  uintptr_t first = UINTPTR_MAX, last = 0;
  for (const Linear* m : matrices_of(w)) {
    if (m->weight.data == nullptr) continue;
    const Range r = range(m->weight);
    if (m->packed == nullptr) {
      kept.push_back(r);
    } else {
      first = std::min(first, r.first);
      last = std::max(last, r.second);
    }
  }
  for (const TensorView* t : {&w.token_embd, &w.position_embd, &w.token_types}) {
    if (t->data != nullptr) kept.push_back(range(*t));
  }
  constexpr uintptr_t kPage = kHugePageBytes;  // what release_mapped_range gives back
  for (uintptr_t page = (first + kPage - 1) & ~(kPage - 1); page + kPage <= last; page += kPage) {
    const bool touched = std::any_of(kept.begin(), kept.end(), [&](const Range& r) {
      return r.first < page + kPage && page < r.second;
    });
    if (!touched) release_mapped_range(reinterpret_cast<const void*>(page), kPage);
  }
}

}  // namespace

// Packs every matrix the CPU has a packed kernel for (ops/packed_rows.h) into one buffer; with
// release_rows (a mapped file) gives the file's pages of those matrices back.
Status ModelLoader::pack_matrices(Model& model, bool release_rows) {
  const std::vector<Linear*> matrices = matrices_of(model.weights_);
  const auto packs = [](const Linear& m) {
    return m.weight.data != nullptr && ops::has_packed_kernel(m.weight.dtype) &&
           ops::can_pack_rows(m.weight.dtype, m.in(), m.out());
  };
  const auto bytes = [](const Linear& m) {
    return (ops::packed_bytes(m.weight.dtype, m.in(), m.out()) + 63) & ~size_t{63};
  };
  size_t total = 0;
  for (const Linear* m : matrices) total += packs(*m) ? bytes(*m) : 0;
  if (total == 0) return Status();
  RAGKIT_ASSIGN_OR_RETURN(HugePageMemory memory, HugePageMemory::allocate(total));
  // On the compute pool, in pieces of 64 groups (a few hundred KB of weights).
  struct Piece {
    const Linear* m;
    uint8_t* packed;  // m's packed form
    int64_t g0, g1;
  };
  constexpr int64_t kGroupsPerPiece = 64;
  std::vector<Piece> pieces;
  size_t at = 0;
  for (Linear* m : matrices) {
    if (!packs(*m)) continue;
    uint8_t* dst = memory.data() + at;
    m->packed = dst;
    at += bytes(*m);
    const int64_t groups = m->out() / ops::kPackedRows;
    for (int64_t g = 0; g < groups; g += kGroupsPerPiece) {
      pieces.push_back({m, dst, g, std::min(groups, g + kGroupsPerPiece)});
    }
  }
  ThreadPool::default_pool().parallel_for(pieces.size(), [&](size_t i, int) {
    const Piece& p = pieces[i];
    const TensorView& w = p.m->weight;
    ops::pack_row_groups(w.dtype, p.m->in(), w.row(0), w.row_stride(), p.g0, p.g1, p.packed);
  });
  memory.make_read_only();
  model.storage_->packed = std::move(memory);
  if (release_rows) release_packed_pages(model);
  return Status();
}

Result<std::unique_ptr<Model>> ModelLoader::load_gguf(const std::string& path, MapMode mode) {
  RAGKIT_ASSIGN_OR_RETURN(auto gguf, GgufFile::open(path, mode));
  std::unique_ptr<Model> model(new Model());
  model->storage_ = std::make_unique<Model::Storage>();
  model->path_ = path;
  model->format_ = "gguf";
  GgufFile& g = *gguf;
  auto ctx = [&](const Status& s) { return s.with_context(path); };

  RAGKIT_ASSIGN_OR_RETURN(std::string arch_name, g.get_string("general.architecture"));
  const ArchitectureSpec* arch = find_architecture(arch_name);
  if (arch == nullptr) {
    return Status::not_supported(path + ": architecture '" + arch_name +
                                 "' is not supported (supported: " + supported_architectures() + ")");
  }
  if (auto t = g.get_string("tokenizer.chat_template"); t.ok()) model->chat_template_ = *t;
  auto name = g.get_string("general.name");
  model->name_ = name.ok() ? *name : std::filesystem::path(path).stem().string();

  ModelConfig& c = model->config_;
  c.arch = arch;
  const std::string a(arch_name);
  auto get_int = [&](const std::string& key) -> Result<int64_t> {
    auto v = g.get_int(key);
    if (!v.ok()) return v.status().with_context(path);
    return *v;
  };
  // An optional key: the fallback when absent, an error when present with another type.
  auto get_int_or = [&](const std::string& key, int64_t fallback) -> Result<int64_t> {
    return g.find(key) ? get_int(key) : Result<int64_t>(fallback);
  };
  RAGKIT_ASSIGN_OR_RETURN(c.n_embd, get_int(a + ".embedding_length"));
  RAGKIT_ASSIGN_OR_RETURN(c.n_layer, get_int(a + ".block_count"));
  RAGKIT_ASSIGN_OR_RETURN(c.n_head, get_int(a + ".attention.head_count"));
  RAGKIT_ASSIGN_OR_RETURN(c.n_head_kv, get_int_or(a + ".attention.head_count_kv", c.n_head));
  RAGKIT_ASSIGN_OR_RETURN(c.n_ff, get_int(a + ".feed_forward_length"));
  RAGKIT_ASSIGN_OR_RETURN(c.n_ctx_train, get_int(a + ".context_length"));
  const std::string eps_key = arch->norm == NormType::kRmsNorm ? a + ".attention.layer_norm_rms_epsilon"
                                                               : a + ".attention.layer_norm_epsilon";
  RAGKIT_ASSIGN_OR_RETURN(double eps, g.get_float(eps_key));
  c.norm_eps = static_cast<float>(eps);
  if (auto v = g.get_float(a + ".rope.freq_base"); v.ok()) c.rope_base = static_cast<float>(*v);
  RAGKIT_ASSIGN_OR_RETURN(c.rope_dim, get_int_or(a + ".rope.dimension_count", c.head_dim()));
  c.rope_style = arch->gguf_rope;
  // llama.cpp evaluates BERT's GELU with the tanh approximation; follow it for GGUF files.
  c.activation = arch->default_activation == Activation::kGeluErf ? Activation::kGeluTanh
                                                                  : arch->default_activation;
  const GgufTensorInfo* embd = g.find_tensor("token_embd.weight");
  if (embd == nullptr) return Status::corruption(path + ": no tensor 'token_embd.weight'");
  c.n_vocab = embd->ne[1];
  if (arch->token_types) {
    const GgufTensorInfo* tt = g.find_tensor("token_types.weight");
    c.n_token_types = tt ? tt->ne[1] : 0;
  }
  RAGKIT_RETURN_IF_ERROR(ctx(c.validate()));

  if (auto v = g.get_int(a + ".pooling_type"); v.ok()) {
    if (*v == 1) model->declared_pooling_ = Pooling::kMean;
    if (*v == 2) model->declared_pooling_ = Pooling::kCls;
    if (*v == 3) model->declared_pooling_ = Pooling::kLast;
  }

  // Tokenizer.
  RAGKIT_ASSIGN_OR_RETURN(model->tokenizer_, load_gguf_tokenizer(g));
  if (static_cast<int64_t>(model->tokenizer_->vocab_size()) != c.n_vocab) {
    return Status::corruption(path + ": the tokenizer has " + std::to_string(model->tokenizer_->vocab_size()) +
                              " tokens but token_embd.weight has " + std::to_string(c.n_vocab) + " rows");
  }

  GgufFile* gp = gguf.get();
  ModelLoader loader(
      *model,
      [gp, &path](const std::string& n) -> Result<TensorView> {
        const GgufTensorInfo* info = gp->find_tensor(n);
        if (info == nullptr) return Status::corruption(path + ": no tensor '" + n + "'");
        return gp->view(*info);
      },
      [gp](const std::string& n) { return gp->find_tensor(n) != nullptr; });
  RAGKIT_RETURN_IF_ERROR(ctx(loader.assemble()));
  model->storage_->gguf = std::move(gguf);
  return model;
}

Result<std::unique_ptr<Model>> ModelLoader::load_hf_dir(const std::string& dir, MapMode mode) {
  namespace fs = std::filesystem;
  const std::string config_path = (fs::path(dir) / "config.json").string();
  RAGKIT_ASSIGN_OR_RETURN(std::string config_text, read_file(config_path));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(config_text);
  } catch (const std::exception& e) {
    return Status::corruption(config_path + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) return Status::corruption(config_path + ": not a JSON object");
  std::unique_ptr<Model> model(new Model());
  model->storage_ = std::make_unique<Model::Storage>();
  model->path_ = dir;
  model->format_ = "safetensors";
  model->name_ = fs::path(dir).filename().string();
  if (model->name_.empty()) model->name_ = fs::path(dir).parent_path().filename().string();

  std::string model_type = j.value("model_type", "");
  const ArchitectureSpec* arch = find_architecture(model_type);
  if (arch == nullptr) {
    return Status::not_supported(config_path + ": model_type '" + model_type +
                                 "' is not supported (supported: " + supported_architectures() + ")");
  }
  ModelConfig& c = model->config_;
  c.arch = arch;
  c.activation = arch->default_activation;
  try {
    // The first of `keys` present (GPT-2's config names them differently); a null value counts
    // as absent.
    auto num = [&](std::initializer_list<const char*> keys, int64_t fallback) -> int64_t {
      for (const char* key : keys) {
        if (!j.contains(key) || j[key].is_null()) continue;
        if (!j[key].is_number_integer()) throw std::runtime_error(std::string("\"") + key + "\" is not an integer");
        return j[key].get<int64_t>();
      }
      if (fallback >= 0) return fallback;
      throw std::runtime_error(std::string("missing \"") + *keys.begin() + "\"");
    };
    auto real = [&](std::initializer_list<const char*> keys, float fallback) -> float {
      for (const char* key : keys) {
        if (!j.contains(key) || j[key].is_null()) continue;
        if (!j[key].is_number()) throw std::runtime_error(std::string("\"") + key + "\" is not a number");
        return j[key].get<float>();
      }
      return fallback;
    };
    c.n_embd = num({"hidden_size", "n_embd"}, -1);
    c.n_layer = num({"num_hidden_layers", "n_layer"}, -1);
    c.n_head = num({"num_attention_heads", "n_head"}, -1);
    c.n_head_kv = num({"num_key_value_heads"}, c.n_head);
    c.n_ff = num({"intermediate_size", "n_inner"}, arch->name == "gpt2" ? 4 * c.n_embd : -1);
    c.n_ctx_train = num({"max_position_embeddings", "n_positions"}, -1);
    c.n_vocab = num({"vocab_size"}, -1);
    c.n_token_types = num({"type_vocab_size"}, arch->token_types ? 2 : 0);
    c.norm_eps = arch->norm == NormType::kRmsNorm ? real({"rms_norm_eps"}, c.norm_eps)
                                                  : real({"layer_norm_eps", "layer_norm_epsilon"}, c.norm_eps);
    c.rope_base = real({"rope_theta"}, c.rope_base);
    c.rope_dim = c.head_dim();
    // Hugging Face checkpoints keep the rotate_half layout (llama.cpp's converter permutes the
    // query and key rows into the interleaved one when it writes GGUF).
    c.rope_style = RopeStyle::kHalf;
    std::string act = j.value("hidden_act", j.value("hidden_activation", j.value("activation_function", std::string())));
    if (act == "gelu") {
      c.activation = Activation::kGeluErf;
    } else if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") {
      c.activation = Activation::kGeluTanh;
    } else if (act == "silu" || act == "swish") {
      c.activation = Activation::kSilu;
    } else if (!act.empty()) {
      return Status::not_supported(config_path + ": activation '" + act + "' is not supported");
    }
    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
      return Status::not_supported(config_path + ": rope_scaling is not supported yet");
    }
    std::string pos = j.value("position_embedding_type", "absolute");
    if (pos != "absolute") {
      return Status::not_supported(config_path + ": position_embedding_type '" + pos + "' is not supported");
    }
  } catch (const std::exception& e) {
    return Status::corruption(config_path + ": " + e.what());
  }
  RAGKIT_RETURN_IF_ERROR(c.validate().with_context(config_path));

  // Sentence-transformers modules: pooling, normalisation, max_seq_length.
  RAGKIT_ASSIGN_OR_RETURN(SentenceTransformersConfig st, read_sentence_transformers_config(dir));
  if (st.present) {
    if (!st.unsupported_modules.empty()) {
      std::string list;
      for (const auto& m : st.unsupported_modules) list += (list.empty() ? "" : ", ") + m;
      return Status::not_supported(dir + ": modules.json lists modules ragkit does not run (" + list +
                                   "); its embeddings would differ from sentence-transformers'");
    }
    if (st.pooling) {
      RAGKIT_ASSIGN_OR_RETURN(Pooling p, pooling_from_name(*st.pooling));
      model->declared_pooling_ = p;
    }
    model->declared_normalize_ = st.normalize;
  }
  if (st.max_seq_length) model->declared_max_seq_length_ = *st.max_seq_length;

  RAGKIT_ASSIGN_OR_RETURN(model->tokenizer_, load_hf_tokenizer(dir));
  RAGKIT_ASSIGN_OR_RETURN(model->chat_template_, read_hf_chat_template(dir));
  if (static_cast<int64_t>(model->tokenizer_->vocab_size()) > c.n_vocab) {
    return Status::corruption(dir + ": the tokenizer has " + std::to_string(model->tokenizer_->vocab_size()) +
                              " tokens but config.json says vocab_size " + std::to_string(c.n_vocab));
  }

  auto weights = SafetensorsModel::open_dir(dir, mode);
  if (!weights.ok()) {
    if (fs::exists(fs::path(dir) / "pytorch_model.bin")) {
      return Status::not_supported(dir + ": only pytorch_model.bin is present; ragkit reads safetensors "
                                         "(download model.safetensors from the model's Hub page)");
    }
    return weights.status();
  }
  SafetensorsModel* st_model = weights->get();

  // Canonical name -> HF name through the architecture's table, trying each known prefix.
  struct Resolved {
    std::string name;
    bool transposed;
  };
  auto resolve = [arch, st_model](const std::string& canonical) -> std::optional<Resolved> {
    std::string base = canonical, suffix;
    if (auto dot = canonical.rfind('.'); dot != std::string::npos) {
      base = canonical.substr(0, dot);
      suffix = canonical.substr(dot);
    }
    int64_t layer = -1;
    std::string templ = base;
    if (base.rfind("blk.", 0) == 0) {
      auto dot = base.find('.', 4);
      layer = std::stoll(base.substr(4, dot - 4));
      templ = "blk.{N}" + base.substr(dot);
    }
    for (const auto& entry : arch->hf_names) {
      if (entry.gguf != templ) continue;
      std::string hf = replace_layer(entry.hf, layer) + suffix;
      // Only matrices are stored transposed; their biases are plain vectors.
      const bool transposed = entry.hf_transposed && suffix == ".weight";
      if (st_model->contains(hf)) return Resolved{hf, transposed};
      for (std::string_view prefix : arch->hf_prefixes) {
        std::string with = std::string(prefix) + hf;
        if (st_model->contains(with)) return Resolved{with, transposed};
      }
      return std::nullopt;
    }
    return std::nullopt;
  };
  ModelLoader loader(
      *model,
      [resolve, st_model, dir, &model](const std::string& n) -> Result<TensorView> {
        auto hf = resolve(n);
        if (!hf) return Status::corruption(dir + ": no weight for '" + n + "' in the safetensors files");
        RAGKIT_ASSIGN_OR_RETURN(TensorView t, st_model->find(hf->name));
        if (!hf->transposed) return t;
        return transpose_to_f32(t, model->storage_->float_buffers);
      },
      [resolve](const std::string& n) { return resolve(n).has_value(); });
  RAGKIT_RETURN_IF_ERROR(loader.assemble().with_context(dir));
  model->storage_->safetensors = std::move(*weights);
  return model;
}

Result<std::unique_ptr<Model>> Model::load(const std::string& path,
                                           const ModelLoadOptions& options) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::not_found(path + ": no such file or directory");
  const MapMode mode = options.in_memory ? MapMode::kInMemory : MapMode::kMapped;
  Result<std::unique_ptr<Model>> model = S_ISDIR(st.st_mode) ? ModelLoader::load_hf_dir(path, mode)
                                                             : ModelLoader::load_gguf(path, mode);
  if (model.ok() && options.repack) {
    RAGKIT_RETURN_IF_ERROR(ModelLoader::pack_matrices(**model, mode == MapMode::kMapped));
  }
  return model;
}

Status read_embedding_row(const TensorView& table, int64_t row, float* out) {
  if (row < 0 || row >= table.n_rows()) {
    return Status::out_of_range("token id " + std::to_string(row) + " is outside the embedding table of " +
                                std::to_string(table.n_rows()) + " rows");
  }
  return dequantize_row(table.dtype, table.row(row), out, table.row_length());
}

}  // namespace ragkit::embed
