// SpmTokenizer: the merge order on hand-made vocabularies, special tokens and the space prefix
// around them on the real Llama and Phi-3 vocabularies, byte fallback, decoding, round trips of
// random UTF-8, and concurrent use. (llama.cpp's golden strings are in
// golden_tokenizer_test.cpp.)
#include "ragkit/embed/spm_tokenizer.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tokenizer_test_support.h"

namespace ragkit::embed {
namespace {

using Ids = std::vector<TokenId>;
using test_support::printable;

// A tiny vocabulary: <unk> <s> </s>, the 256 byte tokens, then the given pieces.
std::unique_ptr<SpmTokenizer> tiny(const std::vector<std::pair<std::string, float>>& pieces,
                                   SpmOptions options = {}, bool byte_tokens = true) {
  Vocabulary v;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl};
  v.scores = {0, 0, 0};
  if (byte_tokens) {
    for (int b = 0; b < 256; ++b) {
      char spelled[8];
      std::snprintf(spelled, sizeof spelled, "<0x%02X>", b);
      v.tokens.emplace_back(spelled);
      v.types.push_back(TokenType::kByte);
      v.scores.push_back(0);
    }
  }
  for (const auto& [text, score] : pieces) {
    v.tokens.push_back(text);
    v.types.push_back(TokenType::kNormal);
    v.scores.push_back(score);
  }
  v.bos = 1;
  v.eos = 2;
  v.unk = 0;
  v.add_bos = true;
  auto result = SpmTokenizer::create(std::move(v), options);
  EXPECT_TRUE(result.ok()) << result.status().to_string();
  return result.ok() ? std::move(result).value() : nullptr;
}

std::vector<std::string> texts_of(const Tokenizer& t, const Ids& ids) {
  std::vector<std::string> out;
  for (TokenId id : ids) out.emplace_back(t.token_text(id));
  return out;
}

using Texts = std::vector<std::string>;

TEST(SpmTokenizer, MergesTheHighestScoringPairFirst) {
  SpmOptions no_prefix;
  no_prefix.add_space_prefix = false;
  auto t = tiny({{"a", -10}, {"b", -10}, {"c", -10}, {"ab", -1}, {"bc", -2}}, no_prefix);
  EXPECT_EQ(texts_of(*t, t->tokenize("abc")), (Texts{"ab", "c"}));
  t = tiny({{"a", -10}, {"b", -10}, {"c", -10}, {"ab", -2}, {"bc", -1}}, no_prefix);
  EXPECT_EQ(texts_of(*t, t->tokenize("abc")), (Texts{"a", "bc"}));
  // Equal scores: the leftmost pair.
  t = tiny({{"a", -10}, {"b", -10}, {"c", -10}, {"ab", -1}, {"bc", -1}}, no_prefix);
  EXPECT_EQ(texts_of(*t, t->tokenize("abc")), (Texts{"ab", "c"}));
  // A merged piece merges on when its concatenation with a neighbour is a piece.
  t = tiny({{"a", -10}, {"b", -10}, {"c", -10}, {"ab", -1}, {"bc", -2}, {"abc", -5}}, no_prefix);
  EXPECT_EQ(texts_of(*t, t->tokenize("abc")), (Texts{"abc"}));
  // Any split of a piece counts, not only the one the training merged.
  t = tiny({{"a", -10}, {"b", -10}, {"c", -10}, {"bc", -1}, {"abc", -5}}, no_prefix);
  EXPECT_EQ(texts_of(*t, t->tokenize("abc")), (Texts{"abc"}));
}

TEST(SpmTokenizer, SpacesBecomeU2581AndThePrefixIsOptional) {
  auto t = tiny({{"\xE2\x96\x81", -10},
                 {"a", -10},
                 {"\xE2\x96\x81"
                  "a",
                  -1}});
  EXPECT_EQ(texts_of(*t, t->tokenize("a a")), (Texts{"\xE2\x96\x81"
                                                     "a",
                                                     "\xE2\x96\x81"
                                                     "a"}));
  EXPECT_EQ(t->decode(t->tokenize("a a")), "a a");
  EXPECT_TRUE(t->strips_leading_space());
  SpmOptions no_prefix;
  no_prefix.add_space_prefix = false;
  t = tiny({{"\xE2\x96\x81", -10},
            {"a", -10},
            {"\xE2\x96\x81"
             "a",
             -1}},
           no_prefix);
  EXPECT_EQ(texts_of(*t, t->tokenize("a a")), (Texts{"a",
                                                     "\xE2\x96\x81"
                                                     "a"}));
  EXPECT_EQ(t->decode(t->tokenize(" a")), " a");
  EXPECT_FALSE(t->strips_leading_space());
}

TEST(SpmTokenizer, UnknownCharactersFallBackToBytesOrUnk) {
  auto t = tiny({{"\xE2\x96\x81", -10}, {"a", -10}});
  // "é" is no piece: its UTF-8 bytes C3 A9 become <0xC3> <0xA9> (ids 3 + byte).
  Ids expected = t->tokenize("a");
  expected.insert(expected.end(), {3 + 0xC3, 3 + 0xA9});
  EXPECT_EQ(t->tokenize("a\xC3\xA9"), expected);
  EXPECT_EQ(t->decode(t->tokenize("a\xC3\xA9")), "a\xC3\xA9");
  EXPECT_EQ(t->token_piece(3 + 0xC3), "\xC3");
  // Without byte tokens, each byte becomes the unknown token.
  auto no_bytes = tiny({{"\xE2\x96\x81", -10}, {"a", -10}}, {}, /*byte_tokens=*/false);
  const Ids ids = no_bytes->tokenize("\xC3\xA9");
  EXPECT_EQ(texts_of(*no_bytes, ids), (Texts{"\xE2\x96\x81", "<unk>", "<unk>"}));
}

TEST(SpmTokenizer, RejectsContradictoryVocabularies) {
  Vocabulary v;
  v.tokens = {"<unk>", "a"};
  v.scores = {0};
  EXPECT_EQ(SpmTokenizer::create(v, {}).status().code(), Status::Code::kCorruption);
  v.scores = {0, 0};
  v.types = {TokenType::kUnknown, TokenType::kByte};  // "a" is not <0xXX>
  EXPECT_EQ(SpmTokenizer::create(v, {}).status().code(), Status::Code::kCorruption);
  v.types = {TokenType::kUnknown, TokenType::kNormal};
  v.bos = 7;
  EXPECT_EQ(SpmTokenizer::create(v, {}).status().code(), Status::Code::kCorruption);
  v.bos.reset();
  v.add_bos = true;
  auto no_bos = SpmTokenizer::create(v, {});
  ASSERT_FALSE(no_bos.ok());
  EXPECT_NE(no_bos.status().message().find("BOS"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The real vocabularies.

const Tokenizer& llama() {
  static const std::unique_ptr<Tokenizer> t = test_support::vocab_tokenizer("llama-spm");
  if (t == nullptr) std::abort();
  return *t;
}

const Tokenizer& phi3() {
  static const std::unique_ptr<Tokenizer> t = test_support::vocab_tokenizer("phi-3");
  if (t == nullptr) std::abort();
  return *t;
}

Ids concat(std::initializer_list<Ids> parts) {
  Ids out;
  for (const Ids& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(SpmVocabulary, RolesAndDefaults) {
  EXPECT_EQ(llama().bos_id(), 1);
  EXPECT_EQ(llama().eos_id(), 2);
  EXPECT_EQ(llama().n_special_tokens(), 1u);  // BOS
  EXPECT_EQ(llama().encode("Hello"), concat({{1}, llama().tokenize("Hello")}));
  EXPECT_EQ(llama().encode(""), Ids{1});
  EXPECT_TRUE(llama().tokenize("").empty());
  EXPECT_TRUE(llama().is_end_of_generation(2));
  EXPECT_FALSE(llama().is_end_of_generation(1));
  EXPECT_FALSE(llama().is_end_of_generation(-1));
  EXPECT_FALSE(llama().is_end_of_generation(1 << 30));
  EXPECT_TRUE(llama().is_control(1));
  EXPECT_FALSE(llama().is_control(15043));
  EXPECT_EQ(llama().token_piece(15043), " Hello");
  EXPECT_EQ(llama().token_piece(1), "");
  EXPECT_EQ(llama().token_piece(0), "");  // <unk>
  EXPECT_EQ(llama().token_piece(3 + 0x0A), "\n");
  EXPECT_EQ(llama().token_piece(-1), "");
  EXPECT_EQ(llama().token_to_piece(99999), "");

  // Phi-3: EOS is <|endoftext|>; <|end|> ends a turn; "</s>" is declared user-defined but is an
  // end-of-generation text, so it is control (as llama.cpp makes it).
  EXPECT_EQ(phi3().eos_id(), 32000);
  EXPECT_TRUE(phi3().is_end_of_generation(32000));
  EXPECT_TRUE(phi3().is_end_of_generation(32007));  // <|end|>
  EXPECT_TRUE(phi3().is_end_of_generation(2));      // </s>
  EXPECT_TRUE(phi3().is_control(2));
  EXPECT_FALSE(phi3().is_end_of_generation(32010));  // <|user|>
}

TEST(SpmVocabulary, PlainTextNeverGivesControlTokens) {
  for (const Tokenizer* t : {&llama(), &phi3()}) {
    const Ids ids = t->tokenize("<s>Hello</s> <unk> <|end|><|user|>[PAD32011]");
    for (TokenId id : ids) EXPECT_FALSE(t->is_control(id)) << id;
    EXPECT_EQ(t->decode(ids), "<s>Hello</s> <unk> <|end|><|user|>[PAD32011]");
  }
}

TEST(SpmVocabulary, TokenizeSpecialSplitsAtSpecialTokensWithThePrefixAfterEach) {
  // llama.cpp puts the space prefix on every piece of text that follows a special token.
  EXPECT_EQ(llama().tokenize_special("<s>Hello</s>"),
            concat({{1}, llama().tokenize("Hello"), {2}}));
  EXPECT_EQ(llama().tokenize_special("Hi<s> there"),
            concat({llama().tokenize("Hi"), {1}, llama().tokenize(" there")}));
  EXPECT_EQ(llama().encode_prompt("</s>x"), concat({{1, 2}, llama().tokenize("x")}));
  EXPECT_EQ(llama().tokenize_special("<s><s>"), (Ids{1, 1}));
  // The unknown-type token is parsed too, as llama.cpp does.
  EXPECT_EQ(llama().tokenize_special("<unk>"), Ids{0});
}

TEST(SpmVocabulary, Phi3SpecialTokensSwallowTheWhitespaceAfterThem) {
  // llama.cpp's Phi-3 rule: special tokens rstrip, except <unk>, <s> and <|endoftext|>.
  EXPECT_EQ(phi3().tokenize_special("<|user|>\n  Hi<|end|>\n"),
            concat({{32010}, phi3().tokenize("Hi"), {32007}}));
  EXPECT_EQ(phi3().tokenize_special("<s> Hi"), concat({{1}, phi3().tokenize(" Hi")}));
  EXPECT_EQ(phi3().tokenize_special("<|endoftext|> Hi"), concat({{32000}, phi3().tokenize(" Hi")}));
  // Llama has no such rule.
  EXPECT_EQ(llama().tokenize_special("</s>\n"), concat({{2}, llama().tokenize("\n")}));
}

TEST(SpmVocabulary, InvalidUtf8IsReplacementCharacters) {
  EXPECT_EQ(llama().tokenize("a\xFF"
                             "b"),
            llama().tokenize("a\xEF\xBF\xBD"
                             "b"));
  EXPECT_EQ(llama().tokenize("\xE2\x82"), llama().tokenize("\xEF\xBF\xBD"));
  EXPECT_EQ(llama().tokenize("\xC0\x80"), llama().tokenize("\xEF\xBF\xBD\xEF\xBF\xBD"));
}

// Random valid UTF-8: ASCII (spaces and newlines included), Latin, CJK, emoji (4 bytes).
std::string random_utf8(std::mt19937& rng, size_t n_chars) {
  std::string s;
  std::uniform_int_distribution<int> kind(0, 9);
  for (size_t i = 0; i < n_chars; ++i) {
    char32_t c;
    switch (kind(rng)) {
      case 0:
        c = U' ';
        break;
      case 1:
        c = std::uniform_int_distribution<char32_t>(0x01, 0x7F)(rng);
        break;
      case 2:
        c = std::uniform_int_distribution<char32_t>(0x80, 0x7FF)(rng);
        break;
      case 3:
        c = std::uniform_int_distribution<char32_t>(0x800, 0xD7FF)(rng);
        break;
      case 4:
        c = std::uniform_int_distribution<char32_t>(0xE000, 0xFFFD)(rng);
        break;
      case 5:
        c = std::uniform_int_distribution<char32_t>(0x10000, 0x10FFFF)(rng);
        break;
      case 6:
        c = std::uniform_int_distribution<char32_t>(0x1F600, 0x1F64F)(rng);
        break;
      default:
        c = std::uniform_int_distribution<char32_t>('a', 'z')(rng);
        break;
    }
    if (c < 0x80) {
      s.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      s += {static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))};
    } else if (c < 0x10000) {
      s += {static_cast<char>(0xE0 | (c >> 12)), static_cast<char>(0x80 | ((c >> 6) & 0x3F)),
            static_cast<char>(0x80 | (c & 0x3F))};
    } else {
      s += {static_cast<char>(0xF0 | (c >> 18)), static_cast<char>(0x80 | ((c >> 12) & 0x3F)),
            static_cast<char>(0x80 | ((c >> 6) & 0x3F)), static_cast<char>(0x80 | (c & 0x3F))};
    }
  }
  return s;
}

TEST(SpmVocabulary, RandomUtf8RoundTrips) {
  EXPECT_EQ(llama().decode(llama().tokenize("a\xE2\x96\x81"
                                            "b")),
            "a b");
  std::mt19937 rng(20250220);
  for (const Tokenizer* t : {&llama(), &phi3()}) {
    for (int i = 0; i < 300; ++i) {
      const std::string s = random_utf8(rng, 1 + i % 64);
      const Ids ids = t->tokenize(s);
      for (TokenId id : ids) ASSERT_FALSE(t->is_control(id));
      std::string expected = s;  // a "▁" in the text is a space to SentencePiece
      for (size_t at; (at = expected.find("\xE2\x96\x81")) != std::string::npos;) {
        expected.replace(at, 3, " ");
      }
      ASSERT_EQ(t->decode(ids), expected) << printable(s);
    }
  }
}

TEST(SpmVocabulary, ConcurrentTokenizeAgrees) {
  const std::string text =
      "Concurrent tokenization of caf\xC3\xA9 and \xE5\x8C\x97\xE4\xBA\xAC "
      "\xF0\x9F\x98\x81 with <s> and   spaces.";
  const Ids expected = llama().tokenize(text);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 300; ++k) mismatches[i] += llama().tokenize(text) != expected;
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

TEST(SpmVocabulary, LongTextWithoutSpacesMergesAsAWhole) {
  // No "▁" to chunk at: one word of 20k characters goes through the heap merge.
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "abc\xE5\x8C\x97";
  const Ids ids = llama().tokenize(text);
  EXPECT_EQ(llama().decode(ids), text);
  EXPECT_LT(ids.size(), text.size());
}

}  // namespace
}  // namespace ragkit::embed
