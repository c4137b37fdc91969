// Write and search latency of a collection (libretrieval's store) at 100k chunks of 384
// dimensions (all-MiniLM-L6-v2's size): updating (upsert) and deleting one 20-chunk document,
// and a top-10 search, for Flat and HNSW32. Every write is the acknowledged kind
// (sync_writes = true: the RocksDB log is fsynced before it returns). The collections are
// bulk-loaded once per run (upsert_many without sync, then flush), which is reported too.
//
//   build/bench/ragkit_store_bench [--benchmark_filter=HNSW]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <vector>

#include "ragkit/retrieval/collection.h"

namespace {

using namespace ragkit::retrieval;

constexpr uint32_t kDim = 384;
constexpr int kDocuments = 5000;
constexpr int kChunksPerDocument = 20;

std::vector<float> random_vector(std::mt19937_64& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(kDim);
  for (float& x : v) x = normal(rng);
  return v;
}

DocumentInput make_document(std::mt19937_64& rng, int d) {
  DocumentInput doc;
  doc.path = "docs/file" + std::to_string(d) + ".md";
  doc.file_type = "md";
  for (int c = 0; c < kChunksPerDocument; ++c) {
    ChunkInput chunk;
    chunk.text = "chunk " + std::to_string(c) + " of document " + std::to_string(d);
    chunk.embedding = random_vector(rng);
    doc.chunks.push_back(std::move(chunk));
  }
  return doc;
}

struct Loaded {
  std::unique_ptr<Collection> collection;
  std::string dir;
  int next_delete = 0;
};

// Closed at the end of main: RocksDB must not be closed during static destruction.
std::map<std::string, Loaded> g_loaded;

Loaded& collection_for(const std::string& factory) {
  Loaded& l = g_loaded[factory];
  if (l.collection) return l;
  l.dir = (std::filesystem::temp_directory_path() /
           ("ragkit-store-bench-" + std::to_string(::getpid()) + "-" + factory.substr(0, 4)))
              .string();
  std::filesystem::remove_all(l.dir);
  CollectionOptions options;
  options.dimension = kDim;
  options.model_id = "bench";
  options.index_factory = factory;
  options.sync_writes = false;  // bulk load: sync once at the end
  options.index_save_min_changes = uint64_t{1} << 40;  // measure writes, not index saves
  auto opened = Collection::open(l.dir, options);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().to_string().c_str());
    std::exit(1);
  }
  std::mt19937_64 rng(1);
  const auto start = std::chrono::steady_clock::now();
  std::vector<DocumentInput> batch;
  for (int d = 0; d < kDocuments; ++d) {
    batch.push_back(make_document(rng, d));
    if (batch.size() == 250 || d + 1 == kDocuments) {
      if (!(*opened)->upsert_many(batch).ok()) std::exit(1);
      batch.clear();
    }
  }
  const auto loaded_at = std::chrono::steady_clock::now();
  if (!(*opened)->flush().ok()) std::exit(1);
  const auto flushed_at = std::chrono::steady_clock::now();
  const CollectionStats s = (*opened)->stats();
  std::fprintf(stderr,
               "%s: bulk load of %llu chunks %.1f s, flush (index save) %.2f s, index memory "
               "%.0f MiB, disk %.0f MiB\n",
               factory.c_str(), static_cast<unsigned long long>(s.chunks),
               std::chrono::duration<double>(loaded_at - start).count(),
               std::chrono::duration<double>(flushed_at - loaded_at).count(),
               s.index_memory_bytes / 1048576.0, s.disk_bytes / 1048576.0);
  // Reopen with acknowledged (synced) writes for the measurements.
  opened->reset();
  options.sync_writes = true;
  l.collection = std::move(Collection::open(l.dir, options)).value();
  return l;
}

void BM_UpdateDocument(benchmark::State& state, const std::string& factory) {
  Loaded& l = collection_for(factory);
  std::mt19937_64 rng(2);
  int d = kDocuments - 1;
  for (auto _ : state) {
    state.PauseTiming();
    const DocumentInput doc = make_document(rng, d);  // same path, new chunks and vectors
    d = d == kDocuments / 2 ? kDocuments - 1 : d - 1;
    state.ResumeTiming();
    if (!l.collection->upsert(doc).ok()) state.SkipWithError("upsert failed");
  }
  state.counters["tombstones"] = static_cast<double>(l.collection->stats().tombstones);
}

void BM_DeleteDocument(benchmark::State& state, const std::string& factory) {
  Loaded& l = collection_for(factory);
  for (auto _ : state) {
    const std::string path = "docs/file" + std::to_string(l.next_delete++) + ".md";
    auto removed = l.collection->remove(path);
    if (!removed.ok() || !*removed) state.SkipWithError("remove failed");
  }
  state.counters["chunks"] = static_cast<double>(l.collection->stats().chunks);
}

void BM_Search(benchmark::State& state, const std::string& factory) {
  Loaded& l = collection_for(factory);
  std::mt19937_64 rng(3);
  std::vector<std::vector<float>> queries;
  for (int i = 0; i < 64; ++i) queries.push_back(random_vector(rng));
  size_t i = 0;
  for (auto _ : state) {
    auto hits = l.collection->search_dense(queries[i++ % queries.size()], 10);
    if (!hits.ok()) state.SkipWithError("search failed");
    benchmark::DoNotOptimize(hits);
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (const std::string factory : {"Flat", "HNSW32"}) {
    benchmark::RegisterBenchmark(("UpdateDocument/" + factory).c_str(), BM_UpdateDocument, factory)
        ->Unit(benchmark::kMillisecond)->Iterations(100);
    benchmark::RegisterBenchmark(("DeleteDocument/" + factory).c_str(), BM_DeleteDocument, factory)
        ->Unit(benchmark::kMillisecond)->Iterations(100);
    benchmark::RegisterBenchmark(("SearchTop10/" + factory).c_str(), BM_Search, factory)
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_loaded.clear();
  // The collections live in the temp dir only for this run.
  const std::string prefix = "ragkit-store-bench-" + std::to_string(::getpid()) + "-";
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::temp_directory_path())) {
    if (entry.path().filename().string().starts_with(prefix)) {
      std::error_code ec;
      std::filesystem::remove_all(entry.path(), ec);
    }
  }
  return 0;
}
