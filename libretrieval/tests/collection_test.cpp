// Collection: creation, reopening, metadata and schema checks, atomic upserts and removes,
// locking, readers, export and stats — against a real RocksDB in a temporary directory.
#include "ragkit/retrieval/collection.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <rocksdb/db.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "store/records.h"
#include "store_test_util.h"
#include "test_env.h"

namespace ragkit::retrieval {
namespace {

using testing::brute_force;
using testing::compare_exact;
using testing::random_vector;
using testing::unit;

constexpr uint32_t kDim = 16;

CollectionOptions options(const std::string& factory = "Flat") {
  CollectionOptions o;
  o.model_id = "test-model";
  o.dimension = kDim;
  o.index_factory = factory;
  return o;
}

DocumentInput make_doc(std::mt19937_64& rng, const std::string& path, int chunks,
                       const std::string& type = "md", int64_t mtime = 0) {
  DocumentInput d;
  d.path = path;
  d.file_type = type;
  d.mtime_ns = mtime;
  d.size_bytes = 1234;
  d.content_hash = "hash-" + path;
  d.title = "Title of " + path;
  d.metadata = {{"author", "someone"}, {"lang", "en"}};
  for (int i = 0; i < chunks; ++i) {
    ChunkInput c;
    c.text = "chunk " + std::to_string(i) + " of " + path;
    c.embedding = random_vector(rng, kDim);
    c.location = {static_cast<uint64_t>(i) * 10, static_cast<uint64_t>(i) * 10 + 9,
                  static_cast<uint32_t>(i + 1), static_cast<uint32_t>(i + 2), 3, "A > B"};
    d.chunks.push_back(std::move(c));
  }
  return d;
}

std::unique_ptr<Collection> open_ok(const std::string& dir, CollectionOptions o = options()) {
  auto c = Collection::open(dir, std::move(o));
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(c).value() : nullptr;
}

TEST(CollectionTest, CreateWriteReopenReadsEverythingBack) {
  const std::string dir = ragkit::testing::make_temp_dir("coll");
  std::mt19937_64 rng(1);
  const DocumentInput a = make_doc(rng, "docs/a.md", 3);
  const DocumentInput b = make_doc(rng, "docs/b.txt", 2, "txt");
  {
    auto c = open_ok(dir);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->upsert(a).ok());
    ASSERT_TRUE(c->upsert(b).ok());
  }
  CollectionOptions reopen;  // no model, dimension or factory: taken from the collection
  auto c = open_ok(dir, reopen);
  ASSERT_TRUE(c);
  const auto docs = c->documents();
  ASSERT_EQ(docs.size(), 2u);
  const auto rec = c->document("docs/a.md");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->file_type, "md");
  EXPECT_EQ(rec->title, a.title);
  EXPECT_EQ(rec->content_hash, a.content_hash);
  EXPECT_EQ(rec->size_bytes, 1234u);
  EXPECT_EQ(rec->metadata, a.metadata);
  EXPECT_EQ(rec->chunk_count, 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    auto chunk = c->chunk(rec->chunk_id(i));
    ASSERT_TRUE(chunk.ok()) << chunk.status().to_string();
    EXPECT_EQ(chunk->text, a.chunks[i].text);
    EXPECT_EQ(chunk->document_id, rec->document_id);
    EXPECT_EQ(chunk->index, i);
    EXPECT_EQ(chunk->location.byte_end, a.chunks[i].location.byte_end);
    EXPECT_EQ(chunk->location.line_begin, a.chunks[i].location.line_begin);
    EXPECT_EQ(chunk->location.page, 3u);
    EXPECT_EQ(chunk->location.heading_path, "A > B");
    auto v = c->vector(rec->chunk_id(i));
    ASSERT_TRUE(v.ok());
    const auto expected = unit(a.chunks[i].embedding);
    for (uint32_t j = 0; j < kDim; ++j) EXPECT_NEAR((*v)[j], expected[j], 1e-6f);
  }
  // A chunk's own vector is its best match.
  auto hits = c->search_dense(b.chunks[1].embedding, 1);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].path, "docs/b.txt");
  EXPECT_EQ((*hits)[0].chunk_id, c->document("docs/b.txt")->chunk_id(1));
  EXPECT_NEAR((*hits)[0].score, 1.0f, 1e-5f);
  EXPECT_EQ((*hits)[0].dense_rank, 1u);

  const CollectionStats s = c->stats();
  EXPECT_EQ(s.documents, 2u);
  EXPECT_EQ(s.chunks, 5u);
  EXPECT_EQ(s.index_vectors, 5u);
  EXPECT_EQ(s.lexical_chunks, 5u);
  EXPECT_EQ(s.model_id, "test-model");
  EXPECT_EQ(s.dimension, kDim);
  EXPECT_EQ(s.index_factory, "Flat");
  EXPECT_EQ(s.index_family, "flat");
  EXPECT_EQ(s.schema_version, kCollectionSchemaVersion);
  EXPECT_EQ(s.generation, 2u);
  EXPECT_EQ(s.index_file_generation, 2u);  // saved at close
  EXPECT_GT(s.disk_bytes, 0u);
  EXPECT_GT(s.index_memory_bytes, 5u * kDim * 4);
}

TEST(CollectionTest, CreationNeedsADimensionAndAValidIndexType) {
  const std::string dir = ragkit::testing::make_temp_dir("coll");
  // A model without its dimension is a mistake (dimension 0 alone makes a lexical-only
  // collection: lexical_only_collection_test.cpp).
  CollectionOptions o;
  o.model_id = "test-model";
  auto c = Collection::open(dir + "/x", o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(c.status().message().find("dimension"), std::string::npos);
  o = CollectionOptions();
  o.index_factory = "HNSW32";
  c = Collection::open(dir + "/w", o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("dimension"), std::string::npos);
  EXPECT_NE(c.status().message().find("HNSW32"), std::string::npos);
  o = CollectionOptions();
  auto bad = Collection::open(dir + "/y", options("NoSuchIndex42"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("NoSuchIndex42"), std::string::npos);
  auto idmap = Collection::open(dir + "/z", options("IDMap,Flat"));
  ASSERT_FALSE(idmap.ok());
  o.read_only = true;
  auto missing = Collection::open(dir + "/nothing", o);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
}

TEST(CollectionTest, ModelDimensionAndIndexMismatchesAreErrorsNamingBoth) {
  const std::string dir = ragkit::testing::make_temp_dir("coll");
  { ASSERT_TRUE(open_ok(dir)); }
  CollectionOptions o = options();
  o.model_id = "other-model";
  auto c = Collection::open(dir, o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(c.status().message().find("test-model"), std::string::npos);
  EXPECT_NE(c.status().message().find("other-model"), std::string::npos);
  o = options();
  o.dimension = 384;
  c = Collection::open(dir, o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("16"), std::string::npos);
  EXPECT_NE(c.status().message().find("384"), std::string::npos);
  c = Collection::open(dir, options("HNSW32"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("HNSW32"), std::string::npos);
  // The collection is intact afterwards.
  EXPECT_TRUE(open_ok(dir));
}

// Rewrites the stored schema version straight in RocksDB, as an older or newer build would
// have left it.
void set_schema_version(const std::string& dir, const std::string& version) {
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : {"default", "documents", "chunks", "vectors", "lexical", "meta"}) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir + "/db", families, &handles, &db).ok());
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[5], "schema_version", version).ok());
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  delete db;
}

TEST(CollectionTest, NewerSchemaIsRefusedAndOlderWithoutMigrationIsAClearError) {
  const std::string dir = ragkit::testing::make_temp_dir("coll");
  std::mt19937_64 rng(2);
  {
    auto c = open_ok(dir);
    ASSERT_TRUE(c->upsert(make_doc(rng, "a", 2)).ok());
  }
  set_schema_version(dir, std::to_string(kCollectionSchemaVersion + 1));
  auto c = Collection::open(dir, CollectionOptions());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kNotSupported);
  EXPECT_NE(c.status().message().find("newer ragkit"), std::string::npos) << c.status().message();

  set_schema_version(dir, "0");
  c = Collection::open(dir, CollectionOptions());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("cannot migrate"), std::string::npos)
      << c.status().message();

  set_schema_version(dir, std::to_string(kCollectionSchemaVersion));
  auto ok = open_ok(dir, CollectionOptions());
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->documents().size(), 1u);
}

TEST(CollectionTest, UpsertReplacesAllChunksAndRemoveDeletesEverything) {
  const std::string dir = ragkit::testing::make_temp_dir("coll");
  std::mt19937_64 rng(3);
  auto c = open_ok(dir);
  const DocumentInput v1 = make_doc(rng, "doc", 5);
  ASSERT_TRUE(c->upsert(v1).ok());
  ASSERT_TRUE(c->upsert(make_doc(rng, "other", 2)).ok());
  const DocumentRecord old = *c->document("doc");
  const DocumentInput v2 = make_doc(rng, "doc", 2);
  ASSERT_TRUE(c->upsert(v2).ok());
  const DocumentRecord now = *c->document("doc");
  EXPECT_NE(now.document_id, old.document_id);  // fresh ids: an old id never comes back
  EXPECT_EQ(now.chunk_count, 2u);
  for (uint32_t i = 0; i < 5; ++i) {
    EXPECT_EQ(c->chunk(old.chunk_id(i)).status().code(), Status::Code::kNotFound);
    EXPECT_FALSE(c->vector(old.chunk_id(i)).ok());
  }
  EXPECT_EQ(c->chunk(now.chunk_id(1))->text, v2.chunks[1].text);
  // Searching with an old chunk's vector never returns the old chunks.
  for (const auto& chunk : v1.chunks) {
    auto hits = c->search_dense(chunk.embedding, 10);
    ASSERT_TRUE(hits.ok());
    EXPECT_EQ(hits->size(), 4u);
    for (const SearchHit& h : *hits) EXPECT_NE(h.document_id, old.document_id);
  }
  EXPECT_EQ(c->stats().chunks, 4u);

  auto removed = c->remove("doc");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  EXPECT_FALSE(*c->remove("doc"));
  EXPECT_FALSE(c->document("doc"));
  EXPECT_FALSE(c->chunk(now.chunk_id(0)).ok());
  auto hits = c->search_dense(v2.chunks[0].embedding, 10);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 2u);
  for (const SearchHit& h : *hits) EXPECT_EQ(h.path, "other");
  EXPECT_EQ(c->stats().chunks, 2u);
  EXPECT_EQ(c->stats().lexical_chunks, 2u);
  // And after reopening.
  c.reset();
  c = open_ok(dir);
  EXPECT_EQ(c->documents().size(), 1u);
  EXPECT_EQ(c->stats().index_vectors, 2u);
}

TEST(CollectionTest, UpsertManyIsOneBatchAndBadInputChangesNothing) {
  const std::string dir = ragkit::testing::make_temp_dir("coll");
  std::mt19937_64 rng(4);
  auto c = open_ok(dir);
  std::vector<DocumentInput> batch = {make_doc(rng, "a", 2), make_doc(rng, "b", 3)};
  ASSERT_TRUE(c->upsert_many(batch).ok());
  EXPECT_EQ(c->stats().generation, 1u);
  EXPECT_EQ(c->stats().chunks, 5u);

  DocumentInput wrong_dim = make_doc(rng, "c", 1);
  wrong_dim.chunks[0].embedding.resize(kDim + 1);
  std::vector<DocumentInput> bad = {make_doc(rng, "a", 4), wrong_dim};
  Status s = c->upsert_many(bad);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("17 numbers"), std::string::npos) << s.message();
  EXPECT_EQ(c->document("a")->chunk_count, 2u);  // the first document was not written either
  DocumentInput zero = make_doc(rng, "z", 1);
  std::fill(zero.chunks[0].embedding.begin(), zero.chunks[0].embedding.end(), 0.0f);
  EXPECT_FALSE(c->upsert(zero).ok());
  DocumentInput nan = make_doc(rng, "n", 1);
  nan.chunks[0].embedding[3] = std::nanf("");
  EXPECT_FALSE(c->upsert(nan).ok());
  std::vector<DocumentInput> twice = {make_doc(rng, "d", 1), make_doc(rng, "d", 1)};
  EXPECT_FALSE(c->upsert_many(twice).ok());
  EXPECT_EQ(c->stats().generation, 1u);
  EXPECT_EQ(c->stats().chunks, 5u);
  // A document without chunks is a document.
  DocumentInput empty;
  empty.path = "empty.txt";
  ASSERT_TRUE(c->upsert(empty).ok());
  EXPECT_EQ(c->document("empty.txt")->chunk_count, 0u);
}

TEST(CollectionTest, SecondWriterGetsAnErrorNamingTheHoldersPid) {
  const std::string dir = ragkit::testing::make_temp_dir("coll");
  auto first = open_ok(dir);
  ASSERT_TRUE(first);
  auto second = Collection::open(dir, options());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("open for writing by process " +
                                           std::to_string(::getpid())),
            std::string::npos)
      << second.status().message();
  first.reset();
  EXPECT_TRUE(open_ok(dir));  // released on close
}

TEST(CollectionTest, ReaderSeesTheDataWhileTheWriterIsLiveAndCatchesUp) {
  const std::string dir = ragkit::testing::make_temp_dir("coll");
  std::mt19937_64 rng(5);
  auto writer = open_ok(dir);
  const DocumentInput a = make_doc(rng, "a", 3);
  ASSERT_TRUE(writer->upsert(a).ok());
  CollectionOptions ro;
  ro.read_only = true;
  auto reader = open_ok(dir, ro);
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->documents().size(), 1u);
  auto hits = reader->search_dense(a.chunks[2].embedding, 1);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].chunk_id, writer->document("a")->chunk_id(2));
  EXPECT_FALSE(reader->upsert(make_doc(rng, "x", 1)).ok());
  auto second_reader = open_ok(dir, ro);  // any number of readers
  ASSERT_TRUE(second_reader);

  const DocumentInput b = make_doc(rng, "b", 2);
  ASSERT_TRUE(writer->upsert(b).ok());
  ASSERT_TRUE(writer->remove("a").ok());
  EXPECT_EQ(reader->documents().size(), 1u);  // its view until refresh
  ASSERT_TRUE(reader->refresh().ok());
  ASSERT_EQ(reader->documents().size(), 1u);
  EXPECT_EQ(reader->documents()[0].path, "b");
  hits = reader->search_dense(b.chunks[0].embedding, 5);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_EQ((*hits)[0].path, "b");
  EXPECT_EQ(reader->chunk((*hits)[0].chunk_id)->text, b.chunks[0].text);
}

TEST(CollectionTest, ExportJsonlRoundTripsTheStoredVectors) {
  const std::string dir = ragkit::testing::make_temp_dir("coll");
  std::mt19937_64 rng(6);
  auto c = open_ok(dir);
  ASSERT_TRUE(c->upsert(make_doc(rng, "b.md", 2)).ok());
  ASSERT_TRUE(c->upsert(make_doc(rng, "a.md", 3)).ok());
  std::stringstream out;
  ASSERT_TRUE(c->export_jsonl(out).ok());
  std::map<uint64_t, std::vector<float>> stored;
  ASSERT_TRUE(c->for_each_vector([&](uint64_t id, std::span<const float> v) {
                 stored[id].assign(v.begin(), v.end());
               }).ok());
  std::string line;
  ASSERT_TRUE(std::getline(out, line));
  const auto header = nlohmann::json::parse(line);
  EXPECT_EQ(header["type"], "collection");
  EXPECT_EQ(header["model_id"], "test-model");
  EXPECT_EQ(header["dimension"], kDim);
  EXPECT_EQ(header["chunks"], 5);
  size_t chunks = 0, documents = 0;
  std::vector<std::string> paths;
  while (std::getline(out, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j["type"] == "document") {
      ++documents;
      paths.push_back(j["path"]);
      continue;
    }
    ASSERT_EQ(j["type"], "chunk");
    ++chunks;
    const uint64_t id = j["chunk_id"];
    const auto v = j["vector"].get<std::vector<float>>();
    ASSERT_EQ(v, stored.at(id)) << "bit-exact round trip of chunk " << id;
    auto rec = c->chunk(id);
    EXPECT_EQ(j["text"], rec->text);
    EXPECT_EQ(j["path"], paths.back());
    EXPECT_EQ(j["byte_range"][1], rec->location.byte_end);
  }
  EXPECT_EQ(documents, 2u);
  EXPECT_EQ(chunks, 5u);
  EXPECT_EQ(paths, (std::vector<std::string>{"a.md", "b.md"}));
}

TEST(CollectionTest, BulkLoadWithoutSyncThenFlushIsDurable) {
  const std::string dir = ragkit::testing::make_temp_dir("coll");
  std::mt19937_64 rng(7);
  CollectionOptions o = options();
  o.sync_writes = false;
  auto c = open_ok(dir, o);
  std::vector<DocumentInput> docs;
  for (int i = 0; i < 50; ++i) {
    // Appending, not "d" + std::to_string(i): GCC 12 gives a false -Wrestrict on that operator+.
    std::string path = "d";
    path += std::to_string(i);
    docs.push_back(make_doc(rng, path, 4));
  }
  ASSERT_TRUE(c->upsert_many(docs).ok());
  ASSERT_TRUE(c->flush().ok());
  EXPECT_EQ(c->stats().index_file_generation, c->stats().generation);
  c.reset();
  c = open_ok(dir);
  EXPECT_EQ(c->stats().chunks, 200u);
}

// A missing index.faiss is rebuilt from the stored vectors, and the user is told so in words
// that say it is a rebuild (the crash test counts recoveries by them).
TEST(CollectionTest, AMissingIndexFileIsRebuiltAndSaysSo) {
  const std::string dir = ragkit::testing::make_temp_dir("coll");
  std::mt19937_64 rng(8);
  auto c = open_ok(dir);
  ASSERT_TRUE(c->upsert(make_doc(rng, "a.md", 3)).ok());
  c.reset();
  ASSERT_TRUE(std::filesystem::remove(dir + "/index.faiss"));
  std::vector<std::string> progress;
  CollectionOptions o = options();
  o.progress = [&](std::string_view m, uint64_t, uint64_t) { progress.emplace_back(m); };
  c = open_ok(dir, o);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.front(),
            "index.faiss is missing; rebuilding the 'Flat' index from 3 stored vectors");
  EXPECT_EQ(c->stats().index_vectors, 3u);
}

}  // namespace
}  // namespace ragkit::retrieval
