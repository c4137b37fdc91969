#include "ragkit/embed/sentence_transformers_config.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "json_util.h"

namespace ragkit::embed {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kTransformerType = "sentence_transformers.models.Transformer";
constexpr const char* kPoolingType = "sentence_transformers.models.Pooling";
constexpr const char* kNormalizeType = "sentence_transformers.models.Normalize";

// The boolean keys of a Pooling module's config.json. Several true at once means
// sentence-transformers concatenates the pooled vectors, which ragkit does not do.
struct PoolingMode {
  const char* key;
  const char* name;  // ragkit's pooling name; nullptr when ragkit does not implement it
};
constexpr PoolingMode kPoolingModes[] = {
    {"pooling_mode_mean_tokens", "mean"},
    {"pooling_mode_cls_token", "cls"},
    {"pooling_mode_lasttoken", "last"},
    {"pooling_mode_max_tokens", nullptr},
    {"pooling_mode_mean_sqrt_len_tokens", nullptr},
    {"pooling_mode_weightedmean_tokens", nullptr},
};

// Reads a JSON file that may be absent: nullopt when it does not exist.
Result<std::optional<json>> read_optional_json(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<json>();
  RAGKIT_ASSIGN_OR_RETURN(json j, read_json_file(path));
  return std::optional<json>(std::move(j));
}

Result<std::string> read_pooling(const std::string& path) {
  RAGKIT_ASSIGN_OR_RETURN(json j, read_json_file(path));
  if (!j.is_object()) return Status::corruption(path + ": not a JSON object");
  std::string chosen;
  int enabled = 0;
  for (const PoolingMode& mode : kPoolingModes) {
    auto it = j.find(mode.key);
    if (it == j.end()) continue;
    if (!it->is_boolean()) {
      return Status::corruption(path + ": \"" + mode.key + "\" is not true or false");
    }
    if (!it->get<bool>()) continue;
    if (mode.name == nullptr) {
      return Status::not_supported(path + ": \"" + mode.key +
                                   "\" is set; ragkit implements mean, cls and lasttoken pooling");
    }
    ++enabled;
    chosen = mode.name;
  }
  if (enabled == 0) return Status::corruption(path + ": no pooling mode is enabled");
  if (enabled > 1) {
    return Status::not_supported(path +
                                 ": several pooling modes are enabled (their outputs would "
                                 "be concatenated); ragkit supports exactly one");
  }
  return chosen;
}

// A module path must stay inside the model directory.
bool is_safe_relative_path(const std::string& p) {
  fs::path path(p);
  if (path.is_absolute()) return false;
  for (const auto& part : path) {
    if (part == "..") return false;
  }
  return true;
}

Status read_modules(const std::string& model_dir, const json& modules, const std::string& path,
                    SentenceTransformersConfig& config) {
  if (!modules.is_array()) return Status::corruption(path + ": not a JSON array of modules");
  bool have_pooling = false;
  for (const json& m : modules) {
    if (!m.is_object()) return Status::corruption(path + ": a module entry is not a JSON object");
    auto type_it = m.find("type");
    if (type_it == m.end() || !type_it->is_string()) {
      return Status::corruption(path + ": a module entry has no \"type\" string");
    }
    const std::string type = type_it->get<std::string>();
    if (type == kTransformerType) continue;
    if (type == kNormalizeType) {
      config.normalize = true;
      continue;
    }
    if (type != kPoolingType) {
      config.unsupported_modules.push_back(type);
      continue;
    }
    if (have_pooling) return Status::not_supported(path + ": more than one Pooling module");
    have_pooling = true;
    auto path_it = m.find("path");
    if (path_it == m.end() || !path_it->is_string()) {
      return Status::corruption(path + ": the Pooling module has no \"path\" string");
    }
    const std::string module_path = path_it->get<std::string>();
    if (!is_safe_relative_path(module_path)) {
      return Status::corruption(path + ": Pooling module path '" + module_path +
                                "' leaves the model directory");
    }
    RAGKIT_ASSIGN_OR_RETURN(
        std::string pooling,
        read_pooling((fs::path(model_dir) / module_path / "config.json").string()));
    config.pooling = std::move(pooling);
  }
  return Status();
}

Status read_sentence_bert_config(const json& j, const std::string& path,
                                 SentenceTransformersConfig& config) {
  if (!j.is_object()) return Status::corruption(path + ": not a JSON object");
  if (auto it = j.find("max_seq_length"); it != j.end() && !it->is_null()) {
    std::optional<uint64_t> n = json_to_count(*it);
    if (!n || *n == 0) {
      return Status::corruption(
          path + ": \"max_seq_length\" is not a positive integer: " + json_excerpt(*it));
    }
    config.max_seq_length = static_cast<size_t>(*n);
  }
  if (auto it = j.find("do_lower_case"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) {
      return Status::corruption(path + ": \"do_lower_case\" is not true or false");
    }
    config.do_lower_case = it->get<bool>();
  }
  return Status();
}

}  // namespace

Result<SentenceTransformersConfig> read_sentence_transformers_config(const std::string& model_dir) {
  SentenceTransformersConfig config;
  const std::string modules_path = (fs::path(model_dir) / "modules.json").string();
  RAGKIT_ASSIGN_OR_RETURN(std::optional<json> modules, read_optional_json(modules_path));
  if (modules) {
    config.present = true;
    RAGKIT_RETURN_IF_ERROR(read_modules(model_dir, *modules, modules_path, config));
  }
  const std::string sbert_path = (fs::path(model_dir) / "sentence_bert_config.json").string();
  RAGKIT_ASSIGN_OR_RETURN(std::optional<json> sbert, read_optional_json(sbert_path));
  if (sbert) RAGKIT_RETURN_IF_ERROR(read_sentence_bert_config(*sbert, sbert_path, config));
  return config;
}

}  // namespace ragkit::embed
