#include "ops/gemv_f32.h"

#include <immintrin.h>

#include "ops/stream_prefetch.h"

namespace ragkit::embed::ops {

namespace {

template <int N>
void rows_scalar(const float* w, int64_t in, int64_t ws, const float* x, float* y, int64_t y_stride,
                 int64_t o0, int64_t o1) {
  for (int64_t o = o0; o < o1; ++o) {
    const float* wr = w + o * ws;
    for (int r = 0; r < N; ++r) {
      float s = 0;
      for (int64_t i = 0; i < in; ++i) s += wr[i] * x[r * in + i];
      y[r * y_stride + o] = s;
    }
  }
}

template <int N>
__attribute__((target("avx2,fma"))) void rows_avx2(const float* w, int64_t in, int64_t ws,
                                                   const float* x, float* y, int64_t y_stride,
                                                   int64_t o0, int64_t o1) {
  const int64_t vec_end = in & ~int64_t{7};
  StreamPrefetch prefetch(w + o0 * ws);
  for (int64_t o = o0; o < o1; ++o) {
    const float* wr = w + o * ws;
    __m256 acc[N];
    for (int r = 0; r < N; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < vec_end; i += 8) {
      prefetch.consumed(wr + i + 8);
      const __m256 wv = _mm256_loadu_ps(wr + i);
      for (int r = 0; r < N; ++r) acc[r] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + r * in + i), acc[r]);
    }
    for (int r = 0; r < N; ++r) {
      __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[r]), _mm256_extractf128_ps(acc[r], 1));
      s = _mm_add_ps(s, _mm_movehl_ps(s, s));
      s = _mm_add_ss(s, _mm_movehdup_ps(s));
      float t = _mm_cvtss_f32(s);
      for (int64_t i = vec_end; i < in; ++i) t += wr[i] * x[r * in + i];
      y[r * y_stride + o] = t;
    }
  }
}

template <int N>
__attribute__((target("avx512f"))) void rows_avx512(const float* w, int64_t in, int64_t ws,
                                                     const float* x, float* y, int64_t y_stride,
                                                     int64_t o0, int64_t o1) {
  const int64_t vec_end = in & ~int64_t{15};
  const __mmask16 tail = static_cast<__mmask16>((1u << (in - vec_end)) - 1u);
  StreamPrefetch prefetch(w + o0 * ws);
  for (int64_t o = o0; o < o1; ++o) {
    const float* wr = w + o * ws;
    __m512 acc[N];
    for (int r = 0; r < N; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t i = 0; i < vec_end; i += 16) {
      prefetch.consumed(wr + i + 16);
      const __m512 wv = _mm512_loadu_ps(wr + i);
      for (int r = 0; r < N; ++r) acc[r] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + r * in + i), acc[r]);
    }
    if (tail != 0) {
      const __m512 wv = _mm512_maskz_loadu_ps(tail, wr + vec_end);
      for (int r = 0; r < N; ++r) {
        acc[r] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(tail, x + r * in + vec_end), acc[r]);
      }
    }
    for (int r = 0; r < N; ++r) {
      // Through memory rather than _mm512_reduce_add_ps, whose GCC 12 expansion warns of an
      // uninitialised value; once per row, it costs nothing measurable.
      alignas(64) float lanes[16];
      _mm512_store_ps(lanes, acc[r]);
      __m256 half = _mm256_add_ps(_mm256_load_ps(lanes), _mm256_load_ps(lanes + 8));
      __m128 s = _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
      s = _mm_add_ps(s, _mm_movehl_ps(s, s));
      s = _mm_add_ss(s, _mm_movehdup_ps(s));
      y[r * y_stride + o] = _mm_cvtss_f32(s);
    }
  }
}

using Isa = GemvIsa;

template <int N>
void run(Isa isa, const float* w, int64_t in, int64_t ws, const float* x, float* y,
         int64_t y_stride, int64_t o0, int64_t o1) {
  switch (isa) {
    case Isa::kAvx512: return rows_avx512<N>(w, in, ws, x, y, y_stride, o0, o1);
    case Isa::kAvx2: return rows_avx2<N>(w, in, ws, x, y, y_stride, o0, o1);
    case Isa::kScalar: return rows_scalar<N>(w, in, ws, x, y, y_stride, o0, o1);
  }
}

}  // namespace

bool gemv_f32_with(GemvIsa isa, const float* w, int64_t in, int64_t w_stride, const float* x,
                   int64_t n, float* y, int64_t y_stride, int64_t o0, int64_t o1) {
  if (!simd_isa_supported(isa)) return false;
  switch (n) {
    case 1: run<1>(isa, w, in, w_stride, x, y, y_stride, o0, o1); break;
    case 2: run<2>(isa, w, in, w_stride, x, y, y_stride, o0, o1); break;
    case 3: run<3>(isa, w, in, w_stride, x, y, y_stride, o0, o1); break;
    default: run<4>(isa, w, in, w_stride, x, y, y_stride, o0, o1); break;
  }
  return true;
}

void gemv_f32(const float* w, int64_t in, int64_t w_stride, const float* x, int64_t n, float* y,
              int64_t y_stride, int64_t o0, int64_t o1) {
  gemv_f32_with(best_simd_isa(), w, in, w_stride, x, n, y, y_stride, o0, o1);
}

}  // namespace ragkit::embed::ops
