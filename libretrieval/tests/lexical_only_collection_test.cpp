// Lexical-only collections (CollectionOptions::dimension 0 at creation): documents, chunks and
// BM25 postings without vectors, FAISS index or change log. The lexical search of one must equal
// that of an identical collection with vectors; everything vector-shaped is a clear error.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "ragkit/retrieval/collection.h"
#include "store_test_util.h"
#include "test_env.h"

namespace ragkit::retrieval {
namespace {

using testing::random_vector;

constexpr uint32_t kDim = 8;

// Texts with shared and distinct words, so BM25 scores differ by tf, df and length.
const char* const kTexts[] = {
    "the quick brown fox jumps over the lazy dog",
    "a lazy afternoon: the dog sleeps and the fox watches",
    "vector databases store embeddings; lexical search counts words",
    "BM25 ranks documents by term frequency and inverse document frequency",
    "foxes and dogs are mammals; a fox is quick, a dog is loyal",
    "rocksdb keeps the postings of every term in a column family",
    "search the documents for a quick answer about databases",
    "the fox, the fox, the fox: a document that repeats one word",
};
const char* const kQueries[] = {"quick fox",
                                "lazy dog",
                                "document frequency",
                                "databases search",
                                "fox",
                                "column family postings",
                                "nothing matches xyzzy"};

// Documents d0..d5 with two chunks each (file types alternate md/txt; d4, d5 under "sub/").
std::vector<DocumentInput> corpus(bool with_vectors) {
  std::mt19937_64 rng(42);
  std::vector<DocumentInput> docs;
  for (int d = 0; d < 6; ++d) {
    DocumentInput doc;
    doc.path = d >= 4 ? "sub/d" : "d";
    doc.path += std::to_string(d);  // (a literal + std::to_string: false -Wrestrict in GCC 12)
    doc.file_type = d % 2 == 0 ? "md" : "txt";
    doc.mtime_ns = d;
    doc.title = "document ";
    doc.title += std::to_string(d);
    for (int i = 0; i < 2; ++i) {
      ChunkInput chunk;
      chunk.text = kTexts[(d + 3 * i) % std::size(kTexts)];
      chunk.location.byte_begin = static_cast<uint64_t>(i) * 100;
      chunk.location.byte_end = chunk.location.byte_begin + chunk.text.size();
      const auto v = random_vector(rng, kDim);  // drawn either way: same texts, same order
      if (with_vectors) chunk.embedding = v;
      doc.chunks.push_back(std::move(chunk));
    }
    docs.push_back(std::move(doc));
  }
  return docs;
}

CollectionOptions lexical_options() { return CollectionOptions(); }  // dimension 0

CollectionOptions vector_options() {
  CollectionOptions o;
  o.model_id = "test-model";
  o.dimension = kDim;
  return o;
}

std::unique_ptr<Collection> open_ok(const std::string& dir, CollectionOptions o) {
  auto c = Collection::open(dir, std::move(o));
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(c).value() : nullptr;
}

// Same hits, in the same order, with the same scores (the same BM25 over the same postings).
void expect_same_lexical(const Collection& lexical, const Collection& vectors,
                         const SearchFilter& filter = {}) {
  for (const char* query : kQueries) {
    auto a = lexical.search_lexical(query, 20, filter);
    auto b = vectors.search_lexical(query, 20, filter);
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    ASSERT_TRUE(b.ok()) << b.status().to_string();
    ASSERT_EQ(a->size(), b->size()) << query;
    for (size_t i = 0; i < a->size(); ++i) {
      EXPECT_EQ((*a)[i].chunk_id, (*b)[i].chunk_id) << query << " rank " << i;
      EXPECT_EQ((*a)[i].path, (*b)[i].path) << query << " rank " << i;
      EXPECT_EQ((*a)[i].score, (*b)[i].score) << query << " rank " << i;
      EXPECT_EQ((*a)[i].lexical_rank, i + 1);
    }
  }
}

// Keys in the vectors column family and change-log entries in meta, read straight from RocksDB
// (the collection must be closed).
void count_vectors_and_log(const std::string& dir, size_t* vectors, size_t* log_entries) {
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : {"default", "documents", "chunks", "vectors", "lexical", "meta"}) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(
      rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir + "/db", families, &handles, &db)
          .ok());
  *vectors = 0;
  *log_entries = 0;
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[3]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++*vectors;
    std::unique_ptr<rocksdb::Iterator> meta(db->NewIterator(rocksdb::ReadOptions(), handles[5]));
    for (meta->Seek("log/"); meta->Valid() && meta->key().starts_with("log/"); meta->Next()) {
      ++*log_entries;
    }
  }
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  delete db;
}

TEST(LexicalOnlyCollectionTest, LexicalSearchEqualsThatOfACollectionWithVectors) {
  const std::string lexical_dir = ragkit::testing::make_temp_dir("lexonly");
  const std::string vector_dir = ragkit::testing::make_temp_dir("lexvec");
  auto lexical = open_ok(lexical_dir, lexical_options());
  auto vectors = open_ok(vector_dir, vector_options());
  ASSERT_TRUE(lexical && vectors);
  ASSERT_TRUE(lexical->upsert_many(corpus(false)).ok());
  ASSERT_TRUE(vectors->upsert_many(corpus(true)).ok());
  expect_same_lexical(*lexical, *vectors);
  {
    auto hits = lexical->search_lexical("quick fox", 3);
    ASSERT_TRUE(hits.ok());
    ASSERT_FALSE(hits->empty());
    EXPECT_GT((*hits)[0].score, 0.0f);
    EXPECT_EQ((*hits)[0].lexical_score, (*hits)[0].score);
    EXPECT_EQ((*hits)[0].dense_rank, 0u);
  }

  // Filters.
  SearchFilter md;
  md.file_types = {"md"};
  expect_same_lexical(*lexical, *vectors, md);
  SearchFilter sub;
  sub.path_prefix = "sub/";
  expect_same_lexical(*lexical, *vectors, sub);
  auto in_sub = lexical->search_lexical("fox", 20, sub);
  ASSERT_TRUE(in_sub.ok());
  ASSERT_FALSE(in_sub->empty());
  for (const SearchHit& h : *in_sub) EXPECT_TRUE(h.path.starts_with("sub/")) << h.path;

  // Replace and remove, then compare again.
  std::vector<DocumentInput> replaced = corpus(false);
  replaced[1].chunks[0].text = "a brand new text about a quick database fox";
  std::vector<DocumentInput> replaced_with_vectors = corpus(true);
  replaced_with_vectors[1].chunks[0].text = replaced[1].chunks[0].text;
  ASSERT_TRUE(lexical->upsert(replaced[1]).ok());
  ASSERT_TRUE(vectors->upsert(replaced_with_vectors[1]).ok());
  auto removed = lexical->remove("d2");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  ASSERT_TRUE(vectors->remove("d2").ok());
  auto again = lexical->remove("d2");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_FALSE(lexical->document("d2"));
  expect_same_lexical(*lexical, *vectors);
  expect_same_lexical(*lexical, *vectors, md);
  for (const char* query : kQueries) {
    auto hits = lexical->search_lexical(query, 20);
    ASSERT_TRUE(hits.ok());
    for (const SearchHit& h : *hits) EXPECT_NE(h.path, "d2") << "a removed document was found";
  }

  // Stats.
  const CollectionStats s = lexical->stats();
  EXPECT_EQ(s.dimension, 0u);
  EXPECT_EQ(s.model_id, "");
  EXPECT_EQ(s.index_factory, "");
  EXPECT_EQ(s.index_family, "none");
  EXPECT_EQ(s.index_vectors, 0u);
  EXPECT_EQ(s.tombstones, 0u);
  EXPECT_EQ(s.index_memory_bytes, 0u);
  EXPECT_EQ(s.index_file_generation, 0u);
  EXPECT_EQ(s.documents, 5u);
  EXPECT_EQ(s.chunks, 10u);
  EXPECT_EQ(s.lexical_chunks, 10u);
  EXPECT_EQ(s.generation, vectors->stats().generation);
  EXPECT_EQ(s.generation, 3u);  // upsert_many, upsert, remove (the no-op remove writes nothing)
  EXPECT_EQ(s.schema_version, kCollectionSchemaVersion);

  // The index-side maintenance calls are harmless no-ops.
  EXPECT_TRUE(lexical->flush().ok());
  EXPECT_TRUE(lexical->rebuild_index().ok());
  EXPECT_TRUE(lexical->compact().ok());
  expect_same_lexical(*lexical, *vectors);

  lexical.reset();
  vectors.reset();
  EXPECT_FALSE(std::filesystem::exists(lexical_dir + "/index.faiss"));
  EXPECT_TRUE(std::filesystem::exists(vector_dir + "/index.faiss"));
  size_t vector_keys = 1, log_entries = 1;
  count_vectors_and_log(lexical_dir, &vector_keys, &log_entries);
  EXPECT_EQ(vector_keys, 0u) << "a lexical-only collection wrote to the vectors column family";
  EXPECT_EQ(log_entries, 0u) << "a lexical-only collection logged changes nobody replays";

  // Reopening (with default options, which take everything from the collection).
  lexical = open_ok(lexical_dir, CollectionOptions());
  vectors = open_ok(vector_dir, CollectionOptions());
  ASSERT_TRUE(lexical && vectors);
  EXPECT_EQ(lexical->stats().documents, 5u);
  EXPECT_EQ(lexical->stats().dimension, 0u);
  EXPECT_EQ(lexical->stats().generation, 3u);
  expect_same_lexical(*lexical, *vectors);
  expect_same_lexical(*lexical, *vectors, sub);
}

TEST(LexicalOnlyCollectionTest, VectorOperationsAreClearErrors) {
  const std::string dir = ragkit::testing::make_temp_dir("lexonly");
  auto c = open_ok(dir, lexical_options());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->upsert_many(corpus(false)).ok());

  // An upsert with embeddings is refused, naming the document; nothing is written.
  std::vector<DocumentInput> with_vectors = corpus(true);
  with_vectors[0].path = "new.md";
  const Status refused = c->upsert(with_vectors[0]);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(refused.message().find("new.md"), std::string::npos) << refused.message();
  EXPECT_NE(refused.message().find("holds no vectors"), std::string::npos) << refused.message();
  EXPECT_FALSE(c->document("new.md"));
  EXPECT_EQ(c->stats().generation, 1u);

  const std::vector<float> query(kDim, 1.0f);
  auto dense = c->search_dense(query, 5);
  ASSERT_FALSE(dense.ok());
  EXPECT_EQ(dense.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(dense.status().message().find("is lexical-only (made without an embedding model): "
                                          "use lexical search"),
            std::string::npos)
      << dense.status().message();
  EXPECT_NE(dense.status().message().find(dir), std::string::npos);
  auto hybrid = c->search_hybrid("quick fox", query, 5);
  ASSERT_FALSE(hybrid.ok());
  EXPECT_EQ(hybrid.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(hybrid.status().message().find("lexical-only"), std::string::npos);
  // Also with an empty query vector (what a caller without a model would pass).
  auto hybrid_empty = c->search_hybrid("quick fox", {}, 5);
  ASSERT_FALSE(hybrid_empty.ok());
  EXPECT_NE(hybrid_empty.status().message().find("lexical-only"), std::string::npos);

  const uint64_t chunk_id = c->document("d0")->chunk_id(0);
  EXPECT_TRUE(c->chunk(chunk_id).ok());
  auto v = c->vector(chunk_id);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Status::Code::kNotFound);
  size_t visited = 0;
  ASSERT_TRUE(c->for_each_vector([&](uint64_t, std::span<const float>) { ++visited; }).ok());
  EXPECT_EQ(visited, 0u);
}

TEST(LexicalOnlyCollectionTest, CreationAndOpenMismatchesAreErrorsNamingBoth) {
  const std::string dir = ragkit::testing::make_temp_dir("lexonly");
  {
    auto c = open_ok(dir, lexical_options());
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->upsert_many(corpus(false)).ok());
  }
  CollectionOptions o;
  o.dimension = 384;
  auto c = Collection::open(dir, o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(c.status().message().find("lexical-only"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("384"), std::string::npos) << c.status().message();
  o = CollectionOptions();
  o.model_id = "some-model";
  c = Collection::open(dir, o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("lexical-only"), std::string::npos);
  EXPECT_NE(c.status().message().find("some-model"), std::string::npos);
  o = CollectionOptions();
  o.index_factory = "Flat";
  c = Collection::open(dir, o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("'Flat'"), std::string::npos);
  // Still intact.
  auto reopened = open_ok(dir, CollectionOptions());
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->stats().documents, 6u);

  // A vector collection opened without a dimension stays a vector collection.
  const std::string vector_dir = ragkit::testing::make_temp_dir("lexvec");
  { ASSERT_TRUE(open_ok(vector_dir, vector_options())); }
  auto vectors = open_ok(vector_dir, CollectionOptions());
  ASSERT_TRUE(vectors);
  EXPECT_EQ(vectors->stats().dimension, kDim);
  EXPECT_EQ(vectors->stats().index_family, "flat");
}

TEST(LexicalOnlyCollectionTest, ReadersSearchAndCatchUp) {
  const std::string dir = ragkit::testing::make_temp_dir("lexonly");
  auto writer = open_ok(dir, lexical_options());
  ASSERT_TRUE(writer);
  std::vector<DocumentInput> docs = corpus(false);
  ASSERT_TRUE(writer->upsert_many(std::span(docs).first(3)).ok());

  CollectionOptions ro;
  ro.read_only = true;
  auto reader = open_ok(dir, ro);
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->stats().documents, 3u);
  EXPECT_EQ(reader->stats().index_family, "none");
  auto hits = reader->search_lexical("quick fox", 10);
  ASSERT_TRUE(hits.ok()) << hits.status().to_string();
  auto expected = writer->search_lexical("quick fox", 10);
  ASSERT_TRUE(expected.ok());
  ASSERT_EQ(hits->size(), expected->size());
  for (size_t i = 0; i < hits->size(); ++i) {
    EXPECT_EQ((*hits)[i].chunk_id, (*expected)[i].chunk_id);
    EXPECT_EQ((*hits)[i].score, (*expected)[i].score);
  }
  EXPECT_FALSE(reader->upsert(docs[4]).ok());
  EXPECT_FALSE(reader->search_dense(std::vector<float>(kDim, 1.0f), 3).ok());

  // The writer goes on; the reader sees it after refresh().
  ASSERT_TRUE(writer->upsert_many(std::span(docs).subspan(3)).ok());
  ASSERT_TRUE(writer->remove("d0").ok());
  EXPECT_EQ(reader->stats().documents, 3u);
  ASSERT_TRUE(reader->refresh().ok());
  EXPECT_EQ(reader->stats().documents, 5u);
  EXPECT_FALSE(reader->document("d0"));
  SearchFilter sub;
  sub.path_prefix = "sub/";
  auto fresh = reader->search_lexical("fox", 10, sub);
  auto fresh_expected = writer->search_lexical("fox", 10, sub);
  ASSERT_TRUE(fresh.ok() && fresh_expected.ok());
  ASSERT_FALSE(fresh->empty());
  ASSERT_EQ(fresh->size(), fresh_expected->size());
  for (size_t i = 0; i < fresh->size(); ++i) {
    EXPECT_EQ((*fresh)[i].chunk_id, (*fresh_expected)[i].chunk_id);
    EXPECT_EQ((*fresh)[i].score, (*fresh_expected)[i].score);
  }
}

TEST(LexicalOnlyCollectionTest, ExportWritesChunksWithoutVectors) {
  const std::string dir = ragkit::testing::make_temp_dir("lexonly");
  auto c = open_ok(dir, lexical_options());
  ASSERT_TRUE(c);
  const std::vector<DocumentInput> docs = corpus(false);
  ASSERT_TRUE(c->upsert_many(docs).ok());
  std::stringstream out;
  ASSERT_TRUE(c->export_jsonl(out).ok());
  std::string line;
  ASSERT_TRUE(std::getline(out, line));
  const auto header = nlohmann::json::parse(line);
  EXPECT_EQ(header["type"], "collection");
  EXPECT_EQ(header["dimension"], 0);
  EXPECT_EQ(header["index_factory"], "");
  EXPECT_EQ(header["chunks"], 12);
  size_t chunks = 0, documents = 0;
  while (std::getline(out, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j["type"] == "document") {
      ++documents;
      continue;
    }
    ASSERT_EQ(j["type"], "chunk");
    ++chunks;
    EXPECT_FALSE(j.contains("vector")) << line;
    auto rec = c->chunk(j["chunk_id"].get<uint64_t>());
    ASSERT_TRUE(rec.ok());
    EXPECT_EQ(j["text"], rec->text);
  }
  EXPECT_EQ(documents, 6u);
  EXPECT_EQ(chunks, 12u);
}

}  // namespace
}  // namespace ragkit::retrieval
