#include "tokenizer/gguf_tokenizer.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include "ragkit/embed/bpe_tokenizer.h"
#include "ragkit/embed/spm_tokenizer.h"
#include "ragkit/embed/vocabulary.h"
#include "ragkit/embed/wordpiece_tokenizer.h"

namespace ragkit::embed {
namespace {

constexpr const char* kSupportedModels = "bert, llama, gpt2";

// Metadata of the wrong type or shape is a corrupt tokenizer; keep the message, fix the code.
Status as_corruption(const Status& status) {
  if (status.ok() || status.code() == Status::Code::kCorruption) return status;
  return Status::corruption(status.message());
}

// The optional role id under `key`: nullopt when absent; corruption when not an integer or out
// of range.
Result<std::optional<TokenId>> role_id(const GgufFile& gguf, const std::string& key,
                                       size_t n_tokens) {
  if (gguf.find(key) == nullptr) return std::optional<TokenId>();
  auto value = gguf.get_int(key);
  if (!value.ok()) return as_corruption(value.status());
  if (*value < 0 || static_cast<uint64_t>(*value) >= n_tokens) {
    return Status::corruption(gguf.name() + ": " + key + " = " + std::to_string(*value) +
                              " is out of range (the vocabulary has " + std::to_string(n_tokens) +
                              " tokens)");
  }
  return std::optional<TokenId>(static_cast<TokenId>(*value));
}

Result<std::optional<bool>> optional_bool(const GgufFile& gguf, const std::string& key) {
  if (gguf.find(key) == nullptr) return std::optional<bool>();
  auto value = gguf.get_bool(key);
  if (!value.ok()) return as_corruption(value.status());
  return std::optional<bool>(*value);
}

// Tokens, types, scores and roles: what SPM and BPE vocabularies share.
Result<Vocabulary> read_vocabulary(const GgufFile& gguf, bool spm) {
  const std::string& name = gguf.name();
  Vocabulary v;
  auto tokens = gguf.get_string_array("tokenizer.ggml.tokens");
  if (!tokens.ok()) return as_corruption(tokens.status());
  v.tokens = **tokens;
  const size_t n = v.tokens.size();
  if (n == 0) return Status::corruption(name + ": tokenizer.ggml.tokens is empty");

  if (gguf.find("tokenizer.ggml.token_type") != nullptr) {
    auto types = gguf.get_int_array("tokenizer.ggml.token_type");
    if (!types.ok()) return as_corruption(types.status());
    if (types->size() != n) {
      return Status::corruption(name + ": tokenizer.ggml.token_type has " +
                                std::to_string(types->size()) + " entries but there are " +
                                std::to_string(n) + " tokens");
    }
    v.types.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = (*types)[i];
      if (t < 0 || t > 6) {
        return Status::corruption(name + ": token " + std::to_string(i) + " has type " +
                                  std::to_string(t) + " (token types are 0..6)");
      }
      v.types.push_back(static_cast<TokenType>(t));
    }
  }
  if (spm && gguf.find("tokenizer.ggml.scores") != nullptr) {
    auto scores = gguf.get_float_array("tokenizer.ggml.scores");
    if (!scores.ok()) return as_corruption(scores.status());
    if (scores->size() != n) {
      return Status::corruption(name + ": tokenizer.ggml.scores has " +
                                std::to_string(scores->size()) + " entries but there are " +
                                std::to_string(n) + " tokens");
    }
    v.scores = std::move(*scores);
  }

  // llama.cpp's defaults, kept only when in range.
  auto in_range = [n](TokenId id) {
    return static_cast<size_t>(id) < n ? std::optional(id) : std::optional<TokenId>();
  };
  if (spm) {
    v.bos = in_range(1);
    v.eos = in_range(2);
    v.unk = in_range(0);
  }
  const std::pair<const char*, std::optional<TokenId>*> roles[] = {
      {"tokenizer.ggml.bos_token_id", &v.bos},     {"tokenizer.ggml.eos_token_id", &v.eos},
      {"tokenizer.ggml.unknown_token_id", &v.unk}, {"tokenizer.ggml.eot_token_id", &v.eot},
      {"tokenizer.ggml.eom_token_id", &v.eom},
  };
  for (const auto& [key, target] : roles) {
    RAGKIT_ASSIGN_OR_RETURN(std::optional<TokenId> id, role_id(gguf, key, n));
    if (id) *target = id;
  }
  return v;
}

// Applies add_bos_token / add_eos_token over the model type's defaults.
Status read_add_flags(const GgufFile& gguf, Vocabulary& v) {
  RAGKIT_ASSIGN_OR_RETURN(std::optional<bool> add_bos,
                          optional_bool(gguf, "tokenizer.ggml.add_bos_token"));
  RAGKIT_ASSIGN_OR_RETURN(std::optional<bool> add_eos,
                          optional_bool(gguf, "tokenizer.ggml.add_eos_token"));
  if (add_bos) v.add_bos = *add_bos;
  if (add_eos) v.add_eos = *add_eos;
  if (v.add_bos && !v.bos) {
    return Status::corruption(gguf.name() + ": add_bos_token is true but there is no BOS token id");
  }
  if (v.add_eos && !v.eos) {
    return Status::corruption(gguf.name() + ": add_eos_token is true but there is no EOS token id");
  }
  return Status::ok_status();
}

// llama.cpp's Phi-3 rule (by model name): special tokens swallow the whitespace after them.
void apply_model_name_rules(const GgufFile& gguf, Vocabulary& v) {
  auto general_name = gguf.get_string("general.name");
  if (!general_name.ok()) return;
  std::string lower = *general_name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.find("phi-3") == std::string::npos && lower.find("phi3") == std::string::npos) return;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const TokenType type = v.types.empty() ? TokenType::kNormal : v.types[i];
    const std::string& text = v.tokens[i];
    const bool special = type == TokenType::kControl || type == TokenType::kUserDefined ||
                         type == TokenType::kUnknown || is_end_of_generation_text(text);
    if (special && text != "<unk>" && text != "<s>" && text != "<|endoftext|>") {
      v.rstrip_tokens.push_back(static_cast<TokenId>(i));
    }
  }
}

Result<std::unique_ptr<Tokenizer>> load_spm(const GgufFile& gguf) {
  RAGKIT_ASSIGN_OR_RETURN(Vocabulary v, read_vocabulary(gguf, /*spm=*/true));
  v.add_bos = true;
  v.add_eos = false;
  RAGKIT_RETURN_IF_ERROR(read_add_flags(gguf, v));
  apply_model_name_rules(gguf, v);
  SpmOptions options;
  RAGKIT_ASSIGN_OR_RETURN(std::optional<bool> add_space_prefix,
                          optional_bool(gguf, "tokenizer.ggml.add_space_prefix"));
  if (add_space_prefix) options.add_space_prefix = *add_space_prefix;
  auto tokenizer = SpmTokenizer::create(std::move(v), options);
  if (!tokenizer.ok()) return tokenizer.status().with_context(gguf.name());
  return std::unique_ptr<Tokenizer>(std::move(*tokenizer));
}

Result<std::unique_ptr<Tokenizer>> load_bpe(const GgufFile& gguf) {
  const std::string& name = gguf.name();
  std::string pre;
  if (gguf.find("tokenizer.ggml.pre") != nullptr) {
    auto value = gguf.get_string("tokenizer.ggml.pre");
    if (!value.ok()) return as_corruption(value.status());
    pre = *value;
  }
  const std::optional<PreTokenizer> pre_tokenizer = pre_tokenizer_from_name(pre);
  if (!pre_tokenizer) {
    return Status::not_supported(name + ": pre-tokenizer '" + pre +
                                 "' (tokenizer.ggml.pre) is not supported (supported: " +
                                 supported_pre_tokenizer_names() + ")");
  }
  RAGKIT_ASSIGN_OR_RETURN(Vocabulary v, read_vocabulary(gguf, /*spm=*/false));
  if (gguf.find("tokenizer.ggml.merges") == nullptr) {
    return Status::corruption(name + ": a gpt2 tokenizer needs tokenizer.ggml.merges");
  }
  auto merges = gguf.get_string_array("tokenizer.ggml.merges");
  if (!merges.ok()) return as_corruption(merges.status());
  v.merges.reserve((*merges)->size());
  for (size_t i = 0; i < (*merges)->size(); ++i) {
    const std::string& merge = (**merges)[i];
    const size_t space = merge.find(' ', 1);  // a merge may start with a space token
    if (space == std::string::npos) {
      return Status::corruption(name + ": tokenizer.ggml.merges[" + std::to_string(i) + "] '" +
                                merge + "' is not two tokens separated by a space");
    }
    v.merges.emplace_back(merge.substr(0, space), merge.substr(space + 1));
  }
  BpeOptions options;
  options.pre_tokenizer = *pre_tokenizer;
  // The Llama 3 family (llama.cpp's LLAMA3 pre-type names) adds BOS and takes whole-word tokens.
  const bool llama3 = pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" ||
                      pre == "falcon3" || pre == "pixtral";
  options.ignore_merges = llama3;
  v.add_bos = llama3;
  if (pre == "chatglm-bpe" || pre == "glm4") v.bos.reset();
  RAGKIT_RETURN_IF_ERROR(read_add_flags(gguf, v));
  apply_model_name_rules(gguf, v);
  auto tokenizer = BpeTokenizer::create(std::move(v), options);
  if (!tokenizer.ok()) return tokenizer.status().with_context(name);
  return std::unique_ptr<Tokenizer>(std::move(*tokenizer));
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> load_gguf_tokenizer(const GgufFile& gguf) {
  const std::string& name = gguf.name();
  if (gguf.find("tokenizer.ggml.model") == nullptr) {
    return Status::not_found(name + ": no tokenizer (tokenizer.ggml.model is missing)");
  }
  auto model = gguf.get_string("tokenizer.ggml.model");
  if (!model.ok()) return as_corruption(model.status());
  if (*model == "bert") {
    auto tokens = gguf.get_string_array("tokenizer.ggml.tokens");
    if (!tokens.ok()) return as_corruption(tokens.status());
    auto tokenizer = WordPieceTokenizer::from_gguf_vocab(**tokens, WordPieceOptions{});
    if (!tokenizer.ok()) return tokenizer.status().with_context(name);
    return std::unique_ptr<Tokenizer>(std::move(*tokenizer));
  }
  if (*model == "llama") return load_spm(gguf);
  if (*model == "gpt2") return load_bpe(gguf);
  return Status::not_supported(
      name + ": tokenizer model '" + *model +
      "' (tokenizer.ggml.model) is not supported (supported: " + kSupportedModels + ")");
}

}  // namespace ragkit::embed
