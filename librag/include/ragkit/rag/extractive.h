// Extractive answers: without a generator, the answer is the sources' own sentences that best
// answer the question, each followed by its source number — a sensible answer from any model,
// and one that cannot invent anything.
//
// Sentences are found by ICU's sentence BreakIterator in each source. A sentence scores by the
// question's analysed terms it contains (each weighted by how rare it is among the sources'
// sentences, a small IDF; divided by a BM25-like length norm so that a short sentence about the
// question beats a long one that mentions it), plus, when query and sentence vectors are given,
// their cosine; the
// best `max_sentences` are returned in score order, without near-duplicates.
//
// Thread-safety: a pure function (the analyzer is thread-safe).
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/rag/passage.h"
#include "ragkit/retrieval/text_analyzer.h"

namespace ragkit::rag {

struct ExtractedSentence {
  std::string text;   // trimmed sentence
  size_t source = 0;  // 1-based number of its source
  double score = 0.0;
};

struct ExtractiveOptions {
  size_t max_sentences = 3;  // Default: 3
  // Sentences shorter than this many bytes (list bullets), and lines shorter than twice it that
  // do not end like a sentence (headings), are not answers.
  size_t min_sentence_bytes = 20;  // Default: 20
};

// Embeds sentences for the dense part of the score: n texts -> n x dim unit vectors. May be
// empty (lexical scoring only).
using SentenceEmbedder =
    std::function<Result<std::vector<float>>(std::span<const std::string> texts)>;

Result<std::vector<ExtractedSentence>> extract_sentences(
    std::string_view question, std::span<const Passage> sources,
    const retrieval::TextAnalyzer& analyzer, std::span<const float> query_vector,
    const SentenceEmbedder& embed, const ExtractiveOptions& options = {});

// "sentence [1] sentence [3]": the extracted sentences as an answer.
std::string join_extracted(std::span<const ExtractedSentence> sentences);

}  // namespace ragkit::rag
