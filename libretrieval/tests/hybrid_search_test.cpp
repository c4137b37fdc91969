// Lexical and hybrid search through the collection: the BM25 postings are written in the same
// batch as the vectors (so updates and deletes show in both at once), filters restrict the
// lexical side like the dense side, and hybrid results equal reciprocal-rank fusion (k = 60)
// computed here from a brute-force dense list and the filtered lexical list.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "ragkit/retrieval/collection.h"
#include "store_test_util.h"
#include "test_env.h"

namespace ragkit::retrieval {
namespace {

using testing::brute_force;
using testing::random_vector;
using testing::unit;

constexpr uint32_t kDim = 24;

const std::vector<std::string> kWords = {
    "river",  "mountain", "password", "reset",  "login",   "kernel", "driver", "network",
    "forest", "garden",   "compiler", "linker", "cache",   "memory", "thread", "socket",
    "policy", "invoice",  "payment",  "refund", "storage", "backup", "cloud",  "server"};

std::unique_ptr<Collection> make_corpus(const std::string& dir, std::mt19937_64& rng,
                                        std::vector<DocumentInput>* docs_out) {
  CollectionOptions o;
  o.dimension = kDim;
  o.sync_writes = false;
  auto c = Collection::open(dir, o);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  std::vector<DocumentInput> docs;
  for (int d = 0; d < 80; ++d) {
    DocumentInput doc;
    doc.path = (d % 2 ? "a/" : "b/") + std::to_string(d) + ".md";
    doc.file_type = d % 4 == 0 ? "pdf" : "md";
    doc.mtime_ns = d;
    for (int i = 0; i < 5; ++i) {
      ChunkInput chunk;
      const int n_words = 4 + static_cast<int>(rng() % 12);
      for (int w = 0; w < n_words; ++w) {
        chunk.text += kWords[rng() % kWords.size()] + " ";
      }
      chunk.embedding = random_vector(rng, kDim);
      doc.chunks.push_back(std::move(chunk));
    }
    docs.push_back(std::move(doc));
  }
  EXPECT_TRUE((*c)->upsert_many(docs).ok());
  *docs_out = docs;
  return std::move(c).value();
}

TEST(HybridSearchTest, LexicalSearchFollowsUpsertsDeletesAndFilters) {
  const std::string dir = ragkit::testing::make_temp_dir("hybrid");
  std::mt19937_64 rng(1);
  std::vector<DocumentInput> docs;
  auto c = make_corpus(dir, rng, &docs);
  DocumentInput special;
  special.path = "special.txt";
  special.file_type = "txt";
  ChunkInput chunk;
  chunk.text = "The zebra crossed the quantum zebra bridge";
  chunk.embedding = random_vector(rng, kDim);
  special.chunks.push_back(chunk);
  ASSERT_TRUE(c->upsert(special).ok());
  auto hits = c->search_lexical("Zebras", 5);  // case folding and stemming
  ASSERT_TRUE(hits.ok()) << hits.status().to_string();
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].path, "special.txt");
  EXPECT_EQ((*hits)[0].lexical_rank, 1u);
  EXPECT_GT((*hits)[0].lexical_score, 0.0f);

  special.chunks[0].text = "nothing to see";
  ASSERT_TRUE(c->upsert(special).ok());
  EXPECT_TRUE(c->search_lexical("zebra", 5)->empty()) << "the old postings must be gone";
  EXPECT_EQ(c->search_lexical("nothing", 5)->size(), 1u);
  ASSERT_TRUE(c->remove("special.txt").ok());
  EXPECT_TRUE(c->search_lexical("nothing", 5)->empty());

  // Filtered lexical search = the unfiltered ranking restricted to admitted documents.
  std::set<uint64_t> admitted_docs;
  for (const auto& d : c->documents()) {
    if (d.path.starts_with("a/") && d.file_type == "md") admitted_docs.insert(d.document_id);
  }
  SearchFilter filter;
  filter.path_prefix = "a/";
  filter.file_types = {"md"};
  for (const char* q : {"river password", "cache memory thread", "refund"}) {
    auto all = c->search_lexical(q, 1000);
    ASSERT_TRUE(all.ok());
    std::vector<uint64_t> expected;
    for (const SearchHit& h : *all) {
      if (admitted_docs.count(h.document_id) && expected.size() < 10) expected.push_back(h.chunk_id);
    }
    auto filtered = c->search_lexical(q, 10, filter);
    ASSERT_TRUE(filtered.ok());
    std::vector<uint64_t> got;
    for (const SearchHit& h : *filtered) got.push_back(h.chunk_id);
    EXPECT_EQ(got, expected) << q;
    EXPECT_FALSE(got.empty());
  }
  // Survives a reopen (postings are in RocksDB).
  c.reset();
  auto reopened = Collection::open(dir, CollectionOptions());
  ASSERT_TRUE(reopened.ok());
  EXPECT_FALSE((*reopened)->search_lexical("river", 3)->empty());
}

struct Fused {
  uint64_t id;
  double score;
  int dense_rank, lexical_rank;
};

// Reciprocal-rank fusion written from the definition, independently of fusion.cpp.
std::vector<Fused> reference_rrf(const std::vector<uint64_t>& dense,
                                 const std::vector<uint64_t>& lexical, size_t k) {
  std::map<uint64_t, Fused> by_id;
  for (size_t i = 0; i < dense.size(); ++i) {
    auto& f = by_id.try_emplace(dense[i], Fused{dense[i], 0, 0, 0}).first->second;
    f.dense_rank = static_cast<int>(i + 1);
  }
  for (size_t i = 0; i < lexical.size(); ++i) {
    auto& f = by_id.try_emplace(lexical[i], Fused{lexical[i], 0, 0, 0}).first->second;
    f.lexical_rank = static_cast<int>(i + 1);
  }
  std::vector<Fused> out;
  for (auto& [id, f] : by_id) {
    f.score = (f.dense_rank ? 1.0 / (60.0 + f.dense_rank) : 0.0) +
              (f.lexical_rank ? 1.0 / (60.0 + f.lexical_rank) : 0.0);
    out.push_back(f);
  }
  const auto best = [](const Fused& f) {
    int b = INT32_MAX;
    if (f.dense_rank) b = std::min(b, f.dense_rank);
    if (f.lexical_rank) b = std::min(b, f.lexical_rank);
    return b;
  };
  std::sort(out.begin(), out.end(), [&](const Fused& a, const Fused& b) {
    if (a.score != b.score) return a.score > b.score;
    if (best(a) != best(b)) return best(a) < best(b);
    return a.id < b.id;
  });
  if (out.size() > k) out.resize(k);
  return out;
}

TEST(HybridSearchTest, HybridEqualsReciprocalRankFusionOfBruteForceLists) {
  const std::string dir = ragkit::testing::make_temp_dir("hybrid");
  std::mt19937_64 rng(2);
  std::vector<DocumentInput> docs;
  auto c = make_corpus(dir, rng, &docs);
  ASSERT_TRUE(c->remove(docs[5].path).ok());  // deleted chunks must not appear on either side
  std::vector<SearchFilter> filters(3);
  filters[1].path_prefix = "b/";
  filters[2].file_types = {"pdf"};
  filters[2].modified_to_ns = 60;
  for (size_t fi = 0; fi < filters.size(); ++fi) {
    const SearchFilter& filter = filters[fi];
    std::set<uint64_t> admitted;
    for (const auto& d : c->documents()) {
      if (!d.path.starts_with(filter.path_prefix)) continue;
      if (!filter.file_types.empty() && d.file_type != filter.file_types[0]) continue;
      if (filter.modified_to_ns && d.mtime_ns > *filter.modified_to_ns) continue;
      admitted.insert(d.document_id);
    }
    for (int q = 0; q < 10; ++q) {
      const std::string text = kWords[rng() % kWords.size()] + " " + kWords[rng() % kWords.size()];
      const auto vec = random_vector(rng, kDim);
      constexpr size_t kCandidates = 20, kK = 10;
      std::vector<uint64_t> dense_ids, lexical_ids;
      for (const auto& s : brute_force(*c, unit(vec), kCandidates, [&](uint64_t id) {
             return admitted.count(document_id_of(id)) != 0;
           })) {
        dense_ids.push_back(s.chunk_id);
      }
      auto lexical_all = c->search_lexical(text, 10000);
      ASSERT_TRUE(lexical_all.ok());
      for (const SearchHit& h : *lexical_all) {
        if (admitted.count(h.document_id) && lexical_ids.size() < kCandidates) {
          lexical_ids.push_back(h.chunk_id);
        }
      }
      HybridSearchParams params;
      params.candidates = kCandidates;
      auto hits = c->search_hybrid(text, vec, kK, filter, params);
      ASSERT_TRUE(hits.ok()) << hits.status().to_string();
      const auto expected = reference_rrf(dense_ids, lexical_ids, kK);
      ASSERT_EQ(hits->size(), expected.size());
      for (size_t i = 0; i < expected.size(); ++i) {
        const SearchHit& h = (*hits)[i];
        EXPECT_EQ(h.chunk_id, expected[i].id) << "filter " << fi << " query '" << text << "' rank " << i;
        EXPECT_EQ(static_cast<int>(h.dense_rank), expected[i].dense_rank);
        EXPECT_EQ(static_cast<int>(h.lexical_rank), expected[i].lexical_rank);
        EXPECT_NEAR(h.score, expected[i].score, 1e-7);
        EXPECT_FALSE(h.path.empty());
        if (h.dense_rank) {
          EXPECT_NEAR(h.dense_score, (*c->search_dense(vec, kCandidates, filter))[h.dense_rank - 1].score, 1e-6);
        }
        if (h.lexical_rank) {
          EXPECT_GT(h.lexical_score, 0.0f);
        }
      }
    }
  }
}

}  // namespace
}  // namespace ragkit::retrieval
