// Tests for the GGUF reader: every shipped GGUF opens and says what its README says,
// dequantized rows equal llama.cpp's bit for bit, and truncated or hand-built hostile files give a
// clear error (never a crash: run these under RAGKIT_SANITIZE to have ASan check the bounds).
#include "ragkit/embed/gguf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "test_env.h"

namespace ragkit::embed {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::unique_ptr<GgufFile> open_or_fail(const std::string& path) {
  auto f = GgufFile::open(path);
  if (!f.ok()) {
    ADD_FAILURE() << f.status().to_string();
    return nullptr;
  }
  return std::move(*f);
}

std::vector<std::string> gguf_files_in(const std::string& dir) {
  std::vector<std::string> out;
  if (dir.empty()) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".gguf") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string stories_path() {
  const std::string dir = ragkit::testing::models_dir();
  return dir.empty() ? "" : dir + "/stories260K/stories260K.gguf";
}

// ---------------------------------------------------------------------------------------------
// Real files

TEST(GgufFiles, EveryShippedFileOpens) {
  std::vector<std::string> paths = gguf_files_in(ragkit::testing::golden_dir());
  for (const auto& p : gguf_files_in(ragkit::testing::tokenizers_dir())) paths.push_back(p);
  if (std::string s = stories_path(); !s.empty()) paths.push_back(s);
  ASSERT_GE(paths.size(), 16u);
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    auto f = open_or_fail(path);
    if (!f) continue;
    EXPECT_TRUE(f->version() == 2 || f->version() == 3);
    EXPECT_EQ(f->name(), path);
    EXPECT_FALSE(f->metadata().empty());
    EXPECT_TRUE(f->find("general.architecture") != nullptr);
    for (const GgufTensorInfo& info : f->tensors()) {
      TensorView v = f->view(info);
      const auto* begin = static_cast<const uint8_t*>(v.data);
      EXPECT_GE(begin, f->bytes().data());
      EXPECT_LE(begin + v.n_bytes, f->bytes().data() + f->bytes().size()) << info.name;
      EXPECT_EQ(info.offset % f->alignment(), 0u) << info.name;
      EXPECT_EQ(f->find_tensor(info.name), &info);
      auto rb = row_bytes(info.dtype, info.ne[0]);
      ASSERT_TRUE(rb.ok()) << rb.status().to_string();
      EXPECT_EQ(*rb * static_cast<size_t>(v.n_rows()), v.n_bytes) << info.name;
    }
  }
  std::cout << "[ GGUF     ] opened " << paths.size() << " files\n";
}

TEST(GgufFiles, Stories260KMatchesItsReadme) {
  const std::string path = stories_path();
  ASSERT_FALSE(path.empty());
  auto f = open_or_fail(path);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->tensors().size(), 48u);
  EXPECT_EQ(f->metadata().size(), 19u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->find("general.alignment"), nullptr);  // 32 is the default, not stored
  EXPECT_EQ(*f->get_string("general.architecture"), "llama");
  EXPECT_EQ(*f->get_string("general.name"), "llama");
  EXPECT_EQ(*f->get_int("llama.block_count"), 5);
  EXPECT_EQ(*f->get_uint("llama.embedding_length"), 64u);
  EXPECT_EQ(*f->get_int("llama.feed_forward_length"), 172);
  EXPECT_EQ(*f->get_int("llama.attention.head_count"), 8);
  EXPECT_EQ(*f->get_int("llama.attention.head_count_kv"), 4);
  EXPECT_EQ(*f->get_int("llama.rope.dimension_count"), 8);
  EXPECT_EQ(*f->get_int("llama.context_length"), 2048);
  EXPECT_NEAR(*f->get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-12);
  EXPECT_EQ(f->get_float("llama.rope.freq_base").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(*f->get_string("tokenizer.ggml.model"), "llama");

  auto tokens = f->get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.status().to_string();
  ASSERT_EQ((*tokens)->size(), 512u);
  EXPECT_EQ((**tokens)[0], "<unk>");
  EXPECT_EQ((**tokens)[1], "<s>");
  EXPECT_EQ((**tokens)[2], "</s>");
  EXPECT_EQ((**tokens)[3], "<0x00>");
  auto scores = f->get_float_array("tokenizer.ggml.scores");
  ASSERT_TRUE(scores.ok()) << scores.status().to_string();
  EXPECT_EQ(scores->size(), 512u);
  // Token types: 1 unknown (2), 2 control (3), 256 byte (6), 253 normal (1).
  auto types = f->get_int_array("tokenizer.ggml.token_type");
  ASSERT_TRUE(types.ok()) << types.status().to_string();
  std::map<int64_t, int> histogram;
  for (int64_t t : *types) ++histogram[t];
  EXPECT_EQ(histogram, (std::map<int64_t, int>{{1, 253}, {2, 1}, {3, 2}, {6, 256}}));

  // Data section at byte 14,176; the last tensor ends exactly at the end of the file.
  EXPECT_EQ(f->data_offset(), 14176u);
  size_t max_end = 0;
  int64_t n_values = 0;
  for (const GgufTensorInfo& info : f->tensors()) {
    EXPECT_EQ(info.dtype, DType::kF32) << info.name;
    max_end = std::max<size_t>(max_end, f->data_offset() + info.offset + info.n_bytes);
    n_values += f->view(info).n_elements();
  }
  EXPECT_EQ(max_end, 1185376u);
  EXPECT_EQ(f->bytes().size(), 1185376u);
  EXPECT_EQ(n_values, 292800);

  auto expect_shape = [&](const char* name, std::vector<int64_t> ne) {
    const GgufTensorInfo* info = f->find_tensor(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(info->n_dims, static_cast<int>(ne.size())) << name;
    for (size_t d = 0; d < ne.size(); ++d) EXPECT_EQ(info->ne[d], ne[d]) << name << " dim " << d;
  };
  expect_shape("token_embd.weight", {64, 512});
  expect_shape("output.weight", {64, 512});
  expect_shape("output_norm.weight", {64});
  expect_shape("blk.0.attn_q.weight", {64, 64});
  expect_shape("blk.4.attn_k.weight", {64, 32});
  expect_shape("blk.2.ffn_down.weight", {172, 64});
  expect_shape("blk.3.ffn_up.weight", {64, 172});
  EXPECT_EQ(f->find_tensor("blk.5.attn_q.weight"), nullptr);

  // output.weight is a byte-identical copy of token_embd.weight.
  TensorView embd = f->view(*f->find_tensor("token_embd.weight"));
  TensorView out = f->view(*f->find_tensor("output.weight"));
  ASSERT_EQ(embd.n_bytes, out.n_bytes);
  EXPECT_EQ(std::memcmp(embd.data, out.data, embd.n_bytes), 0);
  EXPECT_EQ(embd.describe(), "[64, 512] F32");
}

TEST(GgufFiles, BertSynthMatchesItsReadme) {
  const std::string dir = ragkit::testing::golden_dir();
  ASSERT_FALSE(dir.empty());
  auto f = open_or_fail(dir + "/bert-synth-Q8_0.gguf");
  ASSERT_TRUE(f);
  EXPECT_EQ(*f->get_string("general.architecture"), "bert");
  EXPECT_EQ(*f->get_string("general.name"), "bert-synth-seed5678");
  EXPECT_EQ(*f->get_int("bert.context_length"), 512);
  EXPECT_EQ(*f->get_int("bert.embedding_length"), 384);
  EXPECT_EQ(*f->get_int("bert.feed_forward_length"), 1536);
  EXPECT_EQ(*f->get_int("bert.block_count"), 2);
  EXPECT_EQ(*f->get_int("bert.attention.head_count"), 12);
  EXPECT_NEAR(*f->get_float("bert.attention.layer_norm_epsilon"), 1e-12, 1e-18);
  EXPECT_EQ(*f->get_bool("bert.attention.causal"), false);
  EXPECT_EQ(*f->get_int("bert.pooling_type"), 1);
  EXPECT_EQ(*f->get_string("tokenizer.ggml.model"), "bert");
  EXPECT_EQ(*f->get_string("tokenizer.ggml.pre"), "bert-bge");
  EXPECT_EQ(*f->get_int("tokenizer.ggml.token_type_count"), 2);
  EXPECT_EQ(*f->get_int("tokenizer.ggml.unknown_token_id"), 100);
  EXPECT_EQ(*f->get_int("tokenizer.ggml.seperator_token_id"), 102);
  EXPECT_EQ(*f->get_int("tokenizer.ggml.padding_token_id"), 0);
  EXPECT_EQ(*f->get_int("tokenizer.ggml.cls_token_id"), 101);
  EXPECT_EQ(*f->get_int("tokenizer.ggml.mask_token_id"), 103);
  auto tokens = f->get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.status().to_string();
  ASSERT_EQ((*tokens)->size(), 30522u);
  EXPECT_EQ((**tokens)[101], "[CLS]");
  EXPECT_EQ((**tokens)[102], "[SEP]");

  // 13 Q8_0 matrices; position embeddings, token types, biases and norms stay F32.
  EXPECT_EQ(f->tensors().size(), 5u + 2u * 16u);
  int n_q8 = 0;
  for (const GgufTensorInfo& info : f->tensors()) n_q8 += info.dtype == DType::kQ8_0;
  EXPECT_EQ(n_q8, 13);
  const GgufTensorInfo* embd = f->find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(f->view(*embd).describe(), "[384, 30522] Q8_0");
  EXPECT_EQ(embd->n_bytes, 30522u * (384 / 32) * 34);
  const GgufTensorInfo* pos = f->find_tensor("position_embd.weight");
  ASSERT_NE(pos, nullptr);
  EXPECT_EQ(f->view(*pos).describe(), "[384, 512] F32");
  const GgufTensorInfo* types = f->find_tensor("token_types.weight");
  ASSERT_NE(types, nullptr);
  EXPECT_EQ(f->view(*types).describe(), "[384, 2] F32");
  const GgufTensorInfo* up = f->find_tensor("blk.1.ffn_up.weight");
  ASSERT_NE(up, nullptr);
  EXPECT_EQ(f->view(*up).describe(), "[384, 1536] Q8_0");

  // The tokenizer keys were copied unchanged from ggml-vocab-bert-bge.gguf.
  auto vocab = open_or_fail(ragkit::testing::tokenizers_dir() + "/ggml-vocab-bert-bge.gguf");
  ASSERT_TRUE(vocab);
  EXPECT_TRUE(vocab->tensors().empty());
  EXPECT_EQ(**vocab->get_string_array("tokenizer.ggml.tokens"), **tokens);
}

// Every *.generate.json lists the ggml type of every tensor of its model, as llama.cpp read it.
TEST(GgufFiles, TensorTypesMatchLlamaCpp) {
  const std::string dir = ragkit::testing::golden_dir();
  ASSERT_FALSE(dir.empty());
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string fname = e.path().filename().string();
    if (fname.size() < 14 || fname.substr(fname.size() - 14) != ".generate.json") continue;
    SCOPED_TRACE(fname);
    std::ifstream in(e.path());
    nlohmann::json j = nlohmann::json::parse(in);
    const std::string model = j["model_file"].get<std::string>();
    const std::string path = fs::exists(dir + "/" + model) ? dir + "/" + model : stories_path();
    auto f = open_or_fail(path);
    ASSERT_TRUE(f);
    const auto& types = j["tensor_types"];
    EXPECT_EQ(types.size(), f->tensors().size());
    for (const auto& [name, type] : types.items()) {
      const GgufTensorInfo* info = f->find_tensor(name);
      ASSERT_NE(info, nullptr) << name;
      EXPECT_STREQ(dtype_name(info->dtype), type.get<std::string>().c_str()) << name;
    }
    ++files;
  }
  EXPECT_GE(files, 12);
}

// ---------------------------------------------------------------------------------------------
// Dequantization against llama.cpp

uint32_t float_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

TEST(GgufDequant, RowsAndSumsMatchLlamaCpp) {
  const std::string dir = ragkit::testing::golden_dir();
  ASSERT_FALSE(dir.empty());
  std::ifstream in(dir + "/dequant-rows.json");
  ASSERT_TRUE(in.good());
  const nlohmann::json golden = nlohmann::json::parse(in);
  ASSERT_EQ(golden["schema"], "golden-dequant/1");
  std::map<std::string, int> checked, skipped;
  for (const auto& [file_name, tensors] : golden["files"].items()) {
    auto f = open_or_fail(dir + "/" + file_name);
    ASSERT_TRUE(f) << file_name;
    for (const auto& [tensor_name, g] : tensors.items()) {
      SCOPED_TRACE(file_name + ": " + tensor_name);
      const GgufTensorInfo* info = f->find_tensor(tensor_name);
      ASSERT_NE(info, nullptr);
      EXPECT_STREQ(dtype_name(info->dtype), g["type"].get<std::string>().c_str());
      EXPECT_EQ(info->ne[0], g["ne"][0].get<int64_t>());
      EXPECT_EQ(info->ne[1], g["ne"][1].get<int64_t>());
      if (!can_dequantize(info->dtype)) {
        ++skipped[dtype_name(info->dtype)];
        continue;
      }
      const TensorView v = f->view(*info);
      const int64_t n = v.row_length();
      std::vector<float> row(static_cast<size_t>(n));
      double sum = 0, sum_sq = 0;
      for (int64_t r = 0; r < v.n_rows(); ++r) {
        Status s = dequantize_row(v.dtype, v.row(r), row.data(), n);
        ASSERT_TRUE(s.ok()) << s.to_string();
        for (float x : row) {
          sum += x;
          sum_sq += static_cast<double>(x) * x;
        }
        const std::string key = std::to_string(r);
        if (!g["rows"].contains(key)) continue;
        const auto& expected = g["rows"][key];
        ASSERT_EQ(expected.size(), row.size());
        for (int64_t k = 0; k < n; ++k) {
          const float want = static_cast<float>(expected[k].get<double>());
          ASSERT_EQ(float_bits(row[k]), float_bits(want))
              << "row " << r << " value " << k << ": " << row[k] << " vs " << want;
        }
      }
      EXPECT_TRUE(g["rows"].contains("0"));
      EXPECT_TRUE(g["rows"].contains(std::to_string(v.n_rows() - 1)));
      const double want_sum = g["sum"].get<double>(), want_sq = g["sum_sq"].get<double>();
      EXPECT_NEAR(sum, want_sum, 1e-6 * std::max(std::abs(want_sum), 1e-9));
      EXPECT_NEAR(sum_sq, want_sq, 1e-6 * std::max(std::abs(want_sq), 1e-9));
      ++checked[dtype_name(info->dtype)];
    }
  }
  int total = 0;
  std::cout << "[ GGUF     ] dequantized tensors checked against llama.cpp:";
  for (const auto& [type, count] : checked) {
    std::cout << " " << type << "=" << count;
    total += count;
  }
  std::cout << "; skipped (no dequantizer yet):";
  for (const auto& [type, count] : skipped) std::cout << " " << type << "=" << count;
  std::cout << "\n";
  EXPECT_GE(checked["F16"], 1);
  EXPECT_GE(checked["Q8_0"], 1);
  EXPECT_GT(total, 0);
}

// ---------------------------------------------------------------------------------------------
// Hostile input

// Parses an exact-size heap copy so that ASan flags any read past its end.
Result<std::unique_ptr<GgufFile>> parse_copy(const std::vector<uint8_t>& bytes, size_t len,
                                             std::vector<uint8_t>& storage) {
  storage = std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len));
  return GgufFile::parse(storage, "cut.gguf");
}

void expect_every_prefix_fails(const std::vector<uint8_t>& bytes, size_t every_until,
                               size_t stride) {
  std::vector<uint8_t> storage;
  size_t tried = 0;
  for (size_t len = 0; len < bytes.size(); len += (len < every_until ? 1 : stride)) {
    auto f = parse_copy(bytes, len, storage);
    ASSERT_FALSE(f.ok()) << "a " << len << "-byte prefix of a " << bytes.size()
                         << "-byte file parsed";
    ASSERT_EQ(f.status().message().rfind("cut.gguf: ", 0), 0u) << f.status().message();
    ++tried;
  }
  auto whole = parse_copy(bytes, bytes.size(), storage);
  EXPECT_TRUE(whole.ok()) << whole.status().to_string();
  std::cout << "[ GGUF     ] " << tried << " truncations rejected\n";
}

TEST(GgufHostile, EveryTruncationOfStories260KFails) {
  const std::string path = stories_path();
  ASSERT_FALSE(path.empty());
  const std::vector<uint8_t> bytes = read_bytes(path);
  ASSERT_EQ(bytes.size(), 1185376u);
  // Every length up to the data offset (14,176), then a sample through the tensor data.
  expect_every_prefix_fails(bytes, 14176 + 1, 997);
}

TEST(GgufHostile, EveryTruncationOfAVocabularyFails) {
  const std::string dir = ragkit::testing::tokenizers_dir();
  ASSERT_FALSE(dir.empty());
  // No tensors: the metadata runs to the end of the file, so every prefix is a cut header.
  const std::vector<uint8_t> bytes = read_bytes(dir + "/ggml-vocab-bert-bge.gguf");
  ASSERT_GT(bytes.size(), 600000u);
  expect_every_prefix_fails(bytes, 32768, 2039);
}

TEST(GgufHostile, OpenMissingFile) {
  auto f = GgufFile::open("/nonexistent/model.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Status::Code::kNotFound);
}

// Little-endian byte writer for hand-built files.
class Bytes {
 public:
  Bytes& u8(uint8_t v) {
    out_.push_back(v);
    return *this;
  }
  Bytes& u16(uint16_t v) { return le(v, 2); }
  Bytes& u32(uint32_t v) { return le(v, 4); }
  Bytes& u64(uint64_t v) { return le(v, 8); }
  Bytes& f32(float v) {
    uint32_t b;
    std::memcpy(&b, &v, 4);
    return u32(b);
  }
  Bytes& f64(double v) {
    uint64_t b;
    std::memcpy(&b, &v, 8);
    return u64(b);
  }
  Bytes& str(std::string_view s) {
    u64(s.size());
    out_.insert(out_.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& raw(const std::vector<uint8_t>& b) {
    out_.insert(out_.end(), b.begin(), b.end());
    return *this;
  }
  const std::vector<uint8_t>& bytes() const { return out_; }
  size_t size() const { return out_.size(); }

 private:
  Bytes& le(uint64_t v, int n) {
    for (int k = 0; k < n; ++k) out_.push_back(static_cast<uint8_t>(v >> (8 * k)));
    return *this;
  }
  std::vector<uint8_t> out_;
};

constexpr uint32_t kTypeUint8 = 0, kTypeInt8 = 1, kTypeUint16 = 2, kTypeInt16 = 3, kTypeUint32 = 4,
                   kTypeInt32 = 5, kTypeFloat32 = 6, kTypeBool = 7, kTypeString = 8, kTypeArray = 9,
                   kTypeUint64 = 10, kTypeInt64 = 11, kTypeFloat64 = 12;

std::vector<uint8_t> kv_string(std::string_view key, std::string_view value) {
  return Bytes().str(key).u32(kTypeString).str(value).bytes();
}
std::vector<uint8_t> kv_u32(std::string_view key, uint32_t value) {
  return Bytes().str(key).u32(kTypeUint32).u32(value).bytes();
}

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type = 0;
  uint64_t offset = 0;
};

// A small valid v3 file unless a test changes a field.
struct FileSpec {
  std::string magic = "GGUF";
  uint32_t version = 3;
  std::optional<uint64_t> n_tensors;  // default: tensors.size()
  std::optional<uint64_t> n_kv;       // default: kvs.size()
  std::vector<std::vector<uint8_t>> kvs = {kv_string("general.architecture", "test"),
                                           kv_u32("general.alignment", 32)};
  // a: F32 [8, 2] = 64 bytes at 0; b: Q8_0 [32, 2] = 68 bytes at 64.
  std::vector<TensorSpec> tensors = {{"a", {8, 2}, 0, 0}, {"b", {32, 2}, 8, 64}};
  uint64_t alignment = 32;  // for padding the data section
  size_t data_bytes = 132;  // bytes after the padding
};

std::vector<uint8_t> build(const FileSpec& spec) {
  Bytes b;
  for (char c : spec.magic) b.u8(static_cast<uint8_t>(c));
  b.u32(spec.version);
  b.u64(spec.n_tensors.value_or(spec.tensors.size()));
  b.u64(spec.n_kv.value_or(spec.kvs.size()));
  for (const auto& kv : spec.kvs) b.raw(kv);
  for (const TensorSpec& t : spec.tensors) {
    b.str(t.name).u32(static_cast<uint32_t>(t.ne.size()));
    for (uint64_t ne : t.ne) b.u64(ne);
    b.u32(t.type).u64(t.offset);
  }
  while (b.size() % spec.alignment != 0) b.u8(0);
  for (size_t k = 0; k < spec.data_bytes; ++k) b.u8(static_cast<uint8_t>(k * 7 + 1));
  return b.bytes();
}

Result<std::unique_ptr<GgufFile>> parse(const std::vector<uint8_t>& bytes) {
  return GgufFile::parse(bytes, "hostile.gguf");
}

// The parse fails with `code` and a message that starts with the file name and contains every
// one of `parts`.
void expect_error(const std::vector<uint8_t>& bytes, Status::Code code,
                  std::initializer_list<std::string_view> parts) {
  auto f = parse(bytes);
  ASSERT_FALSE(f.ok()) << "parsed, expected an error containing '" << *parts.begin() << "'";
  const std::string& msg = f.status().message();
  EXPECT_EQ(f.status().code(), code) << f.status().to_string();
  EXPECT_EQ(msg.rfind("hostile.gguf: ", 0), 0u) << msg;
  for (std::string_view p : parts) {
    EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

TEST(GgufHostile, HandBuiltFileParses) {
  const std::vector<uint8_t> bytes = build(FileSpec());
  auto f = parse(bytes);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ((*f)->version(), 3u);
  EXPECT_EQ((*f)->alignment(), 32u);
  EXPECT_EQ((*f)->data_offset() % 32, 0u);
  EXPECT_EQ((*f)->data_offset() + 132, bytes.size());
  ASSERT_EQ((*f)->tensors().size(), 2u);
  TensorView b = (*f)->view(*(*f)->find_tensor("b"));
  EXPECT_EQ(b.describe(), "[32, 2] Q8_0");
  EXPECT_EQ(b.n_bytes, 68u);
  EXPECT_EQ(b.data, bytes.data() + (*f)->data_offset() + 64);
  EXPECT_EQ(b.row(1), bytes.data() + (*f)->data_offset() + 64 + 34);
  // Every truncation of it fails too (its last tensor ends at the end of the file).
  std::vector<uint8_t> storage;
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_FALSE(parse_copy(bytes, len, storage).ok()) << len;
  }
}

TEST(GgufHostile, EveryValueTypeReadsBack) {
  FileSpec spec;
  spec.tensors.clear();
  spec.data_bytes = 0;
  spec.version = 2;
  auto kv = [](std::string_view key, uint32_t type) { return Bytes().str(key).u32(type); };
  // clang-format off
  spec.kvs = {
      kv("u8", kTypeUint8).u8(200).bytes(),
      kv("i8", kTypeInt8).u8(0xff).bytes(),
      kv("u16", kTypeUint16).u16(65535).bytes(),
      kv("i16", kTypeInt16).u16(0x8000).bytes(),
      kv("u32", kTypeUint32).u32(4000000000u).bytes(),
      kv("i32", kTypeInt32).u32(static_cast<uint32_t>(-7)).bytes(),
      kv("f32", kTypeFloat32).f32(0.25f).bytes(),
      kv("bool", kTypeBool).u8(1).bytes(),
      kv("str", kTypeString).str("héllo").bytes(),
      kv("u64", kTypeUint64).u64(UINT64_MAX).bytes(),
      kv("i64", kTypeInt64).u64(static_cast<uint64_t>(INT64_MIN)).bytes(),
      kv("f64", kTypeFloat64).f64(-1.5e300).bytes(),
      kv("ints", kTypeArray).u32(kTypeInt32).u64(3).u32(1).u32(static_cast<uint32_t>(-2)).u32(3)
          .bytes(),
      kv("floats", kTypeArray).u32(kTypeFloat32).u64(2).f32(0.5f).f32(-2.0f).bytes(),
      kv("strs", kTypeArray).u32(kTypeString).u64(3).str("a").str("").str("ccc").bytes(),
      kv("empty", kTypeArray).u32(kTypeUint8).u64(0).bytes(),
      // [[1, 2], [], [[true]]]: arrays of arrays, one level deeper in the last element.
      kv("nested", kTypeArray).u32(kTypeArray).u64(3)
          .u32(kTypeUint16).u64(2).u16(1).u16(2)
          .u32(kTypeInt64).u64(0)
          .u32(kTypeArray).u64(1).u32(kTypeBool).u64(1).u8(1)
          .bytes(),
  };
  // clang-format on
  auto r = parse(build(spec));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const GgufFile& f = **r;
  EXPECT_EQ(f.version(), 2u);
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_EQ(f.metadata().size(), spec.kvs.size());
  EXPECT_EQ(f.metadata()[3].first, "i16");  // file order is kept

  EXPECT_EQ(*f.get_uint("u8"), 200u);
  EXPECT_EQ(*f.get_int("i8"), -1);
  EXPECT_EQ(*f.get_int("u16"), 65535);
  EXPECT_EQ(*f.get_int("i16"), -32768);
  EXPECT_EQ(*f.get_uint("u32"), 4000000000u);
  EXPECT_EQ(*f.get_int("i32"), -7);
  EXPECT_EQ(*f.get_float("f32"), 0.25);
  EXPECT_EQ(*f.get_bool("bool"), true);
  EXPECT_EQ(*f.get_string("str"), "héllo");
  EXPECT_EQ(*f.get_uint("u64"), UINT64_MAX);
  EXPECT_EQ(*f.get_int("i64"), INT64_MIN);
  EXPECT_EQ(*f.get_float("f64"), -1.5e300);
  EXPECT_EQ(*f.get_float("i32"), -7.0);  // integers read as floats
  EXPECT_EQ(*f.get_int_array("ints"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(*f.get_float_array("ints"), (std::vector<float>{1, -2, 3}));
  EXPECT_EQ(*f.get_float_array("floats"), (std::vector<float>{0.5f, -2.0f}));
  EXPECT_EQ(**f.get_string_array("strs"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(f.find("empty")->array_size(), 0u);
  EXPECT_EQ(f.find("empty")->array_type, GgufType::kUint8);

  const GgufValue* nested = f.find("nested");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->type, GgufType::kArray);
  EXPECT_EQ(nested->array_type, GgufType::kArray);
  ASSERT_EQ(nested->array_size(), 3u);
  EXPECT_EQ(nested->array[0].array_type, GgufType::kUint16);
  ASSERT_EQ(nested->array[0].array.size(), 2u);
  EXPECT_EQ(nested->array[0].array[1].u, 2u);
  EXPECT_EQ(nested->array[1].array_type, GgufType::kInt64);
  EXPECT_EQ(nested->array[1].array_size(), 0u);
  ASSERT_EQ(nested->array[2].array.size(), 1u);
  ASSERT_EQ(nested->array[2].array[0].array.size(), 1u);
  EXPECT_EQ(nested->array[2].array[0].array[0].type, GgufType::kBool);
  EXPECT_EQ(nested->array[2].array[0].array[0].u, 1u);

  // Getter errors: missing, wrong type, does not fit.
  EXPECT_EQ(f.get_int("missing").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(f.get_int("missing").status().message(),
            "hostile.gguf: metadata key 'missing' not found");
  EXPECT_EQ(f.get_string("u8").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(f.get_int("str").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(f.get_int("f32").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(f.get_bool("u8").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(f.get_float("str").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(f.get_uint("i8").status().code(), Status::Code::kOutOfRange);
  EXPECT_EQ(f.get_int("u64").status().code(), Status::Code::kOutOfRange);
  EXPECT_EQ(f.get_string_array("ints").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(f.get_int_array("floats").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(f.get_float_array("strs").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(f.get_float_array("u8").status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(f.get_string("u8").status().message().find("'u8' is uint8"), std::string::npos);
}

TEST(GgufHostile, BadMagic) {
  FileSpec spec;
  spec.magic = "GGML";
  expect_error(build(spec), Status::Code::kInvalidArgument, {"not a GGUF file", "\"GGML\""});
}

TEST(GgufHostile, Version1IsNotSupported) {
  FileSpec spec;
  spec.version = 1;
  expect_error(build(spec), Status::Code::kNotSupported, {"version 1"});
}

TEST(GgufHostile, UnknownVersion) {
  FileSpec spec;
  spec.version = 4;
  expect_error(build(spec), Status::Code::kNotSupported, {"version 4"});
  spec.version = 0;
  expect_error(build(spec), Status::Code::kNotSupported, {"version 0"});
}

TEST(GgufHostile, BigEndianFile) {
  FileSpec spec;
  spec.version = 0x03000000;  // 3, byte-swapped
  expect_error(build(spec), Status::Code::kNotSupported, {"big-endian", "version 3"});
}

TEST(GgufHostile, HugeMetadataCount) {
  FileSpec spec;
  spec.n_kv = uint64_t{1} << 60;
  expect_error(build(spec), Status::Code::kCorruption, {"1152921504606846976 metadata entries"});
  spec.n_kv = UINT64_MAX;
  expect_error(build(spec), Status::Code::kCorruption, {"metadata entries"});
}

TEST(GgufHostile, HugeTensorCount) {
  FileSpec spec;
  spec.n_tensors = uint64_t{1} << 60;
  expect_error(build(spec), Status::Code::kCorruption, {"1152921504606846976 tensors"});
  // Fits the header's bound but not what remains after the metadata.
  spec.n_tensors = 4;
  spec.data_bytes = 0;
  expect_error(build(spec), Status::Code::kCorruption, {"4 tensors", "after the metadata"});
}

TEST(GgufHostile, HugeStringLengths) {
  FileSpec spec;
  spec.kvs[0] = Bytes().u64(uint64_t{1} << 63).bytes();  // key length
  expect_error(build(spec), Status::Code::kCorruption,
               {"metadata entry 0 of 2", "the key", "9223372036854775808"});
  spec.kvs[0] = Bytes().str("general.architecture").u32(kTypeString).u64(UINT64_MAX).bytes();
  expect_error(build(spec), Status::Code::kCorruption,
               {"metadata key 'general.architecture'", "18446744073709551615"});
  spec = FileSpec();
  std::vector<uint8_t> bytes = build(spec);
  // Patch the length of tensor name "b" (found by its one-byte name) to something absurd.
  const std::vector<uint8_t> needle = Bytes().str("b").u32(2).bytes();
  auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  ASSERT_NE(it, bytes.end());
  for (int k = 0; k < 8; ++k) it[k] = 0xee;
  expect_error(bytes, Status::Code::kCorruption, {"tensor info 1 of 2", "the tensor name"});
}

TEST(GgufHostile, HugeArrayCounts) {
  FileSpec spec;
  spec.kvs.push_back(
      Bytes().str("big").u32(kTypeArray).u32(kTypeUint8).u64(uint64_t{1} << 60).bytes());
  expect_error(build(spec), Status::Code::kCorruption,
               {"metadata key 'big'", "array of 1152921504606846976 uint8 elements"});
  spec.kvs.back() = Bytes().str("big").u32(kTypeArray).u32(kTypeString).u64(UINT64_MAX).bytes();
  expect_error(build(spec), Status::Code::kCorruption, {"'big'", "string elements"});
  // Inside a nested array, the message gives the element's index.
  spec.kvs.back() = Bytes()
                        .str("big")
                        .u32(kTypeArray)
                        .u32(kTypeArray)
                        .u64(2)
                        .u32(kTypeInt8)
                        .u64(0)
                        .u32(kTypeFloat64)
                        .u64(uint64_t{1} << 62)
                        .bytes();
  expect_error(build(spec), Status::Code::kCorruption, {"'big'[1]", "float64 elements"});
}

TEST(GgufHostile, ArraysNestedTooDeep) {
  FileSpec spec;
  Bytes b;
  b.str("deep").u32(kTypeArray);
  for (int level = 0; level < 20; ++level) b.u32(kTypeArray).u64(1);
  b.u32(kTypeUint8).u64(0);
  spec.kvs.push_back(b.bytes());
  expect_error(build(spec), Status::Code::kCorruption, {"'deep'", "nested more than"});
}

TEST(GgufHostile, UnknownValueTypes) {
  FileSpec spec;
  spec.kvs.push_back(Bytes().str("odd").u32(13).u32(0).bytes());
  expect_error(build(spec), Status::Code::kCorruption, {"metadata key 'odd'", "value type 13"});
  spec.kvs.back() = Bytes().str("odd").u32(kTypeArray).u32(0xffffffff).u64(0).bytes();
  expect_error(build(spec), Status::Code::kCorruption,
               {"metadata key 'odd'", "array element type 4294967295"});
}

TEST(GgufHostile, DuplicateKey) {
  FileSpec spec;
  spec.kvs.push_back(kv_string("general.architecture", "again"));
  expect_error(build(spec), Status::Code::kCorruption, {"'general.architecture'", "appears twice"});
}

TEST(GgufHostile, BadAlignment) {
  for (uint32_t a : {0u, 3u, 48u}) {
    SCOPED_TRACE(a);
    FileSpec spec;
    spec.kvs[1] = kv_u32("general.alignment", a);
    expect_error(build(spec), Status::Code::kCorruption,
                 {"general.alignment", "is " + std::to_string(a), "power of two"});
  }
  FileSpec spec;
  spec.kvs[1] = kv_string("general.alignment", "32");
  expect_error(build(spec), Status::Code::kCorruption, {"general.alignment", "type string"});
}

TEST(GgufHostile, OtherAlignmentsAreHonoured) {
  FileSpec spec;
  spec.kvs[1] = kv_u32("general.alignment", 64);
  spec.alignment = 64;
  spec.tensors[1].offset = 64;  // 64-aligned already
  auto f = parse(build(spec));
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ((*f)->alignment(), 64u);
  EXPECT_EQ((*f)->data_offset() % 64, 0u);
  // With alignment 64, offset 96 is misaligned although it was fine for 32.
  spec.tensors[1].offset = 96;
  spec.data_bytes = 96 + 68;
  expect_error(build(spec), Status::Code::kCorruption, {"'b'", "offset 96", "alignment 64"});
}

TEST(GgufHostile, BadTensorTypes) {
  FileSpec spec;
  spec.tensors[1].type = 99;
  expect_error(build(spec), Status::Code::kCorruption, {"tensor 'b'", "type id 99"});
  spec.tensors[1].type = 4;  // Q4_2, removed from ggml long ago
  expect_error(build(spec), Status::Code::kCorruption, {"tensor 'b'", "type id 4"});
  spec.tensors[1].type = 16;  // IQ2_XXS: real, but not read by ragkit
  expect_error(build(spec), Status::Code::kNotSupported, {"tensor 'b'", "IQ2_XXS"});
}

TEST(GgufHostile, BadDimensions) {
  FileSpec spec;
  spec.tensors[0].ne = {8, 2, 1, 1, 1};
  expect_error(build(spec), Status::Code::kCorruption, {"tensor 'a'", "n_dims 5"});
  spec.tensors[0].ne = {};
  expect_error(build(spec), Status::Code::kCorruption, {"tensor 'a'", "n_dims 0"});
  spec.tensors[0].ne = {8, 0};
  expect_error(build(spec), Status::Code::kCorruption, {"tensor 'a'", "dimension 1 is 0"});
  spec.tensors[0].ne = {8, UINT64_MAX};
  expect_error(build(spec), Status::Code::kCorruption, {"tensor 'a'", "dimension 1 is -1"});
  spec.tensors[0].ne = {uint64_t{1} << 40, uint64_t{1} << 30};
  expect_error(build(spec), Status::Code::kCorruption, {"tensor 'a'", "overflows"});
  // 2^62 F32 values: the element count fits, the byte count does not.
  spec.tensors[0].ne = {uint64_t{1} << 31, uint64_t{1} << 31};
  expect_error(build(spec), Status::Code::kCorruption, {"tensor 'a'", "overflows"});
  // One row of 2^62 + 1 F32 values: its byte count wrapped to 4, so the view claimed 2^62
  // elements over 4 bytes (found by gguf_fuzz).
  spec.tensors[0].ne = {(uint64_t{1} << 62) + 1};
  expect_error(build(spec), Status::Code::kCorruption, {"tensor 'a'", "overflows"});
}

TEST(GgufHostile, RowNotAMultipleOfTheBlock) {
  FileSpec spec;
  spec.tensors[1].ne = {33, 2};
  expect_error(build(spec), Status::Code::kCorruption,
               {"tensor 'b' (Q8_0 [33, 2])", "row length 33", "block size 32"});
}

TEST(GgufHostile, MisalignedOffset) {
  FileSpec spec;
  spec.tensors[1].offset = 65;
  spec.data_bytes = 65 + 68;
  expect_error(build(spec), Status::Code::kCorruption,
               {"tensor 'b' (Q8_0 [32, 2])", "offset 65", "alignment 32"});
}

TEST(GgufHostile, TensorPastTheEnd) {
  FileSpec spec;
  spec.data_bytes = 131;  // b needs 132
  const std::vector<uint8_t> bytes = build(spec);
  expect_error(bytes, Status::Code::kCorruption,
               {"tensor 'b' (Q8_0 [32, 2]) ends at byte " + std::to_string(bytes.size() + 1),
                "the file has " + std::to_string(bytes.size()) + " bytes"});
  spec.tensors[1].offset = UINT64_MAX - 31;  // aligned, and wraps around when added
  expect_error(build(spec), Status::Code::kCorruption, {"tensor 'b'", "ends at byte"});
  // Not even the data section fits: the header ends mid-alignment at the end of the file.
  spec = FileSpec();
  spec.kvs.push_back(kv_string("pad", "x"));
  spec.alignment = 1;
  spec.data_bytes = 0;
  if (build(spec).size() % 32 == 0) spec.kvs.back() = kv_string("pad", "xy");
  ASSERT_NE(build(spec).size() % 32, 0u);
  expect_error(build(spec), Status::Code::kCorruption, {"data section starts at byte"});
}

TEST(GgufHostile, OverlappingTensors) {
  FileSpec spec;
  spec.tensors[1].offset = 32;  // a covers bytes 0..64
  expect_error(build(spec), Status::Code::kCorruption, {"'a'", "'b'", "overlap"});
  // Listed in the other order, still found.
  spec.tensors = {{"b", {32, 2}, 8, 64}, {"a", {8, 2}, 0, 96}};
  spec.data_bytes = 160;
  expect_error(build(spec), Status::Code::kCorruption, {"'b'", "'a'", "overlap"});
}

TEST(GgufHostile, DuplicateTensorName) {
  FileSpec spec;
  spec.tensors[1] = TensorSpec{"a", {32, 2}, 8, 64};
  expect_error(build(spec), Status::Code::kCorruption, {"tensor 'a'", "same name"});
}

TEST(GgufHostile, TruncatedInsideAValueSaysWhere) {
  FileSpec spec;
  spec.tensors.clear();  // so that the header's count check passes on the cut file
  std::vector<uint8_t> bytes = build(spec);
  // Cut inside the second key-value pair's value (the u32 of general.alignment).
  const std::vector<uint8_t> kv = kv_u32("general.alignment", 32);
  auto it = std::search(bytes.begin(), bytes.end(), kv.begin(), kv.end());
  ASSERT_NE(it, bytes.end());
  bytes.resize(static_cast<size_t>(it - bytes.begin()) + kv.size() - 2);
  expect_error(bytes, Status::Code::kCorruption,
               {"truncated", "metadata key 'general.alignment'", "the value"});
}

}  // namespace
}  // namespace ragkit::embed
