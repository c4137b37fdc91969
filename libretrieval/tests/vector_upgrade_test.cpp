// Collection::add_vectors: a lexical-only collection made searchable by meaning in place. The
// documents, chunks and BM25 postings must come out untouched, every chunk must get the vector
// of its text, dense search must equal brute force, and a run that fails or is killed must
// leave a working lexical-only collection that the next run finishes without re-embedding
// what was stored.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "crash_child_runner.h"
#include "ragkit/retrieval/collection.h"
#include "store_test_util.h"
#include "test_env.h"

namespace ragkit::retrieval {
namespace {

using testing::brute_force;
using testing::compare_exact;
using testing::random_vector;
using testing::text_vector;
using testing::unit;
using testing::versioned_document;

constexpr uint32_t kDim = 16;  // as the crash child's

DocumentInput without_vectors(DocumentInput doc) {
  for (ChunkInput& chunk : doc.chunks) chunk.embedding.clear();
  return doc;
}

std::unique_ptr<Collection> open_ok(const std::string& dir, CollectionOptions o = {}) {
  auto c = Collection::open(dir, std::move(o));
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(c).value() : nullptr;
}

// A lexical-only collection of documents k0..k<n-1>, version 1.
std::string make_lexical_collection(const std::string& name, int documents) {
  const std::string dir = ragkit::testing::make_temp_dir(name) + "/collection";
  auto c = open_ok(dir);
  for (int k = 0; k < documents; ++k) {
    EXPECT_TRUE(c->upsert(without_vectors(versioned_document("k" + std::to_string(k), 1, kDim)))
                    .ok());
  }
  return dir;
}

// The test model: counts the texts it embeds; fails on call number `fail_on_call` (1-based).
struct TestModel {
  std::string id = "upgrade-model";
  size_t texts = 0;
  size_t calls = 0;
  size_t fail_on_call = 0;
  VectorUpgrade spec(size_t batch = 4) {
    VectorUpgrade up;
    up.model_id = id;
    up.dimension = kDim;
    up.batch = batch;
    up.embed = [this](std::span<const std::string> in) -> Result<std::vector<float>> {
      if (++calls == fail_on_call) return Status::io_error("the model crashed");
      texts += in.size();
      std::vector<float> out;
      for (const std::string& text : in) {
        const auto v = text_vector(text, kDim);
        out.insert(out.end(), v.begin(), v.end());
      }
      return out;
    };
    return up;
  }
};

// The export without its header line and vectors: documents, chunks, texts and locations.
std::string export_without_vectors(const Collection& c) {
  std::ostringstream out;
  EXPECT_TRUE(c.export_jsonl(out).ok());
  std::istringstream in(out.str());
  std::string line, kept;
  std::getline(in, line);  // the header names model and dimension, which do change
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    j.erase("vector");
    kept += j.dump() + "\n";
  }
  return kept;
}

std::vector<std::vector<SearchHit>> lexical_results(const Collection& c) {
  std::vector<std::vector<SearchHit>> out;
  for (const char* q : {"key k3", "version 1 chunk 2", "chunk 0", "k11 k12"}) {
    auto hits = c.search_lexical(q, 10);
    EXPECT_TRUE(hits.ok()) << hits.status().to_string();
    out.push_back(hits.ok() ? *hits : std::vector<SearchHit>());
  }
  return out;
}

// Every chunk holds the unit vector of its text; dense search equals brute force.
void expect_complete(const Collection& c, const std::string& model, std::mt19937_64& rng) {
  const CollectionStats stats = c.stats();
  ASSERT_EQ(stats.model_id, model);
  ASSERT_EQ(stats.dimension, kDim);
  ASSERT_EQ(stats.index_family, "flat");
  ASSERT_EQ(stats.index_vectors, stats.chunks);
  uint64_t vectors = 0;
  ASSERT_TRUE(c.for_each_vector([&](uint64_t, std::span<const float>) { ++vectors; }).ok());
  ASSERT_EQ(vectors, stats.chunks) << "a vector of a chunk that is gone, or a chunk without one";
  for (const DocumentRecord& d : c.documents()) {
    for (uint32_t i = 0; i < d.chunk_count; ++i) {
      auto chunk = c.chunk(d.chunk_id(i));
      ASSERT_TRUE(chunk.ok());
      auto v = c.vector(d.chunk_id(i));
      ASSERT_TRUE(v.ok()) << v.status().to_string();
      const auto expected = unit(text_vector(chunk->text, kDim));
      for (uint32_t j = 0; j < kDim; ++j) ASSERT_NEAR((*v)[j], expected[j], 1e-6f) << d.path;
    }
  }
  for (int q = 0; q < 5; ++q) {
    const auto query = random_vector(rng, kDim);
    auto hits = c.search_dense(query, 10);
    ASSERT_TRUE(hits.ok()) << hits.status().to_string();
    ASSERT_EQ(compare_exact(*hits, brute_force(c, unit(query), 10)), "");
  }
}

TEST(VectorUpgradeTest, AddsVectorsAndLeavesEverythingElseAsItWas) {
  const std::string dir = make_lexical_collection("upgrade", 12);
  std::mt19937_64 rng(7);
  std::vector<std::string> progress;
  CollectionOptions options;
  options.progress = [&](std::string_view m, uint64_t, uint64_t) { progress.emplace_back(m); };
  auto c = open_ok(dir, options);
  const std::string before = export_without_vectors(*c);
  const auto lexical_before = lexical_results(*c);
  const CollectionStats old_stats = c->stats();
  ASSERT_EQ(old_stats.dimension, 0u);

  TestModel model;
  auto summary = c->add_vectors(model.spec(5));
  ASSERT_TRUE(summary.ok()) << summary.status().to_string();
  EXPECT_EQ(summary->chunks, old_stats.chunks);
  EXPECT_EQ(summary->embedded, old_stats.chunks);
  EXPECT_EQ(summary->resumed, 0u);
  EXPECT_EQ(model.texts, old_stats.chunks) << "each chunk embedded once";
  ASSERT_FALSE(progress.empty());
  EXPECT_NE(progress.front().find("adding vectors of model 'upgrade-model'"), std::string::npos);

  ASSERT_NO_FATAL_FAILURE(expect_complete(*c, "upgrade-model", rng));
  EXPECT_EQ(export_without_vectors(*c), before) << "documents or chunks changed";
  const auto lexical_after = lexical_results(*c);
  for (size_t q = 0; q < lexical_before.size(); ++q) {
    ASSERT_EQ(lexical_after[q].size(), lexical_before[q].size());
    for (size_t i = 0; i < lexical_after[q].size(); ++i) {
      EXPECT_EQ(lexical_after[q][i].chunk_id, lexical_before[q][i].chunk_id);
      EXPECT_EQ(lexical_after[q][i].score, lexical_before[q][i].score);
    }
  }
  EXPECT_EQ(c->stats().generation, old_stats.generation + 1);
  EXPECT_EQ(c->stats().index_file_generation, c->stats().generation) << "index.faiss saved";
  auto hybrid = c->search_hybrid("key k3", text_vector("key=k3 version=1 chunk=0", kDim), 3);
  ASSERT_TRUE(hybrid.ok()) << hybrid.status().to_string();
  EXPECT_EQ((*hybrid)[0].path, "k3");

  // Writes now need vectors of the model.
  EXPECT_FALSE(c->upsert(without_vectors(versioned_document("k0", 2, kDim))).ok());
  ASSERT_TRUE(c->upsert(versioned_document("k0", 2, kDim)).ok());
  // The same model again does nothing; another one is refused.
  TestModel again;
  auto same = c->add_vectors(again.spec());
  ASSERT_TRUE(same.ok()) << same.status().to_string();
  EXPECT_EQ(again.texts, 0u);
  TestModel other;
  other.id = "other-model";
  auto refused = c->add_vectors(other.spec());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("holds 16-dimensional vectors of model "
                                            "'upgrade-model'"),
            std::string::npos)
      << refused.status().to_string();
  c.reset();

  // It stays that way: opens with or without the model, without rebuilding anything.
  progress.clear();
  CollectionOptions reopen = options;
  reopen.model_id = "upgrade-model";
  reopen.dimension = kDim;
  c = open_ok(dir, reopen);
  ASSERT_TRUE(c);
  EXPECT_TRUE(progress.empty()) << progress.front();
  EXPECT_TRUE(c->search_dense(random_vector(rng, kDim), 3).ok());
}

TEST(VectorUpgradeTest, AFailedRunLeavesALexicalCollectionAndTheNextOneContinues) {
  const std::string dir = make_lexical_collection("upgrade-fail", 12);
  std::mt19937_64 rng(8);
  auto c = open_ok(dir);
  const uint64_t chunks = c->stats().chunks;
  TestModel failing;
  failing.fail_on_call = 4;  // after 3 batches of 4 chunks
  auto failed = c->add_vectors(failing.spec(4));
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("12 of " + std::to_string(chunks) +
                                           " chunks have vectors; running it again continues"),
            std::string::npos)
      << failed.status().to_string();
  EXPECT_EQ(c->stats().dimension, 0u) << "still lexical-only";
  EXPECT_FALSE(c->search_dense(random_vector(rng, kDim), 3).ok());
  EXPECT_TRUE(c->search_lexical("key k3", 3).ok());
  // Meanwhile a document with stored vectors is replaced and one is added: the vectors of the
  // replaced chunks must not survive into the index.
  const DocumentRecord k0 = *c->document("k0");
  ASSERT_TRUE(c->upsert(without_vectors(versioned_document("k0", 2, kDim))).ok());
  ASSERT_TRUE(c->upsert(without_vectors(versioned_document("k99", 1, kDim))).ok());
  c.reset();

  c = open_ok(dir);
  const uint64_t now_chunks = c->stats().chunks;
  TestModel model;
  auto done = c->add_vectors(model.spec(4));
  ASSERT_TRUE(done.ok()) << done.status().to_string();
  EXPECT_EQ(done->embedded + done->resumed, now_chunks);
  EXPECT_EQ(done->resumed, 12 - k0.chunk_count) << "the first run's vectors, less k0's";
  EXPECT_EQ(model.texts, done->embedded);
  ASSERT_NO_FATAL_FAILURE(expect_complete(*c, "upgrade-model", rng));

  // Another model after an interrupted run starts over.
  const std::string dir2 = make_lexical_collection("upgrade-switch", 6);
  auto d = open_ok(dir2);
  TestModel first;
  first.fail_on_call = 2;
  ASSERT_FALSE(d->add_vectors(first.spec(4)).ok());
  TestModel second;
  second.id = "second-model";
  auto switched = d->add_vectors(second.spec(4));
  ASSERT_TRUE(switched.ok()) << switched.status().to_string();
  EXPECT_EQ(switched->resumed, 0u);
  EXPECT_EQ(second.texts, d->stats().chunks);
  ASSERT_NO_FATAL_FAILURE(expect_complete(*d, "second-model", rng));
}

TEST(VectorUpgradeTest, RejectsWhatCannotWork) {
  const std::string dir = make_lexical_collection("upgrade-bad", 3);
  auto c = open_ok(dir);
  TestModel model;
  VectorUpgrade no_dimension = model.spec();
  no_dimension.dimension = 0;
  EXPECT_EQ(c->add_vectors(no_dimension).status().code(), Status::Code::kInvalidArgument);
  VectorUpgrade bad_factory = model.spec();
  bad_factory.index_factory = "NoSuchIndex";
  EXPECT_FALSE(c->add_vectors(bad_factory).ok());
  VectorUpgrade short_rows = model.spec();
  short_rows.embed = [](std::span<const std::string> in) -> Result<std::vector<float>> {
    return std::vector<float>(in.size() * (kDim - 1), 1.0f);
  };
  auto wrong = c->add_vectors(short_rows);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("numbers for"), std::string::npos);
  EXPECT_EQ(c->stats().dimension, 0u);
  c.reset();
  CollectionOptions read_only;
  read_only.read_only = true;
  auto r = open_ok(dir, read_only);
  EXPECT_FALSE(r->add_vectors(model.spec()).ok());
}

// A reader open across the upgrade catches up on refresh().
TEST(VectorUpgradeTest, AReaderSeesTheVectorsAfterRefresh) {
  const std::string dir = make_lexical_collection("upgrade-reader", 5);
  std::mt19937_64 rng(9);
  auto writer = open_ok(dir);
  CollectionOptions read_only;
  read_only.read_only = true;
  auto reader = open_ok(dir, read_only);
  ASSERT_EQ(reader->stats().dimension, 0u);
  TestModel model;
  ASSERT_TRUE(writer->add_vectors(model.spec()).ok());
  ASSERT_TRUE(reader->refresh().ok());
  ASSERT_NO_FATAL_FAILURE(expect_complete(*reader, "upgrade-model", rng));
}

// SIGKILL at random moments of an upgrade (while embedding, storing, building or saving the
// index): after each, the collection opens, is either lexical-only with all its documents or
// complete, and the next run resumes.
TEST(VectorUpgradeTest, SurvivesSigkillAtRandomMoments) {
  std::mt19937_64 rng(11);
  int kills = 0, interrupted = 0, completed = 0, resumed_runs = 0;
  std::string dir;
  std::map<std::string, uint64_t> versions;  // the documents the collection must hold
  for (int round = 0; round < 40; ++round) {
    if (dir.empty()) {
      dir = make_lexical_collection("upgrade-crash", 30);
      versions.clear();
      for (int k = 0; k < 30; ++k) versions["k" + std::to_string(k)] = 1;
    }
    const auto delay = std::chrono::microseconds(rng() % 60000);
    const testing::ChildRun run = testing::run_and_kill({"upgrade", dir, "Flat"}, delay, true);
    ASSERT_EQ(run.output.find("E "), std::string::npos) << run.output;
    kills += run.killed;
    if (run.output.find("\nD ") != std::string::npos) {
      std::istringstream done(run.output.substr(run.output.find("\nD ") + 3));
      uint64_t embedded = 0, resumed = 0;
      done >> embedded >> resumed;
      resumed_runs += resumed > 0;
    }
    auto c = open_ok(dir);
    ASSERT_TRUE(c) << "round " << round;
    std::map<std::string, uint64_t> actual;
    for (const DocumentRecord& d : c->documents()) actual[d.path] = std::stoull(d.content_hash.substr(1));
    ASSERT_EQ(actual, versions) << "round " << round;
    ASSERT_TRUE(c->search_lexical("key k3", 3).ok());
    if (c->stats().dimension == 0) {
      ++interrupted;
      // Between runs, the user keeps indexing: a replaced document orphans stored vectors.
      const std::string key = "k" + std::to_string(rng() % 30);
      ASSERT_TRUE(c->upsert(without_vectors(versioned_document(key, ++versions[key], kDim))).ok());
      continue;
    }
    ++completed;
    ASSERT_NO_FATAL_FAILURE(expect_complete(*c, "upgrade-model", rng)) << "round " << round;
    dir.clear();  // start over with a fresh lexical-only collection
  }
  std::printf("40 rounds: %d kills, %d left a lexical-only collection, %d completed, %d resumed "
              "an earlier run\n",
              kills, interrupted, completed, resumed_runs);
  EXPECT_GE(interrupted, 8);
  EXPECT_GE(completed, 4);
  EXPECT_GE(resumed_runs, 2);
}

}  // namespace
}  // namespace ragkit::retrieval
