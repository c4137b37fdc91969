#include "ragkit/embed/encoder.h"

#include <algorithm>
#include <functional>
#include <mutex>
#include <numeric>

#include "ragkit/embed/model.h"
#include "ragkit/embed/transformer.h"

namespace ragkit::embed {

size_t EmbedResult::n_truncated() const {
  return static_cast<size_t>(std::count(truncated.begin(), truncated.end(), true));
}

struct Encoder::Impl {
  EncoderOptions options;
  Pooling pooling = Pooling::kMean;
  bool normalize = true;
  size_t max_seq_length = 0;
  std::string model_id;
  ThreadPool* pool = nullptr;
  std::unique_ptr<Transformer> transformer;
  std::mutex mutex;  // one batch at a time on the transformer's workspace
  // Per-batch buffers, reused.
  std::vector<TokenId> tokens;
  std::vector<int32_t> positions;
  std::vector<SequenceSpan> spans;
};

Encoder::~Encoder() = default;

Result<std::unique_ptr<Encoder>> Encoder::open(const std::string& model_path, EncoderOptions options) {
  RAGKIT_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::load(model_path));
  if (model->arch().mask != AttentionMask::kBidirectional) {
    return Status::invalid_argument(model_path + ": '" + std::string(model->arch().name) +
                                    "' is a generator, not an embedding model");
  }
  std::unique_ptr<Encoder> enc(new Encoder());
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->pooling = options.pooling.value_or(model->declared_pooling().value_or(Pooling::kMean));
  impl->normalize = options.normalize.value_or(model->declared_normalize().value_or(true));
  const size_t positions = static_cast<size_t>(model->config().n_ctx_train);
  size_t max_len = options.max_seq_length;
  if (max_len == 0) max_len = model->declared_max_seq_length().value_or(positions);
  if (max_len > positions) {
    return Status::invalid_argument("max_seq_length " + std::to_string(max_len) + " is more than the " +
                                    std::to_string(positions) + " positions of " + model_path);
  }
  if (max_len < 2) return Status::invalid_argument("max_seq_length must be at least 2");
  impl->max_seq_length = max_len;
  impl->pool = options.pool != nullptr ? options.pool : &ThreadPool::default_pool();
  if (impl->options.batch_tokens < max_len) impl->options.batch_tokens = max_len;
  impl->transformer = std::make_unique<Transformer>(*model, *impl->pool);

  const ModelConfig& c = model->config();
  std::string cfg = std::string(model->arch().name) + "/" + std::to_string(c.n_layer) + "x" +
                    std::to_string(c.n_embd) + "/" + model->weight_type() + "/" +
                    std::to_string(model->n_params());
  impl->model_id = model->name() + "@" + std::to_string(std::hash<std::string>{}(cfg) & 0xffffffffu);
  enc->model_ = std::move(model);
  enc->impl_ = std::move(impl);
  return enc;
}

size_t Encoder::dim() const { return static_cast<size_t>(model_->config().n_embd); }
size_t Encoder::max_seq_length() const { return impl_->max_seq_length; }
Pooling Encoder::pooling() const { return impl_->pooling; }
bool Encoder::normalize() const { return impl_->normalize; }
const Tokenizer& Encoder::tokenizer() const { return model_->tokenizer(); }
const std::string& Encoder::model_id() const { return impl_->model_id; }

Result<EmbedResult> Encoder::embed(std::span<const std::string> texts) {
  const Tokenizer& tok = model_->tokenizer();
  std::vector<std::vector<TokenId>> inputs(texts.size());
  std::vector<size_t> full(texts.size());
  // Tokenization runs on the compute pool too: it is a real share of the time for small models.
  impl_->pool->parallel_for(texts.size(), [&](size_t i, int) {
    inputs[i] = tok.tokenize(texts[i]);
    full[i] = inputs[i].size() + tok.n_special_tokens();
    tok.add_special_tokens(inputs[i], impl_->max_seq_length);
  });
  RAGKIT_ASSIGN_OR_RETURN(EmbedResult r, embed_tokens(std::move(inputs)));
  for (size_t i = 0; i < full.size(); ++i) {
    r.n_tokens_full[i] = full[i];
    r.truncated[i] = full[i] > r.n_tokens[i];
  }
  return r;
}

Result<EmbedResult> Encoder::embed_tokens(std::vector<std::vector<TokenId>> inputs) {
  Impl& im = *impl_;
  const size_t n = inputs.size(), d = dim();
  EmbedResult r;
  r.dim = d;
  r.vectors.assign(n * d, 0.0f);
  r.n_tokens.resize(n);
  r.n_tokens_full.resize(n);
  r.truncated.assign(n, false);
  for (size_t i = 0; i < n; ++i) {
    r.n_tokens_full[i] = inputs[i].size();
    if (inputs[i].empty()) return Status::invalid_argument("input " + std::to_string(i) + " has no tokens");
    if (inputs[i].size() > im.max_seq_length) {
      // Keep the closing special token: cut the middle, as the tokenizer's truncation does.
      TokenId last = inputs[i].back();
      inputs[i].resize(im.max_seq_length);
      inputs[i].back() = last;
      r.truncated[i] = true;
    }
    r.n_tokens[i] = inputs[i].size();
  }
  // Longest first: batches hold sequences of similar length and the biggest workspace is
  // reserved on the first batch.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return inputs[a].size() > inputs[b].size(); });

  std::lock_guard<std::mutex> lock(im.mutex);
  size_t start = 0;
  while (start < n) {
    size_t end = start, total = 0;
    while (end < n && total + inputs[order[end]].size() <= im.options.batch_tokens) {
      total += inputs[order[end]].size();
      ++end;
    }
    im.tokens.clear();
    im.positions.clear();
    im.spans.clear();
    for (size_t b = start; b < end; ++b) {
      const auto& ids = inputs[order[b]];
      im.spans.push_back({static_cast<int64_t>(im.tokens.size()), static_cast<int64_t>(ids.size())});
      for (size_t p = 0; p < ids.size(); ++p) {
        im.tokens.push_back(ids[p]);
        im.positions.push_back(static_cast<int32_t>(p));
      }
    }
    RAGKIT_ASSIGN_OR_RETURN(std::span<const float> states,
                            im.transformer->forward(im.tokens, im.positions, im.spans));
    for (size_t b = start; b < end; ++b) {
      const SequenceSpan& s = im.spans[b - start];
      float* out = r.vectors.data() + order[b] * d;
      pool(im.pooling, states.data() + s.begin * static_cast<int64_t>(d), static_cast<size_t>(s.length), d, out);
      if (im.normalize) l2_normalize(out, d);
    }
    start = end;
  }
  return r;
}

}  // namespace ragkit::embed
