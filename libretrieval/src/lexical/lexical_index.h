// LexicalIndex: BM25 over postings kept in one RocksDB column family of a collection.
//
// CONTRACT between the collection (src/store/) and the lexical side (src/lexical/). The
// collection owns the RocksDB instance and decides when batches are written; the lexical index
// only stages its keys into the collection's WriteBatch, so a document's chunks, vectors and
// postings become visible together or not at all.
//
// What the column family holds (layout private to src/lexical/):
//   - postings: term -> (chunk id, term frequency), scanned by term prefix at query time;
//   - per chunk: its terms with frequencies and its length, so a chunk can be removed by id;
//   - corpus statistics: number of chunks, sum of chunk lengths (for BM25's avgdl).
//
// Write protocol (one writer, the collection's):
//   stage_add / stage_remove ... for every chunk of the change
//   finish_batch(batch)              // writes the corpus statistics including the staged deltas
//   db->Write(batch) ok  -> commit_staged()   (the staged statistics become current)
//   db->Write(batch) err -> discard_staged()
//
// Scoring: BM25 with Anserini's defaults k1 = 0.9, b = 0.4 and Lucene's idf
// log(1 + (N - df + 0.5) / (df + 0.5)); a term's part is
//   idf * qtf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgdl))
// where qtf is how often the term occurs in the query (Anserini boosts repeated query terms by
// their count). N and avgdl count only chunks with at least one term, as Lucene does. Lengths
// are exact (Lucene quantizes them to one byte, which moves its scores slightly). Scores are
// summed in double in term byte order and rounded to float once; ranking uses that float.
// Terms come from TextAnalyzer (ICU word segmentation, case folding, stop words, stemming), the
// same for chunks and queries.
//
// Thread-safety: search() may run concurrently with other search() calls and with writes to the
// database: it reads the statistics and all postings through one RocksDB iterator, i.e. one
// consistent view, so it needs no lock and works on a read-only or secondary instance. The
// write side (stage_*, finish_batch, commit/discard) is for one thread at a time; the
// collection serialises it. chunk_count() and average_chunk_length() may be read at any time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/retrieval/search_types.h"
#include "ragkit/retrieval/text_analyzer.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace ragkit::retrieval {

struct Bm25Params {
  float k1 = 0.9f;  // Default: 0.9 (Anserini)
  float b = 0.4f;   // Default: 0.4 (Anserini)
};

class LexicalIndex {
 public:
  // `db` and `postings` outlive the index. Reads the corpus statistics.
  static Result<std::unique_ptr<LexicalIndex>> open(rocksdb::DB* db,
                                                    rocksdb::ColumnFamilyHandle* postings,
                                                    AnalyzerOptions analyzer = {},
                                                    Bm25Params params = {});
  virtual ~LexicalIndex() = default;

  // Stages the postings of one chunk. A chunk id is added at most once: adding an id that is
  // indexed (and not staged for removal) or already staged is invalid_argument. A chunk whose
  // text has no term stages nothing and does not count in N.
  virtual Status stage_add(rocksdb::WriteBatch& batch, uint64_t chunk_id,
                           std::string_view text) = 0;
  // Stages the removal of a chunk added earlier, or staged in this batch (reads its term list);
  // unknown ids are ignored.
  virtual Status stage_remove(rocksdb::WriteBatch& batch, uint64_t chunk_id) = 0;
  // Writes the corpus statistics with the staged changes into `batch`.
  virtual Status finish_batch(rocksdb::WriteBatch& batch) = 0;
  // After the batch was written: the staged statistics become current; staging starts afresh.
  virtual void commit_staged() = 0;
  // After the batch was dropped or its write failed: forgets everything staged.
  virtual void discard_staged() = 0;

  // The k best chunks for `query` by BM25, best first; ties broken by smaller chunk id.
  // `allow`, when set, is asked about candidate chunk ids (only those that would enter the top
  // k, each at most once); false excludes it (filters and tombstones). A query without any
  // indexable term returns no results.
  virtual Result<std::vector<ScoredChunk>> search(
      std::string_view query, size_t k,
      const std::function<bool(uint64_t chunk_id)>& allow = {}) const = 0;

  // Corpus statistics as last committed (or read by open() / reload_statistics()).
  virtual uint64_t chunk_count() const = 0;
  virtual double average_chunk_length() const = 0;  // 0 when there is no chunk

  // Re-reads the corpus statistics from the database, e.g. after a secondary instance caught up
  // with its primary. Not while a batch is staged.
  virtual Status reload_statistics() = 0;
};

}  // namespace ragkit::retrieval
