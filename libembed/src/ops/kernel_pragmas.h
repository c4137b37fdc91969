// The pragmas the kernel files share, as macros, so that each file states what it needs in one
// line and GCC and clang each get their own spelling.
#pragma once

#define RAGKIT_PRAGMA(x) _Pragma(#x)

// Bit-identical results need the float operations exactly as written: GCC's C++ default
// (-ffp-contract=fast) would fuse a multiply and an add into an FMA wherever the target has one.
// Use at file scope, before any function.
#if defined(__clang__)
#define RAGKIT_EXACT_FLOAT_OPS() RAGKIT_PRAGMA(clang fp contract(off))
#else
#define RAGKIT_EXACT_FLOAT_OPS() RAGKIT_PRAGMA(GCC optimize("fp-contract=off"))
#endif

// Everything between BEGIN and END is compiled for the target `isa` ("avx2,fma,f16c"). Put BEGIN after
// the standard headers, so no copy of a library inline function built for the target can leak
// into code that runs on older CPUs. (clang has no "#pragma GCC target"; its attribute push does
// the same for every function.)
#if defined(__clang__)
#define RAGKIT_BEGIN_TARGET(isa) \
  RAGKIT_PRAGMA(clang attribute push(__attribute__((target(isa))), apply_to = function))
#define RAGKIT_END_TARGET() RAGKIT_PRAGMA(clang attribute pop)
#else
#define RAGKIT_BEGIN_TARGET(isa) RAGKIT_PRAGMA(GCC push_options) RAGKIT_PRAGMA(GCC target(isa))
#define RAGKIT_END_TARGET() RAGKIT_PRAGMA(GCC pop_options)
#endif
