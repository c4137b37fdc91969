#include "ragkit/embed/kv_cache.h"

#include <algorithm>
#include <cctype>
#include <new>
#include <string>

#include "ops/quant_dot.h"

namespace ragkit::embed {

const char* kv_type_name(KvType type) { return type == KvType::kF16 ? "f16" : "f32"; }

std::optional<KvType> parse_kv_type(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "f32") return KvType::kF32;
  if (lower == "f16") return KvType::kF16;
  return std::nullopt;
}

KvCache::KvCache(const ModelConfig& config, int64_t n_ctx, KvType type)
    : type_(type),
      n_ctx_(n_ctx < 0 ? 0 : n_ctx),
      width_(config.n_head_kv * config.head_dim()),
      head_dim_(config.head_dim() > 0 ? config.head_dim() : 1) {
  const size_t n = static_cast<size_t>(std::max<int64_t>(config.n_layer * n_ctx_ * width_, 0));
  const size_t element = type_ == KvType::kF16 ? sizeof(uint16_t) : sizeof(float);
  if (n == 0) return;
  Result<HugePageMemory> memory = HugePageMemory::allocate(2 * n * element);
  if (!memory.ok()) throw std::bad_alloc();
  memory_ = std::move(*memory);
  elements_ = n;
}

void KvCache::store(int64_t layer, const float* keys, const float* values, int64_t n) {
  const int64_t hd = head_dim_, at = size_ * hd;
  for (int64_t kh = 0; kh < width_ / hd; ++kh) {
    const size_t base = offset(layer, kh) + static_cast<size_t>(at);
    for (int64_t i = 0; i < n; ++i) {
      const float* k = keys + i * width_ + kh * hd;
      const float* v = values + i * width_ + kh * hd;
      const size_t to = base + static_cast<size_t>(i * hd);
      if (type_ == KvType::kF16) {
        ops::narrow_to_f16(k, f16() + to, hd);
        ops::narrow_to_f16(v, f16() + elements_ + to, hd);
      } else {
        std::copy_n(k, hd, f32() + to);
        std::copy_n(v, hd, f32() + elements_ + to);
      }
    }
  }
}

}  // namespace ragkit::embed
