#include "ragkit/embed/transformer.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/decode_attention.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/quant_dot.h"

namespace ragkit::embed {

namespace {

// F16 values to floats through the widest converter this CPU has.
void widen_f16(const uint16_t* src, float* dst, int64_t n) {
  ops::widen_row_kernel(DType::kF16)(src, dst, n);
}

// Slices per key/value head when a decoded token attends to `total` positions: enough tasks for
// two per thread, none shorter than 64 positions (shorter ones cost more to merge than they save).
int64_t decode_attention_slices(int threads, int64_t n_kv, int64_t total) {
  const int64_t want = (2 * static_cast<int64_t>(threads) + n_kv - 1) / n_kv;
  return std::clamp<int64_t>(total / 64, 1, std::max<int64_t>(want, 1));
}

}  // namespace

// Activations for one packed batch; every buffer is [rows][width], row-major.
struct Transformer::Workspace {
  int64_t capacity_tokens = 0;
  int64_t capacity_sequence = 0;
  std::vector<float> x;      // residual stream [T][d]
  std::vector<float> h;      // normed input / sublayer output [T][d]
  std::vector<float> q;      // [T][d]
  std::vector<float> k;      // [T][kv]
  std::vector<float> v;      // [T][kv]
  std::vector<float> ctx;    // attention output before the projection [T][d]
  std::vector<float> up;     // [T][n_ff]
  std::vector<float> gate;   // [T][n_ff] (gated FFNs)
  std::vector<std::vector<float>> scores;  // per thread [L][L], or [batch][n_ctx] when cached
  std::vector<float> part_out, part_max, part_sum;  // a decoded token's attention parts
  std::vector<float> kv_wide;  // an F16 cache's keys and values widened [n_head_kv][2][n_ctx][hd]
  std::vector<int32_t> positions;  // forward_cached's positions [batch]
  std::vector<float> type0;  // token type 0 embedding [d]
  std::vector<float> rope_inv_freq;  // base^(-2i / rope_dim) for each rotated pair i
  ops::MatmulScratch matmul;
};

Transformer::Transformer(const Model& model, ThreadPool& pool)
    : model_(model), pool_(pool), ws_(std::make_unique<Workspace>()) {
  ops::init_blas();
  // The rotary frequencies are the same for every token: computed once, not per position.
  const ModelConfig& c = model.config();
  if (model.arch().positions == PositionEncoding::kRotary) {
    for (int64_t i = 0; i < c.rope_dim; i += 2) {
      ws_->rope_inv_freq.push_back(
          std::pow(c.rope_base, -static_cast<float>(i) / static_cast<float>(c.rope_dim)));
    }
  }
}

Transformer::~Transformer() = default;

void Transformer::reserve(int64_t max_tokens, int64_t max_sequence) {
  const ModelConfig& c = model_.config();
  Workspace& w = *ws_;
  if (max_tokens > w.capacity_tokens) {
    const size_t t = static_cast<size_t>(max_tokens);
    const size_t d = static_cast<size_t>(c.n_embd);
    const size_t kv = static_cast<size_t>(c.n_head_kv * c.head_dim());
    w.x.resize(t * d);
    w.h.resize(t * d);
    w.q.resize(t * d);
    w.k.resize(t * kv);
    w.v.resize(t * kv);
    w.ctx.resize(t * d);
    w.up.resize(t * static_cast<size_t>(c.n_ff));
    if (model_.arch().gated_ffn) w.gate.resize(t * static_cast<size_t>(c.n_ff));
    w.capacity_tokens = max_tokens;
  }
  if (max_sequence > w.capacity_sequence || w.scores.size() != static_cast<size_t>(pool_.size())) {
    w.capacity_sequence = std::max(max_sequence, w.capacity_sequence);
    w.scores.resize(static_cast<size_t>(pool_.size()));
    for (auto& s : w.scores) {
      s.resize(static_cast<size_t>(w.capacity_sequence * w.capacity_sequence));
    }
  }
}

void Transformer::norm_rows(float* x, int64_t n, const NormWeights& nw) {
  const ModelConfig& c = model_.config();
  const int64_t d = c.n_embd;
  const bool layer_norm = model_.arch().norm == NormType::kLayerNorm;
  const int64_t rows_per_task = 16;
  pool_.parallel_for(static_cast<size_t>((n + rows_per_task - 1) / rows_per_task), [&](size_t task, int) {
    const int64_t r0 = static_cast<int64_t>(task) * rows_per_task;
    const int64_t r1 = std::min(n, r0 + rows_per_task);
    for (int64_t r = r0; r < r1; ++r) {
      float* row = x + r * d;
      if (layer_norm) {
        ops::layer_norm(row, row, d, nw.weight, nw.bias, c.norm_eps);
      } else {
        ops::rms_norm(row, row, d, nw.weight, c.norm_eps);
      }
    }
  });
}

void Transformer::activate(float* x, int64_t n) {
  const Activation act = model_.config().activation;
  const int64_t chunk = 4096;
  pool_.parallel_for(static_cast<size_t>((n + chunk - 1) / chunk), [&](size_t task, int) {
    const int64_t i0 = static_cast<int64_t>(task) * chunk;
    const int64_t len = std::min(chunk, n - i0);
    switch (act) {
      case Activation::kGeluErf: ops::gelu_erf(x + i0, len); break;
      case Activation::kGeluTanh: ops::gelu_tanh(x + i0, len); break;
      case Activation::kSilu: ops::silu(x + i0, len); break;
    }
  });
}

Status Transformer::embed_inputs(std::span<const TokenId> tokens, std::span<const int32_t> positions) {
  const ModelConfig& c = model_.config();
  const ModelWeights& mw = model_.weights();
  const int64_t d = c.n_embd;
  Workspace& w = *ws_;
  if (model_.arch().token_types) {
    w.type0.resize(static_cast<size_t>(d));
    RAGKIT_RETURN_IF_ERROR(read_embedding_row(mw.token_types, 0, w.type0.data()));
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.n_vocab) {
      return Status::out_of_range("token id " + std::to_string(tokens[i]) +
                                  " is outside the vocabulary of " + std::to_string(c.n_vocab));
    }
  }
  const bool learned = model_.arch().positions == PositionEncoding::kLearned;
  if (learned) {
    for (int32_t p : positions) {
      if (p < 0 || p >= c.n_ctx_train) {
        return Status::out_of_range("position " + std::to_string(p) + " is past the model's " +
                                    std::to_string(c.n_ctx_train) + " positions");
      }
    }
  }
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t rows_per_task = 16;
  pool_.parallel_for(static_cast<size_t>((n + rows_per_task - 1) / rows_per_task), [&](size_t task, int) {
    const int64_t r0 = static_cast<int64_t>(task) * rows_per_task;
    const int64_t r1 = std::min(n, r0 + rows_per_task);
    for (int64_t r = r0; r < r1; ++r) {
      float* row = w.x.data() + r * d;
      float* tmp = w.h.data() + r * d;
      // Ids and positions were checked above and the table types at load time: cannot fail.
      (void)read_embedding_row(mw.token_embd, tokens[static_cast<size_t>(r)], row);
      if (learned) {
        (void)read_embedding_row(mw.position_embd, positions[static_cast<size_t>(r)], tmp);
        ops::add(row, tmp, d);
      }
      if (!w.type0.empty()) ops::add(row, w.type0.data(), d);
    }
  });
  if (model_.arch().embedding_norm) norm_rows(w.x.data(), n, mw.embd_norm);
  return Status();
}

void Transformer::apply_rotary(float* rows, int64_t n_heads, std::span<const int32_t> positions) {
  // Pair i of each head rotates by pos * base^(-2i / rope_dim); which two values form pair i
  // depends on the style (architecture.h). Values past rope_dim are left alone.
  const ModelConfig& c = model_.config();
  const int64_t hd = c.head_dim(), width = n_heads * hd, rd = c.rope_dim;
  const bool interleaved = c.rope_style == RopeStyle::kInterleaved;
  const int64_t stride = interleaved ? 1 : rd / 2;  // distance between a pair's two values
  const int64_t n = static_cast<int64_t>(positions.size());
  pool_.parallel_for(static_cast<size_t>(n), [&](size_t t, int) {
    const float pos = static_cast<float>(positions[t]);
    float* row = rows + static_cast<int64_t>(t) * width;
    for (int64_t i = 0; i < rd / 2; ++i) {
      const float theta = pos * ws_->rope_inv_freq[static_cast<size_t>(i)];
      const float cs = std::cos(theta), sn = std::sin(theta);
      const int64_t first = interleaved ? 2 * i : i;
      for (int64_t h = 0; h < n_heads; ++h) {
        float* p = row + h * hd + first;
        const float a = p[0], b = p[stride];
        p[0] = a * cs - b * sn;
        p[stride] = a * sn + b * cs;
      }
    }
  });
}

void Transformer::attention(std::span<const SequenceSpan> sequences) {
  const ModelConfig& c = model_.config();
  const int64_t d = c.n_embd, hd = c.head_dim(), n_head = c.n_head;
  const int64_t kvw = c.n_head_kv * hd, group = c.n_head / c.n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const bool causal = model_.arch().mask == AttentionMask::kCausal;
  Workspace& w = *ws_;
  // One task per (sequence, head): S = Q K^T / sqrt(hd), softmax over the sequence's own keys
  // (and only earlier ones when causal), O = S V.
  pool_.parallel_for(sequences.size() * static_cast<size_t>(n_head), [&](size_t task, int thread) {
    const SequenceSpan& seq = sequences[task / static_cast<size_t>(n_head)];
    const int64_t h = static_cast<int64_t>(task % static_cast<size_t>(n_head));
    const int64_t kh = h / group;
    const int64_t L = seq.length;
    float* s = w.scores[static_cast<size_t>(thread)].data();
    const float* q = w.q.data() + seq.begin * d + h * hd;
    const float* k = w.k.data() + seq.begin * kvw + kh * hd;
    const float* v = w.v.data() + seq.begin * kvw + kh * hd;
    float* o = w.ctx.data() + seq.begin * d + h * hd;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(L), static_cast<int>(L),
                static_cast<int>(hd), scale, q, static_cast<int>(d), k, static_cast<int>(kvw), 0.0f,
                s, static_cast<int>(L));
    for (int64_t i = 0; i < L; ++i) {
      float* row = s + i * L;
      const int64_t visible = causal ? i + 1 : L;
      ops::softmax(row, visible);
      std::fill(row + visible, row + L, 0.0f);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(L), static_cast<int>(hd),
                static_cast<int>(L), 1.0f, s, static_cast<int>(L), v, static_cast<int>(kvw), 0.0f, o,
                static_cast<int>(d));
  });
}

void Transformer::attention_cached(KvCache& cache, int64_t layer, int64_t n) {
  // The batch's n queries sit at positions past .. past + n - 1; query i sees cached keys
  // 0 .. past + i.
  const ModelConfig& c = model_.config();
  const int64_t d = c.n_embd, hd = c.head_dim(), n_head = c.n_head;
  const int64_t group = c.n_head / c.n_head_kv;
  const int64_t past = cache.size(), total = past + n;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  Workspace& w = *ws_;
  if (n == 1) {
    // Decoding one token: each key/value head's positions in slices, each slice's part of the
    // softmax for the whole group of query heads in one task (ops/decode_attention.h), then the
    // parts merged per head.
    const int64_t slices = decode_attention_slices(pool_.size(), c.n_head_kv, total);
    const int64_t per = (total + slices - 1) / slices;
    pool_.parallel_for(static_cast<size_t>(c.n_head_kv * slices), [&](size_t task, int thread) {
      const int64_t kh = static_cast<int64_t>(task) / slices,
                    sl = static_cast<int64_t>(task) % slices;
      const int64_t t0 = sl * per, part = (kh * slices + sl) * group;
      float* part_out = w.part_out.data() + part * hd;
      float* part_max = w.part_max.data() + part;
      float* part_sum = w.part_sum.data() + part;
      if (t0 >= total) {  // more slices than positions: an empty part weighs nothing
        std::fill(part_out, part_out + group * hd, 0.0f);
        std::fill(part_max, part_max + group, -std::numeric_limits<float>::infinity());
        std::fill(part_sum, part_sum + group, 0.0f);
        return;
      }
      ops::AttentionSlice slice;
      slice.q = w.q.data() + kh * group * hd;
      if (cache.type() == KvType::kF16) {
        slice.keys = cache.keys_f16(layer, kh) + t0 * hd;
        slice.values = cache.values_f16(layer, kh) + t0 * hd;
        slice.f16 = true;
      } else {
        slice.keys = cache.keys(layer, kh) + t0 * hd;
        slice.values = cache.values(layer, kh) + t0 * hd;
      }
      slice.stride = hd;
      slice.count = std::min(per, total - t0);
      slice.group = group;
      slice.head_dim = hd;
      slice.scale = scale;
      ops::attend_slice(slice, w.scores[static_cast<size_t>(thread)].data(), part_out, part_max,
                        part_sum);
    });
    for (int64_t h = 0; h < n_head; ++h) {
      const int64_t first = (h / group) * slices * group + h % group;
      ops::merge_attention_parts(w.part_out.data() + first * hd, group * hd,
                                 w.part_max.data() + first, w.part_sum.data() + first, group,
                                 slices, hd, w.ctx.data() + h * hd);
    }
    return;
  }
  // sgemm reads floats: an F16 cache's keys and values are widened first, once per key/value
  // head for all its query heads.
  const bool f16 = cache.type() == KvType::kF16;
  const int64_t run = total * hd;  // one head's keys (or values)
  if (f16) {
    pool_.parallel_for(static_cast<size_t>(c.n_head_kv), [&](size_t kh, int) {
      float* wide = w.kv_wide.data() + 2 * static_cast<int64_t>(kh) * run;
      widen_f16(cache.keys_f16(layer, static_cast<int64_t>(kh)), wide, run);
      widen_f16(cache.values_f16(layer, static_cast<int64_t>(kh)), wide + run, run);
    });
  }
  pool_.parallel_for(static_cast<size_t>(n_head), [&](size_t task, int thread) {
    const int64_t h = static_cast<int64_t>(task);
    const int64_t kh = h / group;
    float* s = w.scores[static_cast<size_t>(thread)].data();
    const float* q = w.q.data() + h * hd;
    const float* k = f16 ? w.kv_wide.data() + 2 * kh * run : cache.keys(layer, kh);
    const float* v = f16 ? w.kv_wide.data() + (2 * kh + 1) * run : cache.values(layer, kh);
    float* o = w.ctx.data() + h * hd;
    // S[n][total] = Q K^T * scale, then a causal softmax per row, then O = S V.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n),
                static_cast<int>(total), static_cast<int>(hd), scale, q, static_cast<int>(d), k,
                static_cast<int>(hd), 0.0f, s, static_cast<int>(total));
    for (int64_t i = 0; i < n; ++i) {
      float* row = s + i * total;
      const int64_t visible = past + i + 1;
      ops::softmax(row, visible);
      std::fill(row + visible, row + total, 0.0f);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n),
                static_cast<int>(hd), static_cast<int>(total), 1.0f, s, static_cast<int>(total), v,
                static_cast<int>(hd), 0.0f, o, static_cast<int>(d));
  });
}

Status Transformer::run_layer(const LayerWeights& l, std::span<const SequenceSpan> sequences,
                              std::span<const int32_t> positions, KvCache* cache, int64_t layer) {
  const ModelConfig& c = model_.config();
  const ArchitectureSpec& a = model_.arch();
  Workspace& w = *ws_;
  const int64_t n = static_cast<int64_t>(positions.size()), d = c.n_embd;
  const bool pre = a.placement == NormPlacement::kPre;

  // Attention sublayer.
  const float* attn_in = w.x.data();
  if (pre) {
    std::copy(w.x.begin(), w.x.begin() + n * d, w.h.begin());
    norm_rows(w.h.data(), n, l.attn_norm);
    attn_in = w.h.data();
  }
  const ops::LinearOutput qkv[] = {{&l.q, w.q.data()}, {&l.k, w.k.data()}, {&l.v, w.v.data()}};
  RAGKIT_RETURN_IF_ERROR(ops::linear_many(pool_, attn_in, n, qkv, w.matmul));
  if (a.positions == PositionEncoding::kRotary) {
    apply_rotary(w.q.data(), c.n_head, positions);
    apply_rotary(w.k.data(), c.n_head_kv, positions);
  }
  if (cache != nullptr) {
    cache->store(layer, w.k.data(), w.v.data(), n);
    attention_cached(*cache, layer, n);
  } else {
    attention(sequences);
  }
  RAGKIT_RETURN_IF_ERROR(ops::linear(pool_, w.ctx.data(), n, l.o, w.h.data(), w.matmul));
  ops::add(w.x.data(), w.h.data(), n * d);
  if (!pre) norm_rows(w.x.data(), n, l.attn_norm);

  // Feed-forward sublayer.
  const float* ffn_in = w.x.data();
  if (pre) {
    std::copy(w.x.begin(), w.x.begin() + n * d, w.h.begin());
    norm_rows(w.h.data(), n, l.ffn_norm);
    ffn_in = w.h.data();
  }
  if (a.gated_ffn) {
    const ops::LinearOutput up_gate[] = {{&l.up, w.up.data()}, {&l.gate, w.gate.data()}};
    RAGKIT_RETURN_IF_ERROR(ops::linear_many(pool_, ffn_in, n, up_gate, w.matmul));
    activate(w.gate.data(), n * c.n_ff);
    ops::mul(w.up.data(), w.gate.data(), n * c.n_ff);
  } else {
    RAGKIT_RETURN_IF_ERROR(ops::linear(pool_, ffn_in, n, l.up, w.up.data(), w.matmul));
    activate(w.up.data(), n * c.n_ff);
  }
  RAGKIT_RETURN_IF_ERROR(ops::linear(pool_, w.up.data(), n, l.down, w.h.data(), w.matmul));
  ops::add(w.x.data(), w.h.data(), n * d);
  if (!pre) norm_rows(w.x.data(), n, l.ffn_norm);
  return Status();
}

Result<std::span<const float>> Transformer::forward(std::span<const TokenId> tokens,
                                                    std::span<const int32_t> positions,
                                                    std::span<const SequenceSpan> sequences) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (positions.size() != tokens.size()) {
    return Status::invalid_argument("forward: positions and tokens differ in length");
  }
  int64_t longest = 0, covered = 0;
  for (const SequenceSpan& s : sequences) {
    if (s.begin != covered || s.length <= 0) {
      return Status::invalid_argument("forward: sequences must tile the batch in order");
    }
    covered += s.length;
    longest = std::max(longest, s.length);
  }
  if (covered != n) return Status::invalid_argument("forward: sequences do not cover the batch");
  if (n == 0) return std::span<const float>();
  reserve(n, longest);
  RAGKIT_RETURN_IF_ERROR(embed_inputs(tokens, positions));
  for (const LayerWeights& layer : model_.weights().layers) {
    RAGKIT_RETURN_IF_ERROR(run_layer(layer, sequences, positions, nullptr, 0));
  }
  if (model_.arch().output_norm) norm_rows(ws_->x.data(), n, model_.weights().output_norm);
  return std::span<const float>(ws_->x.data(), static_cast<size_t>(n * model_.config().n_embd));
}

Result<std::span<const float>> Transformer::forward_cached(std::span<const TokenId> tokens,
                                                           KvCache& cache, int64_t max_batch) {
  const ModelConfig& c = model_.config();
  if (model_.arch().mask != AttentionMask::kCausal) {
    return Status::invalid_argument("forward_cached: " + std::string(model_.arch().name) +
                                    " is not a causal model");
  }
  if (cache.row_width() != c.n_head_kv * c.head_dim()) {
    return Status::invalid_argument("forward_cached: the cache was made for another model");
  }
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (cache.size() + n > cache.capacity()) {
    return Status::out_of_range("the context is full: " + std::to_string(cache.size()) + " + " +
                                std::to_string(n) + " tokens do not fit in " +
                                std::to_string(cache.capacity()));
  }
  if (n == 0) return std::span<const float>();
  const int64_t batch = std::clamp<int64_t>(max_batch, 1, n);
  Workspace& w = *ws_;
  reserve(batch, 0);
  // Scores of one head over the context for every row of a batch; a decoded token scores the
  // query heads of a group at once. The parts of a decoded token's attention: at most
  // decode_attention_slices(...) per key/value head.
  const int64_t group = c.n_head / c.n_head_kv;
  const size_t score_floats = static_cast<size_t>(std::max(batch, group) * cache.capacity());
  w.scores.resize(static_cast<size_t>(pool_.size()));
  for (auto& s : w.scores) {
    if (s.size() < score_floats) s.resize(score_floats);
  }
  const size_t parts = static_cast<size_t>(
      c.n_head * decode_attention_slices(pool_.size(), c.n_head_kv, cache.capacity()));
  if (w.part_max.size() < parts) {
    w.part_out.resize(parts * static_cast<size_t>(c.head_dim()));
    w.part_max.resize(parts);
    w.part_sum.resize(parts);
  }
  if (cache.type() == KvType::kF16 && n > 1) {
    const size_t wide = static_cast<size_t>(2 * c.n_head_kv * cache.capacity() * c.head_dim());
    if (w.kv_wide.size() < wide) w.kv_wide.resize(wide);
  }
  if (w.positions.size() < static_cast<size_t>(batch)) w.positions.resize(static_cast<size_t>(batch));

  // Batches in order; only the last one's hidden states are returned, so earlier batches skip
  // the output norm.
  const int64_t start = cache.size();
  for (int64_t b0 = 0; b0 < n; b0 += batch) {
    const int64_t m = std::min(batch, n - b0);
    auto chunk = tokens.subspan(static_cast<size_t>(b0), static_cast<size_t>(m));
    std::span<int32_t> pos(w.positions.data(), static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) pos[static_cast<size_t>(i)] = static_cast<int32_t>(cache.size() + i);
    Status st = embed_inputs(chunk, pos);
    for (int64_t i = 0; st.ok() && i < c.n_layer; ++i) {
      st = run_layer(model_.weights().layers[static_cast<size_t>(i)], {}, pos, &cache, i);
    }
    if (!st.ok()) {
      cache.truncate(start);
      return st;
    }
    cache.advance(m);
    if (b0 + m == n) {
      if (model_.arch().output_norm) norm_rows(w.x.data(), m, model_.weights().output_norm);
      return std::span<const float>(w.x.data(), static_cast<size_t>(m * c.n_embd));
    }
  }
  return std::span<const float>();
}

Status Transformer::logits(const float* hidden, float* out) {
  const Linear& head = model_.weights().output;
  if (head.weight.data == nullptr) {
    return Status::invalid_argument(std::string(model_.arch().name) + " has no language-model head");
  }
  return ops::linear(pool_, hidden, 1, head, out, ws_->matmul);
}

}  // namespace ragkit::embed
