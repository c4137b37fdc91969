// Retriever: a question -> the collection's best passages, by meaning, by words or both.
//
// It owns nothing: the collection and the encoder (the embedding model the collection was
// indexed with; none for a lexical-only collection) outlive it. Without an encoder, or on a
// lexical-only collection, every search is lexical and `dense_available()` says so.
//
// Thread-safety: retrieve() may be called from any number of threads at once. Searches run
// concurrently (Collection's const methods do). An Encoder runs one batch at a time, so texts to
// embed are batched across threads: the first caller to find the encoder idle embeds everything
// that is waiting in one batch (up to kMaxBatchTexts texts) while later callers queue up for the
// next one. Under load many queries share one forward pass instead of waiting for each other's,
// which is what lets a server answer hundreds of searches a second.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/embed/encoder.h"
#include "ragkit/rag/passage.h"
#include "ragkit/retrieval/collection.h"
#include "ragkit/retrieval/search_filter.h"

namespace ragkit::rag {

struct RetrieveOptions {
  size_t k = 5;                           // Default: 5 passages
  SearchMode mode = SearchMode::kHybrid;  // Default: hybrid (lexical without an encoder)
  retrieval::SearchFilter filter;         // Default: every document
};

class Retriever {
 public:
  // Most texts embedded in one batch across callers.
  static constexpr size_t kMaxBatchTexts = 256;

  // `encoder` may be null (lexical search only).
  Retriever(const retrieval::Collection& collection, embed::Encoder* encoder);

  // The best `options.k` passages for `query`, best first. Dense or hybrid without an encoder
  // (or on a lexical-only collection) is an invalid_argument error that says to use lexical.
  // `query_vector`, when given, receives the query's unit vector when the search embedded it
  // (dense, hybrid), so callers that need it too (highlighting, extractive answers) do not embed
  // the query a second time; it is left alone by a lexical search.
  Result<std::vector<Passage>> retrieve(std::string_view query, const RetrieveOptions& options,
                                        std::vector<float>* query_vector = nullptr) const;

  // The query's unit vector (empty without an encoder).
  Result<std::vector<float>> embed_query(std::string_view query) const;
  // Unit vectors of several texts, n x dim row-major (empty without an encoder).
  Result<std::vector<float>> embed_texts(std::span<const std::string> texts) const;

  bool dense_available() const { return encoder_ != nullptr && collection_.stats().dimension > 0; }
  // The mode a request gets: `wanted`, or lexical when dense search is not available.
  SearchMode effective_mode(SearchMode wanted) const {
    return dense_available() ? wanted : SearchMode::kLexical;
  }
  const retrieval::Collection& collection() const { return collection_; }
  embed::Encoder* encoder() const { return encoder_; }

 private:
  // Texts of one caller waiting for the encoder; filled in by whoever embeds them.
  struct PendingTexts {
    std::span<const std::string> texts;
    std::vector<float> vectors;
    Status status;
    bool done = false;
  };

  const retrieval::Collection& collection_;
  embed::Encoder* encoder_;
  mutable std::mutex batch_mutex_;
  mutable std::condition_variable batch_done_;
  mutable std::deque<PendingTexts*> waiting_;
  mutable bool embedding_ = false;
};

}  // namespace ragkit::rag
