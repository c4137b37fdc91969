// BpeTokenizer: merge ranks on hand-made vocabularies, the pre-tokenizers' word splits (Llama 3
// and Qwen2 have no shared golden file), special and user-defined tokens on real vocabularies,
// round trips of random UTF-8 through every byte-level vocabulary, and concurrent use.
// (llama.cpp's golden strings are in golden_tokenizer_test.cpp.)
#include "ragkit/embed/bpe_tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/unicode_text.h"
#include "tokenizer_test_support.h"

namespace ragkit::embed {
namespace {

using Ids = std::vector<TokenId>;
using Texts = std::vector<std::string>;
using test_support::printable;

std::string gpt2_char(uint8_t byte) {
  std::string s;
  detail::append_utf8(s, detail::byte_to_gpt2_code_point(byte));
  return s;
}

// The 256 byte characters (id = byte), then `extra` tokens, with `merges`.
std::unique_ptr<BpeTokenizer> tiny(const Texts& extra,
                                   const std::vector<std::pair<std::string, std::string>>& merges,
                                   BpeOptions options = {}) {
  Vocabulary v;
  for (int b = 0; b < 256; ++b) v.tokens.push_back(gpt2_char(static_cast<uint8_t>(b)));
  for (const std::string& t : extra) v.tokens.push_back(t);
  v.merges = merges;
  auto result = BpeTokenizer::create(std::move(v), options);
  EXPECT_TRUE(result.ok()) << result.status().to_string();
  return result.ok() ? std::move(result).value() : nullptr;
}

Texts texts_of(const Tokenizer& t, const Ids& ids) {
  Texts out;
  for (TokenId id : ids) out.emplace_back(t.token_text(id));
  return out;
}

TEST(BpeTokenizer, MergesByRankLowestFirst) {
  auto t = tiny({"ab", "bc", "abc"}, {{"a", "b"}, {"b", "c"}, {"ab", "c"}});
  EXPECT_EQ(texts_of(*t, t->tokenize("abc")), (Texts{"abc"}));
  t = tiny({"ab", "bc", "abc"}, {{"b", "c"}, {"a", "b"}, {"ab", "c"}});
  EXPECT_EQ(texts_of(*t, t->tokenize("abc")), (Texts{"a", "bc"}));  // no "a bc" merge
  // Same rank twice in a word: the leftmost first.
  t = tiny({"aa"}, {{"a", "a"}});
  EXPECT_EQ(texts_of(*t, t->tokenize("aaa")), (Texts{"aa", "a"}));
  EXPECT_EQ(texts_of(*t, t->tokenize("aaaa")), (Texts{"aa", "aa"}));
  // Spaces are 'Ġ' in the byte alphabet and stay with the word after them (GPT-2's regex).
  t = tiny({"\xC4\xA0"
            "a"},
           {{"\xC4\xA0", "a"}});
  EXPECT_EQ(texts_of(*t, t->tokenize("a a")), (Texts{"a",
                                                     "\xC4\xA0"
                                                     "a"}));
  EXPECT_EQ(t->decode(t->tokenize("a a")), "a a");
  EXPECT_EQ(t->token_piece(256), " a");
  EXPECT_EQ(t->token_piece('\n'), "\n");    // 'Ċ'
  EXPECT_EQ(t->token_piece(0xE9), "\xE9");  // a lone byte: pieces are bytes, not characters
}

TEST(BpeTokenizer, IgnoreMergesTakesWholeWordTokens) {
  BpeOptions options;
  options.ignore_merges = true;
  auto t = tiny({"xyz"}, {{"x", "y"}}, options);  // no merge path to "xyz"
  EXPECT_EQ(texts_of(*t, t->tokenize("xyz")), (Texts{"xyz"}));
  options.ignore_merges = false;
  t = tiny({"xyz", "xy"}, {{"x", "y"}}, options);
  EXPECT_EQ(texts_of(*t, t->tokenize("xyz")), (Texts{"xy", "z"}));
}

TEST(BpeTokenizer, MergeResultsThatAreNoTokenFallBackToTheirBytes) {
  // llama.cpp keeps merging strings that are not tokens; the leftover becomes byte tokens.
  auto t = tiny({"abc"}, {{"a", "b"}, {"ab", "c"}});
  EXPECT_EQ(texts_of(*t, t->tokenize("abc")), (Texts{"abc"}));
  EXPECT_EQ(texts_of(*t, t->tokenize("ab")), (Texts{"a", "b"}));
}

TEST(BpeTokenizer, RejectsContradictoryVocabularies) {
  Vocabulary v;
  v.tokens = {"a", "b", "ab"};
  EXPECT_TRUE(BpeTokenizer::create(v, {}).ok());  // no merges: words stay characters
  v.merges = {{"a", "b"}};
  v.types = {TokenType::kNormal};
  EXPECT_EQ(BpeTokenizer::create(v, {}).status().code(), Status::Code::kCorruption);
  v.types.clear();
  v.eos = 3;
  EXPECT_EQ(BpeTokenizer::create(v, {}).status().code(), Status::Code::kCorruption);
  v.eos = 2;
  v.add_bos = true;
  EXPECT_EQ(BpeTokenizer::create(v, {}).status().code(), Status::Code::kCorruption);
  v.add_bos = false;
  EXPECT_TRUE(BpeTokenizer::create(v, {}).ok());
}

TEST(BpeTokenizer, PreTokenizerNames) {
  EXPECT_EQ(pre_tokenizer_from_name("llama-bpe"), PreTokenizer::kLlama3);
  EXPECT_EQ(pre_tokenizer_from_name("refact"), PreTokenizer::kStarcoder);
  EXPECT_EQ(pre_tokenizer_from_name("qwen2"), PreTokenizer::kQwen2);
  EXPECT_EQ(pre_tokenizer_from_name(""), PreTokenizer::kDefault);
  EXPECT_EQ(pre_tokenizer_from_name("no-such-thing"), std::nullopt);
  EXPECT_NE(supported_pre_tokenizer_names().find("deepseek-coder"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Word splits.

Texts words(PreTokenizer pre, std::string_view text) {
  std::vector<uint32_t> ends;
  detail::SplitScratch scratch;
  detail::split_words(pre, text, ends, scratch);
  Texts out;
  uint32_t begin = 0;
  for (uint32_t end : ends) {
    out.emplace_back(text.substr(begin, end - begin));
    begin = end;
  }
  return out;
}

TEST(BpePreTokenizer, Gpt2) {
  EXPECT_EQ(words(PreTokenizer::kGpt2, "Hello WORLD's 12345!!\n\n  x"),
            (Texts{"Hello", " WORLD", "'s", " 12345", "!!", "\n\n ", " x"}));
  EXPECT_EQ(words(PreTokenizer::kGpt2, "I'VE it's"), (Texts{"I", "'", "VE", " it", "'s"}));
  EXPECT_EQ(words(PreTokenizer::kGpt2, "a   "), (Texts{"a", "   "}));
  EXPECT_EQ(words(PreTokenizer::kGpt2, ""), Texts{});
}

TEST(BpePreTokenizer, Llama3) {
  EXPECT_EQ(words(PreTokenizer::kLlama3, "Hello WORLD's 12345!!\n\n  x"),
            (Texts{"Hello", " WORLD", "'s", " ", "123", "45", "!!\n\n", " ", " x"}));
  // Case-insensitive contractions; a non-letter sticks to the letters after it.
  EXPECT_EQ(words(PreTokenizer::kLlama3, "I'VE $x\t\n y"),
            (Texts{"I", "'VE", " $", "x", "\t\n", " y"}));
  EXPECT_EQ(words(PreTokenizer::kLlama3, "caf\xC3\xA9 \xE5\x8C\x97\xE4\xBA\xAC 1\xD9\xA3"),
            (Texts{"caf\xC3\xA9", " \xE5\x8C\x97\xE4\xBA\xAC", " ", "1\xD9\xA3"}));
}

TEST(BpePreTokenizer, Qwen2SplitsEveryDigit) {
  EXPECT_EQ(words(PreTokenizer::kQwen2, "x 12345"), (Texts{"x", " ", "1", "2", "3", "4", "5"}));
}

TEST(BpePreTokenizer, FalconAndDefaultGroupDigitsByThree) {
  EXPECT_EQ(words(PreTokenizer::kFalcon, "1234567 a,b"),
            (Texts{"123", "456", "7", " a", ",", "b"}));
  EXPECT_EQ(words(PreTokenizer::kDefault, "x=1234`y"), (Texts{"x", "=", "123", "4", "`", "y"}));
}

TEST(BpePreTokenizer, Deepseek) {
  EXPECT_EQ(words(PreTokenizer::kDeepseekCoder, "ab 12\ncd"),
            (Texts{"ab", " ", "1", "2", "\n", "cd"}));
  EXPECT_EQ(words(PreTokenizer::kDeepseekLlm, "Ab 12 \xE5\x8C\x97\xE4\xBA\xAC  "),
            (Texts{"Ab", " ", "12", " ", "\xE5\x8C\x97\xE4\xBA\xAC", "  "}));
}

TEST(BpePreTokenizer, Metaspace) {
  EXPECT_EQ(words(PreTokenizer::kMetaspace,
                  "\xE2\x96\x81"
                  "a\xE2\x96\x81\xE2\x96\x81"
                  "b"),
            (Texts{"\xE2\x96\x81"
                   "a",
                   "\xE2\x96\x81",
                   "\xE2\x96\x81"
                   "b"}));
  EXPECT_EQ(words(PreTokenizer::kNone, "a b"), Texts{"a b"});
}

// ---------------------------------------------------------------------------------------------
// The real vocabularies.

const Tokenizer& gpt2() {
  static const std::unique_ptr<Tokenizer> t = test_support::vocab_tokenizer("gpt-2");
  if (t == nullptr) std::abort();
  return *t;
}

TEST(BpeVocabulary, SpecialTokensOnlyFromTokenizeSpecial) {
  const Ids plain = gpt2().tokenize("a<|endoftext|>b");
  for (TokenId id : plain) EXPECT_NE(id, 50256);
  EXPECT_EQ(gpt2().decode(plain), "a<|endoftext|>b");
  Ids expected = gpt2().tokenize("a");
  expected.push_back(50256);
  const Ids b = gpt2().tokenize("b");
  expected.insert(expected.end(), b.begin(), b.end());
  EXPECT_EQ(gpt2().tokenize_special("a<|endoftext|>b"), expected);
  EXPECT_EQ(gpt2().encode_prompt("a<|endoftext|>b"), expected);  // GPT-2 adds no BOS
  EXPECT_EQ(gpt2().encode("x"), gpt2().tokenize("x"));
  EXPECT_EQ(gpt2().n_special_tokens(), 0u);
  EXPECT_EQ(gpt2().bos_id(), 50256);
  EXPECT_TRUE(gpt2().is_end_of_generation(50256));
  EXPECT_TRUE(gpt2().is_control(50256));
  EXPECT_EQ(gpt2().token_piece(50256), "");
  EXPECT_EQ(gpt2().token_piece(*gpt2().token_id("\xC4\xA0the")), " the");
}

TEST(BpeVocabulary, UserDefinedTokensMatchInPlainText) {
  // MPT's runs of spaces and DeepSeek's Latin-1 letters are user-defined (added) tokens.
  const auto mpt = test_support::vocab_tokenizer("mpt");
  ASSERT_NE(mpt, nullptr);
  const Ids ids = mpt->tokenize("a" + std::string(24, ' ') + "b");
  EXPECT_NE(std::find(ids.begin(), ids.end(), 50254), ids.end());  // 24 spaces
  EXPECT_EQ(mpt->decode(ids), "a" + std::string(24, ' ') + "b");
  const auto deepseek = test_support::vocab_tokenizer("deepseek-llm");
  ASSERT_NE(deepseek, nullptr);
  const Ids f = deepseek->tokenize("F\xC3\xBChrer");
  EXPECT_NE(std::find(f.begin(), f.end(), 100014), f.end());  // 'ü'
  EXPECT_EQ(deepseek->bos_id(), 100000);
  EXPECT_EQ(deepseek->encode("x").front(), 100000);  // add_bos_token = true
  EXPECT_TRUE(deepseek->is_end_of_generation(100001));
}

std::string random_utf8(std::mt19937& rng, size_t n_chars) {
  static constexpr char32_t kSamples[] = {
      U' ', U'\n', U'\t',  U'\r',  U'a',   U'Z',    U'7',    U'\'',  U'!',     U'`', U'~',
      0xA0, 0xE9,  0x3000, 0x4E2D, 0x0663, 0x1F600, 0x1F44D, 0xFEFF, 0x10FFFD, 0x85, 0x2028};
  std::string s;
  std::uniform_int_distribution<int> kind(0, 3);
  for (size_t i = 0; i < n_chars; ++i) {
    char32_t c;
    switch (kind(rng)) {
      case 0:
        c = kSamples[std::uniform_int_distribution<size_t>(0, std::size(kSamples) - 1)(rng)];
        break;
      case 1:
        c = std::uniform_int_distribution<char32_t>(0x01, 0x7F)(rng);
        break;
      case 2:
        c = std::uniform_int_distribution<char32_t>(0x80, 0xD7FF)(rng);
        break;
      default:
        c = std::uniform_int_distribution<char32_t>(0x10000, 0x10FFFF)(rng);
        break;
    }
    detail::append_utf8(s, c);
  }
  return s;
}

// Every string whose bytes the vocabulary can spell comes back exactly. Some vocabularies lack
// byte characters (Falcon has no token for 28 bytes, among them 0xF2, a lead byte of planes
// 8-11; StarCoder none for 0xF1): those bytes are dropped, as llama.cpp drops them.
TEST(BpeVocabulary, RandomUtf8RoundTripsThroughEveryByteLevelVocabulary) {
  std::mt19937 rng(4748);
  for (const char* name :
       {"gpt-2", "falcon", "starcoder", "mpt", "refact", "deepseek-llm", "deepseek-coder"}) {
    const auto t = test_support::vocab_tokenizer(name);
    ASSERT_NE(t, nullptr);
    bool spellable[256];
    for (int b = 0; b < 256; ++b) spellable[b] = t->token_id(gpt2_char(b)).has_value();
    size_t checked = 0;
    for (int i = 0; i < 200; ++i) {
      const std::string s = random_utf8(rng, 1 + i % 48);
      const Ids ids = t->tokenize(s);
      for (TokenId id : ids) {
        ASSERT_FALSE(t->is_control(id))
            << name << " " << id << " " << printable(t->token_text(id)) << " in " << printable(s);
        ASSERT_LT(static_cast<size_t>(id), t->vocab_size()) << name;
      }
      bool all = true;
      for (unsigned char c : s) all &= spellable[c];
      if (!all) continue;
      ASSERT_EQ(t->decode(ids), s) << name << ": " << printable(s);
      ++checked;
    }
    EXPECT_GT(checked, 20u) << name;
  }
}

TEST(BpeVocabulary, InvalidUtf8IsReplacementCharacters) {
  EXPECT_EQ(gpt2().tokenize("a\xFF"
                            "b"),
            gpt2().tokenize("a\xEF\xBF\xBD"
                            "b"));
  EXPECT_EQ(gpt2().decode(gpt2().tokenize("\xF0\x9F\x98")), "\xEF\xBF\xBD");
}

TEST(BpeVocabulary, ConcurrentTokenizeAgrees) {
  const std::string text =
      "Concurrent tokenization of caf\xC3\xA9 and \xE5\x8C\x97\xE4\xBA\xAC "
      "\xF0\x9F\x98\x81 with 12345 <|endoftext|> and   spaces.\n\n";
  const Ids expected = gpt2().tokenize(text);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 300; ++k) mismatches[i] += gpt2().tokenize(text) != expected;
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

TEST(BpeVocabulary, LongWordsMergeThroughTheHeap) {
  const std::string text(100000, '=');  // one word of 100k symbols
  const Ids ids = gpt2().tokenize(text);
  EXPECT_EQ(gpt2().decode(ids), text);
  EXPECT_LT(ids.size(), text.size() / 4);
}

}  // namespace
}  // namespace ragkit::embed
