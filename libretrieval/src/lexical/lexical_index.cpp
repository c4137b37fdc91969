// LexicalIndex over RocksDB. The key layout is in lexical/postings_format.h:
//
//   'p' term '\0' chunk_id(8 bytes big-endian) -> varint tf, varint chunk_length   (postings)
//   'c' chunk_id(8 bytes big-endian)           -> length, (term, tf) list          (per chunk)
//   's'                                        -> version, N, total length         (statistics)
//
// Search is term-at-a-time: each distinct query term's postings are one prefix scan (their count
// is df), each posting adds its BM25 part to its chunk's accumulator, and a k-sized heap keeps
// the best chunks that `allow` accepts.
#include "lexical/lexical_index.h"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "lexical/postings_format.h"
#include "rocksdb_status.h"

namespace ragkit::retrieval {
namespace {

using lexical::ChunkTerms;
using lexical::CorpusStatistics;

// Reads the statistics record; a database without one (nothing indexed yet) has zero chunks.
Result<CorpusStatistics> read_statistics(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
  std::string value;
  const rocksdb::Status s = db->Get(
      rocksdb::ReadOptions(), cf,
      rocksdb::Slice(lexical::kStatisticsKey.data(), lexical::kStatisticsKey.size()), &value);
  if (s.IsNotFound()) return CorpusStatistics{};
  RAGKIT_RETURN_IF_ERROR(from_rocksdb(s, "lexical index: reading the corpus statistics"));
  CorpusStatistics stats;
  if (!lexical::decode_statistics(value, stats)) {
    return Status::corruption("lexical index: the corpus statistics record is malformed");
  }
  return stats;
}

// Best first: higher score, then smaller chunk id.
bool better(const ScoredChunk& a, const ScoredChunk& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.chunk_id < b.chunk_id;
}

class RocksLexicalIndex final : public LexicalIndex {
 public:
  RocksLexicalIndex(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                    std::unique_ptr<TextAnalyzer> analyzer, Bm25Params params,
                    CorpusStatistics stats)
      : db_(db), cf_(cf), analyzer_(std::move(analyzer)), params_(params) {
    set_current(stats);
  }

  Status stage_add(rocksdb::WriteBatch& batch, uint64_t chunk_id, std::string_view text) override;
  Status stage_remove(rocksdb::WriteBatch& batch, uint64_t chunk_id) override;
  Status finish_batch(rocksdb::WriteBatch& batch) override;
  void commit_staged() override;
  void discard_staged() override;
  Result<std::vector<ScoredChunk>> search(
      std::string_view query, size_t k,
      const std::function<bool(uint64_t chunk_id)>& allow) const override;
  uint64_t chunk_count() const override { return chunk_count_.load(); }
  double average_chunk_length() const override;
  Status reload_statistics() override;

 private:
  // Stages the deletes of a chunk's postings and record and subtracts it from the statistics.
  Status stage_delete(rocksdb::WriteBatch& batch, uint64_t chunk_id, const ChunkTerms& chunk);
  CorpusStatistics current() const { return {chunk_count_.load(), total_length_.load()}; }
  void set_current(CorpusStatistics stats) {
    chunk_count_.store(stats.chunk_count);
    total_length_.store(stats.total_length);
  }

  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const cf_;
  const std::unique_ptr<TextAnalyzer> analyzer_;
  const Bm25Params params_;

  // Committed statistics; atomics so chunk_count() may be read while a batch commits.
  std::atomic<uint64_t> chunk_count_{0};
  std::atomic<uint64_t> total_length_{0};

  // The batch being staged (writer thread only). Records of chunks added in this batch, so a
  // removal later in the same batch finds them; ids whose committed record was staged for
  // deletion, so a second removal is a no-op and a re-add is allowed.
  std::unordered_map<uint64_t, std::string> staged_records_;
  std::unordered_set<uint64_t> staged_removals_;
  int64_t staged_chunk_delta_ = 0;
  int64_t staged_length_delta_ = 0;
};

Status RocksLexicalIndex::stage_add(rocksdb::WriteBatch& batch, uint64_t chunk_id,
                                    std::string_view text) {
  const std::string record_key = lexical::chunk_key(chunk_id);
  if (staged_records_.count(chunk_id) != 0) {
    return Status::invalid_argument("lexical index: chunk " + std::to_string(chunk_id) +
                                    " is added twice in one batch");
  }
  if (staged_removals_.count(chunk_id) == 0) {
    std::string existing;
    const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_, record_key, &existing);
    if (s.ok()) {
      return Status::invalid_argument("lexical index: chunk " + std::to_string(chunk_id) +
                                      " is already indexed; remove it before adding it again");
    }
    if (!s.IsNotFound()) {
      return from_rocksdb(s, "lexical index: looking up chunk " + std::to_string(chunk_id));
    }
  }

  std::vector<std::string> terms;
  analyzer_->analyze(text, terms);
  if (terms.empty()) return Status::ok_status();
  const ChunkTerms chunk = lexical::count_terms(terms);

  std::string key, value;
  for (const auto& [term, frequency] : chunk.terms) {
    lexical::posting_key(term, chunk_id, key);
    lexical::encode_posting(frequency, chunk.length, value);
    RAGKIT_RETURN_IF_ERROR(
        from_rocksdb(batch.Put(cf_, key, value), "lexical index: staging a posting"));
  }
  std::string record = lexical::encode_chunk_record(chunk);
  RAGKIT_RETURN_IF_ERROR(
      from_rocksdb(batch.Put(cf_, record_key, record), "lexical index: staging a chunk record"));
  staged_records_.emplace(chunk_id, std::move(record));
  staged_chunk_delta_ += 1;
  staged_length_delta_ += static_cast<int64_t>(chunk.length);
  return Status::ok_status();
}

Status RocksLexicalIndex::stage_delete(rocksdb::WriteBatch& batch, uint64_t chunk_id,
                                       const ChunkTerms& chunk) {
  std::string key;
  for (const auto& term_frequency : chunk.terms) {
    lexical::posting_key(term_frequency.first, chunk_id, key);
    RAGKIT_RETURN_IF_ERROR(
        from_rocksdb(batch.Delete(cf_, key), "lexical index: staging a posting's removal"));
  }
  RAGKIT_RETURN_IF_ERROR(from_rocksdb(batch.Delete(cf_, lexical::chunk_key(chunk_id)),
                                      "lexical index: staging a chunk record's removal"));
  staged_chunk_delta_ -= 1;
  staged_length_delta_ -= static_cast<int64_t>(chunk.length);
  return Status::ok_status();
}

Status RocksLexicalIndex::stage_remove(rocksdb::WriteBatch& batch, uint64_t chunk_id) {
  const std::string context = "lexical index: removing chunk " + std::to_string(chunk_id);
  ChunkTerms chunk;
  if (auto staged = staged_records_.find(chunk_id); staged != staged_records_.end()) {
    if (!lexical::decode_chunk_record(staged->second, chunk)) {
      return Status::internal(context + ": a staged record does not decode");
    }
    RAGKIT_RETURN_IF_ERROR(stage_delete(batch, chunk_id, chunk));
    staged_records_.erase(staged);
    return Status::ok_status();
  }
  if (staged_removals_.count(chunk_id) != 0) return Status::ok_status();

  std::string record;
  const rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf_, lexical::chunk_key(chunk_id), &record);
  if (s.IsNotFound()) return Status::ok_status();
  RAGKIT_RETURN_IF_ERROR(from_rocksdb(s, context));
  if (!lexical::decode_chunk_record(record, chunk)) {
    return Status::corruption(context + ": its term record is malformed");
  }
  RAGKIT_RETURN_IF_ERROR(stage_delete(batch, chunk_id, chunk));
  staged_removals_.insert(chunk_id);
  return Status::ok_status();
}

Status RocksLexicalIndex::finish_batch(rocksdb::WriteBatch& batch) {
  const CorpusStatistics now = current();
  const int64_t chunks = static_cast<int64_t>(now.chunk_count) + staged_chunk_delta_;
  const int64_t length = static_cast<int64_t>(now.total_length) + staged_length_delta_;
  if (chunks < 0 || length < 0) {
    return Status::internal("lexical index: the staged changes remove more than was indexed");
  }
  const std::string value =
      lexical::encode_statistics({static_cast<uint64_t>(chunks), static_cast<uint64_t>(length)});
  return from_rocksdb(
      batch.Put(cf_, rocksdb::Slice(lexical::kStatisticsKey.data(), lexical::kStatisticsKey.size()),
                value),
      "lexical index: staging the corpus statistics");
}

void RocksLexicalIndex::commit_staged() {
  const CorpusStatistics now = current();
  set_current(
      {static_cast<uint64_t>(static_cast<int64_t>(now.chunk_count) + staged_chunk_delta_),
       static_cast<uint64_t>(static_cast<int64_t>(now.total_length) + staged_length_delta_)});
  discard_staged();
}

void RocksLexicalIndex::discard_staged() {
  staged_records_.clear();
  staged_removals_.clear();
  staged_chunk_delta_ = 0;
  staged_length_delta_ = 0;
}

double RocksLexicalIndex::average_chunk_length() const {
  const CorpusStatistics now = current();
  return now.chunk_count == 0
             ? 0.0
             : static_cast<double>(now.total_length) / static_cast<double>(now.chunk_count);
}

Status RocksLexicalIndex::reload_statistics() {
  RAGKIT_ASSIGN_OR_RETURN(CorpusStatistics stats, read_statistics(db_, cf_));
  set_current(stats);
  return Status::ok_status();
}

Result<std::vector<ScoredChunk>> RocksLexicalIndex::search(
    std::string_view query, size_t k, const std::function<bool(uint64_t chunk_id)>& allow) const {
  std::vector<ScoredChunk> best;
  if (k == 0) return best;
  std::vector<std::string> terms;
  analyzer_->analyze(query, terms);
  if (terms.empty()) return best;
  const ChunkTerms query_terms = lexical::count_terms(terms);

  // One iterator = one consistent view of the statistics and every term's postings, even while
  // the collection writes a batch.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_));
  const rocksdb::Slice stats_key(lexical::kStatisticsKey.data(), lexical::kStatisticsKey.size());
  it->Seek(stats_key);
  RAGKIT_RETURN_IF_ERROR(from_rocksdb(it->status(), "lexical index: reading the statistics"));
  if (!it->Valid() || it->key() != stats_key) return best;  // nothing indexed yet
  CorpusStatistics stats;
  if (!lexical::decode_statistics(std::string_view(it->value().data(), it->value().size()),
                                  stats)) {
    return Status::corruption("lexical index: the corpus statistics record is malformed");
  }
  if (stats.chunk_count == 0 || stats.total_length == 0) return best;

  const double n = static_cast<double>(stats.chunk_count);
  const double average_length = static_cast<double>(stats.total_length) / n;
  const double k1 = params_.k1, b = params_.b;

  struct Posting {
    uint64_t chunk_id;
    uint32_t term_frequency;
    double length_norm;  // k1 * (1 - b + b * length / avgdl)
  };
  std::vector<Posting> postings;
  std::unordered_map<uint64_t, double> scores;
  std::string prefix;
  for (const auto& [term, query_frequency] : query_terms.terms) {
    postings.clear();
    lexical::posting_prefix(term, prefix);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      const rocksdb::Slice key = it->key();
      uint64_t tf = 0, length = 0;
      if (key.size() != prefix.size() + 8 ||
          !lexical::decode_posting(std::string_view(it->value().data(), it->value().size()), tf,
                                   length)) {
        return Status::corruption("lexical index: a posting of term '" + term + "' is malformed");
      }
      const double length_norm = k1 * (1.0 - b + b * static_cast<double>(length) / average_length);
      postings.push_back({lexical::read_big_endian64(key.data() + prefix.size()),
                          static_cast<uint32_t>(tf), length_norm});
    }
    RAGKIT_RETURN_IF_ERROR(from_rocksdb(it->status(), "lexical index: scanning postings"));
    if (postings.empty()) continue;
    const double df = static_cast<double>(postings.size());
    const double idf = std::log(1.0 + (n - df + 0.5) / (df + 0.5));
    const double weight = idf * query_frequency;
    if (scores.empty()) scores.reserve(postings.size() * 2);
    for (const Posting& p : postings) {
      scores[p.chunk_id] +=
          weight * (p.term_frequency * (k1 + 1.0) / (p.term_frequency + p.length_norm));
    }
  }

  // Keep the k best in a heap whose front is the worst kept (better() as "less").
  best.reserve(std::min(k, scores.size()));
  for (const auto& [chunk_id, score] : scores) {
    const ScoredChunk candidate{chunk_id, static_cast<float>(score)};
    if (best.size() == k && !better(candidate, best.front())) continue;
    if (allow && !allow(chunk_id)) continue;
    if (best.size() == k) {
      std::pop_heap(best.begin(), best.end(), better);
      best.back() = candidate;
    } else {
      best.push_back(candidate);
    }
    std::push_heap(best.begin(), best.end(), better);
  }
  std::sort_heap(best.begin(), best.end(), better);
  return best;
}

}  // namespace

Result<std::unique_ptr<LexicalIndex>> LexicalIndex::open(rocksdb::DB* db,
                                                         rocksdb::ColumnFamilyHandle* postings,
                                                         AnalyzerOptions analyzer,
                                                         Bm25Params params) {
  if (db == nullptr || postings == nullptr) {
    return Status::invalid_argument("lexical index: no database or column family given");
  }
  if (!(params.k1 >= 0.0f) || !(params.b >= 0.0f && params.b <= 1.0f)) {
    return Status::invalid_argument("lexical index: BM25 needs k1 >= 0 and 0 <= b <= 1");
  }
  RAGKIT_ASSIGN_OR_RETURN(std::unique_ptr<TextAnalyzer> text_analyzer,
                          TextAnalyzer::create(std::move(analyzer)));
  RAGKIT_ASSIGN_OR_RETURN(CorpusStatistics stats, read_statistics(db, postings));
  return std::unique_ptr<LexicalIndex>(
      new RocksLexicalIndex(db, postings, std::move(text_analyzer), params, stats));
}

}  // namespace ragkit::retrieval
