#include "ragkit/embed/model.h"

#include <sys/stat.h>

#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "ragkit/common/mapped_file.h"
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
};

Model::~Model() = default;

namespace {

std::string replace_layer(std::string_view templ, int64_t layer) {
  std::string s(templ);
  auto pos = s.find("{N}");
  if (pos != std::string::npos) s.replace(pos, 3, std::to_string(layer));
  return s;
}

bool is_aligned_f32(const void* p) { return reinterpret_cast<uintptr_t>(p) % alignof(float) == 0; }

}  // namespace

// Builds a Model from one weight source. The source is abstracted as a lookup from canonical
// (GGUF) tensor names to views, so the shape checks and the layer assembly are written once.
class ModelLoader {
 public:
  using Lookup = std::function<Result<TensorView>(const std::string& canonical)>;
  using Has = std::function<bool(const std::string& canonical)>;

  ModelLoader(Model& model, Lookup lookup, Has has) : m_(model), lookup_(std::move(lookup)), has_(std::move(has)) {}

  static Result<std::unique_ptr<Model>> load_gguf(const std::string& path);
  static Result<std::unique_ptr<Model>> load_hf_dir(const std::string& dir);

  Status assemble();

 private:
  Result<TensorView> tensor(const std::string& name, std::initializer_list<int64_t> shape);
  Result<const float*> floats(const std::string& name, int64_t n);
  Result<Linear> linear(const std::string& base, int64_t in, int64_t out, bool bias);
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
  if (t.dtype == DType::kF32 && is_aligned_f32(t.data)) return static_cast<const float*>(t.data);
  auto& buf = m_.storage_->float_buffers.emplace_back(static_cast<size_t>(n));
  RAGKIT_RETURN_IF_ERROR(dequantize_row(t.dtype, t.data, buf.data(), n).with_context(name));
  return buf.data();
}

Result<Linear> ModelLoader::linear(const std::string& base, int64_t in, int64_t out, bool bias) {
  Linear l;
  RAGKIT_ASSIGN_OR_RETURN(l.weight, tensor(base + ".weight", {in, out}));
  ++weight_types_[dtype_name(l.weight.dtype)];
  m_.n_params_ += static_cast<uint64_t>(in * out);
  if (bias) {
    RAGKIT_ASSIGN_OR_RETURN(l.bias, floats(base + ".bias", out));
    m_.n_params_ += static_cast<uint64_t>(out);
  }
  return l;
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
  const int64_t d = c.n_embd, hd = c.head_dim(), kv = c.n_head_kv * hd;

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
    RAGKIT_ASSIGN_OR_RETURN(l.q, linear(p + "attn_q", d, d, a.linear_bias));
    RAGKIT_ASSIGN_OR_RETURN(l.k, linear(p + "attn_k", d, kv, a.linear_bias));
    RAGKIT_ASSIGN_OR_RETURN(l.v, linear(p + "attn_v", d, kv, a.linear_bias));
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

Result<std::unique_ptr<Model>> ModelLoader::load_gguf(const std::string& path) {
  RAGKIT_ASSIGN_OR_RETURN(auto gguf, GgufFile::open(path));
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
  RAGKIT_ASSIGN_OR_RETURN(c.n_embd, get_int(a + ".embedding_length"));
  RAGKIT_ASSIGN_OR_RETURN(c.n_layer, get_int(a + ".block_count"));
  RAGKIT_ASSIGN_OR_RETURN(c.n_head, get_int(a + ".attention.head_count"));
  c.n_head_kv = g.find(a + ".attention.head_count_kv") ? *get_int(a + ".attention.head_count_kv") : c.n_head;
  RAGKIT_ASSIGN_OR_RETURN(c.n_ff, get_int(a + ".feed_forward_length"));
  RAGKIT_ASSIGN_OR_RETURN(c.n_ctx_train, get_int(a + ".context_length"));
  const std::string eps_key = arch->norm == NormType::kRmsNorm ? a + ".attention.layer_norm_rms_epsilon"
                                                               : a + ".attention.layer_norm_epsilon";
  RAGKIT_ASSIGN_OR_RETURN(double eps, g.get_float(eps_key));
  c.norm_eps = static_cast<float>(eps);
  if (auto v = g.get_float(a + ".rope.freq_base"); v.ok()) c.rope_base = static_cast<float>(*v);
  c.rope_dim = g.find(a + ".rope.dimension_count") ? *get_int(a + ".rope.dimension_count") : c.head_dim();
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

Result<std::unique_ptr<Model>> ModelLoader::load_hf_dir(const std::string& dir) {
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
    auto num = [&](const char* key, int64_t fallback) -> int64_t {
      if (!j.contains(key)) {
        if (fallback >= 0) return fallback;
        throw std::runtime_error(std::string("missing \"") + key + "\"");
      }
      if (!j[key].is_number_integer()) throw std::runtime_error(std::string("\"") + key + "\" is not an integer");
      return j[key].get<int64_t>();
    };
    c.n_embd = num("hidden_size", -1);
    c.n_layer = num("num_hidden_layers", -1);
    c.n_head = num("num_attention_heads", -1);
    c.n_head_kv = num("num_key_value_heads", c.n_head);
    c.n_ff = num("intermediate_size", -1);
    c.n_ctx_train = num("max_position_embeddings", -1);
    c.n_vocab = num("vocab_size", -1);
    c.n_token_types = num("type_vocab_size", arch->token_types ? 2 : 0);
    const char* eps_key = arch->norm == NormType::kRmsNorm ? "rms_norm_eps" : "layer_norm_eps";
    if (j.contains(eps_key)) c.norm_eps = j[eps_key].get<float>();
    if (j.contains("rope_theta")) c.rope_base = j["rope_theta"].get<float>();
    c.rope_dim = c.head_dim();
    std::string act = j.value("hidden_act", j.value("hidden_activation", std::string()));
    if (act == "gelu") {
      c.activation = Activation::kGeluErf;
    } else if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") {
      c.activation = Activation::kGeluTanh;
    } else if (act == "silu" || act == "swish") {
      c.activation = Activation::kSilu;
    } else if (!act.empty()) {
      return Status::not_supported(config_path + ": activation '" + act + "' is not supported");
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
  if (static_cast<int64_t>(model->tokenizer_->vocab_size()) > c.n_vocab) {
    return Status::corruption(dir + ": the tokenizer has " + std::to_string(model->tokenizer_->vocab_size()) +
                              " tokens but config.json says vocab_size " + std::to_string(c.n_vocab));
  }

  auto weights = SafetensorsModel::open_dir(dir);
  if (!weights.ok()) {
    if (fs::exists(fs::path(dir) / "pytorch_model.bin")) {
      return Status::not_supported(dir + ": only pytorch_model.bin is present; ragkit reads safetensors "
                                         "(download model.safetensors from the model's Hub page)");
    }
    return weights.status();
  }
  SafetensorsModel* st_model = weights->get();

  // Canonical name -> HF name through the architecture's table, trying each known prefix.
  auto resolve = [arch, st_model](const std::string& canonical) -> std::optional<std::string> {
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
      if (st_model->contains(hf)) return hf;
      for (std::string_view prefix : arch->hf_prefixes) {
        std::string with = std::string(prefix) + hf;
        if (st_model->contains(with)) return with;
      }
      return std::nullopt;
    }
    return std::nullopt;
  };
  ModelLoader loader(
      *model,
      [resolve, st_model, dir](const std::string& n) -> Result<TensorView> {
        auto hf = resolve(n);
        if (!hf) return Status::corruption(dir + ": no weight for '" + n + "' in the safetensors files");
        return st_model->find(*hf);
      },
      [resolve](const std::string& n) { return resolve(n).has_value(); });
  RAGKIT_RETURN_IF_ERROR(loader.assemble().with_context(dir));
  model->storage_->safetensors = std::move(*weights);
  return model;
}

Result<std::unique_ptr<Model>> Model::load(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::not_found(path + ": no such file or directory");
  if (S_ISDIR(st.st_mode)) return ModelLoader::load_hf_dir(path);
  return ModelLoader::load_gguf(path);
}

Status read_embedding_row(const TensorView& table, int64_t row, float* out) {
  if (row < 0 || row >= table.n_rows()) {
    return Status::out_of_range("token id " + std::to_string(row) + " is outside the embedding table of " +
                                std::to_string(table.n_rows()) + " rows");
  }
  return dequantize_row(table.dtype, table.row(row), out, table.row_length());
}

}  // namespace ragkit::embed
