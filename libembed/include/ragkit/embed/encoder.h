// Encoder: sentence embeddings from a BERT-family model (all-MiniLM-L6-v2, bge, e5), the way
// sentence-transformers computes them: tokenize -> transformer -> pool -> (L2-normalise).
//
// Inputs are sorted by length and packed into batches of at most EncoderOptions::batch_tokens
// tokens. Packed sequences carry no padding at all: each attends only to its own tokens (the
// attention mask is the sequence boundary), so no work is spent on pad positions. A text longer
// than max_seq_length is truncated and reported in EmbedResult::truncated — never silently.
// Results come back in input order and do not depend on batch composition (batched and one-by-one
// embeddings agree to float rounding).
//
// Thread-safety: embed() may be called from several threads; calls are serialised on the
// encoder's workspace and the compute runs on the ThreadPool given in the options.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/common/thread_pool.h"
#include "ragkit/embed/pooling.h"
#include "ragkit/embed/tokenizer.h"

namespace ragkit::embed {

struct EncoderOptions {
  // Pooling; unset means what the model declares (1_Pooling/config.json, bert.pooling_type),
  // else mean. Default: unset.
  std::optional<Pooling> pooling;
  // L2-normalise each vector; unset means what the model declares (2_Normalize module), else true.
  // Default: unset.
  std::optional<bool> normalize;
  // Longest input in tokens, special tokens included; 0 means the model's max_seq_length
  // (sentence_bert_config.json), else its position table size. Default: 0.
  size_t max_seq_length = 0;
  // Most tokens in one forward batch (bounds the workspace memory). Default: 8192.
  size_t batch_tokens = 8192;
  // The compute pool; nullptr means ThreadPool::default_pool(). Default: nullptr.
  ThreadPool* pool = nullptr;
};

struct EmbedResult {
  size_t dim = 0;
  std::vector<float> vectors;          // n_texts x dim, row-major, in input order
  std::vector<size_t> n_tokens;        // tokens fed to the model per text (specials included)
  std::vector<size_t> n_tokens_full;   // tokens before truncation
  std::vector<bool> truncated;         // whether each text was cut at max_seq_length
  size_t n_truncated() const;
  std::span<const float> vector(size_t i) const { return {vectors.data() + i * dim, dim}; }
};

class Model;

class Encoder {
 public:
  // `model_path`: a GGUF file or a Hugging Face model directory.
  static Result<std::unique_ptr<Encoder>> open(const std::string& model_path,
                                               EncoderOptions options = {});
  ~Encoder();

  Result<EmbedResult> embed(std::span<const std::string> texts);
  // Already tokenized inputs (special tokens included); truncated to max_seq_length.
  Result<EmbedResult> embed_tokens(std::vector<std::vector<TokenId>> inputs);

  size_t dim() const;
  size_t max_seq_length() const;
  Pooling pooling() const;
  bool normalize() const;
  const Tokenizer& tokenizer() const;
  const Model& model() const { return *model_; }
  // A stable identifier of the model: its name plus a hash of its configuration and weights' size.
  const std::string& model_id() const;

 private:
  Encoder() = default;
  struct Impl;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ragkit::embed
