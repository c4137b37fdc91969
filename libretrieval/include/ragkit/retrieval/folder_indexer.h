// index_folder: keeps a collection in step with a folder — walk, load, chunk, embed, store.
//
// Incremental: every file's content is hashed (XXH3-128); a file whose hash equals the stored
// document's is left alone, a changed one is replaced (all its chunks, atomically), a new one is
// added, and a document whose file is gone from the folder — or is now skipped as binary, too
// large or of an unreadable type — is removed. A file that could not be read this time keeps
// what the collection has (a transient error must not delete the user's index).
//
// Pipeline: one thread walks, reads, hashes, loads and chunks files into a bounded queue
// (IndexOptions::queue_files files in flight: memory stays bounded whatever the folder's size)
// while the calling thread embeds the chunks (the encoder computes on its own thread pool) and
// writes each document to the collection. One bad file is reported in the summary and never
// stops the run.
//
// The embedder is given, not built here, so that libretrieval does not depend on a model
// library: the CLI passes libembed's Encoder; tests may pass any deterministic function. An
// embedder of dimension 0 (lexical_only_embedder()) indexes for BM25 only: chunks are stored
// without vectors, into a lexical-only collection.
//
// Thread-safety: index_folder is not reentrant on one collection (the collection serialises
// writes anyway); the callbacks run on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/retrieval/chunker.h"
#include "ragkit/retrieval/collection.h"
#include "ragkit/retrieval/folder_walker.h"

namespace ragkit::retrieval {

// The embedding model as the indexer sees it.
struct Embedder {
  std::string model_id;  // recorded by the collection; another model's vectors are refused
  size_t dimension = 0;
  // Embeds texts (n x dimension floats, row-major, input order).
  std::function<Result<std::vector<float>>(std::span<const std::string> texts)> embed;
  // The model's tokenizer: the chunker's token budget is measured with it.
  TokenCounter count_tokens;
  // The most tokens the model takes per text, special tokens excluded.
  size_t max_tokens = 0;
};

// What happened so far; passed to IndexOptions::progress after each file.
struct IndexProgress {
  uint64_t files_seen = 0;    // walked files handled (unchanged ones included)
  uint64_t files_total = 0;   // files the walk has found so far (grows while it runs)
  uint64_t chunks = 0;        // chunks embedded
  uint64_t tokens = 0;        // tokens embedded
  std::string current_path;   // the file just handled
};

struct IndexOptions {
  // Documents are keyed `path_prefix + path relative to the root` ("docs/" + "install.md"), and
  // only documents whose key starts with path_prefix are removed when their file is gone: one
  // collection can hold several folders indexed one by one.
  std::string path_prefix;  // Default: "" (the root's files are keyed by their relative path)
  WalkOptions walk;
  ChunkOptions chunk;
  // Files loaded and chunked ahead of the embedder.
  size_t queue_files = 32;  // Default: 32
  // Chunks embedded per call to Embedder::embed.
  size_t embed_batch = 64;  // Default: 64
  std::function<void(const IndexProgress&)> progress;  // Default: none
};

// One file the run did not index, or indexed with warnings.
struct IndexIssue {
  std::string path;
  std::string reason;  // "binary", "too-large", "unreadable", "load-failed", "warning", ...
  std::string detail;  // for a person
};

struct IndexSummary {
  uint64_t added = 0;
  uint64_t updated = 0;
  uint64_t removed = 0;
  uint64_t unchanged = 0;
  uint64_t skipped = 0;  // files not indexed (see issues)
  uint64_t chunks = 0;   // chunks embedded this run
  uint64_t tokens = 0;   // tokens embedded this run (TokenCounter, special tokens excluded)
  double seconds = 0;
  double embed_seconds = 0;  // time inside Embedder::embed
  double store_seconds = 0;  // time inside the collection's writes
  std::vector<IndexIssue> issues;  // skipped files and warnings, in walk order
  double tokens_per_second() const { return seconds > 0 ? double(tokens) / seconds : 0.0; }
};

// Brings `collection` in step with the folder `root`. Errors only for what stops the whole run:
// an unusable root, an embedder that fails, a collection that refuses a write.
Result<IndexSummary> index_folder(const std::string& root, Collection& collection,
                                  const Embedder& embedder, const IndexOptions& options = {});

// The embedder of a lexical-only collection (no model): dimension 0, no embed function, and a
// token count estimated from the text's size (about 4 bytes a token, rounded up) for the
// chunker's budget.
Embedder lexical_only_embedder();

// One document handed over as bytes (an upload, a file read elsewhere) rather than found by a
// walk.
struct DocumentBytes {
  std::string key;  // the document key (path) in the collection
  std::string_view bytes;
  FileType type = FileType::kText;
  int64_t mtime_ns = 0;  // the file's modification time, or the upload time
};

// Indexes one document as index_folder indexes each file: load by its type, chunk, embed, one
// atomic upsert; unchanged content (same hash) is left alone. The summary counts it as added,
// updated or unchanged, with its chunks, tokens and warnings. A document that cannot be loaded
// or chunked is an invalid_argument error naming it.
Result<IndexSummary> index_document(const DocumentBytes& document, Collection& collection,
                                    const Embedder& embedder, const ChunkOptions& chunk,
                                    size_t embed_batch = 64);

// The content hash stored with each document: XXH3-128 of the bytes, as 32 hex digits.
std::string content_hash(std::string_view bytes);

}  // namespace ragkit::retrieval
