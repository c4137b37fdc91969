// Collection: a durable vector database of documents, their chunks and the chunks' embeddings,
// searchable by meaning (FAISS), by words (BM25) and by both (reciprocal-rank fusion).
//
// On disk a collection is one directory:
//   <dir>/db/          RocksDB, the source of truth. Column families: documents (path -> record),
//                      chunks (chunk id -> text and location), vectors (chunk id -> unit float32
//                      vector), lexical (BM25 postings) and meta (schema version, embedding model
//                      id, dimension, index factory string, document-id counter, write
//                      generation, and a change log of the writes the FAISS file may miss).
//   <dir>/index.faiss  the FAISS index: derived state, written atomically (temp file, fsync,
//                      rename, fsync of the directory) with the write generation it reflects.
//   <dir>/LOCK         held (flock) by the one writer, with its pid inside.
//
// Durability: every upsert/remove is ONE RocksDB write batch (document, chunks, vectors,
// postings, counters and change-log entry together), synced before it returns when
// CollectionOptions::sync_writes is true (the default): a write that returned ok survives a
// crash or a power loss, and a write in flight is either wholly there or wholly absent. The
// FAISS index follows in memory and is saved by flush(), by close and after enough changes.
// Opening a collection whose index.faiss is behind replays the change log; a missing,
// unreadable or inconsistent file is rebuilt from the stored vectors (reported through
// CollectionOptions::progress).
//
// Index types: the FAISS factory string chosen at creation, over inner product on unit vectors
// (cosine). Families:
//   - flat codes ("Flat", "SQ8", "PQ16"…): exact scan of the codes; deletes swap the last code
//     into the hole (O(1) per chunk).
//   - HNSW ("HNSW32", "HNSW32,SQ8"…): deletes are tombstones, skipped at search time; the graph
//     is rebuilt when tombstones pass CollectionOptions::tombstone_rebuild_ratio.
//   - IVF ("IVF1024,Flat", "IVF4096,PQ48"…): chunk ids stored natively, deletes in O(1) through
//     a hash direct map.
// Types that need training (IVF, PQ, SQ) search exactly (a flat staging index) until enough
// vectors are stored to train them (39 per IVF list, 39 x 256 for PQ codebooks, 1000 for SQ);
// rebuild_index() retrains on everything stored.
//
// Lexical-only collections: made with CollectionOptions::dimension 0 (and no model id or index
// type), a collection keeps documents, chunks and BM25 postings only — no vectors (the vectors
// family stays empty), no index.faiss, no change log (RocksDB is then the whole state, so every
// write is crash-safe on its own). stats() reports dimension 0, index_family "none" and no
// index vectors; upserts must carry no embeddings; search_dense and search_hybrid return
// kInvalidArgument ("… is lexical-only (made without an embedding model): use lexical search");
// vector() is kNotFound, for_each_vector visits nothing, export_jsonl leaves out "vector", and
// rebuild_index is a no-op. Opening one with a model id, a dimension or an index type is an
// error naming both sides. `rag eval beir --mode lexical` evaluates BM25 through one.
//
// Upgrading in place: add_vectors() turns a lexical-only collection into one searchable by
// meaning — every stored chunk is embedded and its vector stored; documents, chunks, postings
// and document ids stay exactly as they are (nothing is re-read, re-chunked or re-indexed for
// BM25). It is crash-safe and resumable: the collection stays lexical-only until the last
// vector is stored, then model id, dimension and index type are committed in one synced write
// and the FAISS index is built. A run that is killed leaves a lexical-only collection (with a
// marker naming the model); the next add_vectors with the same model, dimension and index type
// keeps the vectors already stored and embeds the rest, another one starts over.
//
// Processes: one writer at a time (a second gets "… is open for writing by process <pid>"),
// any number of readers (CollectionOptions::read_only) that see the collection as it was when
// they opened it (refresh() catches up).
//
// Thread-safety: all const methods (searches, reads, stats, export) may run concurrently with
// each other; upsert/remove/flush/rebuild_index are serialised and exclude searches while they
// change the in-memory index.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/retrieval/document.h"
#include "ragkit/retrieval/search_filter.h"

namespace ragkit::retrieval {

// The collection format this build writes; older ones are migrated on open, newer ones refused.
inline constexpr uint32_t kCollectionSchemaVersion = 1;

// Long operations (rebuilding the index, replaying the change log) report here.
// `done` of `total` units (vectors); message is a sentence for a person.
using ProgressCallback =
    std::function<void(std::string_view message, uint64_t done, uint64_t total)>;

struct CollectionOptions {
  // Create the directory and the collection when absent.
  bool create_if_missing = true;  // Default: true
  // Open without the writer lock: searches and reads only; writes return an error.
  bool read_only = false;  // Default: false
  // Embedding model id. Stored at creation; when set on open it must equal the stored one.
  std::string model_id;  // Default: "" (any, on open)
  // Vector dimension. At creation, 0 makes a lexical-only collection (no vectors, no FAISS
  // index; see above; model_id and index_factory must then be empty). When non-zero on open it
  // must equal the stored one (and a lexical-only collection refuses any).
  uint32_t dimension = 0;  // Default: 0
  // FAISS factory string, used at creation ("Flat", "HNSW32", "IVF1024,Flat", "SQ8"…). When set
  // on open it must equal the stored one (rebuilding into another type is not supported yet).
  std::string index_factory;  // Default: "" ("Flat" at creation)
  // Sync the RocksDB log before a write returns. Off, a power loss may lose the last writes
  // (never half of one); bulk loads turn it off and call flush() at the end.
  bool sync_writes = true;  // Default: true
  // HNSW: rebuild the graph when tombstones exceed this share of its vectors…
  double tombstone_rebuild_ratio = 0.2;  // Default: 0.2
  // …and this count (small collections do not rebuild for a handful of deletes).
  uint64_t tombstone_rebuild_min = 1000;  // Default: 1000
  // Save index.faiss after this many chunk additions and removals since the last save, or a
  // quarter of the index size when larger (a save rewrites the whole file).
  uint64_t index_save_min_changes = 8192;  // Default: 8192
  ProgressCallback progress;  // Default: none
};

struct DenseSearchParams {
  // HNSW: candidates kept while walking the graph (recall vs speed).
  int ef_search = 0;  // Default: 0 (64, at least k)
  // IVF: inverted lists scanned.
  int nprobe = 0;  // Default: 0 (max(8, nlist / 64))
  // When a filter admits at most this many chunks, they are scored exactly instead of through
  // an approximate index (which can miss admitted chunks under a very selective filter).
  uint64_t exact_below = 2048;  // Default: 2048
};

// add_vectors(): the model that embeds the chunks of a lexical-only collection.
struct VectorUpgrade {
  std::string model_id;       // required
  uint32_t dimension = 0;     // required, > 0
  std::string index_factory;  // Default: "" ("Flat")
  // Embeds texts: texts.size() x dimension floats, row-major, in input order.
  std::function<Result<std::vector<float>>(std::span<const std::string> texts)> embed;
  size_t batch = 64;  // Default: 64 chunks per call to embed (and per write)
};

struct VectorUpgradeSummary {
  uint64_t chunks = 0;          // chunks that now have vectors
  uint64_t embedded = 0;        // embedded by this run
  uint64_t resumed = 0;         // kept from an interrupted earlier run
  double seconds = 0;
  double embed_seconds = 0;     // inside VectorUpgrade::embed
};

struct HybridSearchParams {
  // Candidates taken from each retriever before fusion.
  size_t candidates = 0;  // Default: 0 (max(4 k, 50))
  double rrf_k = 60.0;    // Default: 60 (Cormack et al.)
  DenseSearchParams dense;
};

// One result. Ranks are 1-based; 0 means "not among that retriever's candidates".
struct SearchHit {
  uint64_t chunk_id = 0;
  uint64_t document_id = 0;
  std::string path;
  float score = 0.0f;  // dense: cosine; lexical: BM25; hybrid: the fused RRF score
  uint32_t dense_rank = 0;
  float dense_score = 0.0f;
  uint32_t lexical_rank = 0;
  float lexical_score = 0.0f;
};

struct CollectionStats {
  uint32_t schema_version = 0;
  std::string model_id;
  uint32_t dimension = 0;
  std::string index_factory;
  std::string index_family;  // "flat", "hnsw", "ivf", or "none" (lexical-only)
  uint64_t documents = 0;
  uint64_t chunks = 0;
  uint64_t index_vectors = 0;  // vectors in the FAISS index, tombstones included
  uint64_t tombstones = 0;     // deleted chunks still in an HNSW graph
  bool index_trained = true;   // false while a trainable type still searches exactly
  uint64_t index_memory_bytes = 0;  // codes, graph links and id maps (approximate)
  uint64_t disk_bytes = 0;          // everything under the directory
  uint64_t generation = 0;          // writes committed since creation
  uint64_t index_file_generation = 0;  // the generation index.faiss reflects (0: none, yet or ever)
  uint64_t lexical_chunks = 0;      // chunks in the BM25 index
};

class Collection {
 public:
  // Opens (or creates) the collection in `dir`.
  static Result<std::unique_ptr<Collection>> open(const std::string& dir,
                                                  CollectionOptions options = {});
  // Saves the index if it changed (errors are dropped: call flush() to see them).
  ~Collection();
  Collection(const Collection&) = delete;
  Collection& operator=(const Collection&) = delete;

  // Adds the document or replaces it (and all its chunks) atomically.
  Status upsert(const DocumentInput& document);
  // Several documents in one atomic batch (paths must be distinct).
  Status upsert_many(std::span<const DocumentInput> documents);
  // Removes the document and its chunks atomically. False when there was none.
  Result<bool> remove(std::string_view path);

  std::optional<DocumentRecord> document(std::string_view path) const;
  std::vector<DocumentRecord> documents() const;  // sorted by path
  Result<ChunkRecord> chunk(uint64_t chunk_id) const;
  // The stored (unit) vector of a chunk.
  Result<std::vector<float>> vector(uint64_t chunk_id) const;
  // Calls fn for every stored vector, in chunk-id order (brute-force references, export).
  Status for_each_vector(
      const std::function<void(uint64_t chunk_id, std::span<const float> vector)>& fn) const;

  // The k chunks most similar to `query` (any length-`dimension` vector; normalised here).
  Result<std::vector<SearchHit>> search_dense(std::span<const float> query, size_t k,
                                              const SearchFilter& filter = {},
                                              const DenseSearchParams& params = {}) const;
  // The k chunks with the best BM25 score for `query`.
  Result<std::vector<SearchHit>> search_lexical(std::string_view query, size_t k,
                                                const SearchFilter& filter = {}) const;
  // Reciprocal-rank fusion of the dense and lexical results, with both sides' ranks and scores.
  Result<std::vector<SearchHit>> search_hybrid(std::string_view query_text,
                                               std::span<const float> query_vector, size_t k,
                                               const SearchFilter& filter = {},
                                               const HybridSearchParams& params = {}) const;

  CollectionStats stats() const;

  // Makes a lexical-only collection searchable by meaning, in place (see the top of this file).
  // Progress goes to CollectionOptions::progress. On a collection that already holds vectors of
  // the same model and dimension it does nothing; of another model it is an invalid_argument
  // error. Writes wait meanwhile; lexical searches go on.
  Result<VectorUpgradeSummary> add_vectors(const VectorUpgrade& upgrade);

  // Rebuilds the FAISS index from the stored vectors (drops tombstones, retrains IVF/PQ/SQ)
  // and saves it.
  Status rebuild_index();
  // Compacts RocksDB (reclaims the space of deleted and replaced documents).
  Status compact();
  // Makes every write durable (syncs the log when sync_writes is off) and saves index.faiss.
  Status flush();
  // Readers: catch up with the writer's committed writes.
  Status refresh();

  // One JSON object per line: first {"type":"collection",…metadata}, then for each document
  // {"type":"document",…} followed by its chunks {"type":"chunk","path","chunk_id","text",
  // "byte_range","line_range","page","heading_path","vector":[…]} ("vector" absent when the
  // collection is lexical-only; the header's "dimension" is then 0).
  Status export_jsonl(std::ostream& out) const;

  const std::string& dir() const;

  class Impl;

 private:
  explicit Collection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ragkit::retrieval
