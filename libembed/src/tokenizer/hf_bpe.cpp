#include "tokenizer/hf_bpe.h"

#include <exception>
#include <map>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "ragkit/embed/vocabulary.h"
#include "tokenizer/vocab.h"

namespace ragkit::embed {
namespace {

using json = nlohmann::json;

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581

// The Split regexes BpeTokenizer implements, as tokenizer.json spells them (and llama.cpp's
// case-folded spelling of the contractions).
struct KnownRegex {
  std::string_view regex;
  PreTokenizer pre_tokenizer;
};
constexpr KnownRegex kKnownRegexes[] = {
    {R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)",
     PreTokenizer::kGpt2},
    {R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))",
     PreTokenizer::kGpt2},
    {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     PreTokenizer::kLlama3},
    {R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     PreTokenizer::kLlama3},
    {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     PreTokenizer::kQwen2},
    {R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     PreTokenizer::kQwen2},
};

std::string type_of(const json& node) {
  return node.is_object() ? node.value("type", std::string()) : std::string("null");
}

// A Sequence's parts, or the node itself.
std::vector<const json*> parts_of(const json& node, const char* list_key) {
  std::vector<const json*> parts;
  if (node.is_null()) return parts;
  if (type_of(node) == "Sequence") {
    for (const json& part : node.at(list_key)) parts.push_back(&part);
  } else {
    parts.push_back(&node);
  }
  return parts;
}

// A special token in tokenizer_config.json: a string or an AddedToken object; nullopt for null.
std::optional<std::string> config_token(const json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content")) return it->at("content").get<std::string>();
  throw std::runtime_error(std::string("'") + key + "' is neither a string nor {content}");
}

struct Pipeline {
  BpeOptions options;
  bool spm_style = false;
};

Status read_pipeline(const json& root, const json& model, const std::string& name, Pipeline& p) {
  BpeOptions& o = p.options;
  // Normalizer: nothing, NFC, or the SentencePiece pair Prepend("▁") + Replace(" ", "▁").
  bool prepend = false, replace_spaces = false;
  const json normalizer = root.value("normalizer", json());
  for (const json* part : parts_of(normalizer, "normalizers")) {
    const std::string type = type_of(*part);
    if (type == "NFC") {
      o.nfc = true;
    } else if (type == "Prepend" && part->value("prepend", std::string()) == kSpaceMark) {
      prepend = true;
    } else if (type == "Replace" && part->at("pattern").value("String", std::string()) == " " &&
               part->value("content", std::string()) == kSpaceMark) {
      replace_spaces = true;
    } else {
      return Status::not_supported(name + ": normalizer '" + type + "' is not supported");
    }
  }

  // Pre-tokenizer.
  bool byte_level = false, digits = false, metaspace = false;
  std::optional<PreTokenizer> split;
  const json pre_tokenizer = root.value("pre_tokenizer", json());
  for (const json* part : parts_of(pre_tokenizer, "pretokenizers")) {
    const std::string type = type_of(*part);
    if (type == "ByteLevel") {
      byte_level = true;
      o.add_prefix_space = part->value("add_prefix_space", false);
      if (part->value("use_regex", true)) {
        if (split) return Status::not_supported(name + ": Split followed by a regex ByteLevel");
        split = PreTokenizer::kGpt2;
      }
    } else if (type == "Digits") {
      if (!part->value("individual_digits", false)) {
        return Status::not_supported(name + ": Digits without individual_digits");
      }
      digits = true;
    } else if (type == "Split") {
      const std::string regex = part->at("pattern").value("Regex", std::string());
      if (part->value("behavior", std::string()) != "Isolated" || part->value("invert", false)) {
        return Status::not_supported(name + ": a Split pre-tokenizer that does not isolate");
      }
      for (const KnownRegex& known : kKnownRegexes) {
        if (known.regex == regex) split = known.pre_tokenizer;
      }
      if (!split) {
        return Status::not_supported(name + ": Split regex '" + regex + "' is not supported");
      }
    } else if (type == "Metaspace") {
      metaspace = true;
      if (part->value("replacement", std::string(kSpaceMark)) != kSpaceMark) {
        return Status::not_supported(name + ": Metaspace with a replacement other than U+2581");
      }
      std::string scheme = part->value("prepend_scheme", std::string());
      if (scheme.empty()) scheme = part->value("add_prefix_space", true) ? "always" : "never";
      if (scheme == "first") {
        o.space_prefix = BpeOptions::SpacePrefix::kFirst;
      } else if (scheme == "always") {
        o.space_prefix = BpeOptions::SpacePrefix::kAlways;
      } else if (scheme == "never") {
        o.space_prefix = BpeOptions::SpacePrefix::kNone;
      } else {
        return Status::not_supported(name + ": Metaspace prepend_scheme '" + scheme + "'");
      }
      o.pre_tokenizer = part->value("split", true) ? PreTokenizer::kMetaspace : PreTokenizer::kNone;
    } else {
      return Status::not_supported(name + ": pre-tokenizer '" + type + "' is not supported");
    }
  }

  if (byte_level) {
    if (prepend || replace_spaces || metaspace) {
      return Status::not_supported(name + ": ByteLevel mixed with SentencePiece-style spaces");
    }
    o.byte_level = true;
    if (!split) {
      o.pre_tokenizer = PreTokenizer::kNone;
      if (digits) return Status::not_supported(name + ": Digits without a ByteLevel regex");
    } else if (digits) {
      if (*split != PreTokenizer::kGpt2) {
        return Status::not_supported(name + ": Digits with a Split regex");
      }
      o.pre_tokenizer = PreTokenizer::kStarcoder;  // single digits, then GPT-2's regex
    } else {
      o.pre_tokenizer = *split;
    }
  } else {
    if (split || digits) {
      return Status::not_supported(name + ": a regex pre-tokenizer without ByteLevel");
    }
    p.spm_style = true;
    o.byte_level = false;
    if (!metaspace) {
      if (!replace_spaces) {
        return Status::not_supported(name + ": a BPE model that is neither byte-level nor " +
                                     "SentencePiece-style (no ByteLevel, Metaspace or Replace)");
      }
      o.pre_tokenizer = PreTokenizer::kNone;
      o.space_prefix = prepend ? BpeOptions::SpacePrefix::kPrepend : BpeOptions::SpacePrefix::kNone;
    } else if (prepend) {
      return Status::not_supported(name + ": Prepend normalizer with a Metaspace pre-tokenizer");
    }
  }

  // Model options.
  o.byte_fallback = model.value("byte_fallback", false);
  o.fuse_unk = model.value("fuse_unk", false);
  o.ignore_merges = model.value("ignore_merges", false);
  if (auto it = model.find("dropout");
      it != model.end() && !it->is_null() && it->get<double>() > 0) {
    return Status::not_supported(name + ": BPE dropout is not supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (auto it = model.find(key);
        it != model.end() && !it->is_null() && !it->get<std::string>().empty()) {
      return Status::not_supported(name + ": BPE " + key + " is not supported");
    }
  }
  return Status::ok_status();
}

// The special tokens the post-processor's single-sequence template puts before and after $A.
void template_tokens(const json& post, std::vector<std::string>& before,
                     std::vector<std::string>& after) {
  for (const json* part : parts_of(post, "processors")) {
    if (type_of(*part) != "TemplateProcessing") continue;
    bool seen_sequence = false;
    for (const json& piece : part->at("single")) {
      if (piece.contains("Sequence")) {
        seen_sequence = true;
      } else if (auto special = piece.find("SpecialToken"); special != piece.end()) {
        (seen_sequence ? after : before).push_back(special->at("id").get<std::string>());
      }
    }
  }
}

Result<std::unique_ptr<BpeTokenizer>> build(const json& root, const json* config,
                                            const std::string& name) {
  const json& model = root.at("model");
  Pipeline pipeline;
  RAGKIT_RETURN_IF_ERROR(read_pipeline(root, model, name, pipeline));

  // Tokens: the model's vocab, then the added tokens (which may repeat vocab entries).
  std::map<int64_t, std::string> by_id;
  std::map<int64_t, bool> added_special;  // id -> "special"
  std::vector<int64_t> lstrip, rstrip;
  auto place = [&](int64_t id, const std::string& text) -> Status {
    if (id < 0 || id >= (int64_t{1} << 31) - 1) {
      return Status::corruption(name + ": token '" + text + "' has id " + std::to_string(id));
    }
    auto [it, inserted] = by_id.emplace(id, text);
    if (!inserted && it->second != text) {
      return Status::corruption(name + ": id " + std::to_string(id) + " is both '" + it->second +
                                "' and '" + text + "'");
    }
    return Status::ok_status();
  };
  if (!model.at("vocab").is_object()) {
    return Status::corruption(name + ": model.vocab is not an object of token -> id");
  }
  for (const auto& [text, id] : model.at("vocab").items()) {
    RAGKIT_RETURN_IF_ERROR(place(id.get<int64_t>(), text));
  }
  if (auto added = root.find("added_tokens"); added != root.end() && added->is_array()) {
    for (const json& token : *added) {
      const int64_t id = token.at("id").get<int64_t>();
      RAGKIT_RETURN_IF_ERROR(place(id, token.at("content").get<std::string>()));
      added_special[id] = token.value("special", false);
      if (token.value("lstrip", false)) lstrip.push_back(id);
      if (token.value("rstrip", false)) rstrip.push_back(id);
    }
  }
  if (by_id.empty()) return Status::corruption(name + ": the BPE vocabulary is empty");
  const auto n = static_cast<size_t>(by_id.rbegin()->first + 1);
  if (by_id.size() != n) {
    int64_t expected = 0;
    for (const auto& entry : by_id) {
      if (entry.first != expected) break;
      ++expected;
    }
    return Status::corruption(name + ": no token has id " + std::to_string(expected) +
                              " (ids go up to " + std::to_string(n - 1) + ")");
  }
  std::optional<std::string> model_unk;
  if (auto it = model.find("unk_token"); it != model.end() && it->is_string()) {
    model_unk = it->get<std::string>();
  }
  Vocabulary v;
  v.tokens.reserve(n);
  v.types.reserve(n);
  for (auto& [id, text] : by_id) {
    TokenType type = TokenType::kNormal;
    if (model_unk && text == *model_unk) {
      type = TokenType::kUnknown;  // what characters no token spells become
    } else if (auto it = added_special.find(id); it != added_special.end()) {
      type = it->second ? TokenType::kControl : TokenType::kUserDefined;
    } else if (pipeline.spm_style && detail::parse_byte_token(text) >= 0) {
      type = TokenType::kByte;
    }
    v.tokens.push_back(std::move(text));
    v.types.push_back(type);
  }
  for (int64_t id : lstrip) v.lstrip_tokens.push_back(static_cast<TokenId>(id));
  for (int64_t id : rstrip) v.rstrip_tokens.push_back(static_cast<TokenId>(id));

  // Text -> id, for merges and roles (the last id of a repeated text, as the vocab map keeps).
  std::map<std::string_view, TokenId> ids;
  for (size_t i = 0; i < n; ++i) ids[v.tokens[i]] = static_cast<TokenId>(i);
  auto require = [&](const std::string& text, const std::string& what) -> Result<TokenId> {
    auto it = ids.find(text);
    if (it == ids.end()) {
      return Status::corruption(name + ": " + what + "'" + text + "' is not in the vocabulary");
    }
    return it->second;
  };

  // Merges: "a b" strings or [a, b] pairs; both halves and their join must be tokens.
  const json& merges = model.at("merges");
  if (!merges.is_array()) return Status::corruption(name + ": model.merges is not an array");
  v.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    std::string left, right;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ', 1);
      if (space == std::string::npos) {
        return Status::corruption(name + ": merge " + std::to_string(i) + " '" + s +
                                  "' is not two tokens separated by a space");
      }
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else {
      left = m.at(0).get<std::string>();
      right = m.at(1).get<std::string>();
    }
    for (const std::string& part : {left, right, left + right}) {
      auto id = require(part, "merge " + std::to_string(i) + " (" + left + " " + right + "): ");
      if (!id.ok()) return id.status();
    }
    v.merges.emplace_back(std::move(left), std::move(right));
  }

  // Roles.
  std::optional<std::string> bos_text, eos_text, unk_text;
  std::optional<bool> add_bos, add_eos;
  if (config != nullptr) {
    bos_text = config_token(*config, "bos_token");
    eos_text = config_token(*config, "eos_token");
    unk_text = config_token(*config, "unk_token");
    if (auto it = config->find("add_bos_token"); it != config->end() && !it->is_null()) {
      add_bos = it->get<bool>();
    }
    if (auto it = config->find("add_eos_token"); it != config->end() && !it->is_null()) {
      add_eos = it->get<bool>();
    }
  }
  std::vector<std::string> before, after;
  if (auto post = root.find("post_processor"); post != root.end() && !post->is_null()) {
    template_tokens(*post, before, after);
  }
  if (!bos_text && !before.empty()) bos_text = before.front();
  if (!eos_text && !after.empty()) eos_text = after.back();
  if (!unk_text) unk_text = model_unk;
  if (bos_text) {
    RAGKIT_ASSIGN_OR_RETURN(TokenId id, require(*bos_text, "bos_token "));
    v.bos = id;
  }
  if (eos_text) {
    RAGKIT_ASSIGN_OR_RETURN(TokenId id, require(*eos_text, "eos_token "));
    v.eos = id;
  }
  if (unk_text) {
    RAGKIT_ASSIGN_OR_RETURN(TokenId id, require(*unk_text, "unk_token "));
    v.unk = id;
  }
  v.add_bos = add_bos.value_or(!before.empty() && bos_text && before.front() == *bos_text);
  v.add_eos = add_eos.value_or(!after.empty() && eos_text && after.back() == *eos_text);

  auto tokenizer = BpeTokenizer::create(std::move(v), pipeline.options);
  if (!tokenizer.ok()) return tokenizer.status().with_context(name);
  return tokenizer;
}

}  // namespace

Result<std::unique_ptr<BpeTokenizer>> bpe_from_tokenizer_json(const nlohmann::json& root,
                                                              const nlohmann::json* config,
                                                              const std::string& name) {
  try {
    return build(root, config, name);
  } catch (const std::exception& e) {
    return Status::corruption(name + ": " + e.what());
  }
}

}  // namespace ragkit::embed
