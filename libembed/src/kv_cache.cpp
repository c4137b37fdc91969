#include "ragkit/embed/kv_cache.h"

namespace ragkit::embed {

KvCache::KvCache(const ModelConfig& config, int64_t n_ctx)
    : n_ctx_(n_ctx < 0 ? 0 : n_ctx),
      width_(config.n_head_kv * config.head_dim()),
      head_dim_(config.head_dim() > 0 ? config.head_dim() : 1) {
  const size_t n = static_cast<size_t>(config.n_layer * n_ctx_ * width_);
  k_.resize(n);
  v_.resize(n);
}

}  // namespace ragkit::embed
