// TextAnalyzer: what becomes a term (ICU word segments, not punctuation), possessives, case
// folding, Lucene's stop words, Porter stemming as Lucene's PorterStemFilter gives it, invalid
// UTF-8, and concurrent use.
#include "ragkit/retrieval/text_analyzer.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ragkit/common/utf8.h"

namespace ragkit::retrieval {
namespace {

using Terms = std::vector<std::string>;

std::unique_ptr<TextAnalyzer> make(AnalyzerOptions options = {}) {
  auto analyzer = TextAnalyzer::create(std::move(options));
  EXPECT_TRUE(analyzer.ok()) << analyzer.status().to_string();
  return analyzer.ok() ? std::move(analyzer).value() : nullptr;
}

Terms analyze(const TextAnalyzer& analyzer, std::string_view text) {
  Terms terms;
  analyzer.analyze(text, terms);
  return terms;
}

AnalyzerOptions words_only() {  // segmentation and folding only
  AnalyzerOptions options;
  options.stem = false;
  options.remove_stop_words = false;
  return options;
}

TEST(TextAnalyzer, DefaultsAreLuceneEnglish) {
  const AnalyzerOptions options;
  EXPECT_EQ(options.language, "english");
  EXPECT_TRUE(options.stem);
  EXPECT_TRUE(options.remove_stop_words);
}

TEST(TextAnalyzer, SegmentsWordsAndNumbersDropsPunctuation) {
  auto a = make(words_only());
  // UAX #29 keeps decimal numbers, thousands separators, inner apostrophes and underscores
  // inside one word, as Lucene's StandardTokenizer does.
  EXPECT_EQ(
      analyze(*a, "Hello, world! Pi is 3.14; 1,000 dogs (e.g. snake_case) -- ok?"),
      (Terms{"hello", "world", "pi", "is", "3.14", "1,000", "dogs", "e.g", "snake_case", "ok"}));
  EXPECT_EQ(analyze(*a, "COVID-19 p53\tIL-6\nx"), (Terms{"covid", "19", "p53", "il", "6", "x"}));
  EXPECT_EQ(analyze(*a, " .,;:!?()[]{}<>\"'-\u2014\u2026 "), Terms{});
  EXPECT_EQ(analyze(*a, ""), Terms{});
  // Emoji and symbols are not words.
  EXPECT_EQ(analyze(*a, "good \U0001F600 + = % $ \u00A9 news"), (Terms{"good", "news"}));
}

TEST(TextAnalyzer, AppendsWithoutClearing) {
  auto a = make(words_only());
  Terms terms = {"kept"};
  a->analyze("one two", terms);
  EXPECT_EQ(terms, (Terms{"kept", "one", "two"}));
}

TEST(TextAnalyzer, CjkAndOtherScripts) {
  auto a = make(words_only());
  // Ideographs are segmented by ICU's dictionary; whatever the cut, the terms put together give
  // back the text without its punctuation.
  const Terms cjk = analyze(*a, "北京大学的学生。東京タワー！");
  ASSERT_FALSE(cjk.empty());
  std::string joined;
  for (const auto& t : cjk) joined += t;
  EXPECT_EQ(joined, "北京大学的学生東京タワー");
  EXPECT_GE(cjk.size(), 3u) << "dictionary segmentation should cut the run into several words";
  // Greek final sigma folds to sigma; Cyrillic and Greek are lower-cased.
  EXPECT_EQ(analyze(*a, "ΟΔΟΣ οδος Москва"), (Terms{"οδοσ", "οδοσ", "москва"}));
}

TEST(TextAnalyzer, CaseFoldingIsFullFolding) {
  auto a = make(words_only());
  EXPECT_EQ(analyze(*a, "Straße"), (Terms{"strasse"}));
  EXPECT_EQ(analyze(*a, "STRASSE"), (Terms{"strasse"}));
  EXPECT_EQ(analyze(*a, "MiXeD ÉCOLE école"), (Terms{"mixed", "école", "école"}));
  auto stemmed = make();
  EXPECT_EQ(analyze(*stemmed, "Straße"), analyze(*stemmed, "STRASSE"));
}

TEST(TextAnalyzer, EnglishPossessives) {
  auto a = make(words_only());
  EXPECT_EQ(analyze(*a, "John's JOHN'S John\u2019s John\uFF07s Johns"),
            (Terms{"john", "john", "john", "john", "johns"}));
  // Only a trailing 's goes; other contractions stay whole, as in Lucene.
  EXPECT_EQ(analyze(*a, "don't o'neil"), (Terms{"don't", "o'neil"}));
}

TEST(TextAnalyzer, LuceneEnglishStopWords) {
  auto a = make();
  // All 33 words of Lucene's EnglishAnalyzer default set, in any case.
  EXPECT_EQ(analyze(*a,
                    "a an and are as at be but by for if in into is it no not of on or such "
                    "that the their then there these they this to was will with "
                    "THE The tHe"),
            Terms{});
  // Common words outside the set survive (Lucene's list is short on purpose).
  EXPECT_EQ(analyze(*a, "The fox is in the box, he said"), (Terms{"fox", "box", "he", "said"}));
  AnalyzerOptions keep = words_only();
  EXPECT_EQ(analyze(*make(keep), "the fox is in the box"),
            (Terms{"the", "fox", "is", "in", "the", "box"}));
}

TEST(TextAnalyzer, PorterStemmingAsLucene) {
  auto a = make();
  // Expected stems from Lucene's PorterStemFilter (the original Porter algorithm).
  EXPECT_EQ(analyze(*a, "running runs run"), (Terms{"run", "run", "run"}));
  EXPECT_EQ(analyze(*a, "caresses ponies relational conditional"),
            (Terms{"caress", "poni", "relat", "condit"}));
  // Where Porter and Snowball's newer English (Porter2) differ, we follow Porter (Lucene):
  // Porter2 would give "general", "die", "news", "sky".
  EXPECT_EQ(analyze(*a, "generalization dying news skies"), (Terms{"gener", "dy", "new", "ski"}));
  EXPECT_EQ(analyze(*a, "Diffusion MRI's properties"), (Terms{"diffus", "mri", "properti"}));
  // The stop-word check is on the unstemmed word: "thing" is not a stop word, "this" is.
  EXPECT_EQ(analyze(*a, "this thing"), (Terms{"thing"}));
}

TEST(TextAnalyzer, OtherLanguages) {
  AnalyzerOptions german;
  german.language = "german";
  auto a = make(german);
  EXPECT_EQ(analyze(*a, "Häuser die HÄUSER"), (Terms{"haus", "die", "haus"}));  // no stop list
  AnalyzerOptions klingon;
  klingon.language = "klingon";
  auto bad = TextAnalyzer::create(klingon);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("english"), std::string::npos)  // lists the known ones
      << bad.status().message();
  // Without stemming an unknown language is fine: nothing needs a stemmer.
  klingon.stem = false;
  EXPECT_TRUE(TextAnalyzer::create(klingon).ok());
}

TEST(TextAnalyzer, InvalidUtf8IsRepairedNotRead) {
  auto a = make(words_only());
  // Lone continuation bytes, a truncated sequence, overlong forms, a UTF-16 surrogate, bytes
  // that never occur in UTF-8: each becomes U+FFFD, which separates words.
  EXPECT_EQ(analyze(*a,
                    "caf\xC3 ok\x80\xBFyes \xC0\xAFno \xED\xA0\x80sur \xFF\xFE"
                    "end"),
            (Terms{"caf", "ok", "yes", "no", "sur", "end"}));
  // A sequence cut by the end of the text (the std::string_view holds no terminator to lean on).
  const std::string cut = "word \xE2\x82";
  EXPECT_EQ(analyze(*a, std::string_view(cut.data(), cut.size())), (Terms{"word"}));
  // Valid multi-byte letters around invalid bytes survive.
  EXPECT_EQ(analyze(*a, "\xC3\xA9t\xC3\xA9\xFFna\xC3\xAFve"), (Terms{"été", "naïve"}));
}

TEST(TextAnalyzer, TermsAreValidUtf8WithoutNul) {
  auto a = make();
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 300; ++round) {
    std::string text(static_cast<size_t>(rng() % 200), '\0');
    for (char& c : text) c = static_cast<char>(byte(rng));
    Terms terms;
    a->analyze(text, terms);
    for (const std::string& t : terms) {
      EXPECT_FALSE(t.empty());
      EXPECT_EQ(t.find('\0'), std::string::npos);
      EXPECT_TRUE(is_valid_utf8(t)) << "term of " << t.size() << " bytes";
    }
  }
  EXPECT_EQ(analyze(*a, std::string("left\0right", 10)), (Terms{"left", "right"}));
}

TEST(TextAnalyzer, OverlongWordsAreDropped) {
  auto a = make(words_only());
  const std::string longest(TextAnalyzer::kMaxWordLength, 'x');
  const std::string too_long(TextAnalyzer::kMaxWordLength + 1, 'y');
  EXPECT_EQ(analyze(*a, "a " + longest + " " + too_long + " b"), (Terms{"a", longest, "b"}));
}

TEST(TextAnalyzer, ConcurrentCallsAgreeWithSequentialOnes) {
  auto a = make();
  std::vector<std::string> texts;
  std::mt19937 rng(11);
  const std::vector<std::string> words = {"Running", "dogs'",         "Straße", "北京大学",
                                          "3.14",    "the",           "John's", "cells",
                                          "\xFF",    "généralisation"};
  for (int i = 0; i < 64; ++i) {
    std::string text;
    for (int w = 0; w < 40; ++w) text += words[rng() % words.size()] + " ";
    texts.push_back(text);
  }
  std::vector<Terms> expected;
  for (const auto& t : texts) expected.push_back(analyze(*a, t));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          if (analyze(*a, texts[i]) != expected[i]) ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace ragkit::retrieval
