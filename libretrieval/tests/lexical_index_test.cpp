// LexicalIndex over a real RocksDB: search() against a brute-force BM25 computed here straight
// from the formula (same analyzer, every chunk's terms kept in memory), through additions,
// removals, re-additions, discarded batches, `allow` filters, reopening and read-only opening.
#include "lexical/lexical_index.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_env.h"

namespace ragkit::retrieval {
namespace {

constexpr char kColumnFamily[] = "lexical";

// A RocksDB in `path` with a "lexical" column family, opened read-write or read-only.
class Store {
 public:
  Store(const std::string& path, bool read_only = false) {
    rocksdb::DBOptions options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    const std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {kColumnFamily, rocksdb::ColumnFamilyOptions()}};
    rocksdb::DB* db = nullptr;
    const rocksdb::Status s =
        read_only ? rocksdb::DB::OpenForReadOnly(options, path, families, &handles_, &db)
                  : rocksdb::DB::Open(options, path, families, &handles_, &db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    db_.reset(db);
  }
  ~Store() {
    for (auto* handle : handles_) EXPECT_TRUE(db_->DestroyColumnFamilyHandle(handle).ok());
    EXPECT_TRUE(db_->Close().ok());
  }
  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* lexical() const { return handles_.at(1); }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

std::unique_ptr<LexicalIndex> open_index(const Store& store) {
  auto index = LexicalIndex::open(store.db(), store.lexical());
  EXPECT_TRUE(index.ok()) << index.status().to_string();
  return index.ok() ? std::move(index).value() : nullptr;
}

// Every chunk's analyzed terms, kept by the test, and BM25 computed from them by the formula.
class BruteForce {
 public:
  explicit BruteForce(const TextAnalyzer& analyzer) : analyzer_(analyzer) {}

  void add(uint64_t id, const std::string& text) {
    std::vector<std::string> terms;
    analyzer_.analyze(text, terms);
    if (terms.empty()) return;  // as the index: a chunk without terms does not exist
    std::map<std::string, uint32_t> counts;
    for (const auto& t : terms) ++counts[t];
    chunks_[id] = {terms.size(), std::move(counts)};
  }
  void remove(uint64_t id) { chunks_.erase(id); }
  uint64_t chunk_count() const { return chunks_.size(); }
  double average_length() const {
    uint64_t total = 0;
    for (const auto& [id, chunk] : chunks_) total += chunk.length;
    return chunks_.empty() ? 0.0 : static_cast<double>(total) / chunks_.size();
  }

  std::vector<ScoredChunk> search(const std::string& query, size_t k,
                                  const std::function<bool(uint64_t)>& allow = {}) const {
    std::vector<std::string> terms;
    analyzer_.analyze(query, terms);
    std::map<std::string, uint32_t> query_counts;  // byte order, as the index sums
    for (const auto& t : terms) ++query_counts[t];
    const Bm25Params params;
    const double k1 = params.k1, b = params.b;
    const double n = static_cast<double>(chunks_.size());
    const double avgdl = average_length();
    std::map<uint64_t, double> scores;
    for (const auto& [term, qtf] : query_counts) {
      double df = 0;
      for (const auto& [id, chunk] : chunks_) df += chunk.counts.count(term);
      if (df == 0) continue;
      const double idf = std::log(1.0 + (n - df + 0.5) / (df + 0.5));
      for (const auto& [id, chunk] : chunks_) {
        auto it = chunk.counts.find(term);
        if (it == chunk.counts.end()) continue;
        const double tf = it->second;
        const double norm = k1 * (1.0 - b + b * chunk.length / avgdl);
        scores[id] += idf * qtf * (tf * (k1 + 1.0) / (tf + norm));
      }
    }
    std::vector<ScoredChunk> all;
    for (const auto& [id, score] : scores) {
      if (!allow || allow(id)) all.push_back({id, static_cast<float>(score)});
    }
    std::sort(all.begin(), all.end(), [](const ScoredChunk& a, const ScoredChunk& b) {
      return a.score != b.score ? a.score > b.score : a.chunk_id < b.chunk_id;
    });
    if (all.size() > k) all.resize(k);
    return all;
  }

 private:
  struct Chunk {
    uint64_t length = 0;
    std::map<std::string, uint32_t> counts;
  };
  const TextAnalyzer& analyzer_;
  std::map<uint64_t, Chunk> chunks_;
};

// Texts from a small vocabulary, so terms repeat across chunks and scores tie now and then. It
// mixes stop words, words sharing a stem, case variants and punctuation.
class TextMaker {
 public:
  explicit TextMaker(uint32_t seed) : rng_(seed) {}
  std::string text(size_t max_words) {
    static const std::vector<std::string> kVocabulary = {
        "protein", "proteins", "cell",   "Cells",  "gene",    "genes", "cancer", "tumour",
        "running", "runs",     "run",    "the",    "of",      "and",   "is",     "Straße",
        "STRASSE", "p53",      "3.14",   "mouse",  "mice",    "brain", "blood",  "virus",
        "vaccine", "immune",   "T-cell", "John's", "therapy", "risk",  "dose",   "zebrafish"};
    std::string out;
    const size_t words = rng_() % (max_words + 1);
    for (size_t i = 0; i < words; ++i) {
      out += kVocabulary[rng_() % kVocabulary.size()];
      out += (rng_() % 5 == 0) ? ", " : " ";
    }
    return out;
  }
  std::mt19937& rng() { return rng_; }

 private:
  std::mt19937 rng_;
};

void expect_same(const std::vector<ScoredChunk>& got, const std::vector<ScoredChunk>& want,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].chunk_id, want[i].chunk_id) << what << " rank " << i + 1;
    EXPECT_FLOAT_EQ(got[i].score, want[i].score) << what << " rank " << i + 1;
  }
}

class LexicalIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = testing::make_temp_dir("ragkit-lexical");
    ASSERT_FALSE(path_.empty());
    store_ = std::make_unique<Store>(path_);
    index_ = open_index(*store_);
    ASSERT_NE(index_, nullptr);
    auto analyzer = TextAnalyzer::create();
    ASSERT_TRUE(analyzer.ok());
    analyzer_ = std::move(analyzer).value();
    brute_ = std::make_unique<BruteForce>(*analyzer_);
  }

  // One batch through the whole write protocol.
  void write(const std::vector<std::pair<uint64_t, std::string>>& adds,
             const std::vector<uint64_t>& removes = {}) {
    rocksdb::WriteBatch batch;
    for (uint64_t id : removes) {
      ASSERT_TRUE(index_->stage_remove(batch, id).ok());
      brute_->remove(id);
    }
    for (const auto& [id, text] : adds) {
      const Status s = index_->stage_add(batch, id, text);
      ASSERT_TRUE(s.ok()) << s.to_string();
      brute_->add(id, text);
    }
    ASSERT_TRUE(index_->finish_batch(batch).ok());
    ASSERT_TRUE(store_->db()->Write(rocksdb::WriteOptions(), &batch).ok());
    index_->commit_staged();
  }

  // Random queries at several k, against the brute force.
  void check_queries(TextMaker& maker, int queries, const std::string& what,
                     const std::function<bool(uint64_t)>& allow = {}) {
    EXPECT_EQ(index_->chunk_count(), brute_->chunk_count()) << what;
    EXPECT_DOUBLE_EQ(index_->average_chunk_length(), brute_->average_length()) << what;
    for (int q = 0; q < queries; ++q) {
      const std::string query = maker.text(5);
      for (size_t k : {size_t{1}, size_t{5}, size_t{10}, size_t{1000}}) {
        auto got = index_->search(query, k, allow);
        ASSERT_TRUE(got.ok()) << got.status().to_string();
        expect_same(*got, brute_->search(query, k, allow),
                    what + ", query '" + query + "', k " + std::to_string(k));
      }
    }
  }

  std::string path_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<LexicalIndex> index_;
  std::unique_ptr<TextAnalyzer> analyzer_;
  std::unique_ptr<BruteForce> brute_;
};

TEST_F(LexicalIndexTest, MatchesBruteForceThroughAddsRemovesAndReadds) {
  TextMaker maker(42);
  // Ids spread over the whole 64-bit range: big-endian keys must keep them apart and ordered.
  std::set<uint64_t> live;
  std::vector<uint64_t> all_ids;
  for (int batch = 0; batch < 6; ++batch) {
    std::vector<std::pair<uint64_t, std::string>> adds;
    for (int i = 0; i < 50; ++i) {
      uint64_t id = batch % 2 == 0 ? maker.rng()() % 2000 : (uint64_t{maker.rng()()} << 32) | i;
      if (!live.insert(id).second) continue;
      all_ids.push_back(id);
      adds.emplace_back(id, maker.text(30));
    }
    write(adds);
    check_queries(maker, 10, "after batch " + std::to_string(batch));
  }
  ASSERT_GT(index_->chunk_count(), 200u);

  // Remove a third, including ids that were never added (ignored).
  std::vector<uint64_t> removes = {123456789, 1ull << 63};
  for (uint64_t id : all_ids) {
    if (maker.rng()() % 3 == 0) {
      removes.push_back(id);
      live.erase(id);
    }
  }
  write({}, removes);
  check_queries(maker, 20, "after removals");

  // Re-add some removed ids with new text, and replace live ones (remove + add in one batch).
  std::vector<std::pair<uint64_t, std::string>> adds;
  std::vector<uint64_t> replaced;
  for (uint64_t id : removes) {
    if (id < (1ull << 63) && id != 123456789 && maker.rng()() % 2 == 0) {
      adds.emplace_back(id, maker.text(30));
    }
  }
  for (uint64_t id : live) {
    if (maker.rng()() % 5 == 0) {
      replaced.push_back(id);
      adds.emplace_back(id, maker.text(30));
    }
  }
  write(adds, replaced);
  check_queries(maker, 20, "after re-adds and replacements");

  // A filter, checked against the brute force with the same filter.
  auto odd = [](uint64_t id) { return id % 2 == 1; };
  check_queries(maker, 20, "with an allow filter", odd);
  auto none = [](uint64_t) { return false; };
  auto nothing = index_->search("protein cell", 10, none);
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(nothing->empty());
}

TEST_F(LexicalIndexTest, ExactScoresOnAHandMadeCorpus) {
  write({{1, "protein folding"}, {2, "protein protein binding site"}, {3, "cell growth"}});
  // N = 3, avgdl = (2 + 4 + 2) / 3; "protein": df = 2.
  const double k1 = 0.9f, b = 0.4f, avgdl = 8.0 / 3;
  const double idf = std::log(1.0 + (3 - 2 + 0.5) / (2 + 0.5));
  const double s1 = idf * (1 * (k1 + 1) / (1 + k1 * (1 - b + b * 2 / avgdl)));
  const double s2 = idf * (2 * (k1 + 1) / (2 + k1 * (1 - b + b * 4 / avgdl)));
  auto got = index_->search("Proteins?", 10);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].chunk_id, 2u);
  EXPECT_NEAR((*got)[0].score, s2, 1e-6);
  EXPECT_EQ((*got)[1].chunk_id, 1u);
  EXPECT_NEAR((*got)[1].score, s1, 1e-6);
  // A repeated query term counts twice (Anserini boosts a term by its query frequency).
  auto twice = index_->search("protein protein", 10);
  ASSERT_TRUE(twice.ok());
  EXPECT_NEAR((*twice)[0].score, 2 * s2, 1e-5);
  // Ties go to the smaller id: chunks 10 and 11 are identical.
  write({{11, "tie breaker"}, {10, "tie breaker"}});
  auto tied = index_->search("tie", 10);
  ASSERT_TRUE(tied.ok());
  ASSERT_EQ(tied->size(), 2u);
  EXPECT_EQ((*tied)[0].chunk_id, 10u);
  EXPECT_EQ((*tied)[1].chunk_id, 11u);
  EXPECT_EQ((*tied)[0].score, (*tied)[1].score);
}

TEST_F(LexicalIndexTest, QueriesWithoutTermsAndEmptyIndexReturnNothing) {
  auto empty_index = index_->search("protein", 10);
  ASSERT_TRUE(empty_index.ok());
  EXPECT_TRUE(empty_index->empty());
  write({{1, "protein folding"}, {2, "the of and"}, {3, ""}});
  EXPECT_EQ(index_->chunk_count(), 1u);  // chunks without terms do not count
  for (const char* query : {"", "   ", "the of and is", "?!...", "unknownword"}) {
    auto got = index_->search(query, 10);
    ASSERT_TRUE(got.ok()) << query;
    EXPECT_TRUE(got->empty()) << query;
  }
  auto k0 = index_->search("protein", 0);
  ASSERT_TRUE(k0.ok());
  EXPECT_TRUE(k0->empty());
}

TEST_F(LexicalIndexTest, DiscardedBatchLeavesNothingBehind) {
  TextMaker maker(5);
  std::vector<std::pair<uint64_t, std::string>> adds;
  for (uint64_t id = 0; id < 40; ++id) adds.emplace_back(id, maker.text(20));
  write(adds);
  const uint64_t count = index_->chunk_count();
  const double average = index_->average_chunk_length();

  {  // Staged, finished, never written: the write "failed".
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(index_->stage_add(batch, 1000, "zebrafish zebrafish vaccine").ok());
    ASSERT_TRUE(index_->stage_remove(batch, 3).ok());
    ASSERT_TRUE(index_->finish_batch(batch).ok());
    index_->discard_staged();
  }
  EXPECT_EQ(index_->chunk_count(), count);
  EXPECT_DOUBLE_EQ(index_->average_chunk_length(), average);
  check_queries(maker, 10, "after a discarded batch");

  // The next batch's statistics do not carry the discarded deltas, and id 1000 is free again.
  write({{1000, "zebrafish"}});
  check_queries(maker, 10, "after the batch following the discarded one");
}

TEST_F(LexicalIndexTest, WriteProtocolEdgeCases) {
  write({{7, "protein cell"}});
  rocksdb::WriteBatch batch;
  // Adding an indexed id, or the same id twice in a batch, is refused.
  EXPECT_EQ(index_->stage_add(batch, 7, "again").code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(index_->stage_add(batch, 8, "mouse brain").ok());
  EXPECT_EQ(index_->stage_add(batch, 8, "mouse").code(), Status::Code::kInvalidArgument);
  // Removing what this batch added, and removing twice, are fine.
  ASSERT_TRUE(index_->stage_remove(batch, 8).ok());
  ASSERT_TRUE(index_->stage_remove(batch, 7).ok());
  ASSERT_TRUE(index_->stage_remove(batch, 7).ok());
  ASSERT_TRUE(index_->stage_add(batch, 7, "mouse blood").ok());  // re-add after removal
  ASSERT_TRUE(index_->finish_batch(batch).ok());
  ASSERT_TRUE(store_->db()->Write(rocksdb::WriteOptions(), &batch).ok());
  index_->commit_staged();
  brute_->add(7, "mouse blood");
  EXPECT_EQ(index_->chunk_count(), 1u);
  for (const char* query : {"protein", "brain", "mouse", "blood cell"}) {
    auto got = index_->search(query, 10);
    ASSERT_TRUE(got.ok());
    expect_same(*got, brute_->search(query, 10), query);
  }
}

TEST_F(LexicalIndexTest, PersistsAcrossReopenAndOpensReadOnly) {
  TextMaker maker(9);
  std::vector<std::pair<uint64_t, std::string>> adds;
  for (uint64_t id = 0; id < 120; ++id) adds.emplace_back(id * 7919, maker.text(25));
  write(adds);
  write({}, {0, 7919, 15838});
  index_.reset();
  store_.reset();

  store_ = std::make_unique<Store>(path_);
  index_ = open_index(*store_);
  ASSERT_NE(index_, nullptr);
  check_queries(maker, 15, "after reopening");
  index_.reset();
  store_.reset();

  store_ = std::make_unique<Store>(path_, /*read_only=*/true);
  index_ = open_index(*store_);
  ASSERT_NE(index_, nullptr);
  check_queries(maker, 15, "read-only");
}

TEST_F(LexicalIndexTest, ConcurrentSearchesAgree) {
  TextMaker maker(3);
  std::vector<std::pair<uint64_t, std::string>> adds;
  for (uint64_t id = 0; id < 200; ++id) adds.emplace_back(id, maker.text(25));
  write(adds);
  std::vector<std::string> queries;
  std::vector<std::vector<ScoredChunk>> expected;
  for (int q = 0; q < 30; ++q) {
    queries.push_back(maker.text(4));
    expected.push_back(brute_->search(queries.back(), 10));
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 10; ++round) {
        for (size_t q = 0; q < queries.size(); ++q) {
          auto got = index_->search(queries[q], 10);
          if (!got.ok() || got->size() != expected[q].size()) {
            ++mismatches[t];
            continue;
          }
          for (size_t i = 0; i < got->size(); ++i) {
            if ((*got)[i].chunk_id != expected[q][i].chunk_id) ++mismatches[t];
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(LexicalIndex, OpenRejectsMissingDatabaseAndBadParameters) {
  auto no_db = LexicalIndex::open(nullptr, nullptr);
  ASSERT_FALSE(no_db.ok());
  EXPECT_EQ(no_db.status().code(), Status::Code::kInvalidArgument);
  const std::string path = testing::make_temp_dir("ragkit-lexical-params");
  Store store(path);
  Bm25Params bad;
  bad.b = 1.5f;
  auto index = LexicalIndex::open(store.db(), store.lexical(), {}, bad);
  ASSERT_FALSE(index.ok());
  EXPECT_EQ(index.status().code(), Status::Code::kInvalidArgument);
  AnalyzerOptions klingon;
  klingon.language = "klingon";
  EXPECT_FALSE(LexicalIndex::open(store.db(), store.lexical(), klingon).ok());
}

}  // namespace
}  // namespace ragkit::retrieval
