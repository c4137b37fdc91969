// `rag bench store`: the vector store's figures beside bare FAISS on the same machine.
//
// For each index type and collection size it inserts random 384-dimensional unit vectors into a
// ragkit collection (documents of 20 chunks through Collection::upsert_many, RocksDB writes
// included, then flush()) and into a bare FAISS index of the same factory string (the peer: what
// a hand-glued "FAISS plus a database" pipeline starts from), then measures single-query search
// from 1 and 2 threads on both, recall@10 against exact search, memory and disk per million
// vectors, and the time to delete and to replace one 20-chunk document with synced writes.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace ragkit::cli {

struct BenchStoreOptions {
  std::vector<size_t> sizes = {100000, 1000000};
  // FAISS factory strings; the search settings follow from the family.
  std::vector<std::string> index_types = {"Flat", "HNSW32", "IVF4096,PQ48"};
  std::vector<int> ef_search = {64, 128};  // HNSW
  std::vector<int> nprobe = {16, 64};      // IVF
  size_t dimension = 384;
  size_t queries = 1000;
  // "uniform": directions uniform on the sphere (the hardest case for approximate indexes);
  // "clustered": a mixture of 1,000 random directions with noise; "anisotropic": variance
  // falling as 1/i over the principal directions, as text embeddings' spectra do.
  std::string data = "uniform";
  std::string dir;  // where the collections are made (default: a temporary folder, removed after)
  // Keep each collection in `dir` and, in a later run with the same size, index, data and
  // dimension, search it again instead of building it: for measuring searches at a million
  // vectors without a 15-minute insert each time. Kept collections are never written after their
  // load (no delete or replace figures), so they stay equal to the data the recall is taken on.
  bool keep = false;
  std::string peer = "faiss";
  bool json = false;
};

void add_bench_store_options(CLI::App& command, BenchStoreOptions& options);
int run_bench_store(const BenchStoreOptions& options);

}  // namespace ragkit::cli
