// Row-wise and element-wise kernels of the transformer core: norms, activations, softmax.
// Each is compiled for AVX-512, AVX2 and baseline x86-64 and picked at run time (GCC function
// multiversioning), so one binary runs everywhere and uses the widest vectors it finds.
// The exp/erf here are branch-free polynomial approximations (relative error ~1e-7) that the
// compiler vectorises; libm's scalar calls were the bottleneck of the FFN activation.
#pragma once

#include <cstdint>

namespace ragkit::embed::ops {

// y[i] = (x[i] - mean) / sqrt(var + eps) * w[i] + b[i]  (b may be null). In place allowed.
void layer_norm(const float* x, float* y, int64_t n, const float* w, const float* b, float eps);
// y[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]. In place allowed.
void rms_norm(const float* x, float* y, int64_t n, const float* w, float eps);

// In place over n values.
void gelu_erf(float* x, int64_t n);   // 0.5 x (1 + erf(x / sqrt 2)), as PyTorch's nn.GELU()
void gelu_tanh(float* x, int64_t n);  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
void silu(float* x, int64_t n);       // x / (1 + exp(-x))
// a[i] *= b[i]
void mul(float* a, const float* b, int64_t n);
// a[i] += b[i]
void add(float* a, const float* b, int64_t n);
// In-place softmax of x[0..n).
void softmax(float* x, int64_t n);
// x[i] = e^(x[i] - m) with m = the maximum of x[0..n) (n > 0), stored in *max; returns the sum of
// the new x: softmax without the division, for softmaxes computed in parts.
float exp_minus_max(float* x, int64_t n, float* max);
// x[i] *= s
void scale(float* x, float s, int64_t n);

// Vectorisable approximations, exposed for tests.
float fast_exp(float x);
float fast_erf(float x);

}  // namespace ragkit::embed::ops
