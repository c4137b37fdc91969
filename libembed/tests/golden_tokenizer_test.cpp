// The generator tokenizers against llama.cpp (c392e5094): every test string of every shared
// ggml-vocab-*.gguf, through load_gguf_tokenizer, must give llama.cpp's ids exactly; decoding
// them must give the string back; and the generator goldens' prompts and greedy continuations
// must tokenize and decode as llama.cpp did. Also prints tokenize() throughput on SciFact.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ragkit/embed/token_text_stream.h"
#include "tokenizer_test_support.h"

namespace ragkit::embed {
namespace {

using Ids = std::vector<TokenId>;
using test_support::GoldenCase;
using test_support::printable;

struct VocabCase {
  const char* name;
  const char* kind;
};

class GoldenVocab : public ::testing::TestWithParam<VocabCase> {};

TEST_P(GoldenVocab, EveryStringGivesLlamaCppIds) {
  const VocabCase& vocab = GetParam();
  const auto tokenizer = test_support::vocab_tokenizer(vocab.name);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_STREQ(tokenizer->kind(), vocab.kind);
  const std::vector<GoldenCase> cases = test_support::load_golden(
      ragkit::testing::tokenizers_dir() + "/ggml-vocab-" + vocab.name + ".gguf");
  ASSERT_EQ(cases.size(), 46u);
  size_t passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Ids ids = tokenizer->tokenize(cases[i].text);
    EXPECT_EQ(ids, cases[i].ids) << vocab.name << ", string " << i << ": \""
                                 << printable(cases[i].text) << "\"";
    passed += ids == cases[i].ids;
  }
  std::printf("[ golden   ] %s: %zu/%zu strings match llama.cpp\n", vocab.name, passed,
              cases.size());
}

TEST_P(GoldenVocab, DecodeGivesTheStringBack) {
  const VocabCase& vocab = GetParam();
  const auto tokenizer = test_support::vocab_tokenizer(vocab.name);
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<GoldenCase> cases = test_support::load_golden(
      ragkit::testing::tokenizers_dir() + "/ggml-vocab-" + vocab.name + ".gguf");
  for (size_t i = 0; i < cases.size(); ++i) {
    // llama.cpp's own ids, not ours: decoding is checked on its own.
    EXPECT_EQ(tokenizer->decode(cases[i].ids), cases[i].text)
        << vocab.name << ", string " << i << ": \"" << printable(cases[i].text) << "\"";
  }
}

INSTANTIATE_TEST_SUITE_P(LlamaCpp, GoldenVocab,
                         ::testing::Values(VocabCase{"llama-spm", "spm"}, VocabCase{"phi-3", "spm"},
                                           VocabCase{"gpt-2", "bpe"}, VocabCase{"falcon", "bpe"},
                                           VocabCase{"starcoder", "bpe"}, VocabCase{"mpt", "bpe"},
                                           VocabCase{"refact", "bpe"},
                                           VocabCase{"deepseek-llm", "bpe"},
                                           VocabCase{"deepseek-coder", "bpe"}),
                         [](const auto& info) {
                           std::string name = info.param.name;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST(GoldenVocab, BertThroughTheGgufFactory) {
  const auto tokenizer = test_support::vocab_tokenizer("bert-bge");
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_STREQ(tokenizer->kind(), "wordpiece");
  const std::vector<GoldenCase> cases =
      test_support::load_golden(ragkit::testing::tokenizers_dir() + "/ggml-vocab-bert-bge.gguf");
  ASSERT_EQ(cases.size(), 46u);
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(tokenizer->tokenize(cases[i].text), cases[i].ids) << "string " << i;
  }
}

// ---------------------------------------------------------------------------------------------
// The generator goldens: llama_tokenize(add_special, parse_special) of each prompt, and each
// greedy continuation's bytes (llama_token_to_piece(special = true) concatenated).

std::string hex_of(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

TEST(GoldenGenerate, PromptsAndContinuations) {
  namespace fs = std::filesystem;
  const std::string golden = ragkit::testing::golden_dir();
  const std::string models = ragkit::testing::models_dir();
  ASSERT_FALSE(golden.empty());
  ASSERT_FALSE(models.empty());
  size_t n_files = 0, n_prompts = 0;
  for (const auto& entry : fs::directory_iterator(golden)) {
    const std::string file = entry.path().filename().string();
    if (!file.ends_with(".generate.json")) continue;
    auto text = read_file(entry.path().string());
    ASSERT_TRUE(text.ok()) << text.status().to_string();
    const nlohmann::json doc = nlohmann::json::parse(*text);
    const std::string model_file = doc.at("model_file").get<std::string>();
    const std::string model_path = doc.at("model_location") == "this folder"
                                       ? golden + "/" + model_file
                                       : models + "/stories260K/" + model_file;
    const auto tokenizer = test_support::load_gguf_file_tokenizer(model_path);
    ASSERT_NE(tokenizer, nullptr) << model_path;
    EXPECT_EQ(tokenizer->bos_id(), 1);
    EXPECT_EQ(tokenizer->eos_id(), 2);
    EXPECT_TRUE(tokenizer->is_end_of_generation(2));
    EXPECT_FALSE(tokenizer->is_end_of_generation(1));
    ++n_files;
    for (const nlohmann::json& c : doc.at("cases")) {
      const std::string prompt = c.at("prompt").get<std::string>();
      const Ids expected = c.at("prompt_tokens").get<Ids>();
      EXPECT_EQ(tokenizer->encode_prompt(prompt), expected) << file << ": " << prompt;
      EXPECT_EQ(tokenizer->encode(prompt), expected) << file << ": " << prompt;
      // As llama_detokenize: the prefix space goes only when the first token is text, so
      // after BOS it stays.
      EXPECT_EQ(tokenizer->decode(expected), " " + prompt) << file;
      EXPECT_EQ(tokenizer->decode(tokenizer->tokenize(prompt)), prompt) << file;
      ++n_prompts;

      // The continuation, with control tokens spelled out as llama.cpp printed them, byte-exact,
      // and through the streaming decoder as text (U+FFFD for what is not UTF-8).
      const Ids greedy = c.at("greedy_tokens").get<Ids>();
      std::string bytes, streamed;
      TokenTextStream stream(*tokenizer);
      for (TokenId id : greedy) {
        const std::string_view piece =
            tokenizer->is_control(id) ? tokenizer->token_text(id) : tokenizer->token_piece(id);
        bytes += piece;
        stream.push_bytes(piece, streamed);
      }
      stream.finish(streamed);
      EXPECT_EQ(hex_of(bytes), c.at("greedy_text_hex").get<std::string>()) << file;
      EXPECT_EQ(streamed, c.at("greedy_text").get<std::string>()) << file;
    }
  }
  EXPECT_GE(n_files, 12u);
  std::printf("[ golden   ] %zu generator goldens, %zu prompts tokenized as llama.cpp did\n",
              n_files, n_prompts);
}

// ---------------------------------------------------------------------------------------------
// Throughput, printed (not asserted): tokenize() over SciFact's abstracts.

void print_throughput(const char* name) {
  const std::vector<std::string> texts = test_support::scifact_abstracts();
  ASSERT_GT(texts.size(), 5000u);
  const auto tokenizer = test_support::vocab_tokenizer(name);
  ASSERT_NE(tokenizer, nullptr);
  size_t bytes = 0;
  for (const std::string& t : texts) bytes += t.size();
  size_t tokens = 0;
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = test_support::thread_cpu_seconds();
  for (const std::string& text : texts) tokens += tokenizer->tokenize(text).size();
  const double cpu = test_support::thread_cpu_seconds() - cpu_start;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "[ speed    ] %s tokenize(): %zu texts, %.1f MB, %zu tokens: %.1f MB/s of CPU time "
      "(%.3f s), %.1f MB/s wall (%.3f s), one thread\n",
      name, texts.size(), bytes / 1e6, tokens, bytes / 1e6 / cpu, cpu, bytes / 1e6 / wall, wall);
  EXPECT_GT(tokens, bytes / 8);
}

TEST(GoldenThroughput, Gpt2SciFact) { print_throughput("gpt-2"); }
TEST(GoldenThroughput, LlamaSpmSciFact) { print_throughput("llama-spm"); }
TEST(GoldenThroughput, DeepseekLlmSciFact) { print_throughput("deepseek-llm"); }

}  // namespace
}  // namespace ragkit::embed
