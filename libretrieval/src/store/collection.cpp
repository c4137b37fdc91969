#include "ragkit/retrieval/collection.h"

#include <fnmatch.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <shared_mutex>
#include <unordered_map>

#include "lexical/lexical_index.h"
#include "ragkit/retrieval/fusion.h"
#include "rocksdb_status.h"
#include "ragkit/common/atomic_file.h"
#include "store/lock_file.h"
#include "store/records.h"
#include "store/vector_index.h"

namespace ragkit::retrieval {

using namespace store;
namespace fs = std::filesystem;

namespace {

constexpr size_t kRebuildBatch = 4096;  // vectors read and added per step of a rebuild

// Migrations from schema version v to v + 1, indexed by v. Version 1 is the first format, so
// there is none yet; a future format appends here (and a test opens a hand-made old collection).
using Migration = Status (*)(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* meta);
constexpr Migration kMigrations[] = {nullptr /* 0 -> 1: no collection ever had version 0 */};

// Unit vector of `in` into `out`; a zero, NaN or infinite vector is the caller's error.
Status normalise(std::span<const float> in, float* out, const std::string& what) {
  double norm2 = 0;
  for (float v : in) {
    if (!std::isfinite(v)) return Status::invalid_argument(what + " contains NaN or infinity");
    norm2 += double{v} * v;
  }
  if (!(norm2 > 1e-30)) return Status::invalid_argument(what + " is a zero vector");
  const auto scale = static_cast<float>(1.0 / std::sqrt(norm2));
  for (size_t i = 0; i < in.size(); ++i) out[i] = in[i] * scale;
  return Status::ok_status();
}

std::string to_string(uint64_t v) { return std::to_string(v); }

}  // namespace

class Collection::Impl {
 public:
  ~Impl() { close(); }

  Status open(const std::string& dir, CollectionOptions options);
  void close();

  Status write(std::span<const DocumentInput> upserts, std::span<const std::string> removals,
               bool* removed_any);
  Status flush();
  Status rebuild_index();
  Status compact();
  Status refresh();

  std::optional<DocumentRecord> document(std::string_view path) const;
  std::vector<DocumentRecord> documents() const;
  Result<ChunkRecord> chunk(uint64_t chunk_id) const;
  Result<std::vector<float>> vector(uint64_t chunk_id) const;
  // The value of chunk_id's key in `cf` as of the last committed write; nullopt when absent.
  Result<std::optional<std::string>> get_committed(rocksdb::ColumnFamilyHandle* cf,
                                                   uint64_t chunk_id, const std::string& what) const;
  Status for_each_vector(
      const std::function<void(uint64_t, std::span<const float>)>& fn) const;
  Result<std::vector<SearchHit>> search_dense(std::span<const float> query, size_t k,
                                              const SearchFilter& filter,
                                              const DenseSearchParams& params) const;
  Result<std::vector<SearchHit>> search_lexical(std::string_view query, size_t k,
                                                const SearchFilter& filter) const;
  Result<std::vector<SearchHit>> search_hybrid(std::string_view text,
                                               std::span<const float> query, size_t k,
                                               const SearchFilter& filter,
                                               const HybridSearchParams& params) const;
  CollectionStats stats() const;
  Status export_jsonl(std::ostream& out) const;
  Result<VectorUpgradeSummary> add_vectors(const VectorUpgrade& upgrade);

  std::string dir_;

 private:
  // The filter's admitted documents and how many chunks they hold.
  struct Admission {
    DocumentSet documents;
    uint64_t chunks = 0;
  };
  using Snapshot = std::shared_ptr<const rocksdb::Snapshot>;

  Status open_db();
  Status read_or_create_meta();
  Status load_documents();
  Status load_or_rebuild_index();
  Status replay_change_log(VectorIndex& index, uint64_t from_generation);
  // Rebuilds the collection's index from every stored vector, reporting `why`.
  Result<std::unique_ptr<VectorIndex>> build_index_from_vectors(const std::string& why);
  // An index of `factory` over every stored vector; `message` is what progress reports say.
  Result<std::unique_ptr<VectorIndex>> build_index_from_vectors(const std::string& message,
                                                                const std::string& factory,
                                                                uint32_t dimension);
  // add_vectors' steps: embed the chunks that lack a vector; drop vectors of chunks gone.
  Status embed_missing_vectors(const VectorUpgrade& upgrade, VectorUpgradeSummary& summary);
  Status drop_orphan_vectors();
  Status check_index_matches_documents(const VectorIndex& index) const;
  Status save_index_locked();
  Status maybe_maintain_locked();
  Status rebuild_index_locked(const std::string& why);
  void take_snapshot_locked();
  Status read_meta(std::string_view key, std::string* value, bool* found) const;
  Admission admit(const SearchFilter& filter) const;
  Result<std::vector<float>> normalised_query(std::span<const float> query) const;
  Result<std::vector<ScoredChunk>> dense_locked(const std::vector<float>& unit, size_t k,
                                                const SearchFilter& filter,
                                                const DenseSearchParams& params) const;
  Result<std::vector<ScoredChunk>> lexical_locked(std::string_view query, size_t k,
                                                  const SearchFilter& filter) const;
  SearchHit make_hit(uint64_t chunk_id, float score) const;
  // Made without an embedding model (dimension 0): no vectors, no FAISS index, no change log.
  bool lexical_only() const { return dimension_ == 0; }
  Status lexical_only_error() const {
    return Status::invalid_argument("collection " + dir_ +
                                    " is lexical-only (made without an embedding model): use "
                                    "lexical search");
  }
  void report(const std::string& message, uint64_t done, uint64_t total) const {
    if (options_.progress) options_.progress(message, done, total);
  }
  rocksdb::WriteOptions write_options() const {
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync_writes;
    return wo;
  }

  CollectionOptions options_;
  std::string db_dir_, index_path_, secondary_dir_;
  std::optional<LockFile> lock_;
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* documents_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* chunks_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* vectors_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* lexical_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;

  // Collection metadata.
  uint32_t schema_version_ = kCollectionSchemaVersion;
  std::string model_id_, factory_;
  uint32_t dimension_ = 0;
  uint64_t created_unix_ = 0;
  uint64_t next_document_id_ = 1;
  uint64_t generation_ = 0;
  uint64_t index_file_generation_ = 0;
  uint64_t changes_since_save_ = 0;

  // In-memory state, consistent with `snapshot_`; guarded by state_mutex_.
  std::map<std::string, DocumentRecord, std::less<>> by_path_;
  std::unordered_map<uint64_t, const DocumentRecord*> by_id_;
  uint64_t chunk_count_ = 0;
  std::unique_ptr<VectorIndex> index_;  // null in a lexical-only collection
  std::unique_ptr<LexicalIndex> lexical_;
  Snapshot snapshot_;

  mutable std::shared_mutex state_mutex_;  // searches shared; applying a write exclusive
  std::mutex write_mutex_;                 // one write (or flush, rebuild, refresh) at a time
};

// ---------------------------------------------------------------------------------------------
// Opening and closing

Status Collection::Impl::open(const std::string& dir, CollectionOptions options) {
  options_ = std::move(options);
  dir_ = dir;
  db_dir_ = (fs::path(dir) / "db").string();
  index_path_ = (fs::path(dir) / "index.faiss").string();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    if (options_.read_only || !options_.create_if_missing) {
      return Status::not_found("no collection at " + dir);
    }
    fs::create_directories(dir, ec);
    if (ec) return Status::io_error("cannot create " + dir + ": " + ec.message());
  }
  const bool exists = fs::exists(fs::path(db_dir_) / "CURRENT", ec);
  if (!exists && (options_.read_only || !options_.create_if_missing)) {
    return Status::not_found("no collection at " + dir);
  }
  if (!options_.read_only) {
    RAGKIT_ASSIGN_OR_RETURN(LockFile lock,
                            LockFile::acquire((fs::path(dir) / "LOCK").string(),
                                              "collection " + dir));
    lock_.emplace(std::move(lock));
  }
  RAGKIT_RETURN_IF_ERROR(open_db());
  RAGKIT_RETURN_IF_ERROR(read_or_create_meta());
  RAGKIT_RETURN_IF_ERROR(load_documents());
  RAGKIT_ASSIGN_OR_RETURN(lexical_, LexicalIndex::open(db_, lexical_cf_));
  if (!options_.read_only) remove_stale_temp_files(index_path_);
  RAGKIT_RETURN_IF_ERROR(load_or_rebuild_index());
  take_snapshot_locked();
  return Status::ok_status();
}

Status Collection::Impl::open_db() {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = !options_.read_only;
  db_options.create_missing_column_families = !options_.read_only;
  // Writes are small batches; keep the log and memtables modest and the files few.
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 2;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : {rocksdb::kDefaultColumnFamilyName.c_str(), kDocumentsFamily,
                           kChunksFamily, kVectorsFamily, kLexicalFamily, kMetaFamily}) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  rocksdb::Status s;
  if (options_.read_only) {
    // A secondary instance reads a consistent view while the writer keeps going (a read-only
    // instance can lose files the writer compacts away); it needs a scratch dir of its own.
    std::string templ = (fs::temp_directory_path() / "ragkit-reader-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) {
      return Status::io_error("cannot create a scratch directory for a reader");
    }
    secondary_dir_ = templ;
    db_options.max_open_files = -1;
    s = rocksdb::DB::OpenAsSecondary(db_options, db_dir_, secondary_dir_, families, &handles_,
                                     &db_);
  } else {
    s = rocksdb::DB::Open(db_options, db_dir_, families, &handles_, &db_);
  }
  RAGKIT_RETURN_IF_ERROR(from_rocksdb(s, "opening the collection database " + db_dir_));
  documents_cf_ = handles_[1];
  chunks_cf_ = handles_[2];
  vectors_cf_ = handles_[3];
  lexical_cf_ = handles_[4];
  meta_cf_ = handles_[5];
  return Status::ok_status();
}

void Collection::Impl::close() {
  if (db_ == nullptr) return;
  lexical_.reset();
  snapshot_.reset();
  for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
  handles_.clear();
  (void)db_->Close();
  delete db_;
  db_ = nullptr;
  if (!secondary_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(secondary_dir_, ec);
  }
  lock_.reset();
}

Status Collection::Impl::read_meta(std::string_view key, std::string* value, bool* found) const {
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_cf_, rocksdb::Slice(key.data(), key.size()), value);
  *found = s.ok();
  if (s.IsNotFound()) return Status::ok_status();
  return from_rocksdb(s, "reading the collection metadata");
}

Status Collection::Impl::read_or_create_meta() {
  std::string value;
  bool found = false;
  RAGKIT_RETURN_IF_ERROR(read_meta(kMetaSchemaVersion, &value, &found));
  const std::string where = "collection " + dir_;
  if (!found) {
    if (options_.read_only) return Status::not_found(where + " has no metadata");
    if (options_.dimension == 0) {
      // Lexical-only: an index type or a model without a dimension is a caller's mistake.
      if (!options_.model_id.empty()) {
        return Status::invalid_argument(
            "creating " + where + " for model '" + options_.model_id +
            "' needs the vector dimension (CollectionOptions::dimension; 0 makes a "
            "lexical-only collection, without a model)");
      }
      if (!options_.index_factory.empty()) {
        return Status::invalid_argument(
            "creating " + where + " with index type '" + options_.index_factory +
            "' needs the vector dimension (CollectionOptions::dimension; 0 makes a "
            "lexical-only collection, without an index)");
      }
      factory_.clear();
    } else {
      factory_ = options_.index_factory.empty() ? "Flat" : options_.index_factory;
      RAGKIT_RETURN_IF_ERROR(VectorIndex::create(factory_, options_.dimension).status());
    }
    model_id_ = options_.model_id;
    dimension_ = options_.dimension;
    created_unix_ = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count());
    rocksdb::WriteBatch batch;
    batch.Put(meta_cf_, kMetaSchemaVersion, to_string(kCollectionSchemaVersion));
    batch.Put(meta_cf_, kMetaModelId, model_id_);
    batch.Put(meta_cf_, kMetaDimension, to_string(dimension_));
    batch.Put(meta_cf_, kMetaIndexFactory, factory_);
    batch.Put(meta_cf_, kMetaNextDocumentId, to_string(next_document_id_));
    batch.Put(meta_cf_, kMetaCreatedUnix, to_string(created_unix_));
    batch.Put(meta_cf_, kMetaGeneration, to_string(generation_));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return from_rocksdb(db_->Write(wo, &batch), "creating " + where);
  }

  RAGKIT_ASSIGN_OR_RETURN(uint64_t schema, parse_decimal(kMetaSchemaVersion, value));
  if (schema > kCollectionSchemaVersion) {
    return Status::not_supported(where + " was made by a newer ragkit (schema version " +
                                 to_string(schema) + "; this build reads up to " +
                                 to_string(kCollectionSchemaVersion) + ")");
  }
  if (schema < kCollectionSchemaVersion) {
    for (uint64_t v = schema; v < kCollectionSchemaVersion; ++v) {
      if (v >= std::size(kMigrations) || kMigrations[v] == nullptr) {
        return Status::not_supported(where + " has schema version " + to_string(schema) +
                                     ", which this build cannot migrate (it reads versions 1 to " +
                                     to_string(kCollectionSchemaVersion) + ")");
      }
      if (options_.read_only) {
        return Status::not_supported(where + " needs a migration from schema version " +
                                     to_string(schema) + "; open it for writing once");
      }
      RAGKIT_RETURN_IF_ERROR(kMigrations[v](db_, meta_cf_).with_context(where));
    }
  }
  schema_version_ = kCollectionSchemaVersion;

  const auto required = [&](std::string_view key, std::string* out) -> Status {
    bool present = false;
    RAGKIT_RETURN_IF_ERROR(read_meta(key, out, &present));
    if (!present) return Status::corruption(where + ": metadata '" + std::string(key) + "' is missing");
    return Status::ok_status();
  };
  RAGKIT_RETURN_IF_ERROR(required(kMetaModelId, &model_id_));
  RAGKIT_RETURN_IF_ERROR(required(kMetaIndexFactory, &factory_));
  std::string text;
  RAGKIT_RETURN_IF_ERROR(required(kMetaDimension, &text));
  RAGKIT_ASSIGN_OR_RETURN(uint64_t dimension, parse_decimal(kMetaDimension, text));
  if (dimension > 65536) return Status::corruption(where + ": dimension " + text);
  dimension_ = static_cast<uint32_t>(dimension);
  if (lexical_only() != factory_.empty()) {
    return Status::corruption(where + ": dimension " + text + " with index type '" + factory_ +
                              "'");
  }
  RAGKIT_RETURN_IF_ERROR(required(kMetaNextDocumentId, &text));
  RAGKIT_ASSIGN_OR_RETURN(next_document_id_, parse_decimal(kMetaNextDocumentId, text));
  RAGKIT_RETURN_IF_ERROR(required(kMetaGeneration, &text));
  RAGKIT_ASSIGN_OR_RETURN(generation_, parse_decimal(kMetaGeneration, text));
  RAGKIT_RETURN_IF_ERROR(required(kMetaCreatedUnix, &text));
  RAGKIT_ASSIGN_OR_RETURN(created_unix_, parse_decimal(kMetaCreatedUnix, text));

  if (lexical_only() && (options_.dimension != 0 || !options_.model_id.empty() ||
                         !options_.index_factory.empty())) {
    std::string asked;
    if (!options_.model_id.empty()) asked += "model '" + options_.model_id + "'";
    if (options_.dimension != 0) {
      asked += (asked.empty() ? "" : ", ") + to_string(options_.dimension) +
               "-dimensional vectors";
    }
    if (!options_.index_factory.empty()) {
      asked += (asked.empty() ? "" : ", ") + ("index type '" + options_.index_factory + "'");
    }
    return Status::invalid_argument(where +
                                    " is lexical-only (made without an embedding model) and "
                                    "holds no vectors, not " +
                                    asked + "; open it without a model for lexical search");
  }
  if (!options_.model_id.empty() && options_.model_id != model_id_) {
    return Status::invalid_argument(where + " holds embeddings of model '" + model_id_ +
                                    "', not '" + options_.model_id +
                                    "'; re-index into a new collection to change models");
  }
  if (options_.dimension != 0 && options_.dimension != dimension_) {
    return Status::invalid_argument(where + " holds " + to_string(dimension_) +
                                    "-dimensional vectors, not " + to_string(options_.dimension));
  }
  if (!options_.index_factory.empty() && options_.index_factory != factory_) {
    return Status::invalid_argument(where + " uses index type '" + factory_ + "', not '" +
                                    options_.index_factory + "'");
  }
  return Status::ok_status();
}

Status Collection::Impl::load_documents() {
  by_path_.clear();
  by_id_.clear();
  chunk_count_ = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), documents_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string path = it->key().ToString();
    RAGKIT_ASSIGN_OR_RETURN(DocumentRecord record,
                            decode_document(path, std::string_view(it->value().data(),
                                                                   it->value().size())));
    auto [pos, inserted] = by_path_.emplace(path, std::move(record));
    if (!by_id_.emplace(pos->second.document_id, &pos->second).second) {
      return Status::corruption("collection " + dir_ + ": document id " +
                                to_string(pos->second.document_id) + " used twice");
    }
    chunk_count_ += pos->second.chunk_count;
  }
  return from_rocksdb(it->status(), "reading the documents of " + dir_);
}

// ---------------------------------------------------------------------------------------------
// The FAISS index: load, replay, rebuild, save

Status Collection::Impl::check_index_matches_documents(const VectorIndex& index) const {
  if (index.size() != chunk_count_) {
    return Status::corruption("index holds " + to_string(index.size()) + " vectors, the store " +
                              to_string(chunk_count_) + " chunks");
  }
  for (const auto& [path, record] : by_path_) {
    for (uint32_t i = 0; i < record.chunk_count; ++i) {
      if (!index.contains(record.chunk_id(i))) {
        return Status::corruption("index lacks chunk " + to_string(record.chunk_id(i)) + " of " +
                                  path);
      }
    }
  }
  return Status::ok_status();
}

Status Collection::Impl::replay_change_log(VectorIndex& index, uint64_t from_generation) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_cf_));
  uint64_t expected = from_generation + 1;
  std::vector<float> vectors;
  std::vector<rocksdb::Slice> keys;
  std::vector<std::string> key_storage, values;
  for (it->Seek(log_key(expected)); it->Valid() && expected <= generation_; it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    if (!key.starts_with(kMetaLogPrefix)) break;
    RAGKIT_ASSIGN_OR_RETURN(uint64_t generation, parse_log_key(key));
    if (generation != expected) {
      return Status::not_found("change-log entry " + to_string(expected) + " is missing");
    }
    RAGKIT_ASSIGN_OR_RETURN(ChangeLogEntry entry,
                            decode_change_log(generation, std::string_view(it->value().data(),
                                                                           it->value().size())));
    RAGKIT_RETURN_IF_ERROR(index.remove(entry.removed));
    // Ids added by this write and removed by a later one are gone from the vectors CF: skip
    // them here (the later entry's removal is then a no-op).
    key_storage.clear();
    for (uint64_t id : entry.added) key_storage.push_back(chunk_key(id));
    keys.assign(key_storage.begin(), key_storage.end());
    values.clear();
    std::vector<rocksdb::ColumnFamilyHandle*> cfs(keys.size(), vectors_cf_);
    std::vector<rocksdb::Status> statuses =
        db_->MultiGet(rocksdb::ReadOptions(), cfs, keys, &values);
    std::vector<uint64_t> present;
    vectors.resize(entry.added.size() * dimension_);
    for (size_t i = 0; i < entry.added.size(); ++i) {
      if (statuses[i].IsNotFound()) continue;
      RAGKIT_RETURN_IF_ERROR(from_rocksdb(statuses[i], "reading stored vectors"));
      RAGKIT_RETURN_IF_ERROR(decode_vector(entry.added[i], values[i], dimension_,
                                           vectors.data() + present.size() * dimension_));
      present.push_back(entry.added[i]);
    }
    RAGKIT_RETURN_IF_ERROR(index.add(present, vectors.data()));
    ++expected;
  }
  RAGKIT_RETURN_IF_ERROR(from_rocksdb(it->status(), "reading the change log"));
  if (expected != generation_ + 1) {
    return Status::not_found("change-log entry " + to_string(expected) + " is missing");
  }
  return Status::ok_status();
}

Result<std::unique_ptr<VectorIndex>> Collection::Impl::build_index_from_vectors(
    const std::string& why) {
  return build_index_from_vectors(why + "; rebuilding the '" + factory_ + "' index from " +
                                      to_string(chunk_count_) + " stored vectors",
                                  factory_, dimension_);
}

Result<std::unique_ptr<VectorIndex>> Collection::Impl::build_index_from_vectors(
    const std::string& message, const std::string& factory, uint32_t dimension) {
  RAGKIT_ASSIGN_OR_RETURN(auto index, VectorIndex::create(factory, dimension));
  report(message, 0, chunk_count_);
  std::vector<uint64_t> ids;
  std::vector<float> vectors;
  ids.reserve(kRebuildBatch);
  vectors.reserve(kRebuildBatch * dimension);
  uint64_t done = 0;
  const auto add_batch = [&]() -> Status {
    RAGKIT_RETURN_IF_ERROR(index->add(ids, vectors.data()));
    done += ids.size();
    report(message, done, chunk_count_);
    ids.clear();
    vectors.clear();
    return Status::ok_status();
  };
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, vectors_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    RAGKIT_ASSIGN_OR_RETURN(uint64_t id, parse_chunk_key(std::string_view(it->key().data(),
                                                                           it->key().size())));
    vectors.resize(vectors.size() + dimension);
    RAGKIT_RETURN_IF_ERROR(decode_vector(id, std::string_view(it->value().data(),
                                                              it->value().size()),
                                         dimension, vectors.data() + ids.size() * dimension));
    ids.push_back(id);
    if (ids.size() == kRebuildBatch) RAGKIT_RETURN_IF_ERROR(add_batch());
  }
  RAGKIT_RETURN_IF_ERROR(from_rocksdb(it->status(), "reading the stored vectors"));
  if (!ids.empty()) RAGKIT_RETURN_IF_ERROR(add_batch());
  RAGKIT_RETURN_IF_ERROR(index->train_if_ready());
  RAGKIT_RETURN_IF_ERROR(check_index_matches_documents(*index).with_context(
      "the stored vectors do not match the stored documents"));
  return index;
}

Status Collection::Impl::load_or_rebuild_index() {
  if (lexical_only()) {
    // RocksDB is all there is: nothing derived to load, replay or save.
    index_.reset();
    index_file_generation_ = 0;
    changes_since_save_ = 0;
    return Status::ok_status();
  }
  uint64_t file_generation = 0;
  std::string why;
  auto loaded = VectorIndex::load(index_path_, factory_, dimension_, &file_generation);
  if (loaded.ok()) {
    std::unique_ptr<VectorIndex> index = std::move(loaded).value();
    Status status;
    if (file_generation > generation_) {
      status = Status::not_found("index.faiss is newer than the database view");
    } else if (file_generation < generation_) {
      report("index.faiss is behind the database; replaying " +
                 to_string(generation_ - file_generation) + " logged writes",
             0, generation_ - file_generation);
      status = replay_change_log(*index, file_generation);
    }
    if (status.ok()) status = check_index_matches_documents(*index);
    if (status.ok()) {
      index_ = std::move(index);
      // Searches run while a writer adds: reallocating the loaded (exactly full) arrays then
      // would hold them off for the length of the copy.
      if (!options_.read_only) index_->reserve_growth();
      index_file_generation_ = file_generation;
      changes_since_save_ = generation_ - file_generation;
      if (file_generation != generation_ && !options_.read_only) {
        std::unique_lock lock(state_mutex_);
        return save_index_locked();
      }
      return Status::ok_status();
    }
    why = "index.faiss cannot be caught up (" + status.message() + ")";
  } else if (loaded.status().code() == Status::Code::kNotFound) {
    why = "index.faiss is missing";
  } else {
    why = "index.faiss is unreadable (" + loaded.status().message() + ")";
  }
  if (chunk_count_ == 0 && why == "index.faiss is missing") why.clear();  // a new collection
  RAGKIT_ASSIGN_OR_RETURN(index_, build_index_from_vectors(why.empty() ? "new collection" : why));
  index_file_generation_ = 0;
  changes_since_save_ = 0;
  if (options_.read_only) return Status::ok_status();
  std::unique_lock lock(state_mutex_);
  return save_index_locked();
}

Status Collection::Impl::save_index_locked() {
  if (options_.read_only || lexical_only()) return Status::ok_status();
  // index.faiss must never claim a generation that a power loss could take from the database.
  if (!options_.sync_writes) {
    RAGKIT_RETURN_IF_ERROR(from_rocksdb(db_->FlushWAL(true), "syncing the collection log"));
  }
  RAGKIT_RETURN_IF_ERROR(write_file_atomically(
      index_path_, [&](std::FILE* file) { return index_->save(file, generation_); }));
  index_file_generation_ = generation_;
  changes_since_save_ = 0;
  // The log up to here is no longer needed (a leftover entry is harmless: replay starts after
  // the file's generation).
  rocksdb::WriteBatch trim;
  trim.DeleteRange(meta_cf_, log_key(0), log_key(generation_ + 1));
  return from_rocksdb(db_->Write(rocksdb::WriteOptions(), &trim), "trimming the change log");
}

Status Collection::Impl::rebuild_index_locked(const std::string& why) {
  if (lexical_only()) return Status::ok_status();
  RAGKIT_ASSIGN_OR_RETURN(auto fresh, build_index_from_vectors(why));
  std::unique_lock lock(state_mutex_);
  index_ = std::move(fresh);
  return save_index_locked();
}

Status Collection::Impl::maybe_maintain_locked() {
  if (lexical_only()) return Status::ok_status();
  if (index_->family() == IndexFamily::kHnsw && index_->tombstones() > options_.tombstone_rebuild_min &&
      static_cast<double>(index_->tombstones()) >
          options_.tombstone_rebuild_ratio * static_cast<double>(index_->stored_vectors())) {
    return rebuild_index_locked(to_string(index_->tombstones()) + " deleted chunks in the graph");
  }
  if (changes_since_save_ >= std::max(options_.index_save_min_changes, index_->size() / 4)) {
    std::unique_lock lock(state_mutex_);
    return save_index_locked();
  }
  return Status::ok_status();
}

void Collection::Impl::take_snapshot_locked() {
  rocksdb::DB* db = db_;
  if (options_.read_only) {
    snapshot_.reset();  // a secondary instance is already a fixed view (until refresh)
    return;
  }
  snapshot_ = Snapshot(db->GetSnapshot(), [db](const rocksdb::Snapshot* s) {
    db->ReleaseSnapshot(s);
  });
}

// ---------------------------------------------------------------------------------------------
// Writes

Status Collection::Impl::write(std::span<const DocumentInput> upserts,
                               std::span<const std::string> removals, bool* removed_any) {
  if (options_.read_only) {
    return Status::invalid_argument("collection " + dir_ + " was opened read-only");
  }
  // Validate and normalise before touching anything.
  std::set<std::string_view> paths;
  size_t total_chunks = 0;
  for (const DocumentInput& doc : upserts) {
    if (doc.path.empty()) return Status::invalid_argument("a document needs a path");
    if (!paths.insert(doc.path).second) {
      return Status::invalid_argument("document '" + doc.path + "' twice in one batch");
    }
    if (doc.chunks.size() >= kMaxChunksPerDocument) {
      return Status::out_of_range("document '" + doc.path + "' has too many chunks");
    }
    total_chunks += doc.chunks.size();
  }
  std::vector<float> unit(total_chunks * dimension_);
  {
    size_t row = 0;
    for (const DocumentInput& doc : upserts) {
      for (size_t i = 0; i < doc.chunks.size(); ++i, ++row) {
        const auto& embedding = doc.chunks[i].embedding;
        if (lexical_only()) {
          if (!embedding.empty()) {
            return Status::invalid_argument("chunk " + to_string(i) + " of '" + doc.path +
                                            "' has an embedding, but collection " + dir_ +
                                            " is lexical-only (made without an embedding "
                                            "model) and holds no vectors");
          }
          continue;
        }
        const std::string what =
            "the embedding of chunk " + to_string(i) + " of '" + doc.path + "'";
        if (embedding.size() != dimension_) {
          return Status::invalid_argument(what + " has " + to_string(embedding.size()) +
                                          " numbers; the collection's model '" + model_id_ +
                                          "' gives " + to_string(dimension_));
        }
        RAGKIT_RETURN_IF_ERROR(normalise(embedding, unit.data() + row * dimension_, what));
      }
    }
  }

  std::lock_guard write_lock(write_mutex_);
  rocksdb::WriteBatch batch;
  ChangeLogEntry log;
  std::vector<uint64_t> added_documents;
  uint64_t next_id = next_document_id_;
  const auto remove_existing = [&](const DocumentRecord& old) -> Status {
    for (uint32_t i = 0; i < old.chunk_count; ++i) {
      const uint64_t id = old.chunk_id(i);
      const std::string key = chunk_key(id);
      batch.Delete(chunks_cf_, key);
      if (!lexical_only()) batch.Delete(vectors_cf_, key);
      RAGKIT_RETURN_IF_ERROR(lexical_->stage_remove(batch, id));
      log.removed.push_back(id);
    }
    return Status::ok_status();
  };
  std::vector<DocumentRecord> new_records;
  Status status;
  for (const std::string& path : removals) {
    auto it = by_path_.find(path);
    if (it == by_path_.end()) continue;
    status = remove_existing(it->second);
    if (!status.ok()) break;
    batch.Delete(documents_cf_, path);
    if (removed_any != nullptr) *removed_any = true;
  }
  size_t row = 0;
  for (const DocumentInput& doc : upserts) {
    if (!status.ok()) break;
    if (auto it = by_path_.find(doc.path); it != by_path_.end()) {
      status = remove_existing(it->second);
      if (!status.ok()) break;
    }
    if (next_id > kMaxDocumentId) {
      status = Status::out_of_range("collection " + dir_ + " ran out of document ids");
      break;
    }
    DocumentRecord record;
    record.document_id = next_id++;
    record.path = doc.path;
    record.file_type = doc.file_type;
    record.mtime_ns = doc.mtime_ns;
    record.size_bytes = doc.size_bytes;
    record.content_hash = doc.content_hash;
    record.title = doc.title;
    record.metadata = doc.metadata;
    record.chunk_count = static_cast<uint32_t>(doc.chunks.size());
    batch.Put(documents_cf_, doc.path, encode_document(record));
    for (uint32_t i = 0; i < record.chunk_count; ++i, ++row) {
      ChunkRecord chunk;
      chunk.chunk_id = record.chunk_id(i);
      chunk.text = doc.chunks[i].text;
      chunk.location = doc.chunks[i].location;
      const std::string key = chunk_key(chunk.chunk_id);
      batch.Put(chunks_cf_, key, encode_chunk(chunk));
      if (!lexical_only()) {
        batch.Put(vectors_cf_, key, encode_vector(std::span<const float>(
                                        unit.data() + row * dimension_, dimension_)));
      }
      status = lexical_->stage_add(batch, chunk.chunk_id, chunk.text);
      if (!status.ok()) break;
      log.added.push_back(chunk.chunk_id);
    }
    new_records.push_back(std::move(record));
  }
  if (status.ok() && log.added.empty() && log.removed.empty() && new_records.empty() &&
      (removed_any == nullptr || !*removed_any)) {
    lexical_->discard_staged();
    return Status::ok_status();  // nothing to do
  }
  const uint64_t generation = generation_ + 1;
  if (status.ok()) {
    batch.Put(meta_cf_, kMetaNextDocumentId, to_string(next_id));
    batch.Put(meta_cf_, kMetaGeneration, to_string(generation));
    // The log lets a stale index.faiss catch up; with no index nobody would replay it.
    if (!lexical_only()) batch.Put(meta_cf_, log_key(generation), encode_change_log(log));
    status = lexical_->finish_batch(batch);
  }
  if (status.ok()) status = from_rocksdb(db_->Write(write_options(), &batch), "writing to " + dir_);
  if (!status.ok()) {
    lexical_->discard_staged();
    return status;
  }

  // Committed. Bring the in-memory state along, excluding searches meanwhile.
  Status index_status;
  {
    std::unique_lock lock(state_mutex_);
    lexical_->commit_staged();
    next_document_id_ = next_id;
    generation_ = generation;
    if (index_) {
      changes_since_save_ += log.removed.size() + log.added.size();
      index_status = index_->remove(log.removed);
      if (index_status.ok()) index_status = index_->add(log.added, unit.data());
    }
    for (const std::string& path : removals) {
      auto it = by_path_.find(path);
      if (it == by_path_.end()) continue;
      chunk_count_ -= it->second.chunk_count;
      by_id_.erase(it->second.document_id);
      by_path_.erase(it);
    }
    for (DocumentRecord& record : new_records) {
      auto it = by_path_.find(record.path);
      if (it != by_path_.end()) {
        chunk_count_ -= it->second.chunk_count;
        by_id_.erase(it->second.document_id);
        it->second = std::move(record);
      } else {
        it = by_path_.emplace(record.path, std::move(record)).first;
      }
      chunk_count_ += it->second.chunk_count;
      by_id_[it->second.document_id] = &it->second;
    }
    take_snapshot_locked();
  }
  if (!index_status.ok()) {
    // The write is durable; only the derived index failed. Rebuild it from the store.
    return rebuild_index_locked("updating the index failed (" + index_status.message() + ")");
  }
  return maybe_maintain_locked();
}

Status Collection::Impl::flush() {
  if (options_.read_only) return Status::ok_status();
  std::lock_guard write_lock(write_mutex_);
  if (!options_.sync_writes) {
    RAGKIT_RETURN_IF_ERROR(from_rocksdb(db_->FlushWAL(true), "syncing the collection log"));
  }
  if (lexical_only()) return Status::ok_status();  // no index.faiss to save
  if (index_file_generation_ == generation_ && changes_since_save_ == 0) {
    return Status::ok_status();
  }
  std::unique_lock lock(state_mutex_);
  return save_index_locked();
}

Status Collection::Impl::rebuild_index() {
  if (options_.read_only) return Status::invalid_argument("collection opened read-only");
  if (lexical_only()) return Status::ok_status();  // no index to rebuild
  std::lock_guard write_lock(write_mutex_);
  return rebuild_index_locked("rebuild requested");
}

Status Collection::Impl::compact() {
  if (options_.read_only) return Status::invalid_argument("collection opened read-only");
  std::lock_guard write_lock(write_mutex_);
  rocksdb::CompactRangeOptions options;
  for (auto* cf : handles_) {
    RAGKIT_RETURN_IF_ERROR(
        from_rocksdb(db_->CompactRange(options, cf, nullptr, nullptr), "compacting " + dir_));
  }
  return Status::ok_status();
}

Status Collection::Impl::refresh() {
  if (!options_.read_only) return Status::ok_status();  // a writer is always current
  std::lock_guard write_lock(write_mutex_);
  std::unique_lock lock(state_mutex_);
  RAGKIT_RETURN_IF_ERROR(
      from_rocksdb(db_->TryCatchUpWithPrimary(), "catching up with the collection's writer"));
  const uint64_t old_generation = generation_;
  RAGKIT_RETURN_IF_ERROR(read_or_create_meta());
  if (generation_ == old_generation) return Status::ok_status();
  RAGKIT_RETURN_IF_ERROR(load_documents());
  RAGKIT_ASSIGN_OR_RETURN(lexical_, LexicalIndex::open(db_, lexical_cf_));
  if (lexical_only()) return Status::ok_status();
  // Catch the in-memory index up from the log when it is still there, else reload or rebuild
  // (no index yet: the writer has just added vectors to a lexical-only collection).
  if (index_ && replay_change_log(*index_, old_generation).ok() &&
      check_index_matches_documents(*index_).ok()) {
    return Status::ok_status();
  }
  return load_or_rebuild_index();
}

// ---------------------------------------------------------------------------------------------
// Upgrading a lexical-only collection in place

Result<VectorUpgradeSummary> Collection::Impl::add_vectors(const VectorUpgrade& upgrade) {
  const auto started = std::chrono::steady_clock::now();
  const std::string where = "collection " + dir_;
  if (options_.read_only) return Status::invalid_argument(where + " was opened read-only");
  if (upgrade.model_id.empty() || upgrade.dimension == 0 || upgrade.dimension > 65536 ||
      !upgrade.embed || upgrade.batch == 0) {
    return Status::invalid_argument(
        "adding vectors needs a model id, a dimension (1 to 65536), an embed function and a "
        "batch size");
  }
  const std::string factory = upgrade.index_factory.empty() ? "Flat" : upgrade.index_factory;
  std::lock_guard write_lock(write_mutex_);
  VectorUpgradeSummary summary;
  if (!lexical_only()) {
    if (upgrade.model_id == model_id_ && upgrade.dimension == dimension_) {
      summary.chunks = chunk_count_;
      return summary;  // already there
    }
    return Status::invalid_argument(where + " already holds " + to_string(dimension_) +
                                    "-dimensional vectors of model '" + model_id_ + "', not '" +
                                    upgrade.model_id +
                                    "'; re-index into a new collection to change models");
  }
  RAGKIT_RETURN_IF_ERROR(VectorIndex::create(factory, upgrade.dimension).status());

  // The marker says whose vectors the vectors family holds; anything else there is dropped.
  const std::string marker = nlohmann::json{{"model_id", upgrade.model_id},
                                            {"dimension", upgrade.dimension},
                                            {"index_factory", factory}}
                                 .dump();
  std::string stored;
  bool found = false;
  RAGKIT_RETURN_IF_ERROR(read_meta(kMetaVectorUpgrade, &stored, &found));
  if (!found || stored != marker) {
    rocksdb::WriteBatch batch;
    batch.DeleteRange(vectors_cf_, chunk_key(0), chunk_key(UINT64_MAX) + '\0');
    batch.Put(meta_cf_, kMetaVectorUpgrade, marker);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    RAGKIT_RETURN_IF_ERROR(from_rocksdb(db_->Write(wo, &batch), "starting to add vectors to " + where));
  }
  RAGKIT_RETURN_IF_ERROR(embed_missing_vectors(upgrade, summary));
  RAGKIT_RETURN_IF_ERROR(drop_orphan_vectors());
  RAGKIT_ASSIGN_OR_RETURN(
      std::unique_ptr<VectorIndex> index,
      build_index_from_vectors("vectors of model '" + upgrade.model_id + "' added; building the '" +
                                   factory + "' index from " + to_string(chunk_count_) +
                                   " stored vectors",
                               factory, upgrade.dimension));

  // The switch: from here on the collection holds vectors (one synced write).
  const uint64_t generation = generation_ + 1;
  rocksdb::WriteBatch batch;
  batch.Put(meta_cf_, kMetaModelId, upgrade.model_id);
  batch.Put(meta_cf_, kMetaDimension, to_string(upgrade.dimension));
  batch.Put(meta_cf_, kMetaIndexFactory, factory);
  batch.Put(meta_cf_, kMetaGeneration, to_string(generation));
  batch.Delete(meta_cf_, kMetaVectorUpgrade);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  RAGKIT_RETURN_IF_ERROR(from_rocksdb(db_->Write(wo, &batch), "adding vectors to " + where));
  Status saved;
  {
    std::unique_lock lock(state_mutex_);
    model_id_ = upgrade.model_id;
    dimension_ = upgrade.dimension;
    factory_ = factory;
    generation_ = generation;
    index_ = std::move(index);
    index_file_generation_ = 0;
    changes_since_save_ = 0;
    take_snapshot_locked();
    saved = save_index_locked();  // on failure the next open rebuilds it from the vectors
  }
  summary.chunks = chunk_count_;
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  RAGKIT_RETURN_IF_ERROR(saved.with_context("the vectors are stored, but saving index.faiss failed"));
  return summary;
}

Status Collection::Impl::embed_missing_vectors(const VectorUpgrade& upgrade,
                                               VectorUpgradeSummary& summary) {
  // Writes wait on write_mutex_ (held by the caller): the documents cannot change meanwhile.
  std::vector<uint64_t> ids;
  ids.reserve(chunk_count_);
  for (const auto& [path, record] : by_path_) {
    for (uint32_t i = 0; i < record.chunk_count; ++i) ids.push_back(record.chunk_id(i));
  }
  const uint32_t dim = upgrade.dimension;
  const std::string message = "adding vectors of model '" + upgrade.model_id + "' to " +
                              to_string(ids.size()) + " chunks";
  report(message, 0, ids.size());
  std::vector<std::string> key_storage, values, texts;
  std::vector<rocksdb::Slice> keys;
  std::vector<uint64_t> missing;
  std::vector<float> unit(dim), scratch(dim);
  uint64_t done = 0;
  for (size_t begin = 0; begin < ids.size(); begin += upgrade.batch) {
    const size_t n = std::min(upgrade.batch, ids.size() - begin);
    key_storage.clear();
    for (size_t i = 0; i < n; ++i) key_storage.push_back(chunk_key(ids[begin + i]));
    keys.assign(key_storage.begin(), key_storage.end());
    // Vectors an interrupted run stored already (and that decode) are kept.
    std::vector<rocksdb::ColumnFamilyHandle*> vector_cfs(n, vectors_cf_);
    std::vector<rocksdb::Status> got = db_->MultiGet(rocksdb::ReadOptions(), vector_cfs, keys, &values);
    missing.clear();
    std::vector<rocksdb::Slice> missing_keys;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t id = ids[begin + i];
      if (got[i].ok() && decode_vector(id, values[i], dim, scratch.data()).ok()) {
        ++summary.resumed;
        continue;
      }
      if (!got[i].ok() && !got[i].IsNotFound()) {
        return from_rocksdb(got[i], "reading stored vectors");
      }
      missing.push_back(id);
      missing_keys.push_back(keys[i]);
    }
    if (!missing.empty()) {
      std::vector<rocksdb::ColumnFamilyHandle*> chunk_cfs(missing.size(), chunks_cf_);
      got = db_->MultiGet(rocksdb::ReadOptions(), chunk_cfs, missing_keys, &values);
      texts.clear();
      for (size_t i = 0; i < missing.size(); ++i) {
        RAGKIT_RETURN_IF_ERROR(from_rocksdb(got[i], "reading chunk " + to_string(missing[i])));
        RAGKIT_ASSIGN_OR_RETURN(ChunkRecord chunk, decode_chunk(missing[i], values[i]));
        texts.push_back(std::move(chunk.text));
      }
      const auto embed_started = std::chrono::steady_clock::now();
      Result<std::vector<float>> vectors = upgrade.embed(texts);
      summary.embed_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - embed_started).count();
      const std::string stopped = " (" + to_string(done) + " of " + to_string(ids.size()) +
                                  " chunks have vectors; running it again continues there)";
      if (!vectors.ok()) return vectors.status().with_context("embedding chunks" + stopped);
      if (vectors->size() != missing.size() * dim) {
        return Status::invalid_argument("the embedder gave " + to_string(vectors->size()) +
                                        " numbers for " + to_string(missing.size()) + " texts of " +
                                        to_string(dim) + " dimensions" + stopped);
      }
      rocksdb::WriteBatch batch;
      for (size_t i = 0; i < missing.size(); ++i) {
        const std::span<const float> row(vectors->data() + i * dim, dim);
        RAGKIT_RETURN_IF_ERROR(normalise(row, unit.data(),
                                         "the embedding of chunk " + to_string(missing[i]))
                                   .with_context("embedding chunks" + stopped));
        batch.Put(vectors_cf_, missing_keys[i], encode_vector(unit));
      }
      // Unsynced: the final switch is a synced write, which syncs these with it.
      RAGKIT_RETURN_IF_ERROR(
          from_rocksdb(db_->Write(rocksdb::WriteOptions(), &batch), "storing vectors in " + dir_));
      summary.embedded += missing.size();
    }
    done += n;
    report(message, done, ids.size());
  }
  return Status::ok_status();
}

Status Collection::Impl::drop_orphan_vectors() {
  // Vectors of chunks removed since an interrupted run stored them.
  rocksdb::WriteBatch batch;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), vectors_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    RAGKIT_ASSIGN_OR_RETURN(uint64_t id, parse_chunk_key(std::string_view(it->key().data(),
                                                                           it->key().size())));
    auto doc = by_id_.find(document_id_of(id));
    if (doc == by_id_.end() || chunk_index_of(id) >= doc->second->chunk_count) {
      batch.Delete(vectors_cf_, it->key());
    }
  }
  RAGKIT_RETURN_IF_ERROR(from_rocksdb(it->status(), "reading the stored vectors"));
  if (batch.Count() == 0) return Status::ok_status();
  return from_rocksdb(db_->Write(rocksdb::WriteOptions(), &batch), "dropping stale vectors");
}

// ---------------------------------------------------------------------------------------------
// Reads and searches

std::optional<DocumentRecord> Collection::Impl::document(std::string_view path) const {
  std::shared_lock lock(state_mutex_);
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return std::nullopt;
  return it->second;
}

std::vector<DocumentRecord> Collection::Impl::documents() const {
  std::shared_lock lock(state_mutex_);
  std::vector<DocumentRecord> out;
  out.reserve(by_path_.size());
  for (const auto& entry : by_path_) out.push_back(entry.second);
  return out;
}

Result<std::optional<std::string>> Collection::Impl::get_committed(
    rocksdb::ColumnFamilyHandle* cf, uint64_t chunk_id, const std::string& what) const {
  Snapshot snapshot;
  {
    std::shared_lock lock(state_mutex_);
    snapshot = snapshot_;
  }
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.get();
  std::string value;
  rocksdb::Status s = db_->Get(ro, cf, chunk_key(chunk_id), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  RAGKIT_RETURN_IF_ERROR(from_rocksdb(s, "reading " + what));
  return std::optional<std::string>(std::move(value));
}

Result<ChunkRecord> Collection::Impl::chunk(uint64_t chunk_id) const {
  RAGKIT_ASSIGN_OR_RETURN(auto value,
                          get_committed(chunks_cf_, chunk_id, "chunk " + to_string(chunk_id)));
  if (!value) return Status::not_found("no chunk " + to_string(chunk_id));
  return decode_chunk(chunk_id, *value);
}

Result<std::vector<float>> Collection::Impl::vector(uint64_t chunk_id) const {
  if (lexical_only()) {
    return Status::not_found("no vector for chunk " + to_string(chunk_id) + ": collection " +
                             dir_ + " is lexical-only (made without an embedding model)");
  }
  RAGKIT_ASSIGN_OR_RETURN(
      auto value, get_committed(vectors_cf_, chunk_id, "the vector of chunk " + to_string(chunk_id)));
  if (!value) return Status::not_found("no vector for chunk " + to_string(chunk_id));
  std::vector<float> out(dimension_);
  RAGKIT_RETURN_IF_ERROR(decode_vector(chunk_id, *value, dimension_, out.data()));
  return out;
}

Status Collection::Impl::for_each_vector(
    const std::function<void(uint64_t, std::span<const float>)>& fn) const {
  if (lexical_only()) return Status::ok_status();  // no vectors to visit
  Snapshot snapshot;
  {
    std::shared_lock lock(state_mutex_);
    snapshot = snapshot_;
  }
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.get();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, vectors_cf_));
  std::vector<float> v(dimension_);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    RAGKIT_ASSIGN_OR_RETURN(uint64_t id, parse_chunk_key(std::string_view(it->key().data(),
                                                                           it->key().size())));
    RAGKIT_RETURN_IF_ERROR(decode_vector(
        id, std::string_view(it->value().data(), it->value().size()), dimension_, v.data()));
    fn(id, v);
  }
  return from_rocksdb(it->status(), "reading the stored vectors");
}

Collection::Impl::Admission Collection::Impl::admit(const SearchFilter& filter) const {
  Admission admission;
  auto begin = by_path_.begin();
  auto end = by_path_.end();
  if (!filter.path_prefix.empty()) {
    // Paths with the prefix are one sorted range.
    begin = by_path_.lower_bound(filter.path_prefix);
    end = begin;
    while (end != by_path_.end() && end->first.starts_with(filter.path_prefix)) ++end;
  }
  for (auto it = begin; it != end; ++it) {
    const DocumentRecord& d = it->second;
    if (!filter.file_types.empty() &&
        std::find(filter.file_types.begin(), filter.file_types.end(), d.file_type) ==
            filter.file_types.end()) {
      continue;
    }
    if (filter.modified_from_ns && d.mtime_ns < *filter.modified_from_ns) continue;
    if (filter.modified_to_ns && d.mtime_ns > *filter.modified_to_ns) continue;
    if (!filter.path_glob.empty() && ::fnmatch(filter.path_glob.c_str(), d.path.c_str(), 0) != 0) {
      continue;
    }
    admission.documents.insert(d.document_id);
    admission.chunks += d.chunk_count;
  }
  return admission;
}

Result<std::vector<float>> Collection::Impl::normalised_query(
    std::span<const float> query) const {
  if (query.size() != dimension_) {
    return Status::invalid_argument("query vector has " + to_string(query.size()) +
                                    " numbers; the collection's vectors have " +
                                    to_string(dimension_));
  }
  std::vector<float> unit(dimension_);
  RAGKIT_RETURN_IF_ERROR(normalise(query, unit.data(), "the query vector"));
  return unit;
}

Result<std::vector<ScoredChunk>> Collection::Impl::dense_locked(
    const std::vector<float>& unit, size_t k, const SearchFilter& filter,
    const DenseSearchParams& params) const {
  std::optional<Admission> admission;
  uint64_t candidates = index_->size();
  if (!filter.admits_everything()) {
    admission = admit(filter);
    candidates = admission->chunks;
    if (candidates == 0) return std::vector<ScoredChunk>();
  }
  IndexQuery query;
  query.vector = unit.data();
  query.k = k;
  query.admitted = admission ? &admission->documents : nullptr;
  query.ef_search = params.ef_search > 0 ? params.ef_search : 64;
  query.nprobe = params.nprobe > 0 ? params.nprobe
                                   : static_cast<int>(std::max<uint64_t>(8, index_->nlist() / 64));
  // Few admitted chunks: score them all (an approximate index can miss most of them).
  query.exhaustive = admission.has_value() && candidates <= params.exact_below;
  RAGKIT_ASSIGN_OR_RETURN(auto hits, index_->search(query));
  const uint64_t expected = std::min<uint64_t>(k, candidates);
  if (hits.size() < expected && !query.exhaustive) {
    query.exhaustive = true;
    RAGKIT_ASSIGN_OR_RETURN(hits, index_->search(query));
  }
  return hits;
}

Result<std::vector<ScoredChunk>> Collection::Impl::lexical_locked(std::string_view text, size_t k,
                                                                  const SearchFilter& filter) const {
  if (filter.admits_everything()) {
    // Postings of a write not applied in memory yet may be visible: only known documents.
    return lexical_->search(text, k, [this](uint64_t id) {
      return by_id_.count(document_id_of(id)) != 0;
    });
  }
  Admission admission = admit(filter);
  if (admission.chunks == 0) return std::vector<ScoredChunk>();
  return lexical_->search(text, k, [&admission](uint64_t id) {
    return admission.documents.contains(document_id_of(id));
  });
}

SearchHit Collection::Impl::make_hit(uint64_t chunk_id, float score) const {
  SearchHit hit;
  hit.chunk_id = chunk_id;
  hit.document_id = document_id_of(chunk_id);
  hit.score = score;
  if (auto it = by_id_.find(hit.document_id); it != by_id_.end()) hit.path = it->second->path;
  return hit;
}

Result<std::vector<SearchHit>> Collection::Impl::search_dense(std::span<const float> query,
                                                              size_t k, const SearchFilter& filter,
                                                              const DenseSearchParams& params) const {
  if (lexical_only()) return lexical_only_error();
  RAGKIT_ASSIGN_OR_RETURN(auto unit, normalised_query(query));
  std::shared_lock lock(state_mutex_);
  RAGKIT_ASSIGN_OR_RETURN(auto scored, dense_locked(unit, k, filter, params));
  std::vector<SearchHit> hits;
  hits.reserve(scored.size());
  for (size_t i = 0; i < scored.size(); ++i) {
    SearchHit hit = make_hit(scored[i].chunk_id, scored[i].score);
    hit.dense_rank = static_cast<uint32_t>(i + 1);
    hit.dense_score = scored[i].score;
    hits.push_back(std::move(hit));
  }
  return hits;
}

Result<std::vector<SearchHit>> Collection::Impl::search_lexical(std::string_view query, size_t k,
                                                                const SearchFilter& filter) const {
  std::shared_lock lock(state_mutex_);
  RAGKIT_ASSIGN_OR_RETURN(auto scored, lexical_locked(query, k, filter));
  std::vector<SearchHit> hits;
  hits.reserve(scored.size());
  for (size_t i = 0; i < scored.size(); ++i) {
    SearchHit hit = make_hit(scored[i].chunk_id, scored[i].score);
    hit.lexical_rank = static_cast<uint32_t>(i + 1);
    hit.lexical_score = scored[i].score;
    hits.push_back(std::move(hit));
  }
  return hits;
}

Result<std::vector<SearchHit>> Collection::Impl::search_hybrid(
    std::string_view text, std::span<const float> query, size_t k, const SearchFilter& filter,
    const HybridSearchParams& params) const {
  if (lexical_only()) return lexical_only_error();
  RAGKIT_ASSIGN_OR_RETURN(auto unit, normalised_query(query));
  const size_t candidates = params.candidates > 0 ? params.candidates : std::max<size_t>(4 * k, 50);
  std::shared_lock lock(state_mutex_);
  RAGKIT_ASSIGN_OR_RETURN(auto dense, dense_locked(unit, candidates, filter, params.dense));
  RAGKIT_ASSIGN_OR_RETURN(auto lexical, lexical_locked(text, candidates, filter));
  const std::vector<FusedHit> fused = reciprocal_rank_fusion(dense, lexical, k, params.rrf_k);
  std::vector<SearchHit> hits;
  hits.reserve(fused.size());
  for (const FusedHit& f : fused) {
    SearchHit hit = make_hit(f.chunk_id, static_cast<float>(f.score));
    hit.dense_rank = static_cast<uint32_t>(f.dense_rank);
    hit.dense_score = f.dense_score;
    hit.lexical_rank = static_cast<uint32_t>(f.lexical_rank);
    hit.lexical_score = f.lexical_score;
    hits.push_back(std::move(hit));
  }
  return hits;
}

CollectionStats Collection::Impl::stats() const {
  CollectionStats s;
  {
    std::shared_lock lock(state_mutex_);
    s.schema_version = schema_version_;
    s.model_id = model_id_;
    s.dimension = dimension_;
    s.index_factory = factory_;
    s.index_family = index_ ? index_family_name(index_->family()) : "none";
    s.documents = by_path_.size();
    s.chunks = chunk_count_;
    if (index_) {
      s.index_vectors = index_->stored_vectors();
      s.tombstones = index_->tombstones();
      s.index_trained = index_->trained();
      s.index_memory_bytes = index_->memory_bytes();
    }
    s.generation = generation_;
    s.index_file_generation = index_file_generation_;
    s.lexical_chunks = lexical_->chunk_count();
  }
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto size = it->file_size(size_ec);
      if (!size_ec) s.disk_bytes += size;
    }
  }
  return s;
}

Status Collection::Impl::export_jsonl(std::ostream& out) const {
  std::vector<DocumentRecord> docs;
  Snapshot snapshot;
  nlohmann::json header;
  {
    std::shared_lock lock(state_mutex_);
    snapshot = snapshot_;
    for (const auto& entry : by_path_) docs.push_back(entry.second);
    header = {{"type", "collection"},       {"schema_version", schema_version_},
              {"model_id", model_id_},      {"dimension", dimension_},
              {"index_factory", factory_},  {"created_unix", created_unix_},
              {"generation", generation_},  {"documents", by_path_.size()},
              {"chunks", chunk_count_}};
  }
  out << header.dump() << '\n';
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.get();
  std::unique_ptr<rocksdb::Iterator> chunks(db_->NewIterator(ro, chunks_cf_));
  std::unique_ptr<rocksdb::Iterator> vectors(db_->NewIterator(ro, vectors_cf_));
  const bool with_vectors = !lexical_only();
  std::vector<float> v(dimension_);
  for (const DocumentRecord& d : docs) {
    nlohmann::json doc = {{"type", "document"},         {"path", d.path},
                          {"document_id", d.document_id}, {"file_type", d.file_type},
                          {"mtime_ns", d.mtime_ns},     {"size_bytes", d.size_bytes},
                          {"content_hash", d.content_hash}, {"title", d.title},
                          {"metadata", d.metadata},     {"chunk_count", d.chunk_count}};
    out << doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    for (uint32_t i = 0; i < d.chunk_count; ++i) {
      const uint64_t id = d.chunk_id(i);
      const std::string key = chunk_key(id);
      chunks->Seek(key);
      if (with_vectors) vectors->Seek(key);
      if (!chunks->Valid() || chunks->key() != key ||
          (with_vectors && (!vectors->Valid() || vectors->key() != key))) {
        RAGKIT_RETURN_IF_ERROR(from_rocksdb(chunks->status(), "exporting"));
        RAGKIT_RETURN_IF_ERROR(from_rocksdb(vectors->status(), "exporting"));
        return Status::corruption("chunk " + to_string(id) + " of '" + d.path +
                                  "' is missing from the store");
      }
      RAGKIT_ASSIGN_OR_RETURN(ChunkRecord c, decode_chunk(id, std::string_view(
                                                                  chunks->value().data(),
                                                                  chunks->value().size())));
      nlohmann::json line = {
          {"type", "chunk"},
          {"path", d.path},
          {"chunk_id", id},
          {"index", i},
          {"text", c.text},
          {"byte_range", {c.location.byte_begin, c.location.byte_end}},
          {"line_range", {c.location.line_begin, c.location.line_end}},
          {"page", c.location.page},
          {"heading_path", c.location.heading_path}};
      if (with_vectors) {
        RAGKIT_RETURN_IF_ERROR(decode_vector(
            id, std::string_view(vectors->value().data(), vectors->value().size()), dimension_,
            v.data()));
        line["vector"] = v;
      }
      out << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    }
  }
  if (!out) return Status::io_error("cannot write the export");
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// The public class forwards to Impl; exceptions from the standard library stop here.

namespace {
template <typename Fn>
auto guarded(const char* what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return Status::out_of_range(std::string(what) + ": out of memory");
  } catch (const std::exception& e) {
    return Status::internal(std::string(what) + ": " + e.what());
  }
}
}  // namespace

Collection::Collection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Collection::~Collection() { (void)impl_->flush(); }

Result<std::unique_ptr<Collection>> Collection::open(const std::string& dir,
                                                     CollectionOptions options) {
  auto impl = std::make_unique<Impl>();
  RAGKIT_RETURN_IF_ERROR(guarded("opening the collection", [&] {
    return impl->open(dir, std::move(options));
  }));
  return std::unique_ptr<Collection>(new Collection(std::move(impl)));
}

Status Collection::upsert(const DocumentInput& document) {
  return upsert_many(std::span<const DocumentInput>(&document, 1));
}

Status Collection::upsert_many(std::span<const DocumentInput> documents) {
  return guarded("writing", [&] { return impl_->write(documents, {}, nullptr); });
}

Result<bool> Collection::remove(std::string_view path) {
  bool removed = false;
  const std::string key(path);
  RAGKIT_RETURN_IF_ERROR(guarded("removing", [&] {
    return impl_->write({}, std::span<const std::string>(&key, 1), &removed);
  }));
  return removed;
}

std::optional<DocumentRecord> Collection::document(std::string_view path) const {
  return impl_->document(path);
}
std::vector<DocumentRecord> Collection::documents() const { return impl_->documents(); }
Result<ChunkRecord> Collection::chunk(uint64_t chunk_id) const { return impl_->chunk(chunk_id); }
Result<std::vector<float>> Collection::vector(uint64_t chunk_id) const {
  return impl_->vector(chunk_id);
}
Status Collection::for_each_vector(
    const std::function<void(uint64_t, std::span<const float>)>& fn) const {
  return impl_->for_each_vector(fn);
}

Result<std::vector<SearchHit>> Collection::search_dense(std::span<const float> query, size_t k,
                                                        const SearchFilter& filter,
                                                        const DenseSearchParams& params) const {
  return guarded("searching", [&] { return impl_->search_dense(query, k, filter, params); });
}

Result<std::vector<SearchHit>> Collection::search_lexical(std::string_view query, size_t k,
                                                          const SearchFilter& filter) const {
  return guarded("searching", [&] { return impl_->search_lexical(query, k, filter); });
}

Result<std::vector<SearchHit>> Collection::search_hybrid(std::string_view query_text,
                                                         std::span<const float> query_vector,
                                                         size_t k, const SearchFilter& filter,
                                                         const HybridSearchParams& params) const {
  return guarded("searching", [&] {
    return impl_->search_hybrid(query_text, query_vector, k, filter, params);
  });
}

CollectionStats Collection::stats() const { return impl_->stats(); }
Result<VectorUpgradeSummary> Collection::add_vectors(const VectorUpgrade& upgrade) {
  return impl_->add_vectors(upgrade);
}
Status Collection::rebuild_index() {
  return guarded("rebuilding the index", [&] { return impl_->rebuild_index(); });
}
Status Collection::compact() { return impl_->compact(); }
Status Collection::flush() {
  return guarded("flushing", [&] { return impl_->flush(); });
}
Status Collection::refresh() {
  return guarded("refreshing", [&] { return impl_->refresh(); });
}
Status Collection::export_jsonl(std::ostream& out) const {
  return guarded("exporting", [&] { return impl_->export_jsonl(out); });
}
const std::string& Collection::dir() const { return impl_->dir_; }

}  // namespace ragkit::retrieval
