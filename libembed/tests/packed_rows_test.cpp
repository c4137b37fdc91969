// Weight rows packed eight at a time (ops/packed_rows.h):
//  * the layout, read back by a reader written from the header's description, holds every row's
//    scales and values (any CPU: packing is portable code);
//  * the packed kernels give the scalar row-wise kernels' results bit for bit, for every sub-tile
//    (decoding's one activation row and batches), on rows of 1 to 513 blocks;
//  * linear() through packed rows equals linear() through the rows as the file has them, for
//    batches of 1..70 rows, and ignores them once a lower instruction set is forced;
//  * a quantized model loaded with and without packing computes the same: a batched prefill's
//    states bit for bit, the logits of single rows within rounding; with the packed kernels
//    forced off, the rows read again from the file pages the loader gave back, bit for bit.
#include "ops/packed_rows.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ops/matmul.h"
#include "ops/quant_dot_common.h"
#include "ragkit/common/thread_pool.h"
#include "ragkit/embed/kv_cache.h"
#include "ragkit/embed/model.h"
#include "ragkit/embed/quantize.h"
#include "ragkit/embed/transformer.h"
#include "random_model.h"
#include "test_env.h"

namespace ragkit::embed::ops {
namespace {

constexpr DType kLegacyTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ5_0};
constexpr DType kPackedTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kQ4_K};

std::vector<float> random_floats(std::mt19937& rng, size_t n, float scale) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// `rows` rows of n values quantized to `type` (through quantize_row: valid blocks).
std::vector<uint8_t> random_rows(std::mt19937& rng, DType type, int64_t rows, int64_t n) {
  const size_t row = *row_bytes(type, n);
  std::vector<uint8_t> w(row * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<float> x = random_floats(rng, static_cast<size_t>(n), 0.05f);
    EXPECT_TRUE(quantize_row(type, x.data(), w.data() + r * row, n).ok());
  }
  return w;
}

struct ForcedIsa {
  explicit ForcedIsa(Isa isa) { ok = force_isa(isa); }
  ~ForcedIsa() { clear_forced_isa(); }
  bool ok = false;
};

// Value i of row r, block b, and the block's scale bits, read from the packed layout as
// packed_rows.h describes it.
struct PackedReader {
  DType type;
  int64_t nb;
  const uint8_t* packed;

  const uint8_t* block(int64_t r, int64_t b) const {
    return packed + ((r / 8) * nb + b) * packed_block_bytes(type);
  }
  uint16_t scale(int64_t r, int64_t b) const {
    uint16_t h;
    std::memcpy(&h, block(r, b) + 2 * (r % 8), 2);
    return h;
  }
  int value(int64_t r, int64_t b, int i) const {
    const uint8_t* pb = block(r, b);
    const int lane = static_cast<int>(r % 8);
    if (type == DType::kQ8_0) {
      return pb[16 + 32 * (i / 4) + 4 * lane + i % 4] - 128;
    }
    const uint8_t* chunks = pb + (type == DType::kQ5_0 ? 48 : 16);
    const int j = i % 16;  // the byte of qs holding value i
    const uint8_t byte = chunks[32 * (j / 4) + 4 * lane + j % 4];
    int u = i < 16 ? byte & 0x0F : byte >> 4;
    if (type == DType::kQ4_0) return u - 8;
    uint32_t mask;
    std::memcpy(&mask, pb + 16 + 4 * (i / 4), 4);
    u |= static_cast<int>((mask >> (4 * lane + i % 4)) & 1) << 4;
    return u - 16;
  }
};

TEST(PackedRows, LayoutHoldsEveryRowsScalesAndValues) {
  std::mt19937 rng(7);
  const int64_t n = 96, rows = 16;
  for (DType type : kLegacyTypes) {
    SCOPED_TRACE(dtype_name(type));
    ASSERT_TRUE(can_pack_rows(type, n, rows));
    const std::vector<uint8_t> w = random_rows(rng, type, rows, n);
    const size_t row = *row_bytes(type, n);
    ASSERT_EQ(packed_bytes(type, n, rows), w.size());  // as many bytes as the rows
    std::vector<uint8_t> packed(packed_bytes(type, n, rows) + 1);
    pack_rows(type, n, w.data(), row, rows, packed.data() + 1);  // at an odd address
    const PackedReader reader{type, n / 32, packed.data() + 1};
    const size_t block = row / static_cast<size_t>(n / 32);
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<float> want(static_cast<size_t>(n));
      ASSERT_TRUE(dequantize_row(type, w.data() + r * row, want.data(), n).ok());
      for (int64_t b = 0; b < n / 32; ++b) {
        uint16_t d;
        std::memcpy(&d, w.data() + r * row + b * block, 2);
        ASSERT_EQ(reader.scale(r, b), d) << "row " << r << " block " << b;
        for (int i = 0; i < 32; ++i) {
          ASSERT_EQ(fp16_to_fp32(d) * static_cast<float>(reader.value(r, b, i)),
                    want[static_cast<size_t>(b * 32 + i)])
              << "row " << r << " block " << b << " value " << i;
        }
      }
    }
  }
}

// Q4_K: each row's super-block put together again from the packed one (packed_rows.h).
TEST(PackedRows, Q4KLayoutHoldsEveryRowsBlocks) {
  std::mt19937 rng(8);
  const int64_t n = 512, rows = 16, nb = n / 256;
  const std::vector<uint8_t> w = random_rows(rng, DType::kQ4_K, rows, n);
  const size_t row = *row_bytes(DType::kQ4_K, n);
  ASSERT_EQ(packed_bytes(DType::kQ4_K, n, rows), w.size());
  ASSERT_EQ(packed_block_bytes(DType::kQ4_K), 8u * 144u);
  std::vector<uint8_t> packed(w.size());
  pack_rows(DType::kQ4_K, n, w.data(), row, rows, packed.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* pb = packed.data() + ((r / 8) * nb + b) * 1152;
      const int lane = static_cast<int>(r % 8);
      uint8_t block[144];
      std::memcpy(block, pb + 2 * lane, 2);
      std::memcpy(block + 2, pb + 16 + 2 * lane, 2);
      for (int word = 0; word < 3; ++word)
        std::memcpy(block + 4 + 4 * word, pb + 32 + 32 * word + 4 * lane, 4);
      for (int k = 0; k < 4; ++k) {
        for (int h = 0; h < 8; ++h) {
          std::memcpy(block + 16 + 32 * k + 4 * h, pb + 128 + 256 * k + 32 * h + 4 * lane, 4);
        }
      }
      ASSERT_EQ(0, std::memcmp(block, w.data() + r * row + b * 144, 144))
          << "row " << r << " block " << b;
    }
  }
}

TEST(PackedRows, OnlyWholeGroupsOfThePackedTypesPack) {
  EXPECT_TRUE(can_pack_rows(DType::kQ5_0, 576, 1536));
  EXPECT_FALSE(can_pack_rows(DType::kQ5_0, 576, 1532));  // not a multiple of eight rows
  EXPECT_FALSE(can_pack_rows(DType::kQ8_0, 48, 8));      // not whole blocks
  EXPECT_TRUE(can_pack_rows(DType::kQ4_K, 512, 8));
  EXPECT_FALSE(can_pack_rows(DType::kQ4_K, 576, 8));  // not whole super-blocks
  for (DType type : {DType::kF16, DType::kQ4_1, DType::kQ5_1, DType::kQ5_K, DType::kQ6_K}) {
    EXPECT_FALSE(can_pack_rows(type, 256, 8)) << dtype_name(type);
    EXPECT_FALSE(has_packed_kernel(type, Isa::kAvx512Vnni)) << dtype_name(type);
  }
  for (DType type : kPackedTypes) {
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      EXPECT_EQ(packed_tile_kernel(type, isa), nullptr) << dtype_name(type) << " " << isa_name(isa);
    }
  }
}

// Activation rows prepared for the kernels, at an odd address.
struct Prepared {
  std::vector<uint8_t> bytes;
  ActivationLayout layout;
  const uint8_t* data() const { return bytes.data() + 3; }
};

Prepared prepare(DType type, const std::vector<float>& x, int64_t n, int64_t rows) {
  Prepared p;
  p.layout = activation_layout(type, n);
  const int64_t per = p.layout.group_rows;
  const int64_t groups = (rows + per - 1) / per;
  p.bytes.assign(3 + p.layout.group_bytes * static_cast<size_t>(groups), 0xEE);
  for (int64_t g = 0; g < groups; ++g) {
    const int count = static_cast<int>(std::min<int64_t>(per, rows - g * per));
    prepare_activation_group(type, x.data() + g * per * n, n, count,
                             p.bytes.data() + 3 + g * p.layout.group_bytes);
  }
  return p;
}

TEST(PackedRows, KernelsGiveTheScalarKernelsBitsForEverySubTile) {
  if (!has_packed_kernel(DType::kQ8_0, Isa::kAvx512Vnni)) {
    GTEST_SKIP() << "this CPU has no AVX-512 VNNI";
  }
  std::mt19937 rng(11);
  constexpr int64_t kRows = 24, kActs = 7;  // three groups; a full activation group and a part
  for (DType type : kPackedTypes) {
    // 1, 3, 18 and 48 blocks; 513: longer than the row-wise decode kernel's stack. Q4_K: 1, 2,
    // 6 and 64 super-blocks.
    const std::vector<int64_t> lengths = type == DType::kQ4_K
                                             ? std::vector<int64_t>{256, 512, 1536, 16384}
                                             : std::vector<int64_t>{32, 96, 576, 1536, 16416};
    for (int64_t n : lengths) {
      SCOPED_TRACE(std::string(dtype_name(type)) + " n=" + std::to_string(n));
      const std::vector<uint8_t> w = random_rows(rng, type, kRows, n);
      const size_t row = *row_bytes(type, n);
      std::vector<uint8_t> packed(packed_bytes(type, n, kRows));
      pack_rows(type, n, w.data(), row, kRows, packed.data());
      std::vector<float> x;
      for (int64_t j = 0; j < kActs; ++j) {
        const std::vector<float> a =
            random_floats(rng, static_cast<size_t>(n), j % 2 ? 10.0f : 0.1f);
        x.insert(x.end(), a.begin(), a.end());
      }
      const Prepared acts = prepare(type, x, n, kActs);
      std::vector<float> want(kRows * kActs);
      dot_tile_kernel(type, Isa::kScalar)(n, w.data(), row, kRows, acts.data(),
                                          acts.layout.group_bytes, 0, kActs, want.data(), kRows);
      const PackedTileFn kernel = packed_tile_kernel(type, Isa::kAvx512Vnni);
      ASSERT_NE(kernel, nullptr);
      for (int64_t g0 = 0; g0 < kRows / 8; ++g0) {
        for (int64_t a0 = 0; a0 < kActs; ++a0) {
          for (int64_t n_act : {int64_t{1}, int64_t{2}, kActs - a0}) {
            if (a0 + n_act > kActs) continue;
            const int64_t n_groups = kRows / 8 - g0, n_w = 8 * n_groups;
            std::vector<float> got(static_cast<size_t>(n_w * n_act), -1.0f);
            kernel(n, packed.data(), g0, n_groups, acts.data(), acts.layout.group_bytes, a0, n_act,
                   got.data(), static_cast<size_t>(n_w));
            for (int64_t j = 0; j < n_act; ++j) {
              for (int64_t i = 0; i < n_w; ++i) {
                ASSERT_EQ(detail::float_bits(got[j * n_w + i]),
                          detail::float_bits(want[(a0 + j) * kRows + 8 * g0 + i]))
                    << "row " << 8 * g0 + i << ", activation " << a0 + j << " of " << a0 << " x "
                    << n_act << ": got " << got[j * n_w + i] << ", want "
                    << want[(a0 + j) * kRows + 8 * g0 + i];
              }
            }
          }
        }
      }
    }
  }
}

TEST(PackedRows, LinearThroughPackedRowsEqualsLinearThroughTheRows) {
  std::mt19937 rng(13);
  ThreadPool pool(2);
  MatmulScratch scratch;
  for (DType type : kPackedTypes) {
    const int64_t in = type == DType::kQ4_K ? 512 : 576, out = 200;
    const std::vector<uint8_t> w = random_rows(rng, type, out, in);
    std::vector<uint8_t> packed(packed_bytes(type, in, out));
    pack_rows(type, in, w.data(), *row_bytes(type, in), out, packed.data());
    Linear plain;
    plain.weight.name = "w";
    plain.weight.dtype = type;
    plain.weight.n_dims = 2;
    plain.weight.ne = {in, out, 1, 1};
    plain.weight.data = w.data();
    plain.weight.n_bytes = w.size();
    const std::vector<float> bias = random_floats(rng, static_cast<size_t>(out), 0.1f);
    plain.bias = bias.data();
    Linear with_packed = plain;
    with_packed.packed = packed.data();
    for (int64_t n : {1, 3, 5, 17, 70}) {
      SCOPED_TRACE(std::string(dtype_name(type)) + " n=" + std::to_string(n));
      const std::vector<float> x = random_floats(rng, static_cast<size_t>(n * in), 1.0f);
      std::vector<float> want(static_cast<size_t>(n * out)), got(want.size(), -1.0f);
      ASSERT_TRUE(linear(pool, x.data(), n, plain, want.data(), scratch).ok());
      ASSERT_TRUE(linear(pool, x.data(), n, with_packed, got.data(), scratch).ok());
      for (size_t i = 0; i < want.size(); ++i) {
        if (n == 1) {
          // One row: the row-wise decode kernel keeps lane-wise sums (quant_dot_simd.h), within
          // rounding of the scalar kernel; the packed one is the scalar kernel's bits.
          ASSERT_NEAR(got[i], want[i], 1e-5f * (std::fabs(want[i]) + 1.0f)) << "output " << i;
        } else {
          ASSERT_EQ(detail::float_bits(got[i]), detail::float_bits(want[i])) << "output " << i;
        }
      }
      // linear_many's decode pass shares the rows of several matrices among the threads in
      // runs that split the groups of eight anywhere.
      if (n == 1) {
        std::vector<float> a(static_cast<size_t>(out)), b(static_cast<size_t>(out));
        const LinearOutput outs[] = {{&with_packed, a.data()}, {&with_packed, b.data()}};
        ASSERT_TRUE(linear_many(pool, x.data(), 1, outs, scratch).ok());
        for (size_t i = 0; i < a.size(); ++i) {
          ASSERT_EQ(detail::float_bits(a[i]), detail::float_bits(got[i])) << "output " << i;
          ASSERT_EQ(detail::float_bits(b[i]), detail::float_bits(got[i])) << "output " << i;
        }
      }
      // A lower instruction set forced: the rows as the file has them.
      ForcedIsa scalar(Isa::kScalar);
      std::vector<float> forced(want.size(), -1.0f);
      ASSERT_TRUE(linear(pool, x.data(), n, with_packed, forced.data(), scratch).ok());
      std::vector<float> scalar_want(want.size());
      ASSERT_TRUE(linear(pool, x.data(), n, plain, scalar_want.data(), scratch).ok());
      ASSERT_EQ(0, std::memcmp(forced.data(), scalar_want.data(), forced.size() * sizeof(float)));
    }
  }
}

// What a model computes for `ids` in one batched prefill (the last layer's states of every
// position), then the logits of every position and of `decoded` more tokens fed one at a time.
struct Outputs {
  std::vector<float> prefill_states;
  std::vector<float> logits;
};

Outputs outputs_of(const Model& m, const std::vector<TokenId>& ids, int decoded) {
  ThreadPool pool(2);
  Transformer tf(m, pool);
  KvCache cache(m.config(), static_cast<int64_t>(ids.size()) + decoded);
  const size_t vocab = static_cast<size_t>(m.config().n_vocab);
  const size_t embd = static_cast<size_t>(m.config().n_embd);
  Outputs out;
  std::vector<float> logits(vocab);
  auto hidden = tf.forward_cached(ids, cache);
  EXPECT_TRUE(hidden.ok()) << hidden.status().to_string();
  if (!hidden.ok()) return {};
  out.prefill_states.assign(hidden->begin(), hidden->end());
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_TRUE(tf.logits(out.prefill_states.data() + i * embd, logits.data()).ok());
    out.logits.insert(out.logits.end(), logits.begin(), logits.end());
  }
  for (int t = 0; t < decoded; ++t) {
    const TokenId next = static_cast<TokenId>((t * 37 + 5) % static_cast<int>(vocab));
    auto h = tf.forward_cached(std::span<const TokenId>(&next, 1), cache);
    EXPECT_TRUE(h.ok()) << h.status().to_string();
    if (!h.ok()) return {};
    EXPECT_TRUE(tf.logits(h->data(), logits.data()).ok());
    out.logits.insert(out.logits.end(), logits.begin(), logits.end());
  }
  return out;
}

TEST(PackedRows, AModelGivesTheSameOutputsPackedOrNot) {
  const std::string source = testing::golden_dir() + "/llama-synth-F32.gguf";
  const std::string dir = testing::make_temp_dir("ragkit-packed");
  for (DType type : kPackedTypes) {
    SCOPED_TRACE(dtype_name(type));
    const std::string path = dir + "/" + dtype_name(type) + ".gguf";
    ASSERT_TRUE(quantize_gguf(source, path, type).ok());
    ModelLoadOptions rows_only;
    rows_only.repack = false;
    auto plain = Model::load(path, rows_only);
    auto packed = Model::load(path);
    ASSERT_TRUE(plain.ok() && packed.ok());
    EXPECT_EQ((*plain)->packed_bytes(), 0u);
    if (has_packed_kernel(type)) {
      EXPECT_GT((*packed)->packed_bytes(), 0u);
    }
    const std::vector<TokenId> ids = (*plain)->tokenizer().encode_prompt(
        "Once upon a time there was a little robot who wanted to learn how to paint.");
    const Outputs want = outputs_of(**plain, ids, 4);
    const Outputs got = outputs_of(**packed, ids, 4);
    // A batch: the same kernels' bits either way.
    ASSERT_EQ(want.prefill_states.size(), got.prefill_states.size());
    ASSERT_EQ(0, std::memcmp(want.prefill_states.data(), got.prefill_states.data(),
                             want.prefill_states.size() * sizeof(float)));
    // One row at a time (the LM head, decoded tokens): the row-wise decode kernel sums in lanes,
    // the packed one as the scalar kernel does, so within rounding.
    ASSERT_EQ(want.logits.size(), got.logits.size());
    for (size_t i = 0; i < want.logits.size(); ++i) {
      ASSERT_NEAR(got.logits[i], want.logits[i], 1e-4f * (std::fabs(want.logits[i]) + 1.0f))
          << "logit " << i;
    }
    // With the packed kernels forced off, the packed model reads the rows again from the file,
    // whose pages the loader gave back (release_packed_pages): still the same numbers.
    ForcedIsa scalar(Isa::kScalar);
    const Outputs scalar_want = outputs_of(**plain, ids, 2);
    const Outputs scalar_got = outputs_of(**packed, ids, 2);
    ASSERT_EQ(scalar_want.logits.size(), scalar_got.logits.size());
    ASSERT_EQ(0, std::memcmp(scalar_want.logits.data(), scalar_got.logits.data(),
                             scalar_want.logits.size() * sizeof(float)));
  }
}

TEST(PackedRows, TheFilesPagesGivenBackReadTheSameAgain) {
  // Large enough for whole 2 MB pages of packed matrices only: 8 layers of 256 x 1024 FFNs and a
  // separate 32000-row LM head, in Q8_0.
  const std::string dir = testing::make_temp_dir("ragkit-packed-pages");
  testing::RandomLlamaOptions shape;
  shape.n_embd = 256;
  shape.n_layer = 8;
  shape.n_head = 4;
  shape.n_head_kv = 2;
  shape.n_ff = 1024;
  shape.tied_embeddings = false;
  ASSERT_TRUE(
      testing::make_random_llama_gguf(testing::tokenizers_dir() + "/ggml-vocab-llama-spm.gguf",
                                      dir + "/f32.gguf", shape)
          .ok());
  ASSERT_TRUE(quantize_gguf(dir + "/f32.gguf", dir + "/q8_0.gguf", DType::kQ8_0).ok());
  ModelLoadOptions rows_only;
  rows_only.repack = false;
  auto plain = Model::load(dir + "/q8_0.gguf", rows_only);
  auto packed = Model::load(dir + "/q8_0.gguf");
  ASSERT_TRUE(plain.ok() && packed.ok());
  const std::vector<TokenId> ids = (*plain)->tokenizer().encode_prompt("The pages come back.");
  // Every level but the packed kernels' reads the rows from the file.
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    ForcedIsa forced(isa);
    if (!forced.ok) continue;
    SCOPED_TRACE(isa_name(isa));
    const Outputs want = outputs_of(**plain, ids, 2);
    const Outputs got = outputs_of(**packed, ids, 2);
    ASSERT_EQ(want.logits.size(), got.logits.size());
    ASSERT_EQ(
        0, std::memcmp(want.logits.data(), got.logits.data(), want.logits.size() * sizeof(float)));
  }
}

}  // namespace
}  // namespace ragkit::embed::ops
