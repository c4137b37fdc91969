#include "store/vector_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPQ.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <omp.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <mutex>
#include <shared_mutex>

#include "store/flat_ip_storage.h"
#include "store/hnsw_search.h"
#include "store/int8_rows.h"

namespace ragkit::retrieval::store {
namespace {

using idx_t = faiss::Index::idx_t;

constexpr char kMagic[8] = {'R', 'A', 'G', 'K', 'I', 'T', 'V', 'X'};
constexpr char kEndMagic[8] = {'R', 'A', 'G', 'K', 'I', 'T', 'V', 'E'};
constexpr uint32_t kFileFormat = 1;
constexpr size_t kFooterBytes = 8 + 8 + 8;  // payload bytes, checksum, end magic
// Vectors a scalar quantizer trains its ranges on before it replaces the staging index.
constexpr uint64_t kScalarQuantizerTrainingVectors = 1000;

// Turns whatever FAISS throws into a Status at the point it enters our code.
template <typename Fn>
Status call_faiss(const std::string& what, Fn&& fn) {
  try {
    fn();
    return Status::ok_status();
  } catch (const faiss::FaissException& e) {
    return Status::internal(what + ": FAISS: " + e.msg);
  } catch (const std::bad_alloc&) {
    return Status::out_of_range(what + ": out of memory");
  } catch (const std::exception& e) {
    return Status::internal(what + ": " + e.what());
  }
}

// Polysemous training, the factory's default for PQ codes, reorders the codes for Hamming-distance
// pre-filtering, which our searches never use, and takes minutes for PQ48: turned off.
void disable_polysemous_training(faiss::Index& index) {
  if (auto* ivfpq = dynamic_cast<faiss::IndexIVFPQ*>(&index)) ivfpq->do_polysemous_training = false;
  if (auto* pq = dynamic_cast<faiss::IndexPQ*>(&index)) pq->do_polysemous_training = false;
}

// Candidates an insert into an HNSW graph over float rows looks at (FAISS's efConstruction).
// FAISS's default, 40, is below the 2M neighbours a node keeps on layer 0 (64 for HNSW32), and
// 1.7.3 only applies its diversity heuristic when a node has more candidates than room: a new
// node is linked to its 40 nearest found, clustered links that need a wider search for the same
// recall. With 256 the heuristic chooses among enough (384-d anisotropic vectors, 100k:
// recall@10 at efSearch 64 0.932 -> 0.945, at 128 0.976 -> 0.981; 1M: see the README). Inserts
// score on int8 copies of the rows (FlatIpStorage), which pays for the wider search; graphs over
// other storages keep FAISS's default, their inserts being FAISS's own scalar code.
constexpr int kHnswEfConstruction = 256;

Result<std::unique_ptr<faiss::Index>> make_index(const std::string& factory, uint32_t dimension) {
  std::unique_ptr<faiss::Index> index;
  Status status = call_faiss("index type '" + factory + "'", [&] {
    index.reset(faiss::index_factory(static_cast<int>(dimension), factory.c_str(),
                                     faiss::METRIC_INNER_PRODUCT));
  });
  if (!status.ok()) {
    return Status::invalid_argument("'" + factory +
                                    "' is not a FAISS index factory string this build "
                                    "understands (try Flat, HNSW32, IVF1024,Flat, SQ8): " +
                                    status.message());
  }
  disable_polysemous_training(*index);
  use_simd_inner_product(index);
  if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index.get());
      hnsw != nullptr && dynamic_cast<const FlatIpStorage*>(hnsw->storage) != nullptr) {
    hnsw->hnsw.efConstruction = kHnswEfConstruction;
  }
  return index;
}

// Vectors needed to train `index` well (FAISS warns below 39 points per k-means centroid).
uint64_t codec_training_vectors(const faiss::Index* index) {
  if (index->is_trained) return 0;
  if (auto* pq = dynamic_cast<const faiss::IndexPQ*>(index)) return 39 * pq->pq.ksub;
  return kScalarQuantizerTrainingVectors;
}

struct Classified {
  IndexFamily family;
  uint64_t nlist = 0;
  uint64_t training_vectors = 0;
};

Result<Classified> classify(const std::string& factory, const faiss::Index* index) {
  if (auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(index)) {
    if (hnsw->storage == nullptr) return Status::not_supported("HNSW without storage");
    return Classified{IndexFamily::kHnsw, 0, codec_training_vectors(hnsw->storage)};
  }
  if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(index)) {
    uint64_t training = 39 * ivf->nlist;
    if (auto* ivfpq = dynamic_cast<const faiss::IndexIVFPQ*>(index)) {
      training = std::max<uint64_t>(training, 39 * ivfpq->pq.ksub);
    }
    if (ivf->is_trained) training = 0;
    return Classified{IndexFamily::kIvf, ivf->nlist, training};
  }
  if (dynamic_cast<const faiss::IndexFlat*>(index) ||
      dynamic_cast<const faiss::IndexScalarQuantizer*>(index) ||
      dynamic_cast<const faiss::IndexPQ*>(index)) {
    return Classified{IndexFamily::kFlatCodes, 0, codec_training_vectors(index)};
  }
  return Status::not_supported(
      "index type '" + factory +
      "' is not supported by the collection (supported: Flat, SQn, PQn, HNSWm[,SQ8|PQn], "
      "IVFn,Flat|SQ8|PQm; no IDMap, pre-transforms or refinement)");
}

// Skips tombstoned positions and documents outside the filter. `labels` maps FAISS's ids to
// chunk ids; null when FAISS's ids already are chunk ids (IVF).
class ChunkSelector : public faiss::IDSelector {
 public:
  // `tombstoned` has a bit for every position (`tombstone_words` words).
  ChunkSelector(const int64_t* labels, const DocumentSet* admitted, const uint64_t* tombstoned,
                size_t tombstone_words)
      : labels_(labels),
        admitted_(admitted),
        tombstoned_(tombstoned),
        tombstone_words_(tombstone_words) {}
  bool is_member(idx_t id) const override {
    const auto word = static_cast<size_t>(id) >> 6;
    if (tombstoned_ != nullptr && word < tombstone_words_ && (tombstoned_[word] >> (id & 63) & 1) != 0) {
      return false;
    }
    if (admitted_ == nullptr) return true;
    const uint64_t chunk_id = labels_ != nullptr ? static_cast<uint64_t>(labels_[id])
                                                 : static_cast<uint64_t>(id);
    return admitted_->contains(document_id_of(chunk_id));
  }

 private:
  static uint64_t document_id_of(uint64_t chunk_id) { return chunk_id >> 24; }
  const int64_t* labels_;
  const DocumentSet* admitted_;
  const uint64_t* tombstoned_;
  size_t tombstone_words_;
};

// FAISS parallelises over queries with OpenMP; a single query gains nothing and would wake (and
// leave spinning) a team per call next to our own thread pool. One thread, for this call only
// (the thread count is a per-thread OpenMP setting).
class SingleOmpThread {
 public:
  SingleOmpThread() : saved_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~SingleOmpThread() { omp_set_num_threads(saved_); }

 private:
  int saved_;
};

// A 64-bit multiplicative hash over 8-byte words: catches torn or flipped bytes in index.faiss.
class Checksum {
 public:
  void update(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) {
      pending_ |= uint64_t{p[i]} << (8 * pending_bytes_);
      if (++pending_bytes_ == 8) flush_word();
    }
  }
  uint64_t value() {
    if (pending_bytes_ != 0) flush_word();
    return hash_ ^ (hash_ >> 29);
  }

 private:
  void flush_word() {
    hash_ = (hash_ ^ pending_) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
    pending_ = 0;
    pending_bytes_ = 0;
  }
  uint64_t hash_ = 0xcbf29ce484222325ULL;
  uint64_t pending_ = 0;
  int pending_bytes_ = 0;
};

class ChecksumWriter : public faiss::IOWriter {
 public:
  explicit ChecksumWriter(std::FILE* file) : file_(file) {}
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    if (size * nitems == 0) return nitems;  // FAISS writes empty vectors with a null pointer
    checksum.update(ptr, size * nitems);
    bytes += size * nitems;
    return std::fwrite(ptr, size, nitems, file_);
  }
  template <typename T>
  bool put(const T& value) {
    return (*this)(&value, sizeof(T), 1) == 1;
  }
  bool put_bytes(const void* data, size_t n) { return n == 0 || (*this)(data, 1, n) == n; }
  Checksum checksum;
  uint64_t bytes = 0;

 private:
  std::FILE* file_;
};

class FileReader : public faiss::IOReader {
 public:
  explicit FileReader(std::FILE* file) : file_(file) { name = "index.faiss"; }
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size * nitems == 0) return nitems;
    return std::fread(ptr, size, nitems, file_);
  }
  template <typename T>
  bool get(T& value) {
    return (*this)(&value, sizeof(T), 1) == 1;
  }

 private:
  std::FILE* file_;
};

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

const char* index_family_name(IndexFamily family) {
  switch (family) {
    case IndexFamily::kFlatCodes: return "flat";
    case IndexFamily::kHnsw: return "hnsw";
    case IndexFamily::kIvf: return "ivf";
  }
  return "?";
}

VectorIndex::~VectorIndex() = default;

// HNSW over float rows walks and inserts on an int8 copy of them (store/int8_rows.h); others have
// none.
void VectorIndex::attach_compact_rows() {
  compact_.reset();
  auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(index_.get());
  if (hnsw == nullptr || staged_) return;
  auto* flat = dynamic_cast<FlatIpStorage*>(hnsw->storage);
  if (flat == nullptr) return;
  compact_ = std::make_unique<Int8Rows>(dimension_);
  compact_->append(flat->get_xb(), static_cast<size_t>(flat->ntotal));
  flat->set_compact_rows(compact_.get());
}

void VectorIndex::follow_graph_arrays() {
  auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(index_.get());
  if (hnsw == nullptr || staged_) return;
  neighbors_pages_.follow(hnsw->hnsw.neighbors);
  offsets_pages_.follow(hnsw->hnsw.offsets);
  if (auto* flat = dynamic_cast<const faiss::IndexFlatCodes*>(hnsw->storage)) {
    rows_pages_.follow(flat->codes);
  }
}

Status VectorIndex::init_from_factory() {
  RAGKIT_ASSIGN_OR_RETURN(auto index, make_index(factory_, dimension_));
  RAGKIT_ASSIGN_OR_RETURN(Classified kind, classify(factory_, index.get()));
  family_ = kind.family;
  nlist_ = kind.nlist;
  training_threshold_ = kind.training_vectors;
  if (training_threshold_ > 0) {
    staged_ = true;
    index_ = std::make_unique<FlatIpStorage>(dimension_);
  } else {
    staged_ = false;
    index_ = std::move(index);
    if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(index_.get())) {
      RAGKIT_RETURN_IF_ERROR(call_faiss("IVF direct map", [&] {
        ivf->set_direct_map_type(faiss::DirectMap::Hashtable);
      }));
    }
  }
  attach_compact_rows();
  return Status::ok_status();
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::create(const std::string& factory,
                                                        uint32_t dimension) {
  if (dimension == 0) return Status::invalid_argument("vector dimension 0");
  std::unique_ptr<VectorIndex> vi(new VectorIndex());
  vi->factory_ = factory;
  vi->dimension_ = dimension;
  RAGKIT_RETURN_IF_ERROR(vi->init_from_factory());
  return vi;
}

void VectorIndex::set_tombstone(size_t position) {
  if (position / 64 >= tombstoned_.size()) tombstoned_.resize(position / 64 + 1, 0);
  tombstoned_[position / 64] |= uint64_t{1} << (position % 64);
  ++tombstone_count_;
}

uint64_t VectorIndex::stored_vectors() const { return static_cast<uint64_t>(index_->ntotal); }

Status VectorIndex::add(std::span<const uint64_t> ids, const float* vectors) {
  if (ids.empty()) return Status::ok_status();
  for (uint64_t id : ids) {
    if (live_.count(id) != 0) {
      return Status::internal("chunk " + std::to_string(id) + " is already in the index");
    }
  }
  const auto n = static_cast<idx_t>(ids.size());
  if (family_ == IndexFamily::kIvf && !staged_) {
    std::vector<idx_t> faiss_ids(ids.begin(), ids.end());
    RAGKIT_RETURN_IF_ERROR(call_faiss("adding vectors to the IVF index", [&] {
      index_->add_with_ids(n, vectors, faiss_ids.data());
    }));
    for (uint64_t id : ids) live_.emplace(id, 0);
  } else {
    const auto base = static_cast<int64_t>(labels_.size());
    // The int8 copies first: the graph insert scores on them.
    const size_t compact_rows = compact_ ? compact_->size() : 0;
    if (compact_) compact_->append(vectors, ids.size());
    Status added = call_faiss("adding vectors to the index", [&] { index_->add(n, vectors); });
    if (!added.ok()) {
      if (compact_) compact_->truncate(compact_rows);
      return added;
    }
    follow_graph_arrays();
    for (size_t i = 0; i < ids.size(); ++i) {
      labels_.push_back(static_cast<int64_t>(ids[i]));
      live_.emplace(ids[i], base + static_cast<int64_t>(i));
    }
  }
  return train_if_ready();
}

Status VectorIndex::train_if_ready() {
  if (staged_ && live_.size() >= training_threshold_) return train_staged();
  return Status::ok_status();
}

Status VectorIndex::train_staged() {
  auto* staging = static_cast<faiss::IndexFlat*>(index_.get());
  const idx_t n = staging->ntotal;
  const float* xb = staging->get_xb();
  RAGKIT_ASSIGN_OR_RETURN(auto real, make_index(factory_, dimension_));
  RAGKIT_RETURN_IF_ERROR(call_faiss("training the '" + factory_ + "' index on " +
                                        std::to_string(n) + " vectors",
                                    [&] { real->train(n, xb); }));
  if (family_ == IndexFamily::kIvf) {
    auto* ivf = static_cast<faiss::IndexIVF*>(real.get());
    std::vector<idx_t> faiss_ids(labels_.begin(), labels_.end());
    RAGKIT_RETURN_IF_ERROR(call_faiss("filling the trained IVF index", [&] {
      ivf->set_direct_map_type(faiss::DirectMap::Hashtable);
      ivf->add_with_ids(n, xb, faiss_ids.data());
    }));
    labels_.clear();
    labels_.shrink_to_fit();
  } else {
    // Same order as the staging index: positions and labels_ stay valid.
    RAGKIT_RETURN_IF_ERROR(
        call_faiss("filling the trained index", [&] { real->add(n, xb); }));
  }
  index_ = std::move(real);
  staged_ = false;
  attach_compact_rows();
  return Status::ok_status();
}

Status VectorIndex::remove(std::span<const uint64_t> ids) {
  if (family_ == IndexFamily::kIvf && !staged_) {
    std::vector<idx_t> present;
    for (uint64_t id : ids) {
      if (live_.erase(id) != 0) present.push_back(static_cast<idx_t>(id));
    }
    if (present.empty()) return Status::ok_status();
    faiss::IDSelectorArray selector(present.size(), present.data());
    return call_faiss("removing vectors from the IVF index",
                      [&] { index_->remove_ids(selector); });
  }
  if (family_ == IndexFamily::kHnsw && !staged_) {
    for (uint64_t id : ids) {
      auto it = live_.find(id);
      if (it == live_.end()) continue;
      set_tombstone(static_cast<size_t>(it->second));
      live_.erase(it);
    }
    return Status::ok_status();
  }
  // Flat codes (and the staging index): move the last code into the hole.
  auto* codes = static_cast<faiss::IndexFlatCodes*>(index_.get());
  const size_t code_size = codes->code_size;
  for (uint64_t id : ids) {
    auto it = live_.find(id);
    if (it == live_.end()) continue;
    const auto hole = static_cast<size_t>(it->second);
    live_.erase(it);
    const size_t last = static_cast<size_t>(codes->ntotal) - 1;
    if (hole != last) {
      std::memcpy(codes->codes.data() + hole * code_size,
                  codes->codes.data() + last * code_size, code_size);
      labels_[hole] = labels_[last];
      live_[static_cast<uint64_t>(labels_[hole])] = static_cast<int64_t>(hole);
    }
    labels_.pop_back();
    codes->codes.resize(last * code_size);
    codes->ntotal = static_cast<idx_t>(last);
  }
  return Status::ok_status();
}

Result<std::vector<ScoredChunk>> VectorIndex::search(const IndexQuery& query) const {
  std::vector<ScoredChunk> hits;
  if (live_.empty() || query.k == 0) return hits;
  const auto k = static_cast<idx_t>(std::min<uint64_t>(query.k, live_.size()));
  const bool uses_labels = !(family_ == IndexFamily::kIvf && !staged_);
  const uint64_t* tombstones =
      (family_ == IndexFamily::kHnsw && !staged_ && tombstone_count_ > 0) ? tombstoned_.data()
                                                                           : nullptr;
  ChunkSelector selector(uses_labels ? labels_.data() : nullptr, query.admitted, tombstones,
                         tombstoned_.size());
  faiss::IDSelector* sel =
      (query.admitted != nullptr || tombstones != nullptr) ? &selector : nullptr;

  std::vector<float> distances(static_cast<size_t>(k));
  std::vector<idx_t> found(static_cast<size_t>(k), -1);
  SingleOmpThread one_thread;
  Status status = call_faiss("searching the index", [&] {
    if (staged_ || family_ == IndexFamily::kFlatCodes) {
      faiss::SearchParameters params;
      params.sel = sel;
      index_->search(1, query.vector, k, distances.data(), found.data(), &params);
    } else if (family_ == IndexFamily::kHnsw) {
      auto* hnsw = static_cast<const faiss::IndexHNSW*>(index_.get());
      if (query.exhaustive) {
        // The graph's storage holds every vector in position order: a filtered flat scan.
        faiss::SearchParameters params;
        params.sel = sel;
        hnsw->storage->search(1, query.vector, k, distances.data(), found.data(), &params);
      } else if (auto* flat = dynamic_cast<const FlatIpStorage*>(hnsw->storage)) {
        hnsw_search_inner_product(hnsw->hnsw, flat->get_xb(), dimension_, compact_.get(),
                                  query.vector,
                                  static_cast<size_t>(k), query.ef_search, sel, distances.data(),
                                  found.data());
      } else {
        faiss::SearchParametersHNSW params;
        params.sel = sel;
        params.efSearch = std::max<int>(query.ef_search, static_cast<int>(k));
        // 1.7.3 ignores params.efSearch (see ef_search_mutex_): set the graph's own value.
        // Searches with the value already set share the lock; one that changes it runs alone.
        std::shared_lock shared(ef_search_mutex_);
        if (hnsw->hnsw.efSearch == params.efSearch) {
          index_->search(1, query.vector, k, distances.data(), found.data(), &params);
        } else {
          shared.unlock();
          std::unique_lock exclusive(ef_search_mutex_);
          const_cast<faiss::IndexHNSW*>(hnsw)->hnsw.efSearch = params.efSearch;
          index_->search(1, query.vector, k, distances.data(), found.data(), &params);
        }
      }
    } else {
      faiss::SearchParametersIVF params;
      params.sel = sel;
      params.nprobe = query.exhaustive ? nlist_ : static_cast<size_t>(std::max(1, query.nprobe));
      index_->search(1, query.vector, k, distances.data(), found.data(), &params);
    }
  });
  RAGKIT_RETURN_IF_ERROR(status);
  for (idx_t i = 0; i < k; ++i) {
    if (found[i] < 0) continue;
    const uint64_t chunk_id = uses_labels ? static_cast<uint64_t>(labels_[found[i]])
                                          : static_cast<uint64_t>(found[i]);
    hits.push_back({chunk_id, distances[i]});
  }
  // FAISS orders by score; make ties deterministic (smaller chunk id first).
  std::stable_sort(hits.begin(), hits.end(), [](const ScoredChunk& a, const ScoredChunk& b) {
    return a.score != b.score ? a.score > b.score : a.chunk_id < b.chunk_id;
  });
  return hits;
}

void VectorIndex::reserve_growth() {
  if (family_ == IndexFamily::kIvf && !staged_) return;  // per-list arrays, each small
  const size_t n = labels_.size(), more = std::max<size_t>(n, 1024), room = n + more;
  labels_.reserve(room);
  live_.reserve(room);
  tombstoned_.reserve(room / 64 + 1);
  if (compact_) compact_->reserve(room);
  faiss::Index* index = index_.get();
  if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index)) {
    auto& g = hnsw->hnsw;
    // Links per node as so far (layer 0's, plus the upper layers' of the nodes that reach them),
    // with a quarter to spare.
    const size_t layer0 = static_cast<size_t>(std::max(g.nb_neighbors(0), 1));
    const size_t per_node = n > 0 ? (g.neighbors.size() + n - 1) / n : layer0;
    g.levels.reserve(room);
    g.offsets.reserve(room + 1);
    g.neighbors.reserve(g.neighbors.size() + more * (per_node + per_node / 4));
    index = hnsw->storage;
  }
  if (auto* codes = dynamic_cast<faiss::IndexFlatCodes*>(index)) {
    codes->codes.reserve(room * codes->code_size);
  }
  follow_graph_arrays();
}

uint64_t VectorIndex::growth_room() const {
  if (family_ == IndexFamily::kIvf && !staged_) return UINT64_MAX;
  const size_t n = labels_.size();
  size_t room = labels_.capacity() - n;
  if (compact_) room = std::min(room, compact_->capacity() - compact_->size());
  const faiss::Index* index = index_.get();
  if (auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(index)) {
    const auto& g = hnsw->hnsw;
    room = std::min(
        {room, g.levels.capacity() - g.levels.size(), g.offsets.capacity() - g.offsets.size()});
    // Every node takes at least layer 0's links.
    const size_t links = static_cast<size_t>(g.nb_neighbors(0));
    if (links > 0) room = std::min(room, (g.neighbors.capacity() - g.neighbors.size()) / links);
    index = hnsw->storage;
  }
  if (auto* codes = dynamic_cast<const faiss::IndexFlatCodes*>(index)) {
    room = std::min(room, (codes->codes.capacity() - codes->codes.size()) / codes->code_size);
  }
  return room;
}

// What the stored data holds: sizes, not capacities (room reserved beyond them is untouched
// address space, not resident memory).
uint64_t VectorIndex::memory_bytes() const {
  uint64_t bytes = labels_.size() * sizeof(int64_t) + tombstoned_.size() * 8 +
                   live_.size() * (sizeof(uint64_t) + sizeof(int64_t) + 2 * sizeof(void*));
  const faiss::Index* index = index_.get();
  if (auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(index)) {
    bytes += hnsw->hnsw.neighbors.size() * sizeof(faiss::HNSW::storage_idx_t) +
             hnsw->hnsw.offsets.size() * sizeof(size_t) + hnsw->hnsw.levels.size() * sizeof(int);
    index = hnsw->storage;
  }
  if (compact_) bytes += compact_->memory_bytes();
  if (auto* codes = dynamic_cast<const faiss::IndexFlatCodes*>(index)) {
    bytes += codes->codes.size();
  } else if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(index)) {
    for (size_t list = 0; list < ivf->nlist; ++list) {
      bytes += ivf->invlists->list_size(list) * (ivf->code_size + sizeof(idx_t));
    }
    bytes += ivf->nlist * dimension_ * sizeof(float);
    bytes += ivf->direct_map.hashtable.size() * (2 * sizeof(idx_t) + 2 * sizeof(void*));
  }
  return bytes;
}

std::vector<uint64_t> VectorIndex::ids() const {
  std::vector<uint64_t> out;
  out.reserve(live_.size());
  for (const auto& entry : live_) out.push_back(entry.first);
  std::sort(out.begin(), out.end());
  return out;
}

Status VectorIndex::save(std::FILE* file, uint64_t generation) const {
  ChecksumWriter out(file);
  const auto factory_size = static_cast<uint32_t>(factory_.size());
  const uint8_t staged = staged_ ? 1 : 0;
  const uint64_t n_labels = labels_.size();
  std::vector<uint64_t> tombstone_positions;
  for (size_t w = 0; w < tombstoned_.size(); ++w) {
    for (int b = 0; b < 64; ++b) {
      if (tombstoned_[w] >> b & 1) tombstone_positions.push_back(w * 64 + b);
    }
  }
  const uint64_t n_tombstones = tombstone_positions.size();
  bool ok = out.put_bytes(kMagic, 8) && out.put(kFileFormat) && out.put(generation) &&
            out.put(dimension_) && out.put(factory_size) &&
            out.put_bytes(factory_.data(), factory_.size()) && out.put(staged) &&
            out.put(n_labels) && out.put_bytes(labels_.data(), n_labels * sizeof(int64_t)) &&
            out.put(n_tombstones) &&
            out.put_bytes(tombstone_positions.data(), n_tombstones * sizeof(uint64_t));
  if (!ok) return Status::io_error("cannot write index.faiss");
  RAGKIT_RETURN_IF_ERROR(
      call_faiss("writing index.faiss", [&] { faiss::write_index(index_.get(), &out); }));
  const uint64_t payload_bytes = out.bytes;
  const uint64_t checksum = out.checksum.value();
  if (std::fwrite(&payload_bytes, 8, 1, file) != 1 || std::fwrite(&checksum, 8, 1, file) != 1 ||
      std::fwrite(kEndMagic, 8, 1, file) != 1) {
    return Status::io_error("cannot write index.faiss");
  }
  return Status::ok_status();
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::load(const std::string& path,
                                                      const std::string& factory,
                                                      uint32_t dimension,
                                                      uint64_t* generation) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rbe"));
  if (!file) return Status::not_found(path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(::fileno(file.get()), &st) != 0) return Status::io_error("cannot stat " + path);
  const auto size = static_cast<uint64_t>(st.st_size);
  const auto bad = [&](const std::string& why) { return Status::corruption(path + ": " + why); };
  if (size < 8 + kFooterBytes) return bad("too short");

  // Pass 1: the footer and the checksum over everything before it.
  uint64_t footer[2] = {};
  char end_magic[8] = {};
  if (std::fseek(file.get(), static_cast<long>(size - kFooterBytes), SEEK_SET) != 0 ||
      std::fread(footer, 8, 2, file.get()) != 2 || std::fread(end_magic, 8, 1, file.get()) != 1) {
    return bad("cannot read the footer");
  }
  if (std::memcmp(end_magic, kEndMagic, 8) != 0) return bad("no end marker (truncated?)");
  if (footer[0] != size - kFooterBytes) return bad("length does not match (truncated?)");
  {
    std::rewind(file.get());
    Checksum checksum;
    std::vector<char> buffer(1 << 20);
    uint64_t left = footer[0];
    while (left > 0) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buffer.size()));
      if (std::fread(buffer.data(), 1, want, file.get()) != want) return bad("short read");
      checksum.update(buffer.data(), want);
      left -= want;
    }
    if (checksum.value() != footer[1]) return bad("checksum mismatch");
  }

  // Pass 2: parse.
  std::rewind(file.get());
  FileReader in(file.get());
  char magic[8] = {};
  uint32_t format = 0, file_dimension = 0, factory_size = 0;
  uint8_t staged = 0;
  uint64_t n_labels = 0, n_tombstones = 0;
  if (in(magic, 1, 8) != 8 || std::memcmp(magic, kMagic, 8) != 0) {
    return bad("not a ragkit index file");
  }
  if (!in.get(format) || format != kFileFormat) return bad("unknown format version");
  if (!in.get(*generation) || !in.get(file_dimension) || !in.get(factory_size) ||
      factory_size > 1024) {
    return bad("truncated header");
  }
  std::string file_factory(factory_size, '\0');
  if (in(file_factory.data(), 1, factory_size) != factory_size) return bad("truncated header");
  if (file_factory != factory || file_dimension != dimension) {
    return bad("made for index type '" + file_factory + "' dimension " +
               std::to_string(file_dimension) + ", the collection has '" + factory +
               "' dimension " + std::to_string(dimension));
  }
  std::unique_ptr<VectorIndex> vi(new VectorIndex());
  vi->factory_ = factory;
  vi->dimension_ = dimension;
  RAGKIT_RETURN_IF_ERROR(vi->init_from_factory());  // family, nlist, threshold
  if (!in.get(staged) || !in.get(n_labels) || n_labels > size / 8) return bad("truncated labels");
  vi->labels_.resize(n_labels);
  if (in(vi->labels_.data(), 8, n_labels) != n_labels) return bad("truncated labels");
  if (!in.get(n_tombstones) || n_tombstones > n_labels) return bad("bad tombstone count");
  std::vector<uint64_t> tombstone_positions(n_tombstones);
  if (in(tombstone_positions.data(), 8, n_tombstones) != n_tombstones) {
    return bad("truncated tombstones");
  }
  faiss::Index* raw = nullptr;
  Status status = call_faiss("reading " + path, [&] { raw = faiss::read_index(&in); });
  if (!status.ok()) return Status::corruption(status.message());
  std::unique_ptr<faiss::Index> index(raw);
  use_simd_inner_product(index);

  vi->staged_ = staged != 0;
  if (index->d != static_cast<idx_t>(dimension) ||
      index->metric_type != faiss::METRIC_INNER_PRODUCT) {
    return bad("index dimension or metric differs from the collection's");
  }
  if (vi->staged_) {
    if (dynamic_cast<faiss::IndexFlat*>(index.get()) == nullptr) return bad("bad staging index");
  } else {
    auto kind = classify(factory, index.get());
    if (!kind.ok() || kind->family != vi->family_) return bad("index family differs");
  }
  vi->index_ = std::move(index);
  vi->attach_compact_rows();
  vi->follow_graph_arrays();
  if (vi->family_ == IndexFamily::kIvf && !vi->staged_) {
    auto* ivf = static_cast<faiss::IndexIVF*>(vi->index_.get());
    if (ivf->direct_map.type != faiss::DirectMap::Hashtable || n_labels != 0 ||
        ivf->direct_map.hashtable.size() != static_cast<size_t>(ivf->ntotal)) {
      return bad("IVF index without its id map");
    }
    for (const auto& entry : ivf->direct_map.hashtable) {
      vi->live_.emplace(static_cast<uint64_t>(entry.first), 0);
    }
  } else {
    if (static_cast<uint64_t>(vi->index_->ntotal) != n_labels) return bad("label count differs");
    for (uint64_t position : tombstone_positions) {
      if (position >= n_labels) return bad("tombstone past the end");
      vi->set_tombstone(position);
    }
    for (uint64_t p = 0; p < n_labels; ++p) {
      if (vi->tombstoned_.size() > p / 64 && (vi->tombstoned_[p / 64] >> (p % 64) & 1)) continue;
      if (!vi->live_.emplace(static_cast<uint64_t>(vi->labels_[p]), p).second) {
        return bad("chunk id twice");
      }
    }
  }
  return vi;
}

}  // namespace ragkit::retrieval::store
