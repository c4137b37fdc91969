#include "collection_util.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "cli_util.h"
#include "models_command.h"
#include "ragkit/common/atomic_file.h"
#include "ragkit/common/mapped_file.h"
#include "ragkit/hub/model_cache.h"

namespace ragkit::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSettingsFile = "rag.json";

fs::path absolute_normal(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  return ec ? fs::absolute(path).lexically_normal() : p;
}

}  // namespace

Result<std::string> resolve_model(const std::string& spec) {
  std::error_code ec;
  if (spec.empty()) return Status::invalid_argument("--model is empty");
  if (fs::exists(spec, ec)) return spec;
  const bool short_name = spec.find('/') == std::string::npos;
  const bool repo = hub::is_repo_id(spec);
  if (!short_name && !repo) {
    return Status::not_found(spec + ": no such file or directory, nor a Hub repo (org/name)");
  }
  const std::string name = repo ? hub::model_name_for_repo(spec) : spec;
  const hub::KnownModel* known = hub::find_known_model(name);
  std::string looked;
  for (const fs::path& dir : hub::model_search_dirs()) {
    for (const fs::path& candidate : {dir / name, dir / (name + ".gguf")}) {
      // A folder with .part files is a pull that stopped midway: pull again (it resumes).
      const bool unfinished = (repo || known) && hub::has_partial_download(candidate);
      if (fs::exists(candidate, ec) && !unfinished) {
        return hub::loadable_model_path(candidate).string();
      }
      looked += "\n  " + candidate.string();
    }
  }
  if (!repo && known == nullptr) {
    return Status::not_found("model '" + spec + "' not found; looked for:" + looked +
                             "\nPass --model a .gguf file or a Hugging Face model folder, put "
                             "the model in one of those places, or name a Hub repo (org/name) "
                             "to download it.");
  }
  // Not here yet: fetch it from the Hub (where the network is allowed).
  const std::string repo_id = repo ? spec : std::string(known->repo);
  std::vector<std::string> patterns;
  if (known != nullptr && known->repo == repo_id) {
    patterns.assign(known->file_patterns.begin(), known->file_patterns.end());
  }
  Result<std::string> pulled = pull_into_cache(repo_id, "main", patterns);
  if (pulled.ok()) return hub::loadable_model_path(*pulled).string();
  return Status::not_found("model '" + spec + "' is not in the model cache and could not be " +
                           "downloaded from " + repo_id + ": " + pulled.status().message() +
                           "\n" + manual_install_instructions(repo_id));
}

Result<IndexSettings> read_index_settings(const std::string& db) {
  const std::string path = (fs::path(db) / kSettingsFile).string();
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::not_found(path + ": no index settings");
  RAGKIT_ASSIGN_OR_RETURN(std::string text, read_file(path));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::corruption(path + ": not a JSON object; run `rag index` again to rewrite it");
  }
  IndexSettings s;
  s.model = j.value("model", "");
  s.model_path = j.value("model_path", "");
  s.chunk_tokens = j.value("chunk_tokens", size_t{0});
  s.overlap_sentences = j.value("overlap_sentences", size_t{0});
  s.index_type = j.value("index_type", "");
  return s;
}

Status write_index_settings(const std::string& db, const IndexSettings& s) {
  const nlohmann::json j = {{"model", s.model},
                            {"model_path", s.model_path},
                            {"chunk_tokens", s.chunk_tokens},
                            {"overlap_sentences", s.overlap_sentences},
                            {"index_type", s.index_type}};
  return write_file_atomically((fs::path(db) / kSettingsFile).string(), j.dump(2) + "\n");
}

std::string key_base(const std::string& db) { return absolute_normal(db).parent_path().string(); }

std::string key_prefix_for(const std::string& db, const std::string& folder) {
  const fs::path base = key_base(db);
  const fs::path dir = absolute_normal(folder);
  const fs::path rel = dir.lexically_relative(base);
  if (!rel.empty() && *rel.begin() != "..") {
    const std::string r = rel.generic_string();
    return r == "." ? std::string() : r + "/";
  }
  std::string abs = dir.generic_string();
  if (abs.empty() || abs.back() != '/') abs += '/';
  return abs;
}

Result<std::unique_ptr<retrieval::Collection>> open_collection_for_reading(const std::string& db) {
  std::error_code ec;
  if (!fs::exists(db, ec)) {
    return Status::not_found(db + ": no collection here; run `rag index FOLDER` first (or pass "
                             "--db the collection's folder)");
  }
  retrieval::CollectionOptions options;
  options.create_if_missing = false;
  options.read_only = true;
  return retrieval::Collection::open(db, options);
}

Result<std::unique_ptr<embed::Encoder>> open_query_encoder(const std::string& db,
                                                           const retrieval::Collection& collection,
                                                           const std::string& model) {
  const retrieval::CollectionStats stats = collection.stats();
  if (stats.dimension == 0 || model == kNoModel) return std::unique_ptr<embed::Encoder>();
  std::string spec = model;
  if (spec.empty()) {
    Result<IndexSettings> settings = read_index_settings(db);
    if (settings.ok()) spec = settings->model_path.empty() ? settings->model : settings->model_path;
  }
  if (spec.empty()) spec = kDefaultEmbeddingModel;
  RAGKIT_ASSIGN_OR_RETURN(std::string path, resolve_model(spec));
  RAGKIT_ASSIGN_OR_RETURN(std::unique_ptr<embed::Encoder> encoder, open_encoder(path));
  if (!stats.model_id.empty() && encoder->model_id() != stats.model_id) {
    return Status::invalid_argument("the collection in " + db + " was indexed with model " +
                                    stats.model_id + ", not " + encoder->model_id() + " (" +
                                    path + "); pass --model the model it was indexed with");
  }
  return encoder;
}

std::string lexical_only_note(const std::string& db) {
  return "the collection in " + db + " has no vectors (indexed with --model none): searching by "
         "words (BM25); `rag index FOLDER --db " + db + " --model " +
         std::string(kDefaultEmbeddingModel) + "` adds search by meaning in place";
}

retrieval::Embedder make_embedder(embed::Encoder& encoder) {
  retrieval::Embedder e;
  e.model_id = encoder.model_id();
  e.dimension = encoder.dim();
  e.embed = [&encoder](std::span<const std::string> texts) -> Result<std::vector<float>> {
    RAGKIT_ASSIGN_OR_RETURN(auto result, encoder.embed(texts));
    return std::move(result.vectors);
  };
  const embed::Tokenizer& tokenizer = encoder.tokenizer();
  e.count_tokens = [&tokenizer](std::string_view text) { return tokenizer.tokenize(text).size(); };
  // The model's limit minus what encode() adds around one input ([CLS] and [SEP] for BERT).
  const size_t specials = tokenizer.encode("").size();
  const size_t max_len = encoder.max_seq_length();
  e.max_tokens = max_len > specials ? max_len - specials : 0;
  return e;
}

retrieval::IndexOptions index_options_for(const std::string& db, const std::string& folder,
                                          const IndexSettings& settings,
                                          const retrieval::Embedder& embedder) {
  retrieval::IndexOptions options;
  options.path_prefix = key_prefix_for(db, folder);
  // The collection folder itself may sit inside the indexed folder (the default ./.ragkit does
  // when indexing "."); hidden entries are skipped anyway, but a --db without a dot is not.
  const std::string db_key = key_prefix_for(db, db);
  if (db_key.rfind(options.path_prefix, 0) == 0 && db_key.size() > options.path_prefix.size()) {
    options.walk.exclude.push_back("/" + db_key.substr(options.path_prefix.size()));
  }
  if (settings.chunk_tokens > 0) options.chunk.chunk_tokens = settings.chunk_tokens;
  options.chunk.overlap_sentences = settings.overlap_sentences;
  options.chunk.max_tokens = embedder.max_tokens;
  return options;
}

nlohmann::json index_summary_json(const retrieval::IndexSummary& s, const std::string& db) {
  nlohmann::json skipped = nlohmann::json::array(), warnings = nlohmann::json::array();
  for (const auto& issue : s.issues) {
    nlohmann::json j = {{"path", issue.path}, {"reason", issue.reason}, {"detail", issue.detail}};
    (issue.reason == "warning" ? warnings : skipped).push_back(std::move(j));
  }
  return {{"db", db},
          {"added", s.added},
          {"updated", s.updated},
          {"removed", s.removed},
          {"unchanged", s.unchanged},
          {"skipped", skipped},
          {"warnings", warnings},
          {"chunks", s.chunks},
          {"tokens", s.tokens},
          {"seconds", s.seconds},
          {"tokens_per_s", s.tokens_per_second()},
          {"embed_seconds", s.embed_seconds},
          {"store_seconds", s.store_seconds}};
}

}  // namespace ragkit::cli
