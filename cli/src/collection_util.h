// What `rag index`, `rag search` and `rag docs` share: where the collection lives, which model
// made it, and how a libembed Encoder becomes the indexer's Embedder.
//
// A collection folder (`--db`, default ./.ragkit) holds the store (libretrieval's Collection)
// and `rag.json`, the settings `rag index` used: the model (as the user named it, and resolved),
// the chunking options and the index type. `rag search` reads it so that a query is embedded by
// the model that embedded the documents without the user naming it again.
//
// Document keys are paths relative to the folder that holds the collection folder (the current
// directory with the default --db), so `rag index docs` and `rag index .` name a file alike and
// search results are paths a user can open from there; a folder outside it is keyed by its
// absolute path.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "ragkit/common/status.h"
#include "ragkit/embed/encoder.h"
#include "ragkit/retrieval/collection.h"
#include "ragkit/retrieval/folder_indexer.h"

namespace ragkit::cli {

inline constexpr const char* kDefaultDb = ".ragkit";
inline constexpr const char* kDefaultEmbeddingModel = "all-MiniLM-L6-v2";
// `--model none`: no embedding model; a lexical-only (BM25) collection.
inline constexpr std::string_view kNoModel = "none";

// A model named on the command line: an existing file or directory is taken as is; a short name
// ("all-MiniLM-L6-v2", "bge-small-en-v1.5") or a Hub repo ("BAAI/bge-small-en-v1.5", found by
// its last segment) is looked up as a folder or a .gguf file in $RAGKIT_MODELS_DIR, then in the
// user's cache ($XDG_CACHE_HOME/ragkit/models, else ~/.cache/ragkit/models). A repo or a short
// name ragkit knows (libhub's known_models()) that is not there is pulled from the Hub into the
// cache; when it cannot be (RAGKIT_OFFLINE=1, no network) the error says which files to copy
// where. An unknown short name's error lists every place it looked.
Result<std::string> resolve_model(const std::string& spec);

// The settings `rag index` stores beside the collection.
struct IndexSettings {
  std::string model;           // as the user named it
  std::string model_path;      // what it resolved to
  size_t chunk_tokens = 0;
  size_t overlap_sentences = 0;
  std::string index_type;
};
Result<IndexSettings> read_index_settings(const std::string& db);  // kNotFound when absent
Status write_index_settings(const std::string& db, const IndexSettings& settings);

// The folder against which document keys are relative: the parent of the collection folder.
std::string key_base(const std::string& db);
// The key prefix of the documents of `folder` ("docs/", "" for the base itself, or the absolute
// path with a trailing '/').
std::string key_prefix_for(const std::string& db, const std::string& folder);

// Opens the collection in `db` for searching; a missing one is an error that says to index first.
Result<std::unique_ptr<retrieval::Collection>> open_collection_for_reading(const std::string& db);

// The embedding model that embeds queries for the collection in `db`: `model` when given (a
// path or short name), else the one rag.json records, else the default; checked against the
// model id the collection stores (a mismatch names both). Null for a lexical-only collection
// or `model` "none" (lexical search only).
Result<std::unique_ptr<embed::Encoder>> open_query_encoder(const std::string& db,
                                                           const retrieval::Collection& collection,
                                                           const std::string& model);

// What `rag search` and `rag ask` say when they search a lexical-only collection by words: what
// is skipped, and the command that adds search by meaning.
std::string lexical_only_note(const std::string& db);

// The indexer's view of an encoder (which must outlive it).
retrieval::Embedder make_embedder(embed::Encoder& encoder);

// The options `rag index FOLDER` runs index_folder with (and `rag serve` for a folder it is
// asked to index): documents keyed by the folder's place under key_base(db), the collection
// folder itself left out when it lies inside, the chunking of `settings` within the embedder's
// limit. Exclusions and the file size limit are the caller's to add.
retrieval::IndexOptions index_options_for(const std::string& db, const std::string& folder,
                                          const IndexSettings& settings,
                                          const retrieval::Embedder& embedder);

// What `rag index --json` prints: {"db", "added", "updated", "removed", "unchanged", "skipped":
// [{"path", "reason", "detail"}], "warnings": [...], "chunks", "tokens", "seconds",
// "tokens_per_s", "embed_seconds", "store_seconds"}.
nlohmann::json index_summary_json(const retrieval::IndexSummary& summary, const std::string& db);

}  // namespace ragkit::cli
