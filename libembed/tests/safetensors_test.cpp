// Safetensors reader and writer: round trips through write_safetensors, a sharded model
// directory written by hand, and hostile files, each rejected with a Status naming the file and
// the problem.
#include "ragkit/embed/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_env.h"

namespace ragkit::embed {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> as_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<uint8_t> as_bytes(const std::vector<uint16_t>& v) {
  std::vector<uint8_t> b(v.size() * 2);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A safetensors file built by hand: the 8-byte length (the header's own unless overridden), the
// header text, then `data_bytes` bytes counting 0, 1, 2, ...
std::vector<uint8_t> make_file(const std::string& header, size_t data_bytes,
                               std::optional<uint64_t> header_len = std::nullopt) {
  uint64_t n = header_len.value_or(header.size());
  std::vector<uint8_t> b;
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(n >> (8 * i)));
  b.insert(b.end(), header.begin(), header.end());
  for (size_t i = 0; i < data_bytes; ++i) b.push_back(static_cast<uint8_t>(i));
  return b;
}

constexpr const char* kMemName = "mem.safetensors";

Result<std::unique_ptr<SafetensorsFile>> parse_bytes(const std::vector<uint8_t>& bytes) {
  return SafetensorsFile::parse(bytes, kMemName);
}

// Expects failure with `code` and a message naming the file and containing each of `parts`.
void expect_error(const Status& s, Status::Code code, const std::string& file,
                  std::initializer_list<const char*> parts) {
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), code) << s.to_string();
  EXPECT_NE(s.message().find(file), std::string::npos) << s.message();
  for (const char* p : parts) EXPECT_NE(s.message().find(p), std::string::npos) << s.message();
}

void expect_parse_error(const std::string& header, size_t data_bytes, Status::Code code,
                        std::initializer_list<const char*> parts) {
  auto r = parse_bytes(make_file(header, data_bytes));
  expect_error(r.status(), code, kMemName, parts);
}

struct Fixture {
  std::vector<float> a{1, 2, 3, 4, 5, 6};  // [2, 3] F32
  std::vector<uint16_t> b;                 // [4] F16
  std::vector<uint16_t> c;                 // [2, 2, 1, 2] BF16
  std::vector<float> scalar{42.5f};        // [] F32
  std::vector<uint8_t> a_bytes, b_bytes, c_bytes, scalar_bytes;

  Fixture() {
    for (float f : {0.5f, -1.0f, 65504.0f, 0.0f}) b.push_back(fp32_to_fp16(f));
    for (int i = 0; i < 8; ++i) c.push_back(fp32_to_bf16(static_cast<float>(i) - 3.5f));
    a_bytes = as_bytes(a);
    b_bytes = as_bytes(b);
    c_bytes = as_bytes(c);
    scalar_bytes = as_bytes(scalar);
  }

  std::vector<SafetensorsWriteTensor> tensors() const {
    return {
        {"a", DType::kF32, {2, 3}, a_bytes},        {"b", DType::kF16, {4}, b_bytes},
        {"c", DType::kBF16, {2, 2, 1, 2}, c_bytes}, {"scalar", DType::kF32, {}, scalar_bytes},
        {"empty", DType::kF32, {0, 5}, {}},
    };
  }
};

TEST(SafetensorsTest, RoundTripF32F16BF16WithMetadata) {
  const std::string dir = testing::make_temp_dir("ragkit-st");
  const std::string path = dir + "/round.safetensors";
  Fixture fx;
  ASSERT_TRUE(write_safetensors(path, fx.tensors(), {{"format", "pt"}, {"note", "héllo"}}).ok());
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  // The header is padded so the data section starts 8-byte aligned.
  std::vector<uint8_t> raw = read_bytes(path);
  ASSERT_GE(raw.size(), 8u);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | raw[i];
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_EQ(raw.size(), 8 + header_len + 24 + 8 + 16 + 4);

  auto file = SafetensorsFile::open(path);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  const SafetensorsFile& f = **file;
  EXPECT_EQ(f.name(), path);
  EXPECT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("note"), "héllo");
  ASSERT_EQ(f.tensors().size(), 5u);
  EXPECT_EQ(f.find("__metadata__"), nullptr);
  EXPECT_EQ(f.find("missing"), nullptr);

  // Non-empty tensors come back in data order, i.e. the order they were written in.
  std::vector<std::string> order;
  for (const auto& t : f.tensors()) {
    if (t.begin != t.end) order.push_back(t.name);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c", "scalar"}));

  const SafetensorsTensorInfo* a = f.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->file_dtype, "F32");
  EXPECT_TRUE(a->is_float_weight);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  TensorView av = f.view(*a);
  EXPECT_EQ(av.name, "a");
  EXPECT_EQ(av.dtype, DType::kF32);
  EXPECT_EQ(av.n_dims, 2);
  EXPECT_EQ(av.ne, (std::array<int64_t, 4>{3, 2, 1, 1}));
  EXPECT_EQ(av.n_bytes, 24u);
  EXPECT_EQ(std::memcmp(av.data, fx.a.data(), 24), 0);
  std::vector<float> row(3);
  ASSERT_TRUE(dequantize_row(av.dtype, av.row(1), row.data(), 3).ok());
  EXPECT_EQ(row, (std::vector<float>{4, 5, 6}));

  const SafetensorsTensorInfo* b = f.find("b");
  ASSERT_NE(b, nullptr);
  TensorView bv = f.view(*b);
  EXPECT_EQ(bv.dtype, DType::kF16);
  EXPECT_EQ(bv.n_dims, 1);
  EXPECT_EQ(bv.ne, (std::array<int64_t, 4>{4, 1, 1, 1}));
  std::vector<float> bf(4);
  ASSERT_TRUE(dequantize_row(bv.dtype, bv.data, bf.data(), 4).ok());
  EXPECT_EQ(bf, (std::vector<float>{0.5f, -1.0f, 65504.0f, 0.0f}));

  const SafetensorsTensorInfo* c = f.find("c");
  ASSERT_NE(c, nullptr);
  TensorView cv = f.view(*c);
  EXPECT_EQ(cv.dtype, DType::kBF16);
  EXPECT_EQ(cv.n_dims, 4);
  EXPECT_EQ(cv.ne, (std::array<int64_t, 4>{2, 1, 2, 2}));
  EXPECT_EQ(cv.n_elements(), 8);
  std::vector<float> cf(8);
  ASSERT_TRUE(dequantize_row(cv.dtype, cv.data, cf.data(), 8).ok());
  for (int i = 0; i < 8; ++i) EXPECT_EQ(cf[i], static_cast<float>(i) - 3.5f);

  const SafetensorsTensorInfo* s = f.find("scalar");
  ASSERT_NE(s, nullptr);
  TensorView sv = f.view(*s);
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(sv.n_dims, 1);
  EXPECT_EQ(sv.ne, (std::array<int64_t, 4>{1, 1, 1, 1}));
  float sval;
  std::memcpy(&sval, sv.data, 4);
  EXPECT_EQ(sval, 42.5f);

  const SafetensorsTensorInfo* e = f.find("empty");
  ASSERT_NE(e, nullptr);
  TensorView ev = f.view(*e);
  EXPECT_EQ(ev.ne, (std::array<int64_t, 4>{5, 0, 1, 1}));
  EXPECT_EQ(ev.n_bytes, 0u);
  EXPECT_EQ(ev.n_elements(), 0);
}

TEST(SafetensorsTest, RoundTripWithoutMetadataOrTensors) {
  const std::string dir = testing::make_temp_dir("ragkit-st");
  ASSERT_TRUE(write_safetensors(dir + "/empty.safetensors", {}).ok());
  auto file = SafetensorsFile::open(dir + "/empty.safetensors");
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  EXPECT_TRUE((*file)->tensors().empty());
  EXPECT_TRUE((*file)->metadata().empty());
}

TEST(SafetensorsTest, NonFloatDtypesAreListedButMarked) {
  // I64 position ids, a U8 mask and a BOOL flag: the file opens, the loader can tell them apart.
  auto r = parse_bytes(make_file(R"({"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
                                 R"("mask":{"dtype":"U8","shape":[3],"data_offsets":[16,19]},)"
                                 R"("flag":{"dtype":"BOOL","shape":[],"data_offsets":[19,20]},)"
                                 R"("d":{"dtype":"F64","shape":[1],"data_offsets":[24,32]},)"
                                 R"("i":{"dtype":"I32","shape":[1],"data_offsets":[32,36]},)"
                                 R"("h":{"dtype":"I16","shape":[1],"data_offsets":[36,38]},)"
                                 R"("q":{"dtype":"I8","shape":[1],"data_offsets":[38,39]}})",
                                 39));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const SafetensorsFile& f = **r;
  struct Want {
    const char* name;
    DType dtype;
    const char* file_dtype;
  };
  for (const Want& w : {Want{"ids", DType::kI64, "I64"}, Want{"mask", DType::kI8, "U8"},
                        Want{"flag", DType::kI8, "BOOL"}, Want{"d", DType::kF64, "F64"},
                        Want{"i", DType::kI32, "I32"}, Want{"h", DType::kI16, "I16"},
                        Want{"q", DType::kI8, "I8"}}) {
    const SafetensorsTensorInfo* t = f.find(w.name);
    ASSERT_NE(t, nullptr) << w.name;
    EXPECT_FALSE(t->is_float_weight) << w.name;
    EXPECT_EQ(t->file_dtype, w.file_dtype);
    EXPECT_EQ(f.view(*t).dtype, w.dtype) << w.name;
    EXPECT_FALSE(can_dequantize(f.view(*t).dtype)) << w.name;
  }
}

TEST(SafetensorsTest, OpenDirSingleFile) {
  const std::string dir = testing::make_temp_dir("ragkit-st");
  Fixture fx;
  ASSERT_TRUE(write_safetensors(dir + "/model.safetensors", fx.tensors()).ok());
  auto model = SafetensorsModel::open_dir(dir);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_EQ((*model)->tensor_names(), (std::vector<std::string>{"a", "b", "c", "empty", "scalar"}));
  auto a = (*model)->find("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(std::memcmp(a->data, fx.a.data(), 24), 0);
  auto missing = (*model)->find("nope");
  expect_error(missing.status(), Status::Code::kNotFound, dir, {"'nope'"});
}

TEST(SafetensorsTest, OpenDirSharded) {
  const std::string dir = testing::make_temp_dir("ragkit-st");
  Fixture fx;
  std::vector<SafetensorsWriteTensor> all = fx.tensors();
  ASSERT_TRUE(write_safetensors(dir + "/model-00001-of-00002.safetensors", {all[0], all[1]}).ok());
  ASSERT_TRUE(
      write_safetensors(dir + "/model-00002-of-00002.safetensors", {all[2], all[3], all[4]}).ok());
  write_text(dir + "/model.safetensors.index.json", R"({
    "metadata": {"total_size": 52},
    "weight_map": {
      "a": "model-00001-of-00002.safetensors",
      "b": "model-00001-of-00002.safetensors",
      "c": "model-00002-of-00002.safetensors",
      "scalar": "model-00002-of-00002.safetensors",
      "empty": "model-00002-of-00002.safetensors"
    }
  })");
  auto model = SafetensorsModel::open_dir(dir);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const SafetensorsModel& m = **model;
  EXPECT_EQ(m.tensor_names(), (std::vector<std::string>{"a", "b", "c", "empty", "scalar"}));
  for (const auto& t : all) {
    EXPECT_TRUE(m.contains(t.name)) << t.name;
    auto v = m.find(t.name);
    ASSERT_TRUE(v.ok()) << v.status().to_string();
    EXPECT_EQ(v->name, t.name);
    EXPECT_EQ(v->dtype, t.dtype);
    ASSERT_EQ(v->n_bytes, t.data.size());
    if (!t.data.empty()) {
      EXPECT_EQ(std::memcmp(v->data, t.data.data(), t.data.size()), 0) << t.name;
    }
  }
  EXPECT_FALSE(m.contains("d"));
}

TEST(SafetensorsTest, OpenDirWithoutWeights) {
  const std::string dir = testing::make_temp_dir("ragkit-st");
  auto model = SafetensorsModel::open_dir(dir);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(model.status().message(),
            dir + ": no model.safetensors or model.safetensors.index.json");
}

TEST(SafetensorsTest, ShardNameOutsideTheDirectory) {
  const std::string dir = testing::make_temp_dir("ragkit-st");
  write_text(dir + "/model.safetensors.index.json",
             R"({"weight_map": {"a": "../elsewhere.safetensors"}})");
  auto model = SafetensorsModel::open_dir(dir);
  expect_error(model.status(), Status::Code::kCorruption, "model.safetensors.index.json",
               {"'../elsewhere.safetensors'", "not a plain file name"});
  write_text(dir + "/model.safetensors.index.json",
             R"({"weight_map": {"a": "sub/x.safetensors"}})");
  expect_error(SafetensorsModel::open_dir(dir).status(), Status::Code::kCorruption,
               "model.safetensors.index.json", {"'sub/x.safetensors'"});
}

TEST(SafetensorsTest, IndexListsTensorMissingFromShard) {
  const std::string dir = testing::make_temp_dir("ragkit-st");
  Fixture fx;
  ASSERT_TRUE(write_safetensors(dir + "/shard1.safetensors", {fx.tensors()[0]}).ok());
  write_text(dir + "/model.safetensors.index.json",
             R"({"weight_map": {"a": "shard1.safetensors", "ghost": "shard1.safetensors"}})");
  auto model = SafetensorsModel::open_dir(dir);
  expect_error(model.status(), Status::Code::kCorruption, "model.safetensors.index.json",
               {"'ghost'", "shard1.safetensors", "does not contain"});
}

TEST(SafetensorsTest, IndexShardMissingOrIndexMalformed) {
  const std::string dir = testing::make_temp_dir("ragkit-st");
  write_text(dir + "/model.safetensors.index.json",
             R"({"weight_map": {"a": "absent.safetensors"}})");
  expect_error(SafetensorsModel::open_dir(dir).status(), Status::Code::kNotFound,
               "absent.safetensors", {});
  write_text(dir + "/model.safetensors.index.json", R"({"weight_map": )");
  expect_error(SafetensorsModel::open_dir(dir).status(), Status::Code::kCorruption,
               "model.safetensors.index.json", {"not valid JSON"});
  write_text(dir + "/model.safetensors.index.json", R"({"metadata": {}})");
  expect_error(SafetensorsModel::open_dir(dir).status(), Status::Code::kCorruption,
               "model.safetensors.index.json", {"weight_map"});
  write_text(dir + "/model.safetensors.index.json", R"({"weight_map": {"a": 3}})");
  expect_error(SafetensorsModel::open_dir(dir).status(), Status::Code::kCorruption,
               "model.safetensors.index.json", {"'a'", "not a string"});
}

TEST(SafetensorsTest, TruncatedAtEveryPrefix) {
  const std::string dir = testing::make_temp_dir("ragkit-st");
  const std::string path = dir + "/full.safetensors";
  Fixture fx;
  ASSERT_TRUE(write_safetensors(path, fx.tensors(), {{"k", "v"}}).ok());
  const std::vector<uint8_t> full = read_bytes(path);
  ASSERT_TRUE(parse_bytes(full).ok());
  // The last tensor ends at the last byte, so every strict prefix must be rejected.
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    auto r = parse_bytes(prefix);
    ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(r.status().code(), Status::Code::kCorruption) << r.status().to_string();
    EXPECT_EQ(r.status().message().rfind(std::string(kMemName) + ": ", 0), 0u)
        << r.status().message();
  }
  // And through the file system, where the message names the path.
  for (size_t n : {size_t{0}, size_t{7}, size_t{8}, size_t{20}, full.size() - 1}) {
    const std::string cut = dir + "/cut.safetensors";
    write_bytes(cut,
                std::vector<uint8_t>(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n)));
    expect_error(SafetensorsFile::open(cut).status(), Status::Code::kCorruption, cut, {});
  }
}

TEST(SafetensorsTest, HeaderLengthPastTheFile) {
  auto r = parse_bytes(make_file("{}", 0, 1000));
  expect_error(r.status(), Status::Code::kCorruption, kMemName,
               {"header length 1000", "past the end of the file"});
  auto huge = parse_bytes(make_file("{}", 0, uint64_t{1} << 60));
  expect_error(huge.status(), Status::Code::kCorruption, kMemName, {"exceeds the limit"});
  auto max = parse_bytes(make_file("{}", 0, ~uint64_t{0}));
  expect_error(max.status(), Status::Code::kCorruption, kMemName, {"exceeds the limit"});
}

TEST(SafetensorsTest, HeaderNotJson) {
  expect_parse_error("{not json", 0, Status::Code::kCorruption, {"not valid JSON"});
  expect_parse_error("", 0, Status::Code::kCorruption, {"not valid JSON"});
  expect_parse_error(std::string("{\"a\xff\": 1}"), 0, Status::Code::kCorruption,
                     {"not valid JSON"});
}

TEST(SafetensorsTest, HeaderNotObject) {
  expect_parse_error("[1, 2]", 0, Status::Code::kCorruption, {"header is a JSON array"});
  expect_parse_error("7", 0, Status::Code::kCorruption, {"expected an object"});
  expect_parse_error(R"({"a": [1]})", 0, Status::Code::kCorruption, {"'a'", "not a JSON object"});
}

TEST(SafetensorsTest, WrongDtype) {
  expect_parse_error(R"({"a":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}})", 4,
                     Status::Code::kCorruption, {"'a'", "unknown dtype", "F7"});
  expect_parse_error(R"({"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", 4,
                     Status::Code::kCorruption, {"unknown dtype"});
  expect_parse_error(R"({"a":{"dtype":"U32","shape":[1],"data_offsets":[0,4]}})", 4,
                     Status::Code::kNotSupported, {"'a'", "U32"});
  expect_parse_error(R"({"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4,
                     Status::Code::kCorruption, {"'a'", "dtype"});
  expect_parse_error(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4, Status::Code::kCorruption,
                     {"'a'", "dtype"});
}

TEST(SafetensorsTest, ShapeOffsetSizeMismatch) {
  expect_parse_error(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 20,
                     Status::Code::kCorruption, {"'a'", "needs 24 bytes", "span 20"});
  expect_parse_error(R"({"a":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}})", 8,
                     Status::Code::kCorruption, {"'a'", "needs 6 bytes"});
}

TEST(SafetensorsTest, OverlappingTensors) {
  expect_parse_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                     R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                     12, Status::Code::kCorruption, {"'a'", "'b'", "overlap"});
  // Identical ranges are an overlap too (aliased tensors).
  expect_parse_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                     R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                     8, Status::Code::kCorruption, {"overlap"});
  // A tensor nested inside a longer one.
  expect_parse_error(R"({"big":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                     R"("in":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                     16, Status::Code::kCorruption, {"'big'", "'in'", "overlap"});
  // Empty tensors occupy no bytes, wherever they point.
  auto ok = parse_bytes(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                  R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                                  8));
  EXPECT_TRUE(ok.ok()) << ok.status().to_string();
}

TEST(SafetensorsTest, OffsetsPastTheEnd) {
  expect_parse_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4,
                     Status::Code::kCorruption, {"'a'", "data_offsets [0, 8)", "(4 bytes)"});
  expect_parse_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8,
                     Status::Code::kCorruption, {"'a'", "not within the data section"});
  expect_parse_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,)"
                     R"(18446744073709551615]}})",
                     8, Status::Code::kCorruption, {"'a'", "not within"});
  expect_parse_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 8,
                     Status::Code::kCorruption, {"'a'", "data_offsets"});
  expect_parse_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 8,
                     Status::Code::kCorruption, {"'a'", "non-negative"});
}

TEST(SafetensorsTest, BadShapes) {
  expect_parse_error(R"({"a":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]}})", 8,
                     Status::Code::kCorruption, {"'a'", "non-negative integer", "-1"});
  expect_parse_error(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4,
                     Status::Code::kCorruption, {"'a'", "non-negative integer"});
  expect_parse_error(R"({"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", 8,
                     Status::Code::kCorruption, {"'a'", "shape"});
  expect_parse_error(R"({"a":{"dtype":"F32","shape":[1,1,1,1,1],"data_offsets":[0,4]}})", 4,
                     Status::Code::kNotSupported, {"'a'", "at most 4"});
  // The element count overflows 64 bits; must not wrap around to a small byte count.
  expect_parse_error(
      R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})", 0,
      Status::Code::kCorruption, {"'a'", "overflows"});
  expect_parse_error(
      R"({"a":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})", 0,
      Status::Code::kCorruption, {"'a'", "overflows"});
}

TEST(SafetensorsTest, DeeplyNestedHeaderDoesNotOverflowTheStack) {
  // Found by the fuzzer: quoting a 30000-deep shape in the error message recursed once per level.
  const std::string deep = std::string(30000, '[') + std::string(30000, ']');
  expect_parse_error(R"({"a":{"dtype":"F32","shape":)" + deep + R"(,"data_offsets":[0,0]}})", 0,
                     Status::Code::kCorruption, {"'a'", "[[[[...]]]]"});
  expect_parse_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":)" + deep + "}}", 0,
                     Status::Code::kCorruption, {"'a'", "data_offsets"});
  expect_parse_error(deep, 0, Status::Code::kCorruption, {"header is a JSON array"});
}

TEST(SafetensorsTest, BadMetadata) {
  expect_parse_error(R"({"__metadata__":{"k":1}})", 0, Status::Code::kCorruption,
                     {"__metadata__", "'k'", "not a string"});
  expect_parse_error(R"({"__metadata__":"x"})", 0, Status::Code::kCorruption, {"__metadata__"});
}

TEST(SafetensorsTest, WriterRejectsInconsistentTensors) {
  const std::string dir = testing::make_temp_dir("ragkit-st");
  const std::string path = dir + "/w.safetensors";
  std::vector<uint8_t> eight(8);
  Status s = write_safetensors(path, {{"a", DType::kF32, {3}, eight}});
  expect_error(s, Status::Code::kInvalidArgument, path, {"'a'", "8 bytes"});
  s = write_safetensors(path, {{"a", DType::kF32, {2}, eight}, {"a", DType::kF32, {2}, eight}});
  expect_error(s, Status::Code::kInvalidArgument, path, {"'a'", "repeats"});
  s = write_safetensors(path, {{"a", DType::kQ8_0, {32}, eight}});
  expect_error(s, Status::Code::kInvalidArgument, path, {"Q8_0"});
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

}  // namespace
}  // namespace ragkit::embed
