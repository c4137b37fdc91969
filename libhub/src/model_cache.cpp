#include "ragkit/hub/model_cache.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "ragkit/common/atomic_file.h"

namespace ragkit::hub {
namespace {

namespace fs = std::filesystem;

// Top-level files a model may need besides its weights: configuration and tokenizer.
constexpr std::string_view kSupportFiles[] = {
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
};

bool is_support_file(const std::string& path) {
  const size_t slash = path.find('/');
  if (slash == std::string::npos) {
    return std::find(std::begin(kSupportFiles), std::end(kSupportFiles), path) !=
           std::end(kSupportFiles);
  }
  // sentence-transformers modules: "1_Pooling/config.json", "2_Normalize/...": a folder named
  // <digits>_<Name> holding JSON.
  const std::string_view folder(path.data(), slash);
  size_t digits = 0;
  while (digits < folder.size() && std::isdigit(static_cast<unsigned char>(folder[digits]))) {
    ++digits;
  }
  return digits > 0 && digits + 1 < folder.size() && folder[digits] == '_' &&
         path.find('/', slash + 1) == std::string::npos && path.ends_with(".json");
}

bool matches(const std::string& pattern, const std::string& path) {
  // Case-insensitive: repos spell quantization types both ways ("Q8_0", "q8_0").
  return ::fnmatch(pattern.c_str(), path.c_str(), FNM_CASEFOLD) == 0;
}

bool top_level(const std::string& path) { return path.find('/') == std::string::npos; }

// "a, b, c" of the files whose names end with one of `suffixes` (all when empty).
std::string list_files(const RepoInfo& info, std::initializer_list<std::string_view> suffixes) {
  std::string out;
  for (const RepoFile& f : info.files) {
    bool wanted = suffixes.size() == 0;
    for (std::string_view s : suffixes) wanted = wanted || f.path.ends_with(s);
    if (!wanted) continue;
    out += (out.empty() ? "" : ", ") + f.path;
  }
  return out.empty() ? "(none)" : out;
}

nlohmann::json file_json(const RepoFile& f) {
  return {{"path", f.path},
          {"size", f.size},
          {"hash_kind", hash_kind_name(f.digest.kind)},
          {"hash", f.digest.hex}};
}

}  // namespace

namespace {

// $XDG_CACHE_HOME/ragkit/models, else ~/.cache/ragkit/models.
fs::path user_cache_dir() {
  if (const char* cache = std::getenv("XDG_CACHE_HOME"); cache && *cache) {
    return fs::path(cache) / "ragkit" / "models";
  }
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : ".") / ".cache" / "ragkit" / "models";
}

}  // namespace

fs::path models_cache_dir() {
  if (const char* dir = std::getenv("RAGKIT_MODELS_DIR"); dir && *dir) return fs::path(dir);
  return user_cache_dir();
}

std::vector<fs::path> model_search_dirs() {
  std::vector<fs::path> dirs = {models_cache_dir()};
  if (user_cache_dir() != dirs.front()) dirs.push_back(user_cache_dir());
  return dirs;
}

std::string model_name_for_repo(std::string_view repo) {
  while (!repo.empty() && repo.back() == '/') repo.remove_suffix(1);
  const size_t slash = repo.rfind('/');
  return std::string(slash == std::string_view::npos ? repo : repo.substr(slash + 1));
}

bool is_repo_id(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos || text.find('/', slash + 1) != std::string_view::npos) {
    return false;
  }
  for (std::string_view part : {text.substr(0, slash), text.substr(slash + 1)}) {
    if (part.empty() || part == "." || part == ".." || part.size() > 96) return false;
    for (char c : part) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
        return false;
      }
    }
  }
  return true;
}

const std::vector<KnownModel>& known_models() {
  static const std::vector<KnownModel> models = {
      {"all-MiniLM-L6-v2",
       "sentence-transformers/all-MiniLM-L6-v2",
       {},
       {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
        "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
        "config_sentence_transformers.json", "1_Pooling/config.json"}},
      {"bge-small-en-v1.5",
       "BAAI/bge-small-en-v1.5",
       {},
       {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
        "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
        "config_sentence_transformers.json", "1_Pooling/config.json"}},
      {"SmolLM2-135M-Instruct",
       "HuggingFaceTB/SmolLM2-135M-Instruct",
       {},
       {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
        "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"}},
  };
  return models;
}

const KnownModel* find_known_model(std::string_view name) {
  for (const KnownModel& m : known_models()) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

Result<std::vector<RepoFile>> select_model_files(const RepoInfo& info,
                                                 const std::vector<std::string>& patterns) {
  std::set<std::string> chosen;
  for (const RepoFile& f : info.files) {
    if (is_support_file(f.path)) chosen.insert(f.path);
  }
  if (!patterns.empty()) {
    for (const std::string& pattern : patterns) {
      bool any = false;
      for (const RepoFile& f : info.files) {
        if (!matches(pattern, f.path)) continue;
        chosen.insert(f.path);
        any = true;
      }
      if (!any) {
        return Status::not_found("--file '" + pattern +
                                 "' matches no file of the repo; its "
                                 "weight files: " +
                                 list_files(info, {".gguf", ".safetensors"}));
      }
    }
  } else if (info.find("model.safetensors") != nullptr) {
    chosen.insert("model.safetensors");
  } else if (info.find("model.safetensors.index.json") != nullptr) {
    chosen.insert("model.safetensors.index.json");
    for (const RepoFile& f : info.files) {
      if (top_level(f.path) && matches("model-*-of-*.safetensors", f.path)) chosen.insert(f.path);
    }
  } else {
    const std::string gguf = list_files(info, {".gguf"});
    if (gguf != "(none)") {
      return Status::invalid_argument(
          "the repo has GGUF weights; choose the file(s) with --file PATTERN (for example "
          "--file '*Q8_0.gguf'): " +
          gguf);
    }
    return Status::not_supported(
        "the repo has no model.safetensors (nor shards with model.safetensors.index.json); "
        "ragkit reads safetensors and GGUF weights, not pytorch_model.bin. Its files: " +
        list_files(info, {}));
  }
  if (info.find("config.json") == nullptr &&
      std::none_of(chosen.begin(), chosen.end(),
                   [](const std::string& p) { return p.ends_with(".gguf"); })) {
    return Status::not_supported("the repo has no config.json: not a model ragkit can load");
  }
  std::vector<RepoFile> files;
  for (const RepoFile& f : info.files) {
    if (chosen.count(f.path)) files.push_back(f);
  }
  return files;
}

Result<SourceRecord> read_source_record(const fs::path& model_dir) {
  const fs::path path = model_dir / kSourceRecordFile;
  std::ifstream in(path);
  if (!in) return Status::not_found(path.string() + ": no source record");
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  const auto corrupt = [&] {
    return Status::corruption(path.string() + ": not a ragkit source record; pull the model again");
  };
  if (j.is_discarded() || !j.is_object() || !j.contains("files") || !j["files"].is_array()) {
    return corrupt();
  }
  SourceRecord record;
  try {
    record.repo = j.value("repo", "");
    record.revision = j.value("revision", "");
    record.commit = j.value("commit", "");
    for (const nlohmann::json& f : j["files"]) {
      RepoFile file;
      file.path = f.at("path").get<std::string>();
      file.size = f.at("size").get<uint64_t>();
      file.digest.kind = f.at("hash_kind").get<std::string>() == "sha256" ? HashKind::kSha256
                                                                          : HashKind::kGitBlobSha1;
      file.digest.hex = f.at("hash").get<std::string>();
      record.files.push_back(std::move(file));
    }
  } catch (const nlohmann::json::exception&) {
    return corrupt();
  }
  return record;
}

Status write_source_record(const fs::path& model_dir, const SourceRecord& record) {
  nlohmann::json files = nlohmann::json::array();
  for (const RepoFile& f : record.files) files.push_back(file_json(f));
  const nlohmann::json j = {{"repo", record.repo},
                            {"revision", record.revision},
                            {"commit", record.commit},
                            {"files", files}};
  return write_file_atomically((model_dir / kSourceRecordFile).string(), j.dump(2) + "\n");
}

Result<PullResult> pull_model(const HubClient& client, std::string_view repo,
                              const PullOptions& options) {
  if (!is_repo_id(repo)) {
    return Status::invalid_argument(std::string("'").append(repo) +
                                    "' is not a Hub repo id (org/name, for example "
                                    "sentence-transformers/all-MiniLM-L6-v2)");
  }
  PullResult result;
  result.model_dir = options.cache_dir / model_name_for_repo(repo);
  Result<SourceRecord> previous = read_source_record(result.model_dir);
  if (previous.ok() && previous->repo != repo) {
    return Status::invalid_argument(
        result.model_dir.string() + " holds " + previous->repo + ", not " + std::string(repo) +
        "; remove it first (rag models rm " + model_name_for_repo(repo) + ")");
  }
  RAGKIT_ASSIGN_OR_RETURN(RepoInfo info, client.fetch_repo_info(repo, options.revision));
  Result<std::vector<RepoFile>> selected = select_model_files(info, options.file_patterns);
  if (!selected.ok()) return selected.status().with_context(std::string(repo));

  std::error_code ec;
  fs::create_directories(result.model_dir, ec);
  if (ec) return Status::io_error(result.model_dir.string() + ": " + ec.message());
  result.record = {std::string(repo), options.revision, info.commit, {}};
  for (const RepoFile& file : *selected) {
    const fs::path dest = result.model_dir / file.path;
    fs::create_directories(dest.parent_path(), ec);
    if (ec) return Status::io_error(dest.parent_path().string() + ": " + ec.message());
    bool present = false;
    if (fs::is_regular_file(dest, ec) && fs::file_size(dest, ec) == file.size) {
      // The record vouches for what the last pull verified; anything else is hashed again.
      const auto recorded = [&] {
        if (!previous.ok()) return false;
        return std::any_of(previous->files.begin(), previous->files.end(), [&](const RepoFile& r) {
          return r.path == file.path && r.size == file.size && r.digest == file.digest;
        });
      };
      present = recorded() || verify_file(dest.string(), file).ok();
    }
    if (present) {
      ++result.skipped;
      if (options.on_skipped) options.on_skipped(file.path);
    } else {
      RAGKIT_RETURN_IF_ERROR(
          client.download_file(repo, info.commit, file, dest.string(), options.progress));
      ++result.downloaded;
      result.bytes_downloaded += file.size;
    }
    result.record.files.push_back(file);
  }
  RAGKIT_RETURN_IF_ERROR(write_source_record(result.model_dir, result.record));
  return result;
}

fs::path loadable_model_path(const fs::path& model_dir) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec) || fs::exists(model_dir / "config.json", ec)) {
    return model_dir;
  }
  std::vector<fs::path> gguf;
  for (const fs::directory_entry& entry : fs::directory_iterator(model_dir, ec)) {
    if (entry.is_regular_file(ec) && entry.path().extension() == ".gguf") {
      gguf.push_back(entry.path());
    }
  }
  return gguf.size() == 1 ? gguf.front() : model_dir;
}

bool has_partial_download(const fs::path& model_dir) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) return false;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(model_dir, ec)) {
    if (entry.path().extension() == ".part") return true;
  }
  return false;
}

Result<std::vector<CachedModel>> list_cached_models(const fs::path& cache_dir) {
  std::vector<CachedModel> models;
  std::error_code ec;
  if (!fs::is_directory(cache_dir, ec)) return models;
  for (const fs::directory_entry& entry : fs::directory_iterator(cache_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(".") || name.ends_with(".part")) continue;
    const bool dir = entry.is_directory(ec);
    if (!dir && !(entry.is_regular_file(ec) && name.ends_with(".gguf"))) continue;
    CachedModel model{name, entry.path(), 0, std::nullopt};
    if (dir) {
      for (const fs::directory_entry& f : fs::recursive_directory_iterator(entry.path(), ec)) {
        if (f.is_regular_file(ec)) model.size_bytes += f.file_size(ec);
      }
      if (Result<SourceRecord> record = read_source_record(entry.path()); record.ok()) {
        model.source = std::move(*record);
      }
    } else {
      model.size_bytes = entry.file_size(ec);
    }
    models.push_back(std::move(model));
  }
  if (ec) return Status::io_error(cache_dir.string() + ": " + ec.message());
  std::sort(models.begin(), models.end(),
            [](const CachedModel& a, const CachedModel& b) { return a.name < b.name; });
  return models;
}

Status remove_cached_model(const fs::path& cache_dir, std::string_view name) {
  std::error_code ec;
  const fs::path given(name);
  const fs::path target = given.has_parent_path() ? given : cache_dir / given;
  const std::string leaf = target.filename().string();
  const fs::path cache = fs::weakly_canonical(fs::absolute(cache_dir, ec), ec);
  const fs::path parent = fs::weakly_canonical(fs::absolute(target, ec).parent_path(), ec);
  if (leaf.empty() || leaf == "." || leaf == ".." || ec || parent != cache) {
    return Status::invalid_argument(std::string("'").append(name) +
                                    "' is not a model in the cache " + cache_dir.string() +
                                    "; rag models rm only removes what is "
                                    "there (see rag models list)");
  }
  const fs::path entry = cache / leaf;
  if (!fs::exists(fs::symlink_status(entry, ec))) {
    return Status::not_found(entry.string() + ": no such model in the cache");
  }
  // remove_all does not follow a symlink: a link to a folder elsewhere loses only the link.
  fs::remove_all(entry, ec);
  if (ec) return Status::io_error(entry.string() + ": " + ec.message());
  return Status::ok_status();
}

}  // namespace ragkit::hub
