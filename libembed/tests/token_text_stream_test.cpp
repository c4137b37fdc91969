// TokenTextStream: characters split across byte tokens are held back until complete, broken
// sequences become U+FFFD, the output is always valid UTF-8 and, for valid input, exactly the
// pieces' bytes; push(id, out) does not allocate once the buffer is large enough.
#include "ragkit/embed/token_text_stream.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tokenizer/unicode_text.h"
#include "tokenizer_test_support.h"

namespace ragkit::embed {
namespace {

using Ids = std::vector<TokenId>;
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

const Tokenizer& llama() {
  static const std::unique_ptr<Tokenizer> t = test_support::vocab_tokenizer("llama-spm");
  if (t == nullptr) std::abort();
  return *t;
}

// Llama's byte tokens: <0xXX> is id 3 + XX.
TokenId byte_token(uint8_t b) { return 3 + b; }

TEST(TokenTextStream, HoldsBackACharacterSplitAcrossByteTokens) {
  TokenTextStream stream(llama());
  // U+1F601 = F0 9F 98 81, one byte token at a time.
  EXPECT_EQ(stream.push(byte_token(0xF0)), "");
  EXPECT_TRUE(stream.has_pending());
  EXPECT_EQ(stream.push(byte_token(0x9F)), "");
  EXPECT_EQ(stream.push(byte_token(0x98)), "");
  EXPECT_EQ(stream.push(byte_token(0x81)), "\xF0\x9F\x98\x81");
  EXPECT_FALSE(stream.has_pending());
  EXPECT_EQ(stream.push(*llama().token_id("\xE2\x96\x81Hello")), " Hello");
  EXPECT_EQ(stream.push(byte_token(0xC3)), "");
  EXPECT_EQ(stream.push(byte_token(0xA9)), "\xC3\xA9");
  EXPECT_EQ(stream.finish(), "");
}

TEST(TokenTextStream, BrokenSequencesBecomeReplacementCharacters) {
  TokenTextStream stream(llama());
  EXPECT_EQ(stream.push(byte_token(0xFF)), kReplacement);  // never starts a character
  EXPECT_EQ(stream.push(byte_token(0x80)), kReplacement);  // a lone continuation byte
  EXPECT_EQ(stream.push(byte_token(0xE2)), "");
  // 'A' cannot continue E2: one U+FFFD for E2, then 'A' itself.
  EXPECT_EQ(stream.push(byte_token('A')), std::string(kReplacement) + "A");
  EXPECT_EQ(stream.push(byte_token(0xED)), "");
  EXPECT_EQ(stream.push(byte_token(0xA0)), std::string(kReplacement) + std::string(kReplacement));
  EXPECT_EQ(stream.push(byte_token(0xE2)), "");
  EXPECT_EQ(stream.push(byte_token(0x82)), "");
  EXPECT_EQ(stream.finish(), kReplacement);  // the stream ended inside a character
  EXPECT_EQ(stream.finish(), "");
}

TEST(TokenTextStream, ControlTokensAddNothingAndSpacesStay) {
  TokenTextStream stream(llama());
  std::string out;
  for (TokenId id : llama().encode("Once upon a time")) stream.push(id, out);
  stream.finish(out);
  // The first word keeps its space: a stream continues text (decode() would strip it).
  EXPECT_EQ(out, " Once upon a time");
}

// Random token ids, random raw bytes: the output is always valid UTF-8 and is the pieces'
// bytes with each maximal ill-formed subsequence replaced, as repair_utf8 does in one go.
TEST(TokenTextStream, OutputIsAlwaysTheRepairedConcatenation) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> pick_id(0, static_cast<int>(llama().vocab_size()) + 9);
  std::uniform_int_distribution<int> pick_byte(0, 255);
  for (int round = 0; round < 2000; ++round) {
    TokenTextStream stream(llama());
    std::string out, raw;
    const int n = 1 + round % 24;
    for (int i = 0; i < n; ++i) {
      if (i % 3 == 0) {
        // Byte tokens are the interesting ones: bias towards them.
        const TokenId id = byte_token(static_cast<uint8_t>(pick_byte(rng)));
        raw += llama().token_piece(id);
        stream.push(id, out);
      } else {
        const TokenId id = pick_id(rng) - 5;  // some out of range
        raw += llama().token_piece(id);
        stream.push(id, out);
      }
      ASSERT_TRUE(detail::is_valid_utf8(out));
    }
    stream.finish(out);
    ASSERT_EQ(out, detail::repair_utf8(raw));
  }
}

TEST(TokenTextStream, ValidTextComesOutExactly) {
  const std::string text = "na\xC3\xAFve \xE5\x8C\x97\xE4\xBA\xAC \xF0\x9F\x98\x81 done";
  TokenTextStream stream(llama());
  std::string out;
  for (TokenId id : llama().tokenize(text)) stream.push(id, out);
  stream.finish(out);
  EXPECT_EQ(out, " " + text);
}

TEST(TokenTextStream, PushIntoABufferDoesNotAllocate) {
  TokenTextStream stream(llama());
  std::string out;
  out.reserve(256);
  const char* data = out.data();
  const size_t capacity = out.capacity();
  for (TokenId id : llama().tokenize("no allocation per token, even for \xC3\xA9 bytes")) {
    stream.push(id, out);
  }
  EXPECT_EQ(out.data(), data);
  EXPECT_EQ(out.capacity(), capacity);
}

}  // namespace
}  // namespace ragkit::embed
