#include "ragkit/retrieval/folder_indexer.h"

#include <xxhash.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "ragkit/common/mapped_file.h"
#include "ragkit/retrieval/document_loader.h"

namespace ragkit::retrieval {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One walked file, as the producer hands it to the embedding thread.
struct FileWork {
  FoundFile file;
  std::string key;   // the document's key in the collection
  bool unchanged = false;
  bool existed = false;
  std::string hash;
  std::string title;
  std::vector<Chunk> chunks;
  std::vector<IndexIssue> issues;  // warnings, or the reason it was not indexed
  bool failed = false;             // not indexed: remove what the collection has for it
};

// A bounded queue between the producer (walk, read, load, chunk) and the consumer (embed, store).
class WorkQueue {
 public:
  explicit WorkQueue(size_t capacity) : capacity_(capacity ? capacity : 1) {}
  // Blocks while full; returns false when the consumer gave up.
  bool push(FileWork work) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_ || cancelled_; });
    if (cancelled_) return false;
    items_.push_back(std::move(work));
    not_empty_.notify_one();
    return true;
  }
  // Blocks while empty; nullopt once the producer closed the queue and it is drained.
  std::optional<FileWork> pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) return std::nullopt;
    FileWork work = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return work;
  }
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
  }
  void cancel() {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    not_full_.notify_all();
  }

 private:
  size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_full_, not_empty_;
  std::deque<FileWork> items_;
  bool closed_ = false;
  bool cancelled_ = false;
};

// What the walk decided about files it did not hand over, shared with the consumer at the end.
struct WalkOutcome {
  std::vector<IndexIssue> skipped;         // in walk order
  std::unordered_set<std::string> keep;    // keys to keep although not indexed (unreadable now)
  std::unordered_set<std::string> walked;  // keys of every file the walk handed over
  Status status;
  std::atomic<uint64_t> files_found{0};
};

const char* issue_reason(SkipReason reason) {
  switch (reason) {
    case SkipReason::kTooLarge: return "too-large";
    case SkipReason::kBinary: return "binary";
    case SkipReason::kUnsupportedType: return "unsupported-type";
    case SkipReason::kUnreadable: return "unreadable";
    case SkipReason::kAlreadyVisited: return "already-visited";
    case SkipReason::kNotRegular: return "not-a-regular-file";
  }
  return "skipped";
}

// Loads `bytes` by the file's type and cuts them into chunks: work.title and work.chunks, or
// work.failed with the reason among work.issues (warnings go there too).
void load_and_chunk(std::string_view bytes, const Embedder& embedder, const ChunkOptions& chunk,
                    FileWork& work) {
  auto loaded = load_document_from_memory(bytes, work.file.type, work.key);
  if (!loaded.ok()) {
    work.failed = true;
    work.issues.push_back({work.key, "load-failed", loaded.status().message()});
    return;
  }
  for (const auto& warning : loaded->warnings) {
    work.issues.push_back({work.key, "warning", warning});
  }
  auto chunks = chunk_document(*loaded, embedder.count_tokens, chunk);
  if (!chunks.ok()) {
    work.failed = true;
    work.issues.push_back({work.key, "chunking-failed", chunks.status().message()});
    return;
  }
  work.title = loaded->title;
  work.chunks = std::move(*chunks);
  if (work.chunks.empty()) {
    // Still recorded (so the next run finds it unchanged), but say why search won't find it.
    work.issues.push_back({work.key, "warning", "no text to index (empty file?)"});
  }
}

DocumentInput make_document(const FileWork& work, std::span<const float> vectors, size_t dim) {
  DocumentInput doc;
  doc.path = work.key;
  doc.file_type = file_type_name(work.file.type);
  doc.mtime_ns = work.file.mtime_ns;
  doc.size_bytes = work.file.size_bytes;
  doc.content_hash = work.hash;
  doc.title = work.title;
  doc.chunks.resize(work.chunks.size());
  for (size_t i = 0; i < work.chunks.size(); ++i) {
    const Chunk& c = work.chunks[i];
    ChunkInput& in = doc.chunks[i];
    in.text = c.text;
    in.embedding.assign(vectors.begin() + i * dim, vectors.begin() + (i + 1) * dim);
    in.location.byte_begin = c.byte_begin;
    in.location.byte_end = c.byte_end;
    in.location.line_begin = c.line_begin;
    in.location.line_end = c.line_end;
    in.location.page = c.page;
    in.location.heading_path = c.heading_path;
  }
  return doc;
}

Status check_embedder(const Embedder& embedder, const char* caller) {
  if (!embedder.count_tokens) {
    return Status::invalid_argument(std::string(caller) + ": the embedder has no token counter");
  }
  if (embedder.dimension > 0 && !embedder.embed) {
    return Status::invalid_argument(std::string(caller) + ": the embedder has no model");
  }
  return Status();
}

// Embeds the chunks of `work` in batches (none for a lexical-only embedder) and writes the document in one atomic upsert, counting
// it in `summary` (added or updated, chunks, tokens, seconds). `texts` and `vectors` are scratch
// buffers reused across documents.
Status embed_and_store(const FileWork& work, Collection& collection, const Embedder& embedder,
                       size_t embed_batch, IndexSummary& summary, std::vector<std::string>& texts,
                       std::vector<float>& vectors) {
  vectors.clear();
  vectors.reserve(work.chunks.size() * embedder.dimension);
  const size_t batch = embed_batch ? embed_batch : 64;
  for (size_t at = 0; embedder.dimension > 0 && at < work.chunks.size();) {
    const size_t n = std::min(batch, work.chunks.size() - at);
    texts.clear();
    for (size_t i = at; i < at + n; ++i) texts.push_back(work.chunks[i].text);
    const auto t0 = Clock::now();
    auto embedded = embedder.embed(texts);
    summary.embed_seconds += seconds_since(t0);
    if (!embedded.ok()) return embedded.status().with_context("embedding " + work.key);
    if (embedded->size() != n * embedder.dimension) {
      return Status::internal("embedding " + work.key + ": the model returned " +
                              std::to_string(embedded->size()) + " numbers for " +
                              std::to_string(n) + " texts");
    }
    vectors.insert(vectors.end(), embedded->begin(), embedded->end());
    at += n;
  }
  const auto t0 = Clock::now();
  Status written = collection.upsert(make_document(work, vectors, embedder.dimension));
  summary.store_seconds += seconds_since(t0);
  if (!written.ok()) return written.with_context("storing " + work.key);
  ++(work.existed ? summary.updated : summary.added);
  summary.chunks += work.chunks.size();
  for (const Chunk& c : work.chunks) summary.tokens += c.token_count;
  return Status();
}

// Walks the folder on the producer thread: reads, hashes, loads and chunks each file.
class Producer : public WalkVisitor {
 public:
  Producer(const Collection& collection, const Embedder& embedder, const IndexOptions& options,
           WorkQueue& queue, WalkOutcome& outcome)
      : collection_(collection), embedder_(embedder), options_(options), queue_(queue),
        outcome_(outcome) {}

  void on_file(const FoundFile& file) override {
    ++outcome_.files_found;
    FileWork work;
    work.file = file;
    work.key = options_.path_prefix + file.relative_path;
    outcome_.walked.insert(work.key);
    prepare(work);
    queue_.push(std::move(work));
  }

  void on_skipped(const SkippedEntry& entry) override {
    const std::string key = options_.path_prefix + entry.relative_path;
    outcome_.skipped.push_back({key, issue_reason(entry.reason), entry.detail});
    // A file we could not read this time may be back next time: keep what is indexed. A file
    // that is now binary, too large or of another type is no longer a document: drop it.
    if (entry.reason == SkipReason::kUnreadable) outcome_.keep.insert(key);
  }

 private:
  void prepare(FileWork& work) {
    auto mapped = MappedFile::open(work.file.absolute_path);
    if (!mapped.ok()) {
      work.failed = true;
      work.issues.push_back({work.key, "unreadable", mapped.status().message()});
      outcome_.keep.insert(work.key);
      return;
    }
    const std::string_view bytes(reinterpret_cast<const char*>(mapped->data()), mapped->size());
    work.hash = content_hash(bytes);
    if (auto existing = collection_.document(work.key)) {
      work.existed = true;
      if (existing->content_hash == work.hash) {
        work.unchanged = true;
        return;
      }
    }
    load_and_chunk(bytes, embedder_, options_.chunk, work);
  }

  const Collection& collection_;
  const Embedder& embedder_;
  const IndexOptions& options_;
  WorkQueue& queue_;
  WalkOutcome& outcome_;
};

}  // namespace

Result<IndexSummary> index_document(const DocumentBytes& document, Collection& collection,
                                    const Embedder& embedder, const ChunkOptions& chunk,
                                    size_t embed_batch) {
  RAGKIT_RETURN_IF_ERROR(check_embedder(embedder, "index_document"));
  const auto started = Clock::now();
  IndexSummary summary;
  FileWork work;
  work.key = document.key;
  work.file.relative_path = document.key;
  work.file.type = document.type;
  work.file.mtime_ns = document.mtime_ns;
  work.file.size_bytes = document.bytes.size();
  work.hash = content_hash(document.bytes);
  if (auto existing = collection.document(work.key)) {
    work.existed = true;
    if (existing->content_hash == work.hash) {
      summary.unchanged = 1;
      summary.seconds = seconds_since(started);
      return summary;
    }
  }
  load_and_chunk(document.bytes, embedder, chunk, work);
  if (work.failed) {
    return Status::invalid_argument(work.key + ": " + work.issues.back().reason + ": " +
                                    work.issues.back().detail);
  }
  summary.issues = std::move(work.issues);
  std::vector<std::string> texts;
  std::vector<float> vectors;
  RAGKIT_RETURN_IF_ERROR(
      embed_and_store(work, collection, embedder, embed_batch, summary, texts, vectors));
  summary.seconds = seconds_since(started);
  return summary;
}

Embedder lexical_only_embedder() {
  Embedder e;
  // ~4 bytes per token, as subword tokenizers give on English (rounded up, so chunks come out a
  // little smaller than a real tokenizer would make them, never larger).
  e.count_tokens = [](std::string_view text) { return (text.size() + 3) / 4; };
  e.max_tokens = size_t{1} << 20;
  return e;
}

std::string content_hash(std::string_view bytes) {
  const XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  char hex[33];
  std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return hex;
}

Result<IndexSummary> index_folder(const std::string& root, Collection& collection,
                                  const Embedder& embedder, const IndexOptions& options) {
  RAGKIT_RETURN_IF_ERROR(check_embedder(embedder, "index_folder"));
  const auto started = Clock::now();
  IndexSummary summary;
  WorkQueue queue(options.queue_files);
  WalkOutcome outcome;

  std::thread producer_thread([&] {
    try {
      Producer producer(collection, embedder, options, queue, outcome);
      auto walked = walk_folder(root, options.walk, producer);
      if (!walked.ok()) outcome.status = walked.status();
    } catch (const std::exception& e) {
      outcome.status = Status::internal(std::string("indexing ") + root + ": " + e.what());
    }
    queue.close();
  });

  Status failure;
  std::unordered_set<std::string> failed;  // walked files that could not be indexed this time
  IndexProgress progress;
  std::vector<std::string> texts;
  std::vector<float> vectors;
  while (auto work = queue.pop()) {
    if (!failure.ok()) continue;  // drain so the producer can finish
    progress.current_path = work->key;
    ++progress.files_seen;
    summary.issues.insert(summary.issues.end(), work->issues.begin(), work->issues.end());
    if (work->unchanged) {
      ++summary.unchanged;
    } else if (work->failed) {
      ++summary.skipped;
      failed.insert(work->key);
    } else {
      Status stored = embed_and_store(*work, collection, embedder, options.embed_batch, summary,
                                      texts, vectors);
      if (!stored.ok()) {
        failure = stored;
        queue.cancel();
        continue;
      }
      progress.chunks = summary.chunks;
      progress.tokens = summary.tokens;
    }
    progress.files_total = std::max<uint64_t>(outcome.files_found.load(), progress.files_seen);
    if (options.progress) options.progress(progress);
  }
  producer_thread.join();
  RAGKIT_RETURN_IF_ERROR(failure);
  RAGKIT_RETURN_IF_ERROR(outcome.status);

  for (const auto& skipped : outcome.skipped) {
    summary.issues.push_back(skipped);
    ++summary.skipped;
  }
  // Documents under this folder whose file is gone (or no longer indexable) leave the collection.
  for (const DocumentRecord& doc : collection.documents()) {
    if (doc.path.compare(0, options.path_prefix.size(), options.path_prefix) != 0) continue;
    if (outcome.keep.count(doc.path)) continue;
    if (outcome.walked.count(doc.path) && !failed.count(doc.path)) continue;
    const auto t0 = Clock::now();
    auto removed = collection.remove(doc.path);
    summary.store_seconds += seconds_since(t0);
    if (!removed.ok()) return removed.status().with_context("removing " + doc.path);
    if (*removed) ++summary.removed;
  }
  summary.seconds = seconds_since(started);
  return summary;
}

}  // namespace ragkit::retrieval
