// Answerer: the RAG pipeline. A question -> retrieve (hybrid by default) -> drop redundant
// passages -> fit the best into the generator's context window, leaving room for the answer ->
// a prompt with numbered sources in the model's chat template -> streamed generation -> the
// answer with its sources and the [n] it cited.
//
// When nothing relevant is retrieved (no passage passes the score thresholds) the answer says it
// does not know, without running the generator. Without a generator (or with
// AskOptions::extractive) the answer is extractive: the sources' best sentences (extractive.h).
//
// Relevance: a passage is relevant when its dense cosine reaches min_dense_score (dense and
// hybrid searches) or its BM25 score reaches min_lexical_score (lexical and hybrid). Cosines of
// a trained embedding model for unrelated text sit around 0-0.2; BM25 below 1 means only very
// common words matched.
//
// Thread-safety: ask() may be called from several threads; generations run one at a time (the
// generator's KV cache is allocated once and reused), retrieval runs concurrently. The service
// bounds how many wait (services/ generation queue).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/common/thread_pool.h"
#include "ragkit/embed/chat_template.h"
#include "ragkit/embed/generator.h"
#include "ragkit/embed/model.h"
#include "ragkit/embed/sampler.h"
#include "ragkit/rag/context.h"
#include "ragkit/rag/extractive.h"
#include "ragkit/rag/passage.h"
#include "ragkit/rag/prompt.h"
#include "ragkit/rag/retriever.h"

namespace ragkit::rag {

struct AskOptions {
  RetrieveOptions retrieve;  // Default: 5 passages, hybrid
  // Passages fetched before redundancy removal and the budget pick `retrieve.k` of them.
  size_t candidates = 0;  // Default: 0 (2 x k)
  // Tokens reserved for the answer (also the generation's max_tokens).
  int32_t max_tokens = 256;  // Default: 256
  // Sampling of the answer; max_tokens above overrides sampling.max_tokens. Default: greedy-ish
  // (temperature 0.2: answers should stick to the sources), llama.cpp's other defaults.
  embed::SamplingOptions sampling = default_sampling();
  float min_dense_score = 0.3f;    // Default: 0.3 (cosine)
  float min_lexical_score = 1.0f;  // Default: 1.0 (BM25)
  RedundancyOptions redundancy;
  PromptTemplate prompt;
  // Earlier turns of a conversation (rag chat), oldest first; the oldest are dropped when they
  // do not fit the window.
  std::vector<embed::ChatMessage> history;
  // Answer extractively even when a generator is loaded.
  bool extractive = false;  // Default: false
  ExtractiveOptions extractive_options;
  // Chat template family; unset = detected from the generator's template.
  std::optional<embed::ChatTemplateKind> chat_template;

  static embed::SamplingOptions default_sampling() {
    embed::SamplingOptions s;
    s.temperature = 0.2f;
    return s;
  }
};

// What the answer was made by.
enum class AnswerKind {
  kGenerated,   // the generator wrote it from the sources
  kExtractive,  // the sources' best sentences
  kNoAnswer,    // nothing relevant was found: "I don't know" without generating
};
const char* answer_kind_name(AnswerKind kind);  // "generated", "extractive", "no_answer"

struct Answer {
  std::string text;
  AnswerKind kind = AnswerKind::kNoAnswer;
  std::vector<Passage> sources;  // numbered 1..n as the prompt gave them
  std::vector<size_t> cited;     // the [n] the answer cites, sorted
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::string stop_reason;  // the generator's ("length", "eos", "stop", ...); "" otherwise
  size_t history_turns_used = 0;   // earlier messages that fit the window
  size_t passages_dropped = 0;     // redundant or over the budget
  double retrieve_seconds = 0, prefill_seconds = 0, decode_seconds = 0;
};

// The text of a kNoAnswer answer.
inline constexpr std::string_view kNoAnswerText =
    "I don't know: nothing in the indexed documents answers this question.";

// Receives the answer's text as it is generated (valid UTF-8 pieces); return false to stop.
// Extractive and no-answer texts arrive as one piece.
using AnswerCallback = embed::TextCallback;

struct AnswererOptions {
  // The generator's context window (0: the model's, capped at 4096).
  int64_t n_ctx = 0;  // Default: 0
  // The generator's KV cache element type (embed/kv_cache.h). Default: F16.
  embed::KvType cache_type = embed::KvType::kF16;
};

class Answerer {
 public:
  // `generator_model` may be null (extractive answers only). The retriever, the model and the
  // pool outlive the answerer.
  static Result<std::unique_ptr<Answerer>> create(const Retriever& retriever,
                                                  const embed::Model* generator_model,
                                                  ThreadPool& pool,
                                                  const AnswererOptions& options = {});

  Result<Answer> ask(std::string_view question, const AskOptions& options,
                     const AnswerCallback& on_text = {});

  // A plain conversation without retrieval (an OpenAI-style chat completion) on the same
  // generator and KV cache: the messages in the chat template (`chat_template`, else detected),
  // control-token text in their contents defused, the family's stop strings added to
  // `sampling`'s. invalid_argument without a generator; out_of_range when the conversation
  // leaves no room in the window.
  Result<embed::Generation> chat(std::span<const embed::ChatMessage> messages,
                                 const embed::SamplingOptions& sampling,
                                 const AnswerCallback& on_text = {},
                                 std::optional<embed::ChatTemplateKind> chat_template = {});

  // Retrieval, redundancy removal and (for a generator) the budget, without generating: the
  // sources ask() would use. kNoAnswer when nothing is relevant.
  Result<Answer> prepare(std::string_view question, const AskOptions& options) const;

  bool has_generator() const { return generator_model_ != nullptr; }
  // The generator's context window in tokens (0 without a generator).
  int64_t n_ctx() const;
  const Retriever& retriever() const { return retriever_; }

 private:
  Answerer(const Retriever& retriever, const embed::Model* generator_model,
           std::unique_ptr<embed::Generator> generator,
           std::unique_ptr<retrieval::TextAnalyzer> analyzer);

  // What ask() does before generating: the sources, and for a generator the prompt's ids.
  struct Plan {
    Answer answer;
    std::vector<embed::TokenId> ids;
    size_t max_tokens = 0;
    embed::ChatTemplateKind chat_kind = embed::ChatTemplateKind::kPlain;
    std::vector<embed::ChatMessage> history;
    std::vector<float> query_vector;  // when retrieval embedded the question
  };
  Result<Plan> plan(std::string_view question, const AskOptions& options) const;
  Result<std::vector<Passage>> relevant_passages(std::string_view question,
                                                 const AskOptions& options, double* seconds,
                                                 std::vector<float>* query_vector) const;
  // `text` with every control token's text of the generator's vocabulary broken by a space, so
  // that a document (or a question) cannot end a turn or inject a role: "<|im_end|>" ->
  // "< |im_end|>".
  std::string defuse_control_text(std::string_view text) const;

  const Retriever& retriever_;
  const embed::Model* generator_model_;
  std::unique_ptr<embed::Generator> generator_;
  std::unique_ptr<retrieval::TextAnalyzer> analyzer_;
  std::vector<std::string> control_texts_;
  std::mutex generate_mutex_;
};

}  // namespace ragkit::rag
