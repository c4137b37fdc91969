// Retriever: a question -> the collection's best passages, by meaning, by words or both.
//
// It owns nothing: the collection and the encoder (the embedding model the collection was
// indexed with; none for a lexical-only collection) outlive it. Without an encoder, or on a
// lexical-only collection, every search is lexical and `dense_available()` says so.
//
// Thread-safety: retrieve() may be called from any number of threads at once. Searches run
// concurrently (Collection's const methods do); query embeddings are serialised on an internal
// mutex, since an Encoder runs one batch at a time (a query takes about a millisecond).
#pragma once

#include <cstddef>
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
  // `encoder` may be null (lexical search only).
  Retriever(const retrieval::Collection& collection, embed::Encoder* encoder);

  // The best `options.k` passages for `query`, best first. Dense or hybrid without an encoder
  // (or on a lexical-only collection) is an invalid_argument error that says to use lexical.
  Result<std::vector<Passage>> retrieve(std::string_view query,
                                        const RetrieveOptions& options) const;

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
  const retrieval::Collection& collection_;
  embed::Encoder* encoder_;
  mutable std::mutex encoder_mutex_;
};

}  // namespace ragkit::rag
