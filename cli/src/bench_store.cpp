#include "bench_store.h"

#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/HNSW.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <unordered_set>

#include "cli_util.h"
#include "ragkit/retrieval/collection.h"

namespace ragkit::cli {
namespace {

namespace fs = std::filesystem;
using retrieval::Collection;
using Clock = std::chrono::steady_clock;
using FaissId = faiss::Index::idx_t;

constexpr size_t kChunksPerDocument = 20;
constexpr size_t kDocumentsPerBatch = 50;
constexpr size_t kTopK = 10;
constexpr size_t kTimedWrites = 50;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Deterministic data. `uniform`: Gaussian vectors, so directions uniform on the sphere (the
// hardest case for approximate indexes: every point is about as far as every other).
// `clustered`: noise around one of 1,000 random centres, as embeddings crowd into topics.
// `anisotropic`: Gaussian with the variance of the i-th principal direction falling as 1/i, in a
// random orthonormal basis — the decaying spectrum that text embeddings show, where a few
// directions carry most of the variance (and nearest neighbours mean something).
class VectorSource {
 public:
  VectorSource(std::string kind, size_t dimension, uint64_t seed)
      : kind_(std::move(kind)), dimension_(dimension), rng_(seed) {
    std::mt19937_64 shape_rng(12345);  // the same centres or basis for every seed
    if (kind_ == "clustered") {
      centres_.resize(1000 * dimension_);
      for (float& x : centres_) x = normal_(shape_rng);
      for (size_t c = 0; c < 1000; ++c) normalise(&centres_[c * dimension_]);
    } else if (kind_ == "anisotropic") {
      basis_ = random_orthonormal_basis(shape_rng);
      scale_.resize(dimension_);
      for (size_t i = 0; i < dimension_; ++i) scale_[i] = 1.0f / std::sqrt(float(i + 1));
    }
  }
  void fill(float* out, size_t n) {
    std::vector<float> z(dimension_);
    for (size_t i = 0; i < n; ++i) {
      float* v = out + i * dimension_;
      if (kind_ == "clustered") {
        const float* c = &centres_[(rng_() % 1000) * dimension_];
        const float noise = 0.6f / std::sqrt(static_cast<float>(dimension_));
        for (size_t j = 0; j < dimension_; ++j) v[j] = c[j] + noise * normal_(rng_);
      } else if (kind_ == "anisotropic") {
        for (size_t j = 0; j < dimension_; ++j) z[j] = scale_[j] * normal_(rng_);
        std::fill(v, v + dimension_, 0.0f);
        for (size_t r = 0; r < dimension_; ++r) {  // v = sum_r z_r basis_r
          const float* b = &basis_[r * dimension_];
          for (size_t j = 0; j < dimension_; ++j) v[j] += z[r] * b[j];
        }
      } else {
        for (size_t j = 0; j < dimension_; ++j) v[j] = normal_(rng_);
      }
      normalise(v);
    }
  }

 private:
  void normalise(float* v) const {
    double s = 0;
    for (size_t j = 0; j < dimension_; ++j) s += double(v[j]) * v[j];
    const float inv = static_cast<float>(1.0 / std::sqrt(s));
    for (size_t j = 0; j < dimension_; ++j) v[j] *= inv;
  }
  // Gram-Schmidt over Gaussian rows (in double: 384 rows stay orthogonal to ~1e-12).
  std::vector<float> random_orthonormal_basis(std::mt19937_64& rng) {
    const size_t d = dimension_;
    std::vector<double> q(d * d);
    std::normal_distribution<double> normal;
    for (size_t r = 0; r < d; ++r) {
      double* row = &q[r * d];
      for (size_t j = 0; j < d; ++j) row[j] = normal(rng);
      for (int pass = 0; pass < 2; ++pass) {
        for (size_t p = 0; p < r; ++p) {
          const double* prev = &q[p * d];
          double dot = 0;
          for (size_t j = 0; j < d; ++j) dot += row[j] * prev[j];
          for (size_t j = 0; j < d; ++j) row[j] -= dot * prev[j];
        }
      }
      double norm = 0;
      for (size_t j = 0; j < d; ++j) norm += row[j] * row[j];
      for (size_t j = 0; j < d; ++j) row[j] /= std::sqrt(norm);
    }
    return std::vector<float>(q.begin(), q.end());
  }
  std::string kind_;
  size_t dimension_;
  std::mt19937_64 rng_;
  std::normal_distribution<float> normal_;
  std::vector<float> centres_;
  std::vector<float> basis_, scale_;
};

// One search setting of an index family: a label and the knobs for ragkit and the peer.
struct SearchSetting {
  std::string label;  // "efSearch 64", "nprobe 16", "exact"
  int ef_search = 0;
  int nprobe = 0;
};

std::vector<SearchSetting> settings_for(const BenchStoreOptions& o, const std::string& factory) {
  std::vector<SearchSetting> out;
  if (factory.find("HNSW") != std::string::npos) {
    for (int ef : o.ef_search) out.push_back({"efSearch " + std::to_string(ef), ef, 0});
  } else if (factory.rfind("IVF", 0) == 0) {
    for (int nprobe : o.nprobe) out.push_back({"nprobe " + std::to_string(nprobe), 0, nprobe});
  } else {
    out.push_back({"exact", 0, 0});
  }
  return out;
}

size_t ivf_lists(const std::string& factory) {
  if (factory.rfind("IVF", 0) != 0) return 0;
  return std::strtoull(factory.c_str() + 3, nullptr, 10);
}

// Runs `search(i)` for queries 0..n-1 spread over `threads` threads; returns queries/s.
template <typename Search>
double queries_per_second(size_t n, int threads, Search search) {
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      omp_set_num_threads(1);  // one query per call: FAISS's OpenMP would only add overhead
      for (size_t i = t; i < n; i += threads) search(i);
    });
  }
  for (auto& th : pool) th.join();
  return static_cast<double>(n) / seconds_since(start);
}

double recall_at_k(const std::vector<FaissId>& truth, const std::vector<FaissId>& found, size_t n) {
  size_t hits = 0;
  for (size_t q = 0; q < n; ++q) {
    std::unordered_set<FaissId> want(truth.begin() + q * kTopK, truth.begin() + (q + 1) * kTopK);
    for (size_t r = 0; r < kTopK; ++r) hits += want.count(found[q * kTopK + r]);
  }
  return static_cast<double>(hits) / static_cast<double>(n * kTopK);
}

struct Percentiles {
  double median_ms = 0, max_ms = 0;
};
Percentiles summarise(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.back()};
}

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// Chunk i of the data set belongs to document i / 20 ("doc-<n>") at position i % 20.
std::string document_path(size_t document) { return "bench/doc-" + std::to_string(document); }

retrieval::DocumentInput make_document(size_t document, const float* vectors, size_t dimension) {
  retrieval::DocumentInput doc;
  doc.path = document_path(document);
  doc.file_type = "txt";
  doc.mtime_ns = static_cast<int64_t>(document);
  doc.chunks.resize(kChunksPerDocument);
  for (size_t c = 0; c < kChunksPerDocument; ++c) {
    auto& chunk = doc.chunks[c];
    chunk.text = "passage " + std::to_string(document * kChunksPerDocument + c);
    chunk.embedding.assign(vectors + c * dimension, vectors + (c + 1) * dimension);
  }
  return doc;
}

// Measures one (size, index type) pair; returns its JSON record or an error.
Result<nlohmann::json> bench_one(const BenchStoreOptions& o, size_t size, const std::string& factory,
                                 const fs::path& dir, const std::vector<float>& data,
                                 const std::vector<float>& queries,
                                 const std::vector<FaissId>& truth) {
  const size_t d = o.dimension;
  const size_t nq = queries.size() / d;
  nlohmann::json rec = {{"size", size}, {"index", factory}, {"dimension", d}, {"data", o.data}};

  // --- ragkit: bulk insert through the collection, RocksDB writes included (or a kept one).
  const fs::path marker = dir / "bench-loaded";
  const bool reuse = o.keep && fs::exists(marker);
  auto start = Clock::now();
  {
    std::unique_ptr<Collection> collection;
    if (reuse) {
      RAGKIT_ASSIGN_OR_RETURN(collection, Collection::open(dir.string(), {}));
      rec["ragkit"]["open_seconds"] = seconds_since(start);
      rec["ragkit"]["reused"] = true;
    } else {
      fs::remove_all(dir);
      retrieval::CollectionOptions copts;
      copts.dimension = static_cast<uint32_t>(d);
      copts.model_id = "bench-random";
      copts.index_factory = factory;
      copts.sync_writes = false;  // a bulk load: durable at flush()
      RAGKIT_ASSIGN_OR_RETURN(collection, Collection::open(dir.string(), copts));
      const size_t documents = size / kChunksPerDocument;
      std::vector<retrieval::DocumentInput> batch;
      for (size_t doc = 0; doc < documents; doc += kDocumentsPerBatch) {
        batch.clear();
        for (size_t k = doc; k < std::min(documents, doc + kDocumentsPerBatch); ++k) {
          batch.push_back(make_document(k, &data[k * kChunksPerDocument * d], d));
        }
        RAGKIT_RETURN_IF_ERROR(collection->upsert_many(batch));
      }
      RAGKIT_RETURN_IF_ERROR(collection->flush());
      const double insert_s = seconds_since(start);
      rec["ragkit"]["insert_vectors_per_s"] = static_cast<double>(size) / insert_s;
      rec["ragkit"]["insert_seconds"] = insert_s;

      // Disk is measured in the steady state: after RocksDB has compacted the load's log and
      // overlapping files (a bulk load leaves both behind for a while).
      start = Clock::now();
      RAGKIT_RETURN_IF_ERROR(collection->compact());
      rec["ragkit"]["compact_seconds"] = seconds_since(start);
      if (o.keep) {
        std::FILE* f = std::fopen(marker.c_str(), "w");
        if (f == nullptr || std::fclose(f) != 0) {
          return Status::io_error("bench: cannot write " + marker.string());
        }
      }
    }
    const auto stats = collection->stats();
    rec["ragkit"]["index_trained"] = stats.index_trained;
    rec["ragkit"]["memory_bytes_per_million"] = double(stats.index_memory_bytes) * 1e6 / size;
    rec["ragkit"]["disk_bytes_per_million"] = double(stats.disk_bytes) * 1e6 / size;

    for (const auto& s : settings_for(o, factory)) {
      retrieval::DenseSearchParams params;
      params.ef_search = s.ef_search;
      params.nprobe = s.nprobe;
      std::vector<FaissId> found(nq * kTopK, -1);
      Status failure;
      std::mutex failure_mutex;
      nlohmann::json row = {{"setting", s.label}};
      for (int threads : {1, 2}) {
        const double qps = queries_per_second(nq, threads, [&](size_t q) {
          auto hits = collection->search_dense(std::span(&queries[q * d], d), kTopK, {}, params);
          if (!hits.ok()) {
            std::lock_guard lock(failure_mutex);
            failure = hits.status();
            return;
          }
          for (size_t r = 0; r < hits->size() && r < kTopK; ++r) {
            // Chunk ids map back to positions in `data` through the document path numbering.
            const auto& hit = (*hits)[r];
            const uint64_t document = std::stoull(hit.path.substr(hit.path.rfind('-') + 1));
            found[q * kTopK + r] = static_cast<FaissId>(
                document * kChunksPerDocument + retrieval::chunk_index_of(hit.chunk_id));
          }
        });
        RAGKIT_RETURN_IF_ERROR(failure);
        row["queries_per_s_" + std::to_string(threads) + "_threads"] = qps;
      }
      row["recall_at_10"] = recall_at_k(truth, found, nq);
      rec["ragkit"]["search"].push_back(row);
    }
  }

  // --- ragkit: single-document delete and replace with synced writes, as an editor's save does.
  if (!o.keep) {
    retrieval::CollectionOptions reopen;
    start = Clock::now();
    RAGKIT_ASSIGN_OR_RETURN(auto collection, Collection::open(dir.string(), reopen));
    rec["ragkit"]["open_seconds"] = seconds_since(start);
    const size_t documents = size / kChunksPerDocument;
    std::vector<double> delete_ms, update_ms;
    VectorSource fresh(o.data, d, 7);
    std::vector<float> replacement(kChunksPerDocument * d);
    for (size_t i = 0; i < kTimedWrites; ++i) {
      const size_t victim = (i * 7919) % documents;
      start = Clock::now();
      RAGKIT_ASSIGN_OR_RETURN(bool removed, collection->remove(document_path(victim)));
      delete_ms.push_back(seconds_since(start) * 1e3);
      if (!removed) return Status::internal("bench: document " + document_path(victim) + " vanished");

      const size_t target = (i * 104729 + 1) % documents;
      fresh.fill(replacement.data(), kChunksPerDocument);
      auto doc = make_document(target, replacement.data(), d);
      start = Clock::now();
      RAGKIT_RETURN_IF_ERROR(collection->upsert(doc));
      update_ms.push_back(seconds_since(start) * 1e3);
    }
    const auto del = summarise(delete_ms), upd = summarise(update_ms);
    rec["ragkit"]["delete_document_ms"] = {{"median", del.median_ms}, {"max", del.max_ms}};
    rec["ragkit"]["update_document_ms"] = {{"median", upd.median_ms}, {"max", upd.max_ms}};
  }

  if (o.peer == "none") return rec;

  // --- peer: a bare FAISS index of the same factory string, in memory, no database.
  try {
    std::unique_ptr<faiss::Index> index(
        faiss::index_factory(static_cast<int>(d), factory.c_str(), faiss::METRIC_INNER_PRODUCT));
    // As the collection does: no polysemous training (our searches never use it; minutes for PQ48).
    if (auto* ivfpq = dynamic_cast<faiss::IndexIVFPQ*>(index.get())) {
      ivfpq->do_polysemous_training = false;
    }
    omp_set_num_threads(static_cast<int>(std::thread::hardware_concurrency()));
    start = Clock::now();
    if (!index->is_trained) {
      const size_t lists = ivf_lists(factory);
      const size_t n_train = std::min(size, std::max<size_t>(64 * std::max<size_t>(lists, 256), 10000));
      index->train(static_cast<FaissId>(n_train), data.data());
    }
    index->add(static_cast<FaissId>(size), data.data());
    const double insert_s = seconds_since(start);
    rec["faiss"]["insert_vectors_per_s"] = static_cast<double>(size) / insert_s;
    faiss::VectorIOWriter writer;
    faiss::write_index(index.get(), &writer);
    rec["faiss"]["memory_bytes_per_million"] = double(writer.data.size()) * 1e6 / size;

    for (const auto& s : settings_for(o, factory)) {
      faiss::SearchParametersHNSW hnsw;
      hnsw.efSearch = s.ef_search;
      // FAISS 1.7.3 reads the graph's own efSearch and ignores the parameter's.
      if (auto* graph = dynamic_cast<faiss::IndexHNSW*>(index.get())) {
        graph->hnsw.efSearch = s.ef_search;
      }
      faiss::SearchParametersIVF ivf;
      ivf.nprobe = s.nprobe;
      const faiss::SearchParameters* params =
          s.ef_search ? static_cast<const faiss::SearchParameters*>(&hnsw)
                      : (s.nprobe ? static_cast<const faiss::SearchParameters*>(&ivf) : nullptr);
      std::vector<FaissId> found(nq * kTopK, -1);
      nlohmann::json row = {{"setting", s.label}};
      for (int threads : {1, 2}) {
        const double qps = queries_per_second(nq, threads, [&](size_t q) {
          float distances[kTopK];
          index->search(1, &queries[q * d], kTopK, distances, &found[q * kTopK], params);
        });
        row["queries_per_s_" + std::to_string(threads) + "_threads"] = qps;
      }
      row["recall_at_10"] = recall_at_k(truth, found, nq);
      rec["faiss"]["search"].push_back(row);
    }
  } catch (const faiss::FaissException& e) {
    return Status::internal(std::string("bench: the FAISS peer failed: ") + e.what());
  }
  return rec;
}

void print_record(const nlohmann::json& r) {
  const auto& rk = r["ragkit"];
  std::printf("\n%s  %zu vectors x %zu (%s)\n", r["index"].get<std::string>().c_str(),
              r["size"].get<size_t>(), r["dimension"].get<size_t>(),
              r["data"].get<std::string>().c_str());
  const bool peer = r.contains("faiss");
  if (rk.contains("reused")) {
    std::printf("  insert      (a kept collection: opened in %.2f s)",
                rk["open_seconds"].get<double>());
  } else {
    std::printf("  insert      ragkit %9.0f vectors/s", rk["insert_vectors_per_s"].get<double>());
  }
  if (peer) {
    const double f = r["faiss"]["insert_vectors_per_s"].get<double>();
    std::printf("   faiss %9.0f vectors/s", f);
    // A kept collection was not inserted this run: nothing to compare.
    if (rk.contains("insert_vectors_per_s")) {
      std::printf("   ragkit/faiss %.2f", rk["insert_vectors_per_s"].get<double>() / f);
    }
  }
  if (!rk["index_trained"].get<bool>()) std::printf("   (too few vectors to train: exact search)");
  std::printf("\n");
  for (size_t i = 0; i < rk["search"].size(); ++i) {
    const auto& s = rk["search"][i];
    std::printf("  %-13s", s["setting"].get<std::string>().c_str());
    for (int t : {1, 2}) {
      const std::string key = "queries_per_s_" + std::to_string(t) + "_threads";
      std::printf("  %d thr: ragkit %7.0f q/s", t, s[key].get<double>());
      if (peer) {
        const double f = r["faiss"]["search"][i][key].get<double>();
        std::printf(" faiss %7.0f (%.2f)", f, s[key].get<double>() / f);
      }
    }
    std::printf("  recall@10 ragkit %.3f", s["recall_at_10"].get<double>());
    if (peer) std::printf(" faiss %.3f", r["faiss"]["search"][i]["recall_at_10"].get<double>());
    std::printf("\n");
  }
  if (rk.contains("delete_document_ms")) {
    std::printf(
        "  writes      delete a 20-chunk document: median %.2f ms, max %.2f ms; replace it: "
        "median %.2f ms, max %.2f ms (synced)\n",
        rk["delete_document_ms"]["median"].get<double>(),
        rk["delete_document_ms"]["max"].get<double>(),
        rk["update_document_ms"]["median"].get<double>(),
        rk["update_document_ms"]["max"].get<double>());
  }
  std::printf("  size        ragkit index %.0f MB and disk %.0f MB per million vectors",
              rk["memory_bytes_per_million"].get<double>() / 1e6,
              rk["disk_bytes_per_million"].get<double>() / 1e6);
  if (peer) {
    std::printf("; faiss index %.0f MB", r["faiss"]["memory_bytes_per_million"].get<double>() / 1e6);
  }
  if (rk.contains("compact_seconds")) {
    if (rk.contains("open_seconds"))
      std::printf("; reopen %.2f s", rk["open_seconds"].get<double>());
    std::printf("; compaction after the load %.1f s", rk["compact_seconds"].get<double>());
  }
  std::printf("\n");
}

}  // namespace

void add_bench_store_options(CLI::App& command, BenchStoreOptions& o) {
  command.add_option("--sizes", o.sizes, "Collection sizes in vectors (default 100000 1000000)")
      ->delimiter(',');
  command.add_option("--index", o.index_types,
                     "FAISS factory strings, repeat the flag for several "
                     "(default Flat, HNSW32, IVF4096,PQ48)");
  command.add_option("--dimension", o.dimension, "Vector dimension (default 384)");
  command.add_option("--queries", o.queries, "Queries per setting (default 1000)");
  command.add_option("--data", o.data,
                     "Random unit vectors: uniform (default), clustered or anisotropic")
      ->check(CLI::IsMember({"uniform", "clustered", "anisotropic"}));
  command.add_option("--ef-search", o.ef_search, "HNSW efSearch values to measure (default 64 128)")
      ->delimiter(',');
  command.add_option("--nprobe", o.nprobe, "IVF nprobe values to measure (default 16 64)")
      ->delimiter(',');
  command.add_option("--dir", o.dir, "Folder for the collections (default: a temporary folder)");
  command.add_flag(
      "--keep", o.keep,
      "Keep the collections in --dir and search them again in later runs with the same "
      "size, index and data, instead of building them (no write figures)");
  command.add_option("--peer", o.peer, "faiss (default) or none")
      ->check(CLI::IsMember({"faiss", "none"}));
  command.add_flag("--json", o.json, "Print the figures as JSON");
}

int run_bench_store(const BenchStoreOptions& o) {
  if (o.dimension == 0 || o.queries == 0) {
    return report_error("bench store: --dimension and --queries must be positive");
  }
  for (int v : o.ef_search) {
    if (v <= 0) return report_error("bench store: --ef-search values must be positive");
  }
  for (int v : o.nprobe) {
    if (v <= 0) return report_error("bench store: --nprobe values must be positive");
  }
  for (size_t size : o.sizes) {
    if (size < kChunksPerDocument * kTimedWrites * 2) {
      return report_error("bench store: sizes must be at least " +
                          std::to_string(kChunksPerDocument * kTimedWrites * 2) + " vectors");
    }
  }
  if (o.keep && o.dir.empty()) return report_error("bench store: --keep needs --dir");
  std::error_code ec;
  const bool temporary = o.dir.empty();
  const fs::path root = temporary ? fs::temp_directory_path() / ("ragkit-bench-store-" +
                                                                  std::to_string(::getpid()))
                                  : fs::path(o.dir);
  fs::create_directories(root, ec);
  if (ec) return report_error("bench store: cannot create " + root.string() + ": " + ec.message());

  nlohmann::json out = {{"threads_available", std::thread::hardware_concurrency()}};
  int rc = 0;
  for (size_t size : o.sizes) {
    const size_t d = o.dimension;
    std::vector<float> data(size * d), queries(o.queries * d);
    VectorSource(o.data, d, 1).fill(data.data(), size);
    VectorSource(o.data, d, 2).fill(queries.data(), o.queries);
    // Exact top-10 by inner product: the reference for recall.
    std::vector<FaissId> truth(o.queries * kTopK);
    {
      omp_set_num_threads(static_cast<int>(std::thread::hardware_concurrency()));
      faiss::IndexFlatIP exact(static_cast<int>(d));
      exact.add(static_cast<FaissId>(size), data.data());
      std::vector<float> distances(o.queries * kTopK);
      exact.search(static_cast<FaissId>(o.queries), queries.data(), kTopK, distances.data(),
                   truth.data());
    }
    for (const auto& factory : o.index_types) {
      if (!o.json) {
        std::fprintf(stderr, "bench store: %s with %zu vectors...\n", factory.c_str(), size);
      }
      // A kept collection's folder names what it holds.
      std::string name = "collection";
      if (o.keep) {
        name = factory + "-" + std::to_string(size) + "-" + o.data + "-" + std::to_string(d);
        std::replace_if(
            name.begin(), name.end(), [](unsigned char c) { return !std::isalnum(c) && c != '-'; },
            '_');
      }
      auto rec = bench_one(o, size, factory, root / name, data, queries, truth);
      if (!o.keep) fs::remove_all(root / name, ec);
      if (!rec.ok()) {
        rc = report_error(rec.status().with_context(factory + ", " + std::to_string(size)));
        continue;
      }
      if (!o.json) print_record(*rec);
      std::fflush(stdout);
      out["runs"].push_back(std::move(*rec));
    }
  }
  out["peak_rss_mb"] = peak_rss_mb();
  if (temporary) fs::remove_all(root, ec);
  if (o.json) std::printf("%s\n", out.dump(2).c_str());
  if (!flush_stdout().ok()) return 1;
  return rc;
}

}  // namespace ragkit::cli
