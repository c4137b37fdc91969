// The crash test: a child process (crash_child/crash_child.cpp) writes to a collection in a loop
// and is killed with SIGKILL at a random moment — during open, a write, an index save or an HNSW
// rebuild. After every kill the collection must open and hold exactly the acknowledged writes
// (the one write in flight may be there or not, wholly), every document's chunks must belong to
// one version, nothing may be orphaned, and search must equal brute force over the stored
// vectors.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "ragkit/retrieval/collection.h"
#include "store/records.h"
#include "crash_child_runner.h"
#include "store_test_util.h"
#include "test_env.h"

namespace ragkit::retrieval {
namespace {

using testing::brute_force;
using testing::ChildRun;
using testing::run_and_kill;
using testing::chunk_count_for;
using testing::chunk_text_for;
using testing::compare_exact;
using testing::random_vector;
using testing::recall;
using testing::unit;
using testing::versioned_document;

constexpr uint32_t kDim = 16;
constexpr int kKeys = 30;

using State = std::map<std::string, std::optional<uint64_t>>;  // key -> version (none: absent)

struct Pending {
  char op = 0;  // 'U', 'R', 'M'
  std::vector<std::pair<std::string, uint64_t>> writes;
};

// Applies the acknowledged writes to `state`; returns the write in flight at the kill, if any.
std::optional<Pending> apply_acknowledged(const std::string& output, State& state,
                                          int* acknowledged) {
  std::istringstream in(output);
  std::string line;
  std::optional<Pending> pending;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // an unterminated last line was cut by the kill: not acknowledged
    if (line == "O") continue;
    if (line.starts_with("E ")) {
      ADD_FAILURE() << "child failed: " << line;
      continue;
    }
    if (line == "A") {
      if (!pending) {
        ADD_FAILURE() << "acknowledgement without a write";
        continue;
      }
      for (const auto& [key, version] : pending->writes) {
        if (pending->op == 'R') {
          state[key] = std::nullopt;
        } else {
          state[key] = version;
        }
      }
      ++*acknowledged;
      pending.reset();
      continue;
    }
    std::istringstream fields(line);
    std::string b, op;
    fields >> b >> op;
    Pending p;
    p.op = op[0];
    std::string key;
    uint64_t version = 0;
    if (p.op == 'R') {
      fields >> key;
      p.writes.emplace_back(key, 0);
    } else {
      while (fields >> key >> version) p.writes.emplace_back(key, version);
    }
    pending = p;
  }
  return pending;
}

// Every chunk and vector key in RocksDB belongs to a live document and chunk index.
void check_no_orphans(const std::string& dir) {
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : {"default", "documents", "chunks", "vectors", "lexical", "meta"}) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(
      rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir + "/db", families, &handles, &db)
          .ok());
  std::map<uint64_t, uint32_t> chunk_counts;  // document id -> chunks
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[1]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto rec = store::decode_document(it->key().ToString(), it->value().ToString());
      ASSERT_TRUE(rec.ok()) << rec.status().to_string();
      chunk_counts[rec->document_id] = rec->chunk_count;
    }
  }
  uint64_t expected_chunks = 0;
  for (const auto& entry : chunk_counts) expected_chunks += entry.second;
  for (int cf : {2, 3}) {
    uint64_t seen = 0;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[cf]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto id = store::parse_chunk_key(it->key().ToString());
      ASSERT_TRUE(id.ok());
      auto doc = chunk_counts.find(document_id_of(*id));
      ASSERT_TRUE(doc != chunk_counts.end()) << "orphaned chunk " << *id << " in cf " << cf;
      ASSERT_LT(chunk_index_of(*id), doc->second) << "orphaned chunk " << *id;
      ++seen;
    }
    EXPECT_EQ(seen, expected_chunks) << "cf " << cf;
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
}

// Counts how the reopenings brought index.faiss up to date.
struct Recoveries {
  int replayed = 0;  // caught up from the change log
  int rebuilt = 0;   // rebuilt from the stored vectors
};

void check_collection(const std::string& dir, State& state, const std::optional<Pending>& pending,
                      bool hnsw, std::mt19937_64& rng, Recoveries& recoveries) {
  std::vector<std::string> progress;
  CollectionOptions options;
  options.progress = [&](std::string_view m, uint64_t, uint64_t) { progress.emplace_back(m); };
  auto opened = Collection::open(dir, options);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  const Collection& c = **opened;
  for (const std::string& m : progress) {
    if (m.find("replaying") != std::string::npos) ++recoveries.replayed;
    if (m.find("rebuilding") != std::string::npos) ++recoveries.rebuilt;
  }

  std::map<std::string, uint64_t> actual;
  uint64_t chunks = 0;
  for (const DocumentRecord& d : c.documents()) {
    ASSERT_TRUE(d.content_hash.starts_with("v"));
    actual[d.path] = std::stoull(d.content_hash.substr(1));
    chunks += d.chunk_count;
  }
  // Acknowledged writes are there; the one in flight is wholly there or wholly absent.
  const auto now_of = [&](const std::string& key) {
    return actual.count(key) ? std::optional<uint64_t>(actual[key]) : std::nullopt;
  };
  std::map<std::string, std::optional<uint64_t>> in_flight;  // key -> its state if applied
  if (pending) {
    for (const auto& [key, version] : pending->writes) {
      in_flight[key] = pending->op == 'R' ? std::nullopt : std::optional<uint64_t>(version);
    }
  }
  bool all_new = true, all_old = true;
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = "k" + std::to_string(k);
    auto flying = in_flight.find(key);
    if (flying == in_flight.end()) {
      ASSERT_EQ(now_of(key), state[key]) << key << ": an acknowledged write is missing or a ghost";
      continue;
    }
    if (now_of(key) != flying->second) all_new = false;
    if (now_of(key) != state[key]) all_old = false;
  }
  for (const auto& entry : actual) {
    ASSERT_TRUE(entry.first.starts_with("k")) << "unknown document " << entry.first;
  }
  ASSERT_TRUE(all_new || all_old) << "the write in flight was applied in part";
  for (const auto& entry : in_flight) state[entry.first] = now_of(entry.first);
  // Every document is whole and of one version: chunk count, texts and vectors.
  for (const DocumentRecord& d : c.documents()) {
    const uint64_t version = actual[d.path];
    ASSERT_EQ(d.chunk_count, chunk_count_for(d.path, version)) << d.path;
    const DocumentInput original = versioned_document(d.path, version, kDim);
    for (uint32_t i = 0; i < d.chunk_count; ++i) {
      auto chunk = c.chunk(d.chunk_id(i));
      ASSERT_TRUE(chunk.ok()) << chunk.status().to_string();
      ASSERT_EQ(chunk->text, chunk_text_for(d.path, version, i));
      auto v = c.vector(d.chunk_id(i));
      ASSERT_TRUE(v.ok());
      const auto expected = unit(original.chunks[i].embedding);
      for (uint32_t j = 0; j < kDim; ++j) ASSERT_NEAR((*v)[j], expected[j], 1e-6f);
    }
  }
  const CollectionStats stats = c.stats();
  ASSERT_EQ(stats.chunks, chunks);
  ASSERT_EQ(stats.lexical_chunks, chunks);
  ASSERT_EQ(stats.index_vectors, chunks + stats.tombstones);
  ASSERT_EQ(stats.index_file_generation, stats.generation) << "open saves a caught-up index";
  // Search equals brute force over the stored vectors.
  double total_recall = 0;
  for (int q = 0; q < 5; ++q) {
    const auto query = random_vector(rng, kDim);
    auto hits = c.search_dense(query, 10);
    ASSERT_TRUE(hits.ok()) << hits.status().to_string();
    const auto reference = brute_force(c, unit(query), 10);
    for (const SearchHit& h : *hits) {
      auto doc = c.document(h.path);
      ASSERT_TRUE(doc && doc->document_id == h.document_id) << "a deleted chunk was returned";
    }
    if (!hnsw) {
      ASSERT_EQ(compare_exact(*hits, reference), "");
    } else {
      ASSERT_EQ(hits->size(), reference.size());
      total_recall += recall(*hits, reference);
    }
  }
  if (hnsw) {
    EXPECT_GE(total_recall / 5, 0.9);
  }
  opened->reset();
  check_no_orphans(dir);
}

void crash_rounds(const std::string& factory, int rounds, uint64_t seed) {
  const std::string dir = ragkit::testing::make_temp_dir("crash") + "/collection";
  std::mt19937_64 rng(seed);
  State state;
  int acknowledged = 0, in_flight_kills = 0, kills_during_open = 0;
  Recoveries recoveries;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < rounds; ++round) {
    // One round in five kills from the start (often inside open: replay, rebuild, save);
    // the others after the child has opened, 0-150 ms into its write loop.
    const bool after_open = rng() % 5 != 0;
    const auto delay = std::chrono::microseconds(after_open ? rng() % 150000 : rng() % 60000);
    const ChildRun run = run_and_kill({dir, factory, std::to_string(seed * 1000 + round),
                                       std::to_string(kKeys),
                                       std::to_string(static_cast<uint64_t>(round + 1) * 1000000)},
                                      delay, after_open);
    ASSERT_TRUE(run.killed) << "the child ended by itself; its output:\n"
                            << run.output.substr(run.output.size() > 2000 ? run.output.size() - 2000 : 0);
    if (!run.opened) ++kills_during_open;
    const std::optional<Pending> pending = apply_acknowledged(run.output, state, &acknowledged);
    if (pending) ++in_flight_kills;
    if (!run.opened && round == 0) continue;  // killed before the collection existed
    ASSERT_NO_FATAL_FAILURE(check_collection(dir, state, pending, factory != "Flat", rng, recoveries))
        << "round " << round;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: %d rounds, %d acknowledged writes, %d kills with a write in flight, "
              "%d kills before open finished; reopenings that replayed the change log: %d, "
              "rebuilt the index: %d; %.1f s\n",
              factory.c_str(), rounds, acknowledged, in_flight_kills, kills_during_open,
              recoveries.replayed, recoveries.rebuilt, seconds);
  EXPECT_GT(recoveries.replayed, rounds / 4) << "kills after unsaved writes must be replayed";
  EXPECT_GT(acknowledged, rounds * 3) << "the child should get some writes done per round";
  EXPECT_GT(in_flight_kills, rounds / 4) << "most kills should land inside a write";
}

TEST(CrashTest, FlatCollectionSurvivesSigkillAtRandomMoments) { crash_rounds("Flat", 50, 1); }

TEST(CrashTest, HnswCollectionSurvivesSigkillAtRandomMoments) { crash_rounds("HNSW32", 20, 2); }

}  // namespace
}  // namespace ragkit::retrieval
