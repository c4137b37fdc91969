// WordPiece tokenizer tests: llama.cpp's golden tokenizations of the bert-base-uncased vocabulary
// through every loader (vocab.txt, tokenizer.json, GGUF), ids that Hugging Face's tokenizers
// library produced for the same vocabulary, and the normalisation rules one at a time.
#include "ragkit/embed/wordpiece_tokenizer.h"

#include <gtest/gtest.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ragkit/common/mapped_file.h"
#include "ragkit/embed/gguf.h"
#include "ragkit/embed/hf_tokenizer.h"
#include "test_env.h"
#include "tokenizer_test_support.h"

namespace ragkit::embed {
namespace {

using Ids = std::vector<TokenId>;

std::string minilm_dir() { return ragkit::testing::models_dir() + "/all-MiniLM-L6-v2"; }

std::unique_ptr<WordPieceTokenizer> minilm_from_vocab_txt() {
  auto result = WordPieceTokenizer::from_vocab_file(minilm_dir() + "/vocab.txt", {});
  if (!result.ok()) {
    ADD_FAILURE() << result.status().to_string();
    return nullptr;
  }
  return std::move(result).value();
}

std::unique_ptr<WordPieceTokenizer> minilm_from_tokenizer_json() {
  const std::string path = minilm_dir() + "/tokenizer.json";
  auto text = read_file(path);
  if (!text.ok()) {
    ADD_FAILURE() << text.status().to_string();
    return nullptr;
  }
  auto result = WordPieceTokenizer::from_tokenizer_json(*text, path);
  if (!result.ok()) {
    ADD_FAILURE() << result.status().to_string();
    return nullptr;
  }
  return std::move(result).value();
}

// The tokenizer every normalisation test runs against: the real bert-base-uncased vocabulary.
const WordPieceTokenizer& minilm() {
  static const std::unique_ptr<WordPieceTokenizer> tokenizer = minilm_from_vocab_txt();
  if (tokenizer == nullptr) std::abort();  // the failure was reported above
  return *tokenizer;
}

// A tiny vocabulary for the rules that need full control over what matches.
std::unique_ptr<WordPieceTokenizer> small_tokenizer(WordPieceOptions options = {},
                                                    std::vector<std::string> extra = {}) {
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]",    "[SEP]",      "[MASK]",
                                    "x",     "##x",   "\xD0\xB6", "##\xD0\xB6",  // ж
                                    "y",     "##y",   "z",        "cafe",       "caf\xC3\xA9",
                                    "##e"};
  for (std::string& token : extra) vocab.push_back(std::move(token));
  auto result = WordPieceTokenizer::from_vocab(std::move(vocab), std::move(options));
  EXPECT_TRUE(result.ok()) << result.status().to_string();
  return result.ok() ? std::move(result).value() : nullptr;
}

std::vector<std::string> texts_of(const Tokenizer& tokenizer, const Ids& ids) {
  std::vector<std::string> out;
  for (TokenId id : ids) out.emplace_back(tokenizer.token_text(id));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Golden: llama.cpp's tokenizer test files.

using test_support::GoldenCase;
using test_support::load_golden;

void expect_golden(const Tokenizer* tokenizer, const char* loader) {
  ASSERT_NE(tokenizer, nullptr);
  const std::string dir = ragkit::testing::tokenizers_dir();
  ASSERT_FALSE(dir.empty());
  const std::vector<GoldenCase> cases = load_golden(dir + "/ggml-vocab-bert-bge.gguf");
  ASSERT_EQ(cases.size(), 46u);
  size_t passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Ids ids = tokenizer->tokenize(cases[i].text);
    EXPECT_EQ(ids, cases[i].ids) << loader << ", string " << i << ": \"" << cases[i].text << "\"";
    passed += ids == cases[i].ids;
  }
  std::printf("[ golden   ] %s: %zu/%zu strings match llama.cpp\n", loader, passed, cases.size());
}

TEST(WordPieceGolden, FromVocabTxt) {
  const auto tokenizer = minilm_from_vocab_txt();
  expect_golden(tokenizer.get(), "vocab.txt");
}

TEST(WordPieceGolden, FromTokenizerJson) {
  const auto tokenizer = minilm_from_tokenizer_json();
  expect_golden(tokenizer.get(), "tokenizer.json");
}

TEST(WordPieceGolden, FromGgufVocab) {
  const std::string dir = ragkit::testing::tokenizers_dir();
  ASSERT_FALSE(dir.empty());
  auto gguf = GgufFile::open(dir + "/ggml-vocab-bert-bge.gguf");
  ASSERT_TRUE(gguf.ok()) << gguf.status().to_string();
  auto tokens = (*gguf)->get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.status().to_string();
  auto tokenizer = WordPieceTokenizer::from_gguf_vocab(**tokens, {});
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().to_string();
  EXPECT_EQ((*tokenizer)->vocab_size(), 30522u);
  EXPECT_EQ((*tokenizer)->token_text(2003), "is");
  expect_golden(tokenizer->get(), "GGUF tokenizer.ggml.tokens");
}

TEST(WordPieceGolden, LoadersAgreeOnVocabulary) {
  const auto from_txt = minilm_from_vocab_txt();
  const auto from_json = minilm_from_tokenizer_json();
  ASSERT_NE(from_txt, nullptr);
  ASSERT_NE(from_json, nullptr);
  ASSERT_EQ(from_txt->vocab_size(), from_json->vocab_size());
  for (size_t id = 0; id < from_txt->vocab_size(); ++id) {
    ASSERT_EQ(from_txt->token_text(static_cast<TokenId>(id)),
              from_json->token_text(static_cast<TokenId>(id)));
  }
  for (const WordPieceTokenizer* t : {from_txt.get(), from_json.get()}) {
    EXPECT_EQ(t->cls_id(), 101);
    EXPECT_EQ(t->sep_id(), 102);
    EXPECT_EQ(t->unk_id(), 100);
    EXPECT_EQ(t->pad_id(), 0);
    EXPECT_TRUE(t->options().lowercase);
    EXPECT_TRUE(t->options().handle_chinese_chars);
    EXPECT_FALSE(t->options().strip_accents.has_value());
  }
}

// ---------------------------------------------------------------------------------------------
// Hugging Face: token counts (and ids) that llama.cpp and the tokenizers library agree on.

TEST(WordPieceHuggingFace, SentenceTokenCounts) {
  struct Case {
    const char* text;
    size_t n_tokens;  // with [CLS] and [SEP]
    Ids ids;
  };
  const Case cases[] = {
      {"The quick brown fox jumps over the lazy dog.",
       12,
       {101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102}},
      {"Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 vu: a na\xC3\xAFve fa\xC3\xA7"
       "ade in Z\xC3\xBCrich, "
       "S\xC3\xA3o Paulo and Krak\xC3\xB3w \xE2\x80\x94 \xE5\x8C\x97\xE4\xBA\xAC too!",
       22,
       {101,  7668, 2139, 3900, 24728, 1024, 1037, 15743, 8508, 1999, 10204,
        1010, 7509, 9094, 1998, 14576, 1517, 1781, 1755,  2205, 999,  102}},
      {"Wait... what?! (Really?) Yes -- it's 100% true; e-mail me: test@example.com, #1 & co.",
       39,
       {101,  3524, 1012, 1012, 1012, 2054, 1029, 999,  1006, 2428, 1029, 1007, 2748,
        1011, 1011, 2009, 1005, 1055, 2531, 1003, 2995, 1025, 1041, 1011, 5653, 2033,
        1024, 3231, 1030, 2742, 1012, 4012, 1010, 1001, 1015, 1004, 2522, 1012, 102}},
      {"How do I reset my password?", 9, {101, 2129, 2079, 1045, 25141, 2026, 20786, 1029, 102}},
      {"   Leading spaces, UPPER and MiXeD case, numbers like 3.14159 and 2,048 here   ",
       22,
       {101,  2877, 7258,  1010,  3356, 1998, 3816, 2553, 1010, 3616, 2066,
        1017, 1012, 15471, 28154, 1998, 1016, 1010, 5840, 2620, 2182, 102}},
  };
  for (const Case& c : cases) {
    const Ids ids = minilm().encode(c.text);
    EXPECT_EQ(ids.size(), c.n_tokens) << c.text;
    EXPECT_EQ(ids, c.ids) << c.text;
  }
}

// ---------------------------------------------------------------------------------------------
// The rules, one at a time.

TEST(WordPieceTokenizer, EncodeWrapsInClsSep) {
  const WordPieceTokenizer& t = minilm();
  EXPECT_EQ(t.tokenize("hello world"), (Ids{7592, 2088}));
  EXPECT_EQ(t.encode("hello world"), (Ids{101, 7592, 2088, 102}));
  EXPECT_EQ(t.encode(""), (Ids{101, 102}));
  EXPECT_EQ(t.n_special_tokens(), 2u);
  EXPECT_EQ(t.vocab_size(), 30522u);
  EXPECT_STREQ(t.kind(), "wordpiece");
  EXPECT_EQ(t.token_text(101), "[CLS]");
  EXPECT_EQ(t.token_text(-1), "");
  EXPECT_EQ(t.token_text(30522), "");
  EXPECT_EQ(t.token_id("[SEP]"), 102);
  EXPECT_EQ(t.token_id("##ization"), 3989);
  EXPECT_FALSE(t.token_id("no-such-token").has_value());
}

TEST(WordPieceTokenizer, AddSpecialTokensTruncatesAndReports) {
  const WordPieceTokenizer& t = minilm();
  const Ids text = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  Ids ids = text;
  EXPECT_FALSE(t.add_special_tokens(ids, 12));  // exactly fits
  EXPECT_EQ(ids, (Ids{101, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 102}));
  ids = text;
  EXPECT_FALSE(t.add_special_tokens(ids, 512));
  EXPECT_EQ(ids.size(), 12u);
  ids = text;
  EXPECT_TRUE(t.add_special_tokens(ids, 11));
  EXPECT_EQ(ids, (Ids{101, 1, 2, 3, 4, 5, 6, 7, 8, 9, 102}));
  ids = text;
  EXPECT_TRUE(t.add_special_tokens(ids, 5));
  EXPECT_EQ(ids, (Ids{101, 1, 2, 3, 102}));
  ids = text;
  EXPECT_TRUE(t.add_special_tokens(ids, 0));  // no room for text: still a valid input
  EXPECT_EQ(ids, (Ids{101, 102}));
  ids.clear();
  EXPECT_FALSE(t.add_special_tokens(ids, 2));
  EXPECT_EQ(ids, (Ids{101, 102}));
}

TEST(WordPieceTokenizer, StripsAccentsWhenLowerCasing) {
  EXPECT_EQ(texts_of(minilm(), minilm().tokenize("Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 vu")),
            (std::vector<std::string>{"cafe", "de", "##ja", "vu"}));
  // Combining marks typed separately are dropped too ("x\u0301y").
  EXPECT_EQ(minilm().tokenize("x\xCC\x81y"), (Ids{1060, 2100}));

  // strip_accents = false keeps them; the small vocabulary has both spellings.
  WordPieceOptions keep;
  keep.strip_accents = false;
  const auto keeping = small_tokenizer(keep);
  EXPECT_EQ(texts_of(*keeping, keeping->tokenize("CAF\xC3\x89")),
            (std::vector<std::string>{"caf\xC3\xA9"}));
  // Unset follows lowercase; with lowercase off nothing is stripped or lower-cased.
  WordPieceOptions cased;
  cased.lowercase = false;
  const auto cased_tokenizer = small_tokenizer(cased);
  EXPECT_EQ(texts_of(*cased_tokenizer, cased_tokenizer->tokenize("caf\xC3\xA9 X")),
            (std::vector<std::string>{"caf\xC3\xA9", "[UNK]"}));
}

TEST(WordPieceTokenizer, LowerCasesCodePointByCodePoint) {
  // As the tokenizers library and llama.cpp do: a word-final capital sigma becomes 'σ'
  // (Python's str.lower() would give 'ς'), and 'İ' loses its dot with the accents.
  EXPECT_EQ(texts_of(minilm(), minilm().tokenize("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3")),
            (std::vector<std::string>{"\xCE\xBF", "##\xCE\xB4", "##\xCE\xBF", "##\xCF\x83"}));
  EXPECT_EQ(minilm().tokenize("\xC4\xB0stanbul"), (Ids{9960}));
}

TEST(WordPieceTokenizer, SplitsCjkIdeographs) {
  const char* text =
      "\xE5\x8C\x97\xE4\xBA\xAC\xE5\xA4\xA7\xE5\xAD\xA6 is in \xE5\x8C\x97\xE4\xBA\xAC.";
  EXPECT_EQ(minilm().tokenize(text), (Ids{1781, 1755, 1810, 1817, 2003, 1999, 1781, 1755, 1012}));
  // Without handle_chinese_chars the ideographs stay one word, split into ## pieces.
  WordPieceOptions options;
  options.handle_chinese_chars = false;
  auto t = WordPieceTokenizer::from_vocab_file(minilm_dir() + "/vocab.txt", options);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  // tokenizer_config.json beside vocab.txt says tokenize_chinese_chars: true and wins.
  EXPECT_TRUE((*t)->options().handle_chinese_chars);
  std::vector<std::string> vocab(minilm().vocab_size());
  for (size_t i = 0; i < vocab.size(); ++i) vocab[i] = minilm().token_text(static_cast<TokenId>(i));
  auto raw = WordPieceTokenizer::from_vocab(std::move(vocab), options);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ((*raw)->tokenize(text),
            (Ids{1781, 30281, 30336, 30343, 2003, 1999, 1781, 30281, 1012}));
}

TEST(WordPieceTokenizer, SplitsEveryPunctuationCharacter) {
  EXPECT_EQ(minilm().tokenize("Wait... what?!"), (Ids{3524, 1012, 1012, 1012, 2054, 1029, 999}));
  // ASCII symbols count as punctuation; so does any Unicode P* character.
  EXPECT_EQ(minilm().tokenize("$5+3=8 ~a|b^c`d"), (Ids{1002, 1019, 1009, 1017, 1027, 1022, 1066,
                                                       1037, 1064, 1038, 1034, 1039, 1036, 1040}));
  EXPECT_EQ(minilm().tokenize("\xC2\xABquoted\xC2\xBB \xE2\x80\x94 \xE2\x80\x9Csmart\xE2\x80\x9D "
                              "\xC2\xBFqu\xC3\xA9?"),
            (Ids{1077, 9339, 1090, 1517, 1523, 6047, 1524, 1094, 10861, 1029}));
  // Special-token text in a document is ordinary text, never a control token.
  EXPECT_EQ(minilm().tokenize("hello [SEP] world"), (Ids{7592, 1031, 19802, 1033, 2088}));
}

TEST(WordPieceTokenizer, CleansControlsAndWhitespace) {
  // U+0000, a C0 control, U+200B (Cf) and U+FFFD vanish without splitting the word.
  EXPECT_EQ(minilm().tokenize(std::string_view("a\0b\x01"
                                               "c\xE2\x80\x8B"
                                               "d\xEF\xBF\xBD"
                                               "e",
                                               13)),
            (Ids{5925, 3207}));
  EXPECT_EQ(minilm().tokenize("a\tb\nc\r\nd"), (Ids{1037, 1038, 1039, 1040}));
  EXPECT_EQ(minilm().tokenize("a\xC2\xA0"
                              "b\xE3\x80\x80"
                              "c"),
            (Ids{1037, 1038, 1039}));  // Zs
  EXPECT_TRUE(minilm().tokenize("").empty());
  EXPECT_TRUE(minilm().tokenize(" \t\r\n  \xC2\xA0").empty());
}

TEST(WordPieceTokenizer, GreedyLongestMatchFirst) {
  EXPECT_EQ(texts_of(minilm(), minilm().tokenize("tokenization")),
            (std::vector<std::string>{"token", "##ization"}));
  const auto t = small_tokenizer();
  EXPECT_EQ(texts_of(*t, t->tokenize("xxy")), (std::vector<std::string>{"x", "##x", "##y"}));
  // One unmatched piece makes the whole word [UNK], not a partial match.
  EXPECT_EQ(texts_of(*t, t->tokenize("xxq yx")), (std::vector<std::string>{"[UNK]", "y", "##x"}));
}

TEST(WordPieceTokenizer, LongWordsBecomeUnk) {
  const auto t = small_tokenizer();
  Ids ids = t->tokenize(std::string(100, 'x'));
  ASSERT_EQ(ids.size(), 100u);
  EXPECT_EQ(t->token_text(ids[0]), "x");
  EXPECT_EQ(t->token_text(ids[99]), "##x");
  EXPECT_EQ(t->tokenize(std::string(101, 'x')), (Ids{t->unk_id()}));
  // The limit counts code points, not bytes: 100 two-byte letters still fit.
  std::string zh;
  for (int i = 0; i < 100; ++i) zh += "\xD0\xB6";
  EXPECT_EQ(t->tokenize(zh).size(), 100u);
  zh += "\xD0\xB6";
  EXPECT_EQ(t->tokenize(zh), (Ids{t->unk_id()}));
  // Real vocabulary: the limit applies per word, after punctuation splitting.
  EXPECT_EQ(minilm().tokenize(std::string(101, 'a') + "." + std::string(3, 'a')),
            (Ids{100, 1012, 13360}));
}

TEST(WordPieceTokenizer, InvalidUtf8IsDroppedNeverRead) {
  const WordPieceTokenizer& t = minilm();
  const Ids hello = t.tokenize("hello");
  EXPECT_EQ(t.tokenize("hel\xFFlo"), hello);              // invalid byte
  EXPECT_EQ(t.tokenize("hel\xC0\xAFlo"), hello);          // overlong '/'
  EXPECT_EQ(t.tokenize("hel\xED\xA0\x80lo"), hello);      // UTF-16 surrogate
  EXPECT_EQ(t.tokenize("hel\x80\xBFlo"), hello);          // stray continuation bytes
  EXPECT_EQ(t.tokenize("hel\xF4\x90\x80\x80lo"), hello);  // past U+10FFFF
  EXPECT_EQ(t.tokenize("hello\xE2\x82"), hello);          // truncated at the end
  EXPECT_EQ(t.tokenize("hello\xF0"), hello);
  // A truncated sequence does not swallow the ASCII byte after it.
  EXPECT_EQ(t.tokenize("a\xE2\x82 b"), (Ids{1037, 1038}));
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte.push_back(static_cast<char>(b));
  for (size_t cut = 0; cut <= every_byte.size(); cut += 7) {
    (void)t.tokenize(std::string_view(every_byte).substr(cut));
  }
}

TEST(WordPieceTokenizer, ConcurrentEncodesAgree) {
  const std::string text = "Concurrent tokenization of caf\xC3\xA9 and \xE5\x8C\x97\xE4\xBA\xAC!";
  const Ids expected = minilm().encode(text);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 500; ++k) mismatches[i] += minilm().encode(text) != expected;
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

// ---------------------------------------------------------------------------------------------
// Loaders.

std::string write_file(const std::string& dir, const std::string& name, std::string_view text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(WordPieceTokenizer, VocabFileReadsTokenizerConfig) {
  const std::string dir = ragkit::testing::make_temp_dir("wordpiece_vocab");
  const std::string vocab =
      write_file(dir, "vocab.txt", "[PAD]\r\n[UNK]\r\n<s>\r\n</s>\r\nHello\r\nhello\r\n##!\r\n!");
  auto defaults = WordPieceTokenizer::from_vocab_file(vocab, {});
  ASSERT_FALSE(defaults.ok());  // no [CLS] in this vocabulary
  EXPECT_EQ(defaults.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(defaults.status().message().find("[CLS]"), std::string::npos);

  write_file(dir, "tokenizer_config.json",
             R"({"do_lower_case": false, "strip_accents": null, "tokenize_chinese_chars": false,
                 "cls_token": {"content": "<s>", "__type": "AddedToken"}, "sep_token": "</s>"})");
  auto t = WordPieceTokenizer::from_vocab_file(vocab, {});
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ((*t)->vocab_size(), 8u);  // \r\n stripped, no token for the missing last newline
  EXPECT_EQ((*t)->token_text(7), "!");
  EXPECT_FALSE((*t)->options().lowercase);
  EXPECT_FALSE((*t)->options().handle_chinese_chars);
  EXPECT_EQ((*t)->encode("Hello hello!"), (Ids{2, 4, 5, 7, 3}));

  write_file(dir, "tokenizer_config.json", "{not json");
  auto broken = WordPieceTokenizer::from_vocab_file(vocab, {});
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().code(), Status::Code::kCorruption);
  EXPECT_NE(broken.status().message().find("tokenizer_config.json"), std::string::npos);

  auto missing = WordPieceTokenizer::from_vocab_file(dir + "/nope.txt", {});
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
}

std::string tokenizer_json(std::string_view model, std::string_view normalizer) {
  return std::string(R"({"version": "1.0", "added_tokens": [], "normalizer": )") +
         std::string(normalizer) + R"(, "pre_tokenizer": {"type": "BertPreTokenizer"},
      "post_processor": {"type": "BertProcessing", "sep": ["</s>", 3], "cls": ["<s>", 2]},
      "model": )" +
         std::string(model) + "}";
}

TEST(WordPieceTokenizer, TokenizerJsonValidation) {
  const std::string wordpiece = R"({"type": "WordPiece", "unk_token": "[UNK]",
      "continuing_subword_prefix": "##", "max_input_chars_per_word": 5,
      "vocab": {"[PAD]": 0, "[UNK]": 1, "<s>": 2, "</s>": 3, "ab": 4, "##c": 5}})";
  const std::string bert = R"({"type": "BertNormalizer", "clean_text": true,
      "handle_chinese_chars": true, "strip_accents": null, "lowercase": true})";
  auto ok = WordPieceTokenizer::from_tokenizer_json(tokenizer_json(wordpiece, bert), "t.json");
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ((*ok)->encode("ABC abcabc"), (Ids{2, 4, 5, 1, 3}));  // max 5 chars per word
  EXPECT_EQ((*ok)->cls_id(), 2);

  auto bpe = WordPieceTokenizer::from_tokenizer_json(
      tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0}, "merges": []})", bert), "bpe.json");
  ASSERT_FALSE(bpe.ok());
  EXPECT_EQ(bpe.status().code(), Status::Code::kNotSupported);
  EXPECT_NE(bpe.status().message().find("BPE"), std::string::npos) << bpe.status().message();
  EXPECT_NE(bpe.status().message().find("bpe.json"), std::string::npos);

  auto sequence = WordPieceTokenizer::from_tokenizer_json(
      tokenizer_json(wordpiece, R"({"type": "Sequence", "normalizers": []})"), "seq.json");
  EXPECT_EQ(sequence.status().code(), Status::Code::kNotSupported);

  auto sparse = WordPieceTokenizer::from_tokenizer_json(
      tokenizer_json(R"({"type": "WordPiece", "vocab": {"[UNK]": 0, "<s>": 2, "</s>": 3}})", bert),
      "sparse.json");
  EXPECT_EQ(sparse.status().code(), Status::Code::kCorruption);

  auto no_unk = WordPieceTokenizer::from_tokenizer_json(
      tokenizer_json(R"({"type": "WordPiece", "vocab": {"<s>": 0, "</s>": 1}})", bert), "u.json");
  EXPECT_EQ(no_unk.status().code(), Status::Code::kInvalidArgument);

  auto garbage = WordPieceTokenizer::from_tokenizer_json("{\"model\": [1, 2", "garbage.json");
  EXPECT_EQ(garbage.status().code(), Status::Code::kCorruption);
  EXPECT_NE(garbage.status().message().find("garbage.json"), std::string::npos);
}

TEST(WordPieceTokenizer, GgufVocabSpelling) {
  const std::vector<std::string> tokens = {"[PAD]",
                                           "[UNK]",
                                           "[CLS]",
                                           "[SEP]",
                                           "\xE2\x96\x81"
                                           "he",
                                           "llo",
                                           "\xE2\x96\x81"
                                           "!",
                                           "!"};
  auto t = WordPieceTokenizer::from_gguf_vocab(tokens, {});
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ((*t)->token_text(4), "he");
  EXPECT_EQ((*t)->token_text(5), "##llo");
  EXPECT_EQ((*t)->token_text(7), "##!");
  EXPECT_EQ((*t)->encode("Hello!"), (Ids{2, 4, 5, 6, 3}));

  auto missing = WordPieceTokenizer::from_gguf_vocab({"[PAD]", "[UNK]", "[SEP]"}, {});
  EXPECT_EQ(missing.status().code(), Status::Code::kInvalidArgument);
}

TEST(HfTokenizer, LoadsModelDirectory) {
  auto t = load_hf_tokenizer(minilm_dir());
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_STREQ((*t)->kind(), "wordpiece");
  EXPECT_EQ((*t)->encode("How do I reset my password?"),
            (Ids{101, 2129, 2079, 1045, 25141, 2026, 20786, 1029, 102}));
}

TEST(HfTokenizer, FallsBackToVocabTxt) {
  const std::string dir = ragkit::testing::make_temp_dir("hf_tokenizer");
  auto empty = load_hf_tokenizer(dir);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), Status::Code::kNotFound);
  EXPECT_NE(empty.status().message().find("tokenizer.json"), std::string::npos);
  EXPECT_NE(empty.status().message().find("vocab.txt"), std::string::npos);

  write_file(dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhi\n");
  auto t = load_hf_tokenizer(dir);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ((*t)->encode("Hi"), (Ids{2, 4, 3}));

  write_file(dir, "tokenizer.json", R"({"model": {"type": "Unigram", "vocab": []}})");
  auto unigram = load_hf_tokenizer(dir);
  ASSERT_FALSE(unigram.ok());
  EXPECT_EQ(unigram.status().code(), Status::Code::kNotSupported);
  EXPECT_NE(unigram.status().message().find("Unigram"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Throughput, printed (not asserted): tokenize() over SciFact's abstracts.

// The value of "key": "..." in one JSON line, unescaped (enough for the corpus: \uXXXX included).
std::string json_string_field(std::string_view line, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\": \"";
  size_t i = line.find(needle);
  std::string out;
  if (i == std::string_view::npos) return out;
  for (i += needle.size(); i < line.size() && line[i] != '"'; ++i) {
    if (line[i] != '\\' || i + 1 >= line.size()) {
      out.push_back(line[i]);
      continue;
    }
    const char e = line[++i];
    if (e == 'n' || e == 't' || e == 'r') {
      out.push_back(' ');
    } else if (e == 'u' && i + 4 < line.size()) {
      uint32_t cp = std::stoul(std::string(line.substr(i + 1, 4)), nullptr, 16);
      i += 4;
      if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < line.size() && line[i + 1] == '\\') {
        const uint32_t lo = std::stoul(std::string(line.substr(i + 3, 4)), nullptr, 16);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        i += 6;
      }
      if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
      } else if (cp < 0x800) {
        out += {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
      } else if (cp < 0x10000) {
        out += {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
                static_cast<char>(0x80 | (cp & 0x3F))};
      } else {
        out +=
            {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
             static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
      }
    } else {
      out.push_back(e);
    }
  }
  return out;
}

TEST(WordPieceThroughput, SciFactAbstracts) {
  const std::string data = ragkit::testing::data_dir();
  ASSERT_FALSE(data.empty());
  std::ifstream in(data + "/scifact/corpus.jsonl");
  ASSERT_TRUE(in) << data << "/scifact/corpus.jsonl";
  std::vector<std::string> texts;
  size_t bytes = 0, non_ascii = 0;
  for (std::string line; std::getline(in, line);) {
    texts.push_back(json_string_field(line, "title") + " " + json_string_field(line, "text"));
    bytes += texts.back().size();
    for (char c : texts.back()) non_ascii += static_cast<unsigned char>(c) >= 0x80;
  }
  ASSERT_GT(texts.size(), 5000u);
  const WordPieceTokenizer& t = minilm();
  // CPU time as well as wall time: on a shared machine the wall clock mostly measures the
  // other processes.
  auto cpu_seconds = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  size_t tokens = 0;
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();
  for (const std::string& text : texts) tokens += t.tokenize(text).size();
  const double cpu = cpu_seconds() - cpu_start;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "[ speed    ] tokenize(): %zu texts, %.1f MB (%.2f%% non-ASCII bytes), %zu tokens: "
      "%.1f MB/s of CPU time (%.3f s), %.1f MB/s wall (%.3f s), one thread\n",
      texts.size(), bytes / 1e6, 100.0 * non_ascii / bytes, tokens, bytes / 1e6 / cpu, cpu,
      bytes / 1e6 / wall, wall);
  EXPECT_GT(tokens, bytes / 8);  // sanity, not speed: about one token per 4-5 bytes of English
}

}  // namespace
}  // namespace ragkit::embed
