#include "ragkit/embed/pooling.h"

#include <cmath>
#include <cstring>
#include <string>

namespace ragkit::embed {

const char* pooling_name(Pooling pooling) {
  switch (pooling) {
    case Pooling::kMean: return "mean";
    case Pooling::kCls: return "cls";
    case Pooling::kLast: return "last";
  }
  return "?";
}

Result<Pooling> pooling_from_name(std::string_view name) {
  if (name == "mean") return Pooling::kMean;
  if (name == "cls") return Pooling::kCls;
  if (name == "last") return Pooling::kLast;
  return Status::invalid_argument("unknown pooling '" + std::string(name) +
                                  "' (expected mean, cls or last)");
}

void pool(Pooling pooling, const float* states, size_t n_tokens, size_t dim, float* out) {
  switch (pooling) {
    case Pooling::kCls:
      std::memcpy(out, states, dim * sizeof(float));
      return;
    case Pooling::kLast:
      std::memcpy(out, states + (n_tokens - 1) * dim, dim * sizeof(float));
      return;
    case Pooling::kMean: {
      // Sum in double: the mean of hundreds of tokens must not depend on the summation order
      // more than float rounding of the final value.
      for (size_t j = 0; j < dim; ++j) {
        double s = 0;
        for (size_t t = 0; t < n_tokens; ++t) s += states[t * dim + j];
        out[j] = static_cast<float>(s / static_cast<double>(n_tokens));
      }
      return;
    }
  }
}

void l2_normalize(float* v, size_t dim) {
  double s = 0;
  for (size_t j = 0; j < dim; ++j) s += static_cast<double>(v[j]) * v[j];
  if (s <= 0) return;
  double inv = 1.0 / std::sqrt(s);
  for (size_t j = 0; j < dim; ++j) v[j] = static_cast<float>(v[j] * inv);
}

}  // namespace ragkit::embed
