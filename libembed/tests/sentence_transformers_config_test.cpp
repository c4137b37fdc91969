// read_sentence_transformers_config: the real all-MiniLM-L6-v2 configs from the shared models
// directory, hand-written variants (CLS, last token, no modules.json) and malformed files.
#include "ragkit/embed/sentence_transformers_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_env.h"

namespace ragkit::embed {
namespace {

namespace fs = std::filesystem;

void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

constexpr const char* kModulesWithPooling = R"([
  {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
  {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
])";

std::string pooling_config(bool cls, bool mean, bool max, bool last) {
  return std::string("{\"word_embedding_dimension\": 8") +
         ", \"pooling_mode_cls_token\": " + (cls ? "true" : "false") +
         ", \"pooling_mode_mean_tokens\": " + (mean ? "true" : "false") +
         ", \"pooling_mode_max_tokens\": " + (max ? "true" : "false") +
         ", \"pooling_mode_mean_sqrt_len_tokens\": false" +
         ", \"pooling_mode_lasttoken\": " + (last ? "true" : "false") + "}";
}

void expect_error(const Result<SentenceTransformersConfig>& r, Status::Code code,
                  const std::string& file, const char* problem) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  EXPECT_NE(r.status().message().find(file), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(problem), std::string::npos) << r.status().message();
}

TEST(SentenceTransformersConfigTest, AllMiniLmL6V2) {
  const std::string models = testing::models_dir();
  ASSERT_FALSE(models.empty());
  auto r = read_sentence_transformers_config(models + "/all-MiniLM-L6-v2");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->present);
  EXPECT_EQ(r->pooling, "mean");
  EXPECT_TRUE(r->normalize);
  EXPECT_EQ(r->max_seq_length, 256u);
  EXPECT_EQ(r->do_lower_case, false);
  EXPECT_TRUE(r->unsupported_modules.empty());
}

TEST(SentenceTransformersConfigTest, ClsPoolingWithoutNormalize) {
  const std::string dir = testing::make_temp_dir("ragkit-stc");
  write_text(dir + "/modules.json", kModulesWithPooling);
  write_text(dir + "/1_Pooling/config.json", pooling_config(true, false, false, false));
  auto r = read_sentence_transformers_config(dir);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->present);
  EXPECT_EQ(r->pooling, "cls");
  EXPECT_FALSE(r->normalize);
  EXPECT_FALSE(r->max_seq_length.has_value());
  EXPECT_FALSE(r->do_lower_case.has_value());
}

TEST(SentenceTransformersConfigTest, LastTokenPoolingAndLowerCase) {
  const std::string dir = testing::make_temp_dir("ragkit-stc");
  write_text(dir + "/modules.json", kModulesWithPooling);
  write_text(dir + "/1_Pooling/config.json", pooling_config(false, false, false, true));
  write_text(dir + "/sentence_bert_config.json",
             R"({"max_seq_length": 512, "do_lower_case": true})");
  auto r = read_sentence_transformers_config(dir);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->pooling, "last");
  EXPECT_EQ(r->max_seq_length, 512u);
  EXPECT_EQ(r->do_lower_case, true);
}

TEST(SentenceTransformersConfigTest, NoModulesJsonIsNotAnError) {
  const std::string dir = testing::make_temp_dir("ragkit-stc");
  auto r = read_sentence_transformers_config(dir);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_FALSE(r->present);
  EXPECT_FALSE(r->pooling.has_value());
  EXPECT_FALSE(r->normalize);
  // sentence_bert_config.json still counts on its own.
  write_text(dir + "/sentence_bert_config.json", R"({"max_seq_length": 128})");
  r = read_sentence_transformers_config(dir);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_FALSE(r->present);
  EXPECT_EQ(r->max_seq_length, 128u);
}

TEST(SentenceTransformersConfigTest, UnimplementedModulesAreReported) {
  const std::string dir = testing::make_temp_dir("ragkit-stc");
  write_text(dir + "/modules.json", R"([
    {"path": "", "type": "sentence_transformers.models.Transformer"},
    {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    {"path": "3_Normalize", "type": "sentence_transformers.models.Normalize"}
  ])");
  write_text(dir + "/1_Pooling/config.json", pooling_config(false, true, false, false));
  auto r = read_sentence_transformers_config(dir);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->normalize);
  EXPECT_EQ(r->unsupported_modules, std::vector<std::string>{"sentence_transformers.models.Dense"});
}

TEST(SentenceTransformersConfigTest, MalformedModulesJson) {
  const std::string dir = testing::make_temp_dir("ragkit-stc");
  write_text(dir + "/modules.json", "[{\"type\": ");
  expect_error(read_sentence_transformers_config(dir), Status::Code::kCorruption, "modules.json",
               "not valid JSON");
  write_text(dir + "/modules.json", R"({"type": "x"})");
  expect_error(read_sentence_transformers_config(dir), Status::Code::kCorruption, "modules.json",
               "not a JSON array");
  write_text(dir + "/modules.json", R"([{"path": "1_Pooling"}])");
  expect_error(read_sentence_transformers_config(dir), Status::Code::kCorruption, "modules.json",
               "\"type\"");
  write_text(dir + "/modules.json",
             R"([{"path": "../1_Pooling", "type": "sentence_transformers.models.Pooling"}])");
  expect_error(read_sentence_transformers_config(dir), Status::Code::kCorruption, "modules.json",
               "leaves the model directory");
}

TEST(SentenceTransformersConfigTest, MalformedPoolingConfig) {
  const std::string dir = testing::make_temp_dir("ragkit-stc");
  write_text(dir + "/modules.json", kModulesWithPooling);
  write_text(dir + "/1_Pooling/config.json", "{\"pooling_mode_mean_tokens\": tru");
  expect_error(read_sentence_transformers_config(dir), Status::Code::kCorruption,
               "1_Pooling/config.json", "not valid JSON");
  write_text(dir + "/1_Pooling/config.json", R"({"pooling_mode_mean_tokens": "yes"})");
  expect_error(read_sentence_transformers_config(dir), Status::Code::kCorruption,
               "1_Pooling/config.json", "pooling_mode_mean_tokens");
  write_text(dir + "/1_Pooling/config.json", pooling_config(false, false, false, false));
  expect_error(read_sentence_transformers_config(dir), Status::Code::kCorruption,
               "1_Pooling/config.json", "no pooling mode");
  fs::remove(dir + "/1_Pooling/config.json");
  expect_error(read_sentence_transformers_config(dir), Status::Code::kNotFound,
               "1_Pooling/config.json", "no such file");
}

TEST(SentenceTransformersConfigTest, UnsupportedPoolingModes) {
  const std::string dir = testing::make_temp_dir("ragkit-stc");
  write_text(dir + "/modules.json", kModulesWithPooling);
  write_text(dir + "/1_Pooling/config.json", pooling_config(false, false, true, false));
  expect_error(read_sentence_transformers_config(dir), Status::Code::kNotSupported,
               "1_Pooling/config.json", "pooling_mode_max_tokens");
  write_text(dir + "/1_Pooling/config.json", R"({"pooling_mode_mean_sqrt_len_tokens": true})");
  expect_error(read_sentence_transformers_config(dir), Status::Code::kNotSupported,
               "1_Pooling/config.json", "pooling_mode_mean_sqrt_len_tokens");
  write_text(dir + "/1_Pooling/config.json", pooling_config(true, true, false, false));
  expect_error(read_sentence_transformers_config(dir), Status::Code::kNotSupported,
               "1_Pooling/config.json", "several pooling modes");
}

TEST(SentenceTransformersConfigTest, MalformedSentenceBertConfig) {
  const std::string dir = testing::make_temp_dir("ragkit-stc");
  write_text(dir + "/sentence_bert_config.json", "{\"max_seq_length\": 256,");
  expect_error(read_sentence_transformers_config(dir), Status::Code::kCorruption,
               "sentence_bert_config.json", "not valid JSON");
  write_text(dir + "/sentence_bert_config.json", R"({"max_seq_length": -5})");
  expect_error(read_sentence_transformers_config(dir), Status::Code::kCorruption,
               "sentence_bert_config.json", "max_seq_length");
  write_text(dir + "/sentence_bert_config.json", R"({"do_lower_case": "no"})");
  expect_error(read_sentence_transformers_config(dir), Status::Code::kCorruption,
               "sentence_bert_config.json", "do_lower_case");
}

}  // namespace
}  // namespace ragkit::embed
