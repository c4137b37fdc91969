#include "ragkit/rag/retriever.h"

#include <exception>

namespace ragkit::rag {

Retriever::Retriever(const retrieval::Collection& collection, embed::Encoder* encoder)
    : collection_(collection), encoder_(encoder) {}

Result<std::vector<float>> Retriever::embed_texts(std::span<const std::string> texts) const {
  if (encoder_ == nullptr || texts.empty()) return std::vector<float>{};
  PendingTexts mine;
  mine.texts = texts;
  std::unique_lock<std::mutex> lock(batch_mutex_);
  waiting_.push_back(&mine);
  while (!mine.done) {
    if (embedding_) {
      batch_done_.wait(lock);
      continue;
    }
    // The encoder is idle: embed what is waiting (this caller's texts among them) in one batch.
    embedding_ = true;
    std::vector<PendingTexts*> batch;
    size_t n_texts = 0;
    while (!waiting_.empty() &&
           (batch.empty() || n_texts + waiting_.front()->texts.size() <= kMaxBatchTexts)) {
      batch.push_back(waiting_.front());
      n_texts += waiting_.front()->texts.size();
      waiting_.pop_front();
    }
    lock.unlock();
    std::vector<std::string> joined;
    joined.reserve(n_texts);
    for (const PendingTexts* p : batch) joined.insert(joined.end(), p->texts.begin(), p->texts.end());
    Result<embed::EmbedResult> embedded = Status::internal("the encoder did not run");
    try {
      embedded = encoder_->embed(joined);
    } catch (const std::exception& e) {  // bad_alloc: fail these callers, not the next batch
      embedded = Status::internal(std::string("embedding failed: ") + e.what());
    }
    lock.lock();
    size_t at = 0;
    for (PendingTexts* p : batch) {
      if (embedded.ok()) {
        const size_t dim = embedded->dim;
        p->vectors.assign(embedded->vectors.begin() + at * dim,
                          embedded->vectors.begin() + (at + p->texts.size()) * dim);
        at += p->texts.size();
      } else {
        p->status = embedded.status();
      }
      p->done = true;
    }
    embedding_ = false;
    batch_done_.notify_all();
  }
  if (!mine.status.ok()) return mine.status;
  return std::move(mine.vectors);
}

Result<std::vector<float>> Retriever::embed_query(std::string_view query) const {
  const std::string text(query);
  return embed_texts(std::span(&text, 1));
}

Result<std::vector<Passage>> Retriever::retrieve(std::string_view query,
                                                 const RetrieveOptions& options,
                                                 std::vector<float>* query_vector_out) const {
  if (options.mode != SearchMode::kLexical && !dense_available()) {
    return Status::invalid_argument(
        collection_.stats().dimension == 0
            ? "the collection in " + collection_.dir() +
                  " is lexical-only (made without an embedding model): use lexical search"
            : std::string("no embedding model is loaded for dense search: use lexical search"));
  }
  std::vector<float> query_vector;
  if (options.mode != SearchMode::kLexical) {
    RAGKIT_ASSIGN_OR_RETURN(query_vector, embed_query(query));
  }
  Result<std::vector<retrieval::SearchHit>> hits = Status::internal("no search ran");
  switch (options.mode) {
    case SearchMode::kDense:
      hits = collection_.search_dense(query_vector, options.k, options.filter);
      break;
    case SearchMode::kLexical:
      hits = collection_.search_lexical(query, options.k, options.filter);
      break;
    case SearchMode::kHybrid:
      hits = collection_.search_hybrid(query, query_vector, options.k, options.filter);
      break;
  }
  if (!hits.ok()) return hits.status();
  if (query_vector_out != nullptr && !query_vector.empty()) *query_vector_out = std::move(query_vector);

  std::vector<Passage> passages;
  passages.reserve(hits->size());
  for (const retrieval::SearchHit& hit : *hits) {
    Result<retrieval::ChunkRecord> chunk = collection_.chunk(hit.chunk_id);
    // A reader may race a writer's delete between the search and this read: skip the chunk.
    if (!chunk.ok()) {
      if (chunk.status().code() == Status::Code::kNotFound) continue;
      return chunk.status();
    }
    Passage p;
    p.chunk_id = hit.chunk_id;
    p.document_id = hit.document_id;
    p.path = hit.path;
    p.text = std::move(chunk->text);
    p.location = std::move(chunk->location);
    p.score = hit.score;
    p.dense_rank = hit.dense_rank;
    p.dense_score = hit.dense_score;
    p.lexical_rank = hit.lexical_rank;
    p.lexical_score = hit.lexical_score;
    if (options.mode == SearchMode::kDense) p.dense_rank = passages.size() + 1, p.dense_score = hit.score;
    if (options.mode == SearchMode::kLexical) {
      p.lexical_rank = passages.size() + 1, p.lexical_score = hit.score;
    }
    passages.push_back(std::move(p));
  }
  return passages;
}

}  // namespace ragkit::rag
