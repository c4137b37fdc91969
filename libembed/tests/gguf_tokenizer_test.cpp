// load_gguf_tokenizer on small GGUF files written here: which model types load into which
// tokenizer with which defaults, and that every kind of contradictory metadata is a clear
// corruption (or not_supported) status instead of a crash.
#include "tokenizer/gguf_tokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ragkit/embed/gguf_writer.h"
#include "test_env.h"

namespace ragkit::embed {
namespace {

using Ids = std::vector<TokenId>;

GgufValue strings(std::vector<std::string> values) {
  GgufValue v;
  v.type = GgufType::kArray;
  v.array_type = GgufType::kString;
  v.strings = std::move(values);
  return v;
}

GgufValue numbers(GgufType type, const std::vector<double>& values) {
  GgufValue v;
  v.type = GgufType::kArray;
  v.array_type = type;
  for (double x : values) {
    GgufValue e;
    e.type = type;
    e.i = static_cast<int64_t>(x);
    e.u = static_cast<uint64_t>(static_cast<int64_t>(x));
    e.f = x;
    v.array.push_back(e);
  }
  return v;
}

GgufValue scalar_int(int64_t x) {
  GgufValue v;
  v.type = GgufType::kInt32;
  v.i = x;
  return v;
}

GgufValue scalar_bool(bool b) {
  GgufValue v;
  v.type = GgufType::kBool;
  v.u = b ? 1 : 0;
  return v;
}

// A SentencePiece vocabulary: <unk> <s> </s> ▁ a b ▁a ab.
GgufWriter spm_writer() {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("tokenizer.ggml.model", "llama");
  w.set("tokenizer.ggml.tokens", strings({"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b",
                                          "\xE2\x96\x81"
                                          "a",
                                          "ab"}));
  w.set("tokenizer.ggml.scores", numbers(GgufType::kFloat32, {0, 0, 0, -5, -5, -5, -1, -2}));
  w.set("tokenizer.ggml.token_type", numbers(GgufType::kInt32, {2, 3, 3, 1, 1, 1, 1, 1}));
  return w;
}

// A byte-level vocabulary: the 256 byte characters are not all needed; "a", "b", "ab", "Ġ".
GgufWriter bpe_writer() {
  GgufWriter w;
  w.set_string("general.architecture", "gpt2");
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "gpt-2");
  w.set("tokenizer.ggml.tokens", strings({"a", "b", "ab", "\xC4\xA0", "<|endoftext|>"}));
  w.set("tokenizer.ggml.token_type", numbers(GgufType::kInt32, {1, 1, 1, 1, 3}));
  w.set("tokenizer.ggml.merges", strings({"a b"}));
  return w;
}

Result<std::unique_ptr<Tokenizer>> load(const GgufWriter& w) {
  static int counter = 0;
  const std::string dir = ragkit::testing::make_temp_dir("gguf_tokenizer");
  const std::string path = dir + "/v" + std::to_string(counter++) + ".gguf";
  RAGKIT_RETURN_IF_ERROR(w.write(path));
  RAGKIT_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::open(path));
  return load_gguf_tokenizer(*file);
}

void expect_error(const GgufWriter& w, Status::Code code, const std::string& needle) {
  auto result = load(w);
  ASSERT_FALSE(result.ok()) << "expected an error mentioning '" << needle << "'";
  EXPECT_EQ(result.status().code(), code) << result.status().to_string();
  EXPECT_NE(result.status().message().find(needle), std::string::npos)
      << result.status().to_string();
}

TEST(GgufTokenizer, SentencePieceWithLlamaCppDefaults) {
  auto t = load(spm_writer());
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_STREQ((*t)->kind(), "spm");
  EXPECT_EQ((*t)->bos_id(), 1);  // defaults: BOS 1, EOS 2, BOS added
  EXPECT_EQ((*t)->eos_id(), 2);
  // "▁ab▁a": "▁a" (-1) outscores "ab" (-2), and "▁ab" is no piece.
  EXPECT_EQ((*t)->tokenize("ab a"), (Ids{6, 5, 6}));
  EXPECT_EQ((*t)->encode("a"), (Ids{1, 6}));
  EXPECT_EQ((*t)->decode((*t)->tokenize("ab a")), "ab a");

  GgufWriter w = spm_writer();
  w.set("tokenizer.ggml.add_space_prefix", scalar_bool(false));
  w.set("tokenizer.ggml.add_bos_token", scalar_bool(false));
  w.set("tokenizer.ggml.add_eos_token", scalar_bool(true));
  t = load(w);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ((*t)->tokenize("ab a"), (Ids{7, 6}));
  EXPECT_EQ((*t)->encode("a"), (Ids{4, 2}));
}

TEST(GgufTokenizer, BytelevelBpe) {
  auto t = load(bpe_writer());
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_STREQ((*t)->kind(), "bpe");
  EXPECT_EQ((*t)->tokenize("ab"), Ids{2});
  EXPECT_EQ((*t)->encode("ab"), Ids{2});  // BPE adds no BOS by default
  EXPECT_EQ((*t)->bos_id(), std::nullopt);
  EXPECT_TRUE((*t)->is_end_of_generation(4));  // <|endoftext|>

  GgufWriter w = bpe_writer();
  w.set_string("tokenizer.ggml.pre", "llama-bpe");  // Llama 3 adds BOS
  w.set("tokenizer.ggml.bos_token_id", scalar_int(3));
  t = load(w);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ((*t)->encode("ab"), (Ids{3, 2}));
}

TEST(GgufTokenizer, UnknownModelsAndPreTokenizersAreNotSupported) {
  GgufWriter w = spm_writer();
  w.set_string("tokenizer.ggml.model", "rwkv");
  expect_error(w, Status::Code::kNotSupported, "bert, llama, gpt2");
  w = bpe_writer();
  w.set_string("tokenizer.ggml.pre", "made-up");
  expect_error(w, Status::Code::kNotSupported, "made-up");
  GgufWriter none;
  none.set_string("general.architecture", "llama");
  expect_error(none, Status::Code::kNotFound, "tokenizer.ggml.model");
}

TEST(GgufTokenizer, ContradictoryMetadataIsCorruption) {
  GgufWriter w = spm_writer();
  w.set("tokenizer.ggml.scores", numbers(GgufType::kFloat32, {0, 0, 0}));
  expect_error(w, Status::Code::kCorruption, "tokenizer.ggml.scores");

  w = spm_writer();
  w.set("tokenizer.ggml.token_type", numbers(GgufType::kInt32, {2, 3, 3, 1}));
  expect_error(w, Status::Code::kCorruption, "tokenizer.ggml.token_type");

  w = spm_writer();
  w.set("tokenizer.ggml.token_type", numbers(GgufType::kInt32, {2, 3, 3, 1, 1, 1, 1, 9}));
  expect_error(w, Status::Code::kCorruption, "type 9");

  w = spm_writer();
  w.set("tokenizer.ggml.eos_token_id", scalar_int(8));
  expect_error(w, Status::Code::kCorruption, "eos_token_id");

  w = spm_writer();
  w.set("tokenizer.ggml.bos_token_id", scalar_int(-1));
  expect_error(w, Status::Code::kCorruption, "bos_token_id");

  w = spm_writer();
  w.set_string("tokenizer.ggml.tokens", "not an array");
  expect_error(w, Status::Code::kCorruption, "tokenizer.ggml.tokens");

  w = spm_writer();
  w.set("tokenizer.ggml.tokens", strings({}));
  expect_error(w, Status::Code::kCorruption, "tokenizer.ggml.tokens");

  w = spm_writer();
  w.set("tokenizer.ggml.token_type", numbers(GgufType::kInt32, {2, 3, 3, 1, 6, 1, 1, 1}));
  expect_error(w, Status::Code::kCorruption, "<0xXX>");  // "a" typed as a byte token

  GgufWriter b = bpe_writer();
  b.set("tokenizer.ggml.merges", strings({"ab"}));
  expect_error(b, Status::Code::kCorruption, "merges[0]");

  b = bpe_writer();
  b.set("tokenizer.ggml.add_bos_token", scalar_bool(true));  // and no BOS id
  expect_error(b, Status::Code::kCorruption, "BOS");

  GgufWriter no_merges;
  no_merges.set_string("tokenizer.ggml.model", "gpt2");
  no_merges.set("tokenizer.ggml.tokens", strings({"a"}));
  expect_error(no_merges, Status::Code::kCorruption, "merges");
}

}  // namespace
}  // namespace ragkit::embed
