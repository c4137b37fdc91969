// VectorIndex: a FAISS index over unit vectors (inner product = cosine) whose ids are ours
// (64-bit chunk ids), with O(1) deletes, filters applied inside FAISS, and its own file format.
//
// FAISS 1.7.3's IndexIDMap refuses SearchParameters (so no id selector, efSearch or nprobe per
// search) and its remove_ids assumes the inner index compacts like IndexFlat, so the id mapping
// lives here, per family of the factory string:
//   kFlatCodes  IndexFlat, IndexScalarQuantizer, IndexPQ: position -> chunk id in `labels_`;
//               a delete moves the last code into the hole (no memmove of the tail).
//   kHnsw       IndexHNSW*: positions as above; the graph cannot lose nodes, so deletes set
//               tombstones that the selector skips; Collection rebuilds past a threshold.
//   kIvf        IndexIVF*: chunk ids stored natively (add_with_ids), deletes through a hash
//               direct map (O(1) per id).
// A selector translates FAISS's internal ids (positions, or chunk ids for IVF) to document ids
// and tests them against the filter's DocumentSet and the tombstones.
//
// Types that need training start "staged": an IndexFlatIP stands in (exact search) until
// training_threshold() vectors are there, then the real index is trained on them and filled.
//
// File layout (index.faiss), all integers little-endian:
//   "RAGKITVX" | u32 format 1 | u64 generation | u32 dimension | u32 n + factory bytes |
//   u8 staged | u64 n + n x i64 labels | u64 n + n x u64 tombstoned positions |
//   faiss::write_index payload | "RAGKITVE"
// The trailing magic catches truncation that FAISS's reader would not notice.
//
// Thread-safety: const methods may run concurrently; the others need exclusive access.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/retrieval/search_types.h"
#include "store/huge_pages.h"

namespace faiss {
struct Index;
}

namespace ragkit::retrieval::store {

class Int8Rows;

enum class IndexFamily { kFlatCodes, kHnsw, kIvf };
const char* index_family_name(IndexFamily family);

// A set of document ids as a bitmap (document ids are dense counters).
class DocumentSet {
 public:
  void insert(uint64_t document_id) {
    if (document_id / 64 >= words_.size()) words_.resize(document_id / 64 + 1, 0);
    words_[document_id / 64] |= uint64_t{1} << (document_id % 64);
  }
  bool contains(uint64_t document_id) const {
    return document_id / 64 < words_.size() &&
           (words_[document_id / 64] >> (document_id % 64) & 1) != 0;
  }

 private:
  std::vector<uint64_t> words_;
};

struct IndexQuery {
  const float* vector = nullptr;        // dimension floats, unit length
  size_t k = 10;
  const DocumentSet* admitted = nullptr;  // null: every document
  int ef_search = 64;                     // HNSW
  int nprobe = 8;                         // IVF
  // Score every admitted vector (HNSW: scan the graph's storage; IVF: probe every list).
  bool exhaustive = false;
};

class VectorIndex {
 public:
  // An empty index of the factory type. Errors name unsupported or malformed strings.
  static Result<std::unique_ptr<VectorIndex>> create(const std::string& factory,
                                                     uint32_t dimension);
  // Reads index.faiss; checks it was made for this factory string and dimension.
  static Result<std::unique_ptr<VectorIndex>> load(const std::string& path,
                                                   const std::string& factory,
                                                   uint32_t dimension, uint64_t* generation);
  ~VectorIndex();

  // Writes the file format above (the caller makes it atomic).
  Status save(std::FILE* file, uint64_t generation) const;

  // n = ids.size() unit vectors, row-major n x dimension. Ids must be new.
  Status add(std::span<const uint64_t> ids, const float* vectors);
  // Ids not in the index are ignored.
  Status remove(std::span<const uint64_t> ids);
  // Trains a staged index if it holds enough vectors (Collection calls it after a bulk build).
  Status train_if_ready();
  // Flat and HNSW indexes: room in every large array for as many vectors again as there are, so
  // that the next writes do not reallocate them. Collection calls it after loading index.faiss
  // for writing: there, every array is exactly full, and the first add copied them all (1.5 GB of
  // rows for a million 384-d vectors) while searches waited for the write. Reserved room is
  // address space only until vectors are written into it.
  void reserve_growth();
  // Vectors that can be added before one of those arrays reallocates (IVF: unlimited).
  uint64_t growth_room() const;

  // Best first; fewer than k when fewer are admitted (or an approximate search misses some).
  Result<std::vector<ScoredChunk>> search(const IndexQuery& query) const;

  bool contains(uint64_t id) const { return live_.count(id) != 0; }
  uint64_t size() const { return live_.size(); }  // live vectors
  uint64_t tombstones() const { return tombstone_count_; }
  uint64_t stored_vectors() const;  // in FAISS, tombstones included
  bool trained() const { return !staged_; }
  IndexFamily family() const { return family_; }
  uint64_t nlist() const { return nlist_; }
  uint64_t training_threshold() const { return training_threshold_; }
  uint64_t memory_bytes() const;
  // For consistency checks: every live id.
  std::vector<uint64_t> ids() const;

 private:
  friend struct VectorIndexInternals;  // tests: the arrays' addresses
  VectorIndex() = default;
  Status init_from_factory();
  Status train_staged();
  void attach_compact_rows();
  // HNSW: huge pages for the graph's arrays (store/huge_pages.h), after they may have grown.
  void follow_graph_arrays();
  void set_tombstone(size_t position);

  std::string factory_;
  uint32_t dimension_ = 0;
  IndexFamily family_ = IndexFamily::kFlatCodes;
  uint64_t nlist_ = 0;
  uint64_t training_threshold_ = 0;
  bool staged_ = false;  // index_ is an IndexFlatIP standing in for an untrained type
  std::unique_ptr<faiss::Index> index_;
  // Position -> chunk id (flat codes, HNSW and the staging index; empty for a trained IVF).
  std::vector<int64_t> labels_;
  // Live chunk id -> position (IVF: unused value).
  std::unordered_map<uint64_t, int64_t> live_;
  std::vector<uint64_t> tombstoned_;  // HNSW: bitmap over positions
  // HNSW over float rows: an int8 copy of the rows, by position, that searches walk on.
  std::unique_ptr<Int8Rows> compact_;
  HugePageAdvice neighbors_pages_, offsets_pages_, rows_pages_;
  uint64_t tombstone_count_ = 0;
  // Graphs over SQ/PQ storage (flat storage has its own walk, store/hnsw_search.h): FAISS 1.7.3's
  // HNSW search ignores SearchParametersHNSW::efSearch and reads the graph's own
  // efSearch, so a search that wants another value sets the member: under this lock's exclusive
  // side, while searches that find it right hold the shared side.
  mutable std::shared_mutex ef_search_mutex_;
};

}  // namespace ragkit::retrieval::store
