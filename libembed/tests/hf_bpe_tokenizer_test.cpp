// load_hf_tokenizer on BPE tokenizer.json files written here (no network): the GPT-2, StarCoder
// and Llama vocabularies of the shared GGUF files rewritten as Hugging Face would store them
// (byte-level GPT-2; SmolLM2's Digits + ByteLevel; Llama 3's and Qwen2.5's Split + ByteLevel;
// TinyLlama's Prepend/Replace + byte_fallback with merges generated the way transformers'
// SentencePiece converter does) must give llama.cpp's golden ids; small hand-written files check
// added tokens, roles and what is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "ragkit/embed/bpe_tokenizer.h"
#include "ragkit/embed/hf_tokenizer.h"
#include "tokenizer_test_support.h"

namespace ragkit::embed {
namespace {

using json = nlohmann::json;
using Ids = std::vector<TokenId>;
using test_support::printable;

constexpr const char* kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct GgufVocab {
  std::vector<std::string> tokens;
  std::vector<int64_t> types;
  std::vector<float> scores;
  std::vector<std::string> merges;
};

GgufVocab read_gguf_vocab(const std::string& name) {
  GgufVocab v;
  auto file = GgufFile::open(ragkit::testing::tokenizers_dir() + "/ggml-vocab-" + name + ".gguf");
  if (!file.ok()) {
    ADD_FAILURE() << file.status().to_string();
    return v;
  }
  v.tokens = **(*file)->get_string_array("tokenizer.ggml.tokens");
  v.types = *(*file)->get_int_array("tokenizer.ggml.token_type");
  if (auto scores = (*file)->get_float_array("tokenizer.ggml.scores"); scores.ok())
    v.scores = *scores;
  if (auto merges = (*file)->get_string_array("tokenizer.ggml.merges"); merges.ok()) {
    v.merges = **merges;
  }
  return v;
}

// tokenizer.json's model and added_tokens for a GGUF vocabulary: control tokens become special
// added tokens, user-defined ones non-special added tokens.
json bpe_model(const GgufVocab& v, const std::vector<std::string>& merges) {
  json vocab = json::object();
  for (size_t i = 0; i < v.tokens.size(); ++i) vocab[v.tokens[i]] = i;
  return json{{"type", "BPE"},     {"dropout", nullptr},     {"unk_token", nullptr},
              {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab},
              {"merges", merges}};
}

json added_tokens(const GgufVocab& v) {
  json added = json::array();
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.types[i] != 3 && v.types[i] != 4) continue;
    added.push_back({{"id", i},
                     {"content", v.tokens[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", v.types[i] == 3}});
  }
  return added;
}

std::string write_dir(const json& tokenizer, const json* config) {
  static int counter = 0;
  const std::string dir = ragkit::testing::make_temp_dir("hf_bpe_" + std::to_string(counter++));
  std::ofstream(dir + "/tokenizer.json") << tokenizer.dump();
  if (config != nullptr) std::ofstream(dir + "/tokenizer_config.json") << config->dump();
  return dir;
}

std::unique_ptr<Tokenizer> load_dir(const std::string& dir) {
  auto t = load_hf_tokenizer(dir);
  if (!t.ok()) {
    ADD_FAILURE() << t.status().to_string();
    return nullptr;
  }
  return std::move(t).value();
}

// Every golden string of `vocab_name` through `t`; returns how many match.
size_t expect_golden(const Tokenizer& t, const std::string& vocab_name,
                     bool skip_leading_space = false) {
  const auto cases = test_support::load_golden(ragkit::testing::tokenizers_dir() + "/ggml-vocab-" +
                                               vocab_name + ".gguf");
  size_t passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    if (skip_leading_space && !cases[i].text.empty() && cases[i].text[0] == ' ') continue;
    const Ids ids = t.tokenize(cases[i].text);
    EXPECT_EQ(ids, cases[i].ids) << vocab_name << ", string " << i << ": \""
                                 << printable(cases[i].text) << "\"";
    passed += ids == cases[i].ids;
  }
  return passed;
}

TEST(HfBpeTokenizer, Gpt2ByteLevel) {
  const GgufVocab v = read_gguf_vocab("gpt-2");
  const json tokenizer = {{"version", "1.0"},
                          {"added_tokens", added_tokens(v)},
                          {"normalizer", nullptr},
                          {"pre_tokenizer",
                           {{"type", "ByteLevel"},
                            {"add_prefix_space", false},
                            {"trim_offsets", true},
                            {"use_regex", true}}},
                          {"post_processor", {{"type", "ByteLevel"}, {"trim_offsets", false}}},
                          {"decoder", {{"type", "ByteLevel"}}},
                          {"model", bpe_model(v, v.merges)}};
  const json config = {
      {"bos_token", "<|endoftext|>"}, {"eos_token", "<|endoftext|>"}, {"add_bos_token", false}};
  const auto t = load_dir(write_dir(tokenizer, &config));
  ASSERT_NE(t, nullptr);
  EXPECT_STREQ(t->kind(), "bpe");
  EXPECT_EQ(expect_golden(*t, "gpt-2"), 46u);
  EXPECT_EQ(t->bos_id(), 50256);
  EXPECT_EQ(t->eos_id(), 50256);
  EXPECT_EQ(t->n_special_tokens(), 0u);
  EXPECT_TRUE(t->is_end_of_generation(50256));
  EXPECT_EQ(t->tokenize_special("<|endoftext|>"), Ids{50256});
  EXPECT_NE(t->tokenize("<|endoftext|>"), Ids{50256});
  EXPECT_EQ(t->decode(t->tokenize("Hello, w\xC3\xB6rld!")), "Hello, w\xC3\xB6rld!");
}

TEST(HfBpeTokenizer, SmolLm2DigitsAndByteLevel) {
  const GgufVocab v = read_gguf_vocab("starcoder");
  const json tokenizer = {
      {"added_tokens", added_tokens(v)},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Digits"}, {"individual_digits", true}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}}}}},
      {"model", bpe_model(v, v.merges)}};
  const auto t = load_dir(write_dir(tokenizer, nullptr));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(expect_golden(*t, "starcoder"), 46u);
  EXPECT_EQ(t->bos_id(), std::nullopt);
}

json split_then_byte_level(const char* regex) {
  return {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"},
             {"pattern", {{"Regex", regex}}},
             {"behavior", "Isolated"},
             {"invert", false}},
            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
}

TEST(HfBpeTokenizer, Llama3AndQwen2SplitRegexes) {
  GgufVocab v = read_gguf_vocab("gpt-2");
  const std::vector<std::string> texts = {"Hello WORLD's 12345!!\n\n  x", "I'VE $x\t\n y",
                                          "caf\xC3\xA9 1\xD9\xA3 \xF0\x9F\x98\x81"};
  for (const auto& [regex, pre] : {std::pair{kLlama3Regex, PreTokenizer::kLlama3},
                                   std::pair{kQwen2Regex, PreTokenizer::kQwen2}}) {
    json model = bpe_model(v, v.merges);
    model["ignore_merges"] = pre == PreTokenizer::kLlama3;
    const json tokenizer = {
        {"added_tokens", added_tokens(v)},
        {"normalizer", pre == PreTokenizer::kQwen2 ? json{{"type", "NFC"}} : json()},
        {"pre_tokenizer", split_then_byte_level(regex)},
        {"post_processor",
         {{"type", "TemplateProcessing"},
          {"single",
           {{{"SpecialToken", {{"id", "<|endoftext|>"}, {"type_id", 0}}}},
            {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}}}},
        {"model", model}};
    const auto t = load_dir(write_dir(tokenizer, nullptr));
    ASSERT_NE(t, nullptr);
    // The same vocabulary through BpeTokenizer directly, with the rules named.
    Vocabulary direct;
    direct.tokens = v.tokens;
    direct.types.assign(v.tokens.size(), TokenType::kNormal);
    direct.types.back() = TokenType::kControl;
    for (const std::string& m : v.merges) {
      direct.merges.emplace_back(m.substr(0, m.find(' ', 1)), m.substr(m.find(' ', 1) + 1));
    }
    BpeOptions options;
    options.pre_tokenizer = pre;
    options.ignore_merges = pre == PreTokenizer::kLlama3;
    auto reference = BpeTokenizer::create(direct, options);
    ASSERT_TRUE(reference.ok()) << reference.status().to_string();
    for (const std::string& text : texts) {
      EXPECT_EQ(t->tokenize(text), (*reference)->tokenize(text)) << printable(text);
    }
    // The template's leading special token is BOS, added by encode().
    EXPECT_EQ(t->bos_id(), 50256);
    EXPECT_EQ(t->encode("x").front(), 50256);
    if (pre == PreTokenizer::kQwen2) {  // NFC: "e" + U+0301 is "é"
      EXPECT_EQ(t->tokenize("caf\x65\xCC\x81"), t->tokenize("caf\xC3\xA9"));
    }
  }
}

// merges for a SentencePiece vocabulary, generated the way transformers' SentencePiece
// converter does: every split of every piece into two pieces, ordered by the piece's score
// (stable: then by id, then by the halves' ids).
std::vector<std::string> sentencepiece_merges(const GgufVocab& v) {
  std::unordered_map<std::string, size_t> ids;
  for (size_t i = 0; i < v.tokens.size(); ++i) ids[v.tokens[i]] = i;
  struct Merge {
    float score;
    size_t left, right;
    std::string text;
  };
  std::vector<Merge> merges;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.types[i] != 1) continue;
    const std::string& piece = v.tokens[i];
    std::vector<Merge> local;
    for (size_t cut = 1; cut < piece.size(); ++cut) {
      if ((static_cast<unsigned char>(piece[cut]) & 0xC0) == 0x80) continue;
      auto l = ids.find(piece.substr(0, cut));
      auto r = ids.find(piece.substr(cut));
      if (l == ids.end() || r == ids.end()) continue;
      local.push_back({v.scores[i], l->second, r->second, l->first + " " + r->first});
    }
    std::sort(local.begin(), local.end(), [](const Merge& a, const Merge& b) {
      return std::pair(a.left, a.right) < std::pair(b.left, b.right);
    });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  std::stable_sort(merges.begin(), merges.end(),
                   [](const Merge& a, const Merge& b) { return a.score > b.score; });
  std::vector<std::string> out;
  for (const Merge& m : merges) out.push_back(m.text);
  return out;
}

TEST(HfBpeTokenizer, TinyLlamaSentencePieceWithByteFallback) {
  const GgufVocab v = read_gguf_vocab("llama-spm");
  json model = bpe_model(v, sentencepiece_merges(v));
  model["unk_token"] = "<unk>";
  model["byte_fallback"] = true;
  model["fuse_unk"] = true;
  json added = json::array();
  for (int id : {0, 1, 2}) {
    added.push_back(
        {{"id", id}, {"content", v.tokens[static_cast<size_t>(id)]}, {"special", true}});
  }
  json tokenizer = {
      {"added_tokens", added},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}}},
      {"pre_tokenizer", nullptr},
      {"model", model}};
  const json config = {{"add_bos_token", true},
                       {"add_eos_token", false},
                       {"bos_token", {{"__type", "AddedToken"}, {"content", "<s>"}}},
                       {"eos_token", "</s>"},
                       {"unk_token", "<unk>"}};
  auto t = load_dir(write_dir(tokenizer, &config));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(expect_golden(*t, "llama-spm"), 46u);
  EXPECT_EQ(t->encode("Hello"), (Ids{1, 15043}));
  EXPECT_TRUE(t->is_end_of_generation(2));
  EXPECT_EQ(t->decode(t->tokenize("  caf\xC3\xA9 \xF0\x9F\x98\x81")),
            "  caf\xC3\xA9 \xF0\x9F\x98\x81");
  EXPECT_EQ(t->tokenize_special("<s>Hi</s>"),
            test_support::vocab_tokenizer("llama-spm")->tokenize_special("<s>Hi</s>"));

  // The newer spelling: Metaspace(prepend_scheme "first"), no normalizer. It adds no "▁" to a
  // text that starts with a space, so only those strings differ from the legacy Prepend.
  tokenizer["normalizer"] = nullptr;
  tokenizer["pre_tokenizer"] = {{"type", "Metaspace"},
                                {"replacement", "\xE2\x96\x81"},
                                {"prepend_scheme", "first"},
                                {"split", false}};
  t = load_dir(write_dir(tokenizer, &config));
  ASSERT_NE(t, nullptr);
  EXPECT_GE(expect_golden(*t, "llama-spm", /*skip_leading_space=*/true), 30u);
  EXPECT_EQ(t->tokenize(" Hello"), Ids{15043});
}

// ---------------------------------------------------------------------------------------------
// Small hand-written files.

json tiny_tokenizer() {
  return {{"added_tokens",
           {{{"id", 4}, {"content", "<|im_end|>"}, {"special", true}, {"rstrip", true}},
            {{"id", 5}, {"content", "<tool>"}, {"special", false}, {"lstrip", true}}}},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"use_regex", true}}},
          {"model",
           {{"type", "BPE"},
            {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}, {"\xC4\xA0", 3}}},
            {"merges", json::array({json::array({"a", "b"})})}}}};
}

TEST(HfBpeTokenizer, AddedTokensAndTheirWhitespace) {
  const json config = {{"eos_token", "<|im_end|>"}};
  const auto t = load_dir(write_dir(tiny_tokenizer(), &config));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->tokenize("ab"), Ids{2});
  // A non-special added token is matched in plain text, and swallows the spaces before it.
  EXPECT_EQ(t->tokenize("ab  <tool>ab"), (Ids{2, 5, 2}));
  // A special one only by tokenize_special, and swallows the whitespace after it.
  EXPECT_NE(t->tokenize("<|im_end|>"), Ids{4});
  EXPECT_EQ(t->tokenize_special("ab<|im_end|> \n ab"), (Ids{2, 4, 2}));
  EXPECT_EQ(t->eos_id(), 4);
  EXPECT_TRUE(t->is_end_of_generation(4));
  EXPECT_TRUE(t->is_control(4));
  EXPECT_FALSE(t->is_control(5));
  EXPECT_EQ(t->token_piece(5), "<tool>");
}

void expect_refused(const json& tokenizer, Status::Code code, const std::string& needle) {
  auto t = load_hf_tokenizer(write_dir(tokenizer, nullptr));
  ASSERT_FALSE(t.ok()) << "expected an error mentioning '" << needle << "'";
  EXPECT_EQ(t.status().code(), code) << t.status().to_string();
  EXPECT_NE(t.status().message().find(needle), std::string::npos) << t.status().to_string();
}

TEST(HfBpeTokenizer, RefusesWhatItDoesNotImplement) {
  json t = tiny_tokenizer();
  t["normalizer"] = {{"type", "Lowercase"}};
  expect_refused(t, Status::Code::kNotSupported, "Lowercase");
  t = tiny_tokenizer();
  t["pre_tokenizer"] = split_then_byte_level(R"(\p{L}+)");
  expect_refused(t, Status::Code::kNotSupported, "Split regex");
  t = tiny_tokenizer();
  t["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_refused(t, Status::Code::kNotSupported, "Whitespace");
  t = tiny_tokenizer();
  t["model"]["dropout"] = 0.1;
  expect_refused(t, Status::Code::kNotSupported, "dropout");
  t = tiny_tokenizer();
  t["model"]["type"] = "Unigram";
  expect_refused(t, Status::Code::kNotSupported, "Unigram");
}

TEST(HfBpeTokenizer, ContradictionsAreCorruption) {
  json t = tiny_tokenizer();
  t["model"]["merges"] = {"a c"};
  expect_refused(t, Status::Code::kCorruption, "'c' is not in the vocabulary");
  t = tiny_tokenizer();
  t["model"]["merges"] = {"ab"};
  expect_refused(t, Status::Code::kCorruption, "merge 0");
  t = tiny_tokenizer();
  t["added_tokens"][0]["id"] = 9;  // ids 4 and 6..8 have no token
  expect_refused(t, Status::Code::kCorruption, "no token has id 4");
  t = tiny_tokenizer();
  t["added_tokens"][0]["id"] = 0;  // id 0 is "a"
  expect_refused(t, Status::Code::kCorruption, "id 0");
  t = tiny_tokenizer();
  t["model"]["vocab"] = "not an object";
  expect_refused(t, Status::Code::kCorruption, "tokenizer.json");
  const json config = {{"bos_token", "<nope>"}};
  auto missing = load_hf_tokenizer(write_dir(tiny_tokenizer(), &config));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kCorruption);
  EXPECT_NE(missing.status().message().find("<nope>"), std::string::npos);
}

}  // namespace
}  // namespace ragkit::embed
