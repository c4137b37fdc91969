// The local model cache: where pulled models live, which files of a repository a model needs,
// pulling them in, and listing and removing what is there.
//
// The cache is $RAGKIT_MODELS_DIR if set, else $XDG_CACHE_HOME/ragkit/models, else
// ~/.cache/ragkit/models. A model pulled from "org/name" lives in <cache>/<name>/ with the
// repository's own file names and a ".ragkit-source.json" recording the repo, the revision asked
// for, the commit it named and every file's size and hash. Files already there are kept when
// their size and hash match the Hub's (from that record, else hashed again), so a second pull of
// the same revision downloads nothing, and files copied in by hand are accepted once verified.
//
// Thread-safety: functions touch only the folders they are given; two pulls of one model at once
// are not supported (the second may see the first's .part files).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/hub/hub_client.h"
#include "ragkit/hub/hub_metadata.h"

namespace ragkit::hub {

inline constexpr const char* kSourceRecordFile = ".ragkit-source.json";

// The cache folder the environment names (not created).
std::filesystem::path models_cache_dir();
// Where a model named on the command line is looked for: models_cache_dir(), then, when
// RAGKIT_MODELS_DIR overrides it, the user's own cache too (so pulled models stay usable).
std::vector<std::filesystem::path> model_search_dirs();

// The folder name of a repo: its last path segment ("sentence-transformers/all-MiniLM-L6-v2" →
// "all-MiniLM-L6-v2").
std::string model_name_for_repo(std::string_view repo);

// Whether `text` has the form of a Hub repo id, "org/name" with letters, digits, '-', '_', '.'
// (and neither part "." nor "..").
bool is_repo_id(std::string_view text);

// A model ragkit knows by a short name.
struct KnownModel {
  std::string_view name;  // "all-MiniLM-L6-v2"
  std::string_view repo;  // "sentence-transformers/all-MiniLM-L6-v2"
  // --file patterns for repos whose weights must be chosen (GGUF repos); empty: safetensors.
  std::vector<std::string_view> file_patterns;
  // What a user copies by hand when the machine is offline.
  std::vector<std::string_view> files;
};
const KnownModel* find_known_model(std::string_view name);
const std::vector<KnownModel>& known_models();

// The files of `info` a model needs: config.json, the tokenizer files (tokenizer.json,
// tokenizer_config.json, vocab.txt, merges.txt, special_tokens_map.json, SentencePiece .model
// files, ...), the sentence-transformers files (modules.json, sentence_bert_config.json,
// config_sentence_transformers.json, N_Pooling/ and N_Normalize/ configs) and the weights: the
// files matching `patterns` (shell globs, case-insensitive) when given — each pattern must match
// something — else model.safetensors or the shards of model.safetensors.index.json (top level).
// A repo with only GGUF weights and no pattern is kInvalidArgument listing its .gguf files.
Result<std::vector<RepoFile>> select_model_files(const RepoInfo& info,
                                                 const std::vector<std::string>& patterns);

// What .ragkit-source.json holds.
struct SourceRecord {
  std::string repo, revision, commit;
  std::vector<RepoFile> files;
};
Result<SourceRecord> read_source_record(const std::filesystem::path& model_dir);
Status write_source_record(const std::filesystem::path& model_dir, const SourceRecord& record);

struct PullOptions {
  // Branch, tag or commit. Default: "main".
  std::string revision = "main";
  // --file globs choosing the weights (GGUF repos). Default: none (safetensors).
  std::vector<std::string> file_patterns;
  // The cache folder. Default: models_cache_dir().
  std::filesystem::path cache_dir = models_cache_dir();
  // Called as each file downloads. Default: none.
  ProgressCallback progress;
  // Called once per file kept without downloading ("config.json: up to date"). Default: none.
  std::function<void(std::string_view file)> on_skipped;
};

struct PullResult {
  std::filesystem::path model_dir;
  SourceRecord record;
  size_t downloaded = 0;  // files fetched now
  size_t skipped = 0;     // files already present and verified
  uint64_t bytes_downloaded = 0;
};

// Pulls `repo` into <cache>/<model_name_for_repo(repo)>/. A folder there that records another
// repo is kInvalidArgument (remove it first). Every failure names the file and the repo.
Result<PullResult> pull_model(const HubClient& client, std::string_view repo,
                              const PullOptions& options = {});

// What Model::load opens for a model folder of the cache: the folder itself (config.json and
// safetensors), or its one .gguf file when it holds GGUF weights without a config.json (a GGUF
// repo pulled with --file). A folder with several .gguf files stays the folder, whose loading
// error then names what is missing; pick a file by its path instead.
std::filesystem::path loadable_model_path(const std::filesystem::path& model_dir);

// Whether `model_dir` holds a ".part" file: a pull that stopped midway (pulling again resumes it).
bool has_partial_download(const std::filesystem::path& model_dir);

// One entry of the cache: a model folder or a .gguf file directly inside it.
struct CachedModel {
  std::string name;  // folder or file name
  std::filesystem::path path;
  uint64_t size_bytes = 0;             // all files, recursively
  std::optional<SourceRecord> source;  // when it was pulled
};
// The entries of `cache_dir`, sorted by name; an absent folder is an empty list. Hidden entries
// and .part files are left out.
Result<std::vector<CachedModel>> list_cached_models(const std::filesystem::path& cache_dir);

// Removes <cache_dir>/<name> (a folder or .gguf file). A name that leads outside the cache
// ("..", an absolute path, a symlink out) or is the cache itself is kInvalidArgument; a missing
// one kNotFound.
Status remove_cached_model(const std::filesystem::path& cache_dir, std::string_view name);

}  // namespace ragkit::hub
