#include "ragkit/embed/kv_cache.h"

namespace ragkit::embed {

KvCache::KvCache(const ModelConfig& config, int64_t n_ctx)
    : n_ctx_(n_ctx < 0 ? 0 : n_ctx), width_(config.n_head_kv * config.head_dim()) {
  const size_t n = static_cast<size_t>(config.n_layer) * layer_stride();
  k_.resize(n);
  v_.resize(n);
}

}  // namespace ragkit::embed
