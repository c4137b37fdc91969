// Weight quantizers and quantize_gguf against llama.cpp's own output.
//
// The golden folder holds llama-synth-F32.gguf and what llama-quantize made of it (Q8_0, Q4_0 with
// a Q6_K output matrix, Q6_K, Q4_K_M with Q4_K and Q6_K tensors, F16), and stories260K quantized
// through llama-quantize's per-tensor fallbacks. Quantizing the F32 tensors with ragkit must give
// the same bytes, tensor by tensor, and quantize_gguf must choose the same type for every tensor.
#include "ragkit/embed/quantize.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "ragkit/embed/gguf.h"
#include "ragkit/embed/tensor.h"
#include "test_env.h"

namespace ragkit::embed {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<GgufFile> open_gguf(const std::string& path) {
  Result<std::unique_ptr<GgufFile>> f = GgufFile::open(path);
  EXPECT_TRUE(f.ok()) << f.status().to_string();
  return f.ok() ? std::move(*f) : nullptr;
}

std::vector<float> tensor_floats(const GgufFile& file, const GgufTensorInfo& t) {
  const TensorView v = file.view(t);
  std::vector<float> out(static_cast<size_t>(v.n_elements()));
  for (int64_t r = 0; r < v.n_rows(); ++r) {
    EXPECT_TRUE(
        dequantize_row(v.dtype, v.row(r), out.data() + r * v.row_length(), v.row_length()).ok());
  }
  return out;
}

// Quantizes every F32 tensor of `f32_file` to the type the golden file has for it and compares
// the bytes; returns how many tensors were compared.
int expect_same_bytes_as(const std::string& golden_name) {
  const std::string dir = testing::golden_dir();
  if (dir.empty()) return 0;
  auto source = open_gguf(dir + "/llama-synth-F32.gguf");
  auto golden = open_gguf(dir + "/" + golden_name);
  if (!source || !golden) return 0;
  int compared = 0;
  for (const GgufTensorInfo& g : golden->tensors()) {
    if (g.dtype == DType::kF32) continue;
    SCOPED_TRACE(golden_name + " " + g.name + " " + dtype_name(g.dtype));
    const GgufTensorInfo* s = source->find_tensor(g.name);
    EXPECT_NE(s, nullptr);
    if (s == nullptr) continue;
    EXPECT_EQ(s->dtype, DType::kF32);
    const std::vector<float> x = tensor_floats(*source, *s);
    const TensorView gv = golden->view(g);
    const int64_t cols = gv.row_length();
    const size_t row = *row_bytes(g.dtype, cols);
    std::vector<uint8_t> mine(row);
    int64_t bad_rows = 0;
    int64_t first_bad = -1;
    for (int64_t r = 0; r < gv.n_rows(); ++r) {
      EXPECT_TRUE(quantize_row(g.dtype, x.data() + r * cols, mine.data(), cols).ok());
      if (std::memcmp(mine.data(), gv.row(r), row) != 0) {
        if (first_bad < 0) first_bad = r;
        ++bad_rows;
      }
    }
    EXPECT_EQ(bad_rows, 0) << "rows differ, the first is row " << first_bad;
    ++compared;
  }
  return compared;
}

TEST(Quantize, Q8_0IsByteExactWithLlamaQuantize) {
  EXPECT_EQ(expect_same_bytes_as("llama-synth-Q8_0.gguf"), 16);
}

TEST(Quantize, Q4_0AndQ6_KAreByteExactWithLlamaQuantize) {
  EXPECT_EQ(expect_same_bytes_as("llama-synth-Q4_0.gguf"), 16);  // output.weight is Q6_K
}

TEST(Quantize, Q6_KIsByteExactWithLlamaQuantize) {
  EXPECT_EQ(expect_same_bytes_as("llama-synth-Q6_K.gguf"), 16);
}

TEST(Quantize, Q4_KIsByteExactWithLlamaQuantize) {
  EXPECT_EQ(expect_same_bytes_as("llama-synth-Q4_K_M.gguf"), 16);  // Q4_K and Q6_K tensors
}

TEST(Quantize, F16IsByteExactWithLlamaQuantize) {
  EXPECT_EQ(expect_same_bytes_as("llama-synth-F16.gguf"), 16);
}

TEST(Quantize, RowsOfZerosAndUnsupportedTypes) {
  std::vector<float> zeros(256, 0.0f);
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kQ4_K, DType::kQ6_K}) {
    std::vector<uint8_t> out(*row_bytes(t, 256), 0xCD);
    ASSERT_TRUE(quantize_row(t, zeros.data(), out.data(), 256).ok());
    std::vector<float> back(256, 1.0f);
    ASSERT_TRUE(dequantize_row(t, out.data(), back.data(), 256).ok());
    for (float v : back) EXPECT_EQ(v, 0.0f) << dtype_name(t);
  }
  std::vector<uint8_t> out(1024);
  EXPECT_FALSE(quantize_row(DType::kQ4_K, zeros.data(), out.data(), 100).ok());  // not 256
  EXPECT_FALSE(quantize_row(DType::kQ2_K, zeros.data(), out.data(), 256).ok());  // not written
}

// ---- quantize_gguf -------------------------------------------------------------------------

// Every tensor of `ours` has the name, shape, type and bytes of the same tensor in `theirs`.
void expect_same_tensors(const std::string& ours_path, const std::string& theirs_path) {
  auto ours = open_gguf(ours_path);
  auto theirs = open_gguf(theirs_path);
  ASSERT_TRUE(ours && theirs);
  ASSERT_EQ(ours->tensors().size(), theirs->tensors().size());
  for (const GgufTensorInfo& t : theirs->tensors()) {
    SCOPED_TRACE(t.name);
    const GgufTensorInfo* o = ours->find_tensor(t.name);
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(dtype_name(o->dtype), std::string(dtype_name(t.dtype)));
    EXPECT_EQ(o->ne, t.ne);
    ASSERT_EQ(o->n_bytes, t.n_bytes);
    EXPECT_EQ(0, std::memcmp(ours->view(*o).data, theirs->view(t).data, t.n_bytes));
  }
}

struct QuantizeGguf : ::testing::Test {
  void SetUp() override { tmp = testing::make_temp_dir("ragkit-quantize"); }
  std::string tmp;
};

TEST_F(QuantizeGguf, LlamaSynthMatchesLlamaQuantizeForEveryTarget) {
  const std::string dir = testing::golden_dir();
  ASSERT_FALSE(dir.empty());
  const struct {
    DType target;
    const char* golden;
    uint32_t file_type;
  } cases[] = {
      {DType::kQ8_0, "llama-synth-Q8_0.gguf", 7},  {DType::kQ4_0, "llama-synth-Q4_0.gguf", 2},
      {DType::kQ6_K, "llama-synth-Q6_K.gguf", 18}, {DType::kQ4_K, "llama-synth-Q4_K_M.gguf", 15},
      {DType::kF16, "llama-synth-F16.gguf", 1},
  };
  ThreadPool pool(2);
  QuantizeOptions options;
  options.pool = &pool;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.golden);
    const std::string out = tmp + "/" + dtype_name(c.target) + ".gguf";
    Result<QuantizeReport> report =
        quantize_gguf(dir + "/llama-synth-F32.gguf", out, c.target, options);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    EXPECT_EQ(report->file_type, c.file_type);
    expect_same_tensors(out, dir + "/" + c.golden);
    auto written = open_gguf(out);
    ASSERT_TRUE(written);
    EXPECT_EQ(*written->get_uint("general.file_type"), c.file_type);
    EXPECT_EQ(*written->get_uint("general.quantization_version"), 2u);
    EXPECT_EQ(*written->get_string("general.name"), "llama-synth-seed1234");
    EXPECT_EQ((*written->get_string_array("tokenizer.ggml.tokens"))->size(), 512u);
    EXPECT_FALSE(fs::exists(out + ".tmp"));
  }
}

TEST_F(QuantizeGguf, Stories260KFallsBackPerTensorLikeLlamaQuantize) {
  const std::string models = testing::models_dir();
  const std::string golden = testing::golden_dir();
  ASSERT_FALSE(models.empty() || golden.empty());
  const std::string in = models + "/stories260K/stories260K.gguf";
  // llama-quantize's Q6_K gives Q8_0 for the 64-wide matrices and F16 for the 172-wide
  // ffn_down; ragkit's Q4_0 gives what llama-quantize gave for TQ2_0 + Q4_0 token embeddings.
  Result<QuantizeReport> q6 = quantize_gguf(in, tmp + "/q6.gguf", DType::kQ6_K);
  ASSERT_TRUE(q6.ok()) << q6.status().to_string();
  expect_same_tensors(tmp + "/q6.gguf", golden + "/stories260K-Q8_0.gguf");
  Result<QuantizeReport> q4 = quantize_gguf(in, tmp + "/q4.gguf", DType::kQ4_0);
  ASSERT_TRUE(q4.ok()) << q4.status().to_string();
  expect_same_tensors(tmp + "/q4.gguf", golden + "/stories260K-Q4_0.gguf");

  // Q4_K (Q4_K_M): no row is a multiple of 256, so Q4_K -> Q5_0 and Q6_K -> Q8_0; ffn_down's 172
  // values fit no block and become F16. Every tensor says why.
  Result<QuantizeReport> q4k = quantize_gguf(in, tmp + "/q4k.gguf", DType::kQ4_K);
  ASSERT_TRUE(q4k.ok()) << q4k.status().to_string();
  int q5_0 = 0, q8_0 = 0, f16 = 0;
  for (const QuantizedTensor& t : q4k->tensors) {
    if (t.to == DType::kQ5_0) ++q5_0;
    if (t.to == DType::kQ8_0) ++q8_0;
    if (t.to == DType::kF16) {
      ++f16;
      EXPECT_NE(t.name.find("ffn_down"), std::string::npos) << t.name;
    }
    if (t.to != DType::kQ4_K) {
      EXPECT_FALSE(t.note.empty()) << t.name;
    }
  }
  EXPECT_EQ(f16, 5);
  EXPECT_GT(q5_0, 0);
  EXPECT_GT(q8_0, 0);  // output.weight and the attn_v of the layers with more bits
  auto written = open_gguf(tmp + "/q4k.gguf");
  ASSERT_TRUE(written);
  EXPECT_EQ(*written->get_uint("general.file_type"), 15u);
}

TEST_F(QuantizeGguf, RequantizingNeedsTheOption) {
  const std::string golden = testing::golden_dir();
  ASSERT_FALSE(golden.empty());
  const std::string in = golden + "/bert-synth-Q8_0.gguf";
  const std::string out = tmp + "/bert-f16.gguf";
  Result<QuantizeReport> refused = quantize_gguf(in, out, DType::kF16);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("allow-requantize"), std::string::npos);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));

  // With it: the golden README's F16 reference model, each Q8_0 value rounded to F16; the
  // position embeddings and token types stay F32 as llama-quantize leaves them.
  QuantizeOptions options;
  options.allow_requantize = true;
  Result<QuantizeReport> report = quantize_gguf(in, out, DType::kF16, options);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  auto source = open_gguf(in);
  auto written = open_gguf(out);
  ASSERT_TRUE(source && written);
  int converted = 0;
  for (const GgufTensorInfo& t : source->tensors()) {
    const GgufTensorInfo* w = written->find_tensor(t.name);
    ASSERT_NE(w, nullptr) << t.name;
    if (t.dtype != DType::kQ8_0) {
      EXPECT_EQ(w->dtype, t.dtype) << t.name;
      continue;
    }
    ASSERT_EQ(w->dtype, DType::kF16) << t.name;
    const std::vector<float> x = tensor_floats(*source, t);
    const uint8_t* h = static_cast<const uint8_t*>(written->view(*w).data);
    for (size_t i = 0; i < x.size(); ++i) {
      uint16_t bits;
      std::memcpy(&bits, h + 2 * i, 2);
      ASSERT_EQ(bits, fp32_to_fp16(x[i])) << t.name << " value " << i;
    }
    ++converted;
  }
  EXPECT_EQ(converted, 13);
}

TEST_F(QuantizeGguf, FailuresLeaveNothingBehind) {
  const std::string golden = testing::golden_dir();
  ASSERT_FALSE(golden.empty());
  const std::string in = golden + "/llama-synth-F32.gguf";
  // A folder that does not exist: the write fails, no temporary file remains.
  const std::string out = tmp + "/missing/out.gguf";
  EXPECT_FALSE(quantize_gguf(in, out, DType::kQ8_0).ok());
  EXPECT_FALSE(fs::exists(out + ".tmp"));
  EXPECT_FALSE(quantize_gguf(in, tmp + "/x.gguf", DType::kQ2_K).ok());  // not a target
  EXPECT_FALSE(quantize_gguf(tmp + "/nope.gguf", tmp + "/y.gguf", DType::kQ8_0).ok());
  EXPECT_TRUE(fs::is_empty(tmp));
}

}  // namespace
}  // namespace ragkit::embed
