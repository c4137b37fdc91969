// StopMatcher tests: stop strings whole and split across pieces, prefixes held back and then
// released when the text turns out different, overlapping and shared prefixes, UTF-8 hold-back,
// and the invariant that everything released is the text cut before the first stop.
#include "ragkit/embed/stop_matcher.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ragkit::embed {
namespace {

using Strings = std::vector<std::string>;

struct Streamed {
  Strings released;  // what each feed released
  std::string text;  // all of it, finish() included
  bool stopped = false;
  std::string matched;
};

Streamed stream_through(const Strings& stops, const Strings& pieces) {
  StopMatcher m(stops);
  Streamed r;
  for (const std::string& p : pieces) {
    const StopMatcher::Output out = m.feed(p);
    r.released.emplace_back(out.text);
    r.text += out.text;
    if (out.stopped) {
      r.stopped = true;
      break;
    }
  }
  if (!r.stopped) r.text += m.finish();
  r.matched = std::string(m.matched_stop_string());
  return r;
}

TEST(StopMatcher, NoStopStringsPassEverythingThrough) {
  const Streamed r = stream_through({}, {"Hello", ", ", "world"});
  EXPECT_EQ(r.released, (Strings{"Hello", ", ", "world"}));
  EXPECT_FALSE(r.stopped);
}

TEST(StopMatcher, StopInsideOnePiece) {
  const Streamed r = stream_through({"<|im_end|>"}, {"The answer", " is 42.<|im_end|>ignored"});
  EXPECT_EQ(r.released, (Strings{"The answer", " is 42."}));
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.matched, "<|im_end|>");
  EXPECT_EQ(r.text, "The answer is 42.");
}

TEST(StopMatcher, StopSplitAcrossPieces) {
  const Streamed r = stream_through({"<|im_end|>"}, {"Done", ".<|im", "_en", "d|>", "more"});
  EXPECT_EQ(r.released, (Strings{"Done", ".", "", ""}));
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "Done.");
}

TEST(StopMatcher, StopOneCharacterPerPiece) {
  Strings pieces;
  for (char c : std::string("ab\n\nUser: next")) pieces.emplace_back(1, c);
  const Streamed r = stream_through({"\nUser:"}, pieces);
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "ab\n");
}

TEST(StopMatcher, HeldPrefixIsReleasedWhenTheTextDiverges) {
  StopMatcher m(Strings{"###"});
  EXPECT_EQ(m.feed("a #").text, "a ");
  EXPECT_EQ(m.held_back(), 1u);
  EXPECT_EQ(m.feed("#").text, "");
  EXPECT_EQ(m.held_back(), 2u);
  const StopMatcher::Output out = m.feed("x");
  EXPECT_EQ(out.text, "##x");
  EXPECT_FALSE(out.stopped);
  EXPECT_EQ(m.held_back(), 0u);
}

TEST(StopMatcher, PartialStopAtTheEndIsReleasedByFinish) {
  StopMatcher m(Strings{"</s>"});
  EXPECT_EQ(m.feed("text</").text, "text");
  EXPECT_EQ(m.finish(), "</");
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.matched_stop_string(), "");
}

TEST(StopMatcher, RepeatedCharactersInTheStopString) {
  // "aab" after "aaa": the held "aa" must stay held (a prefix of "aab"), and the first 'a' goes.
  const Streamed r = stream_through({"aab"}, {"x", "a", "a", "a", "b", "tail"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "xa");
  EXPECT_EQ(r.released, (Strings{"x", "", "", "a", ""}));
}

TEST(StopMatcher, StopStringsSharingAPrefix) {
  // Both begin with "<|im_"; the text decides which.
  const Strings stops = {"<|im_end|>", "<|im_start|>"};
  Streamed r = stream_through(stops, {"hi<|im_", "start|>user"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.matched, "<|im_start|>");
  EXPECT_EQ(r.text, "hi");
  r = stream_through(stops, {"hi<|im_", "end|>"});
  EXPECT_EQ(r.matched, "<|im_end|>");
  EXPECT_EQ(r.text, "hi");
}

TEST(StopMatcher, OverlappingStopStringsStopAtTheFirstComplete) {
  // "bc" completes while "abcd" is still open: the stream stops before "bc".
  Streamed r = stream_through({"abcd", "bc"}, {"xa", "b", "c", "d"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.matched, "bc");
  EXPECT_EQ(r.text, "xa");
  // Both complete in the same piece: the earlier start wins.
  r = stream_through({"bc", "abcd"}, {"xabcd"});
  EXPECT_EQ(r.matched, "abcd");
  EXPECT_EQ(r.text, "x");
  // Same start: the shorter one, which completed first.
  r = stream_through({"\n\nUser:", "\n\n"}, {"ok\n\nUser: hi"});
  EXPECT_EQ(r.matched, "\n\n");
  EXPECT_EQ(r.text, "ok");
}

TEST(StopMatcher, LongestHeldPrefixAcrossStops) {
  // "ab" is a prefix of "abc" and "b" of "bx": hold the longer, "ab".
  StopMatcher m(Strings{"abc", "bx"});
  EXPECT_EQ(m.feed("zab").text, "z");
  EXPECT_EQ(m.held_back(), 2u);
  const StopMatcher::Output out = m.feed("x");
  EXPECT_TRUE(out.stopped);
  EXPECT_EQ(out.text, "a");
  EXPECT_EQ(m.matched_stop_string(), "bx");
}

TEST(StopMatcher, FeedsAfterAStopReturnNothing) {
  StopMatcher m(Strings{"END"});
  EXPECT_TRUE(m.feed("xEND").stopped);
  const StopMatcher::Output out = m.feed("more");
  EXPECT_TRUE(out.stopped);
  EXPECT_EQ(out.text, "");
  EXPECT_EQ(m.finish(), "");
  m.reset();
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.feed("again").text, "again");
}

TEST(StopMatcher, EmptyStopStringsAreIgnored) {
  const Streamed r = stream_through({"", "STOP"}, {"abc", "STOP"});
  EXPECT_EQ(r.text, "abc");
  EXPECT_EQ(r.matched, "STOP");
}

TEST(StopMatcher, IncompleteUtf8IsHeldUntilComplete) {
  // "é" is C3 A9 and "€" E2 82 AC; a token may end between their bytes.
  StopMatcher m(Strings{});
  EXPECT_EQ(m.feed("caf\xC3").text, "caf");
  EXPECT_EQ(m.feed("\xA9 \xE2\x82").text, "\xC3\xA9 ");
  EXPECT_EQ(m.feed("\xAC!").text, "\xE2\x82\xAC!");
  // A four-byte character (U+1F600) one byte at a time.
  EXPECT_EQ(m.feed("\xF0").text, "");
  EXPECT_EQ(m.feed("\x9F").text, "");
  EXPECT_EQ(m.feed("\x98").text, "");
  EXPECT_EQ(m.feed("\x80").text, "\xF0\x9F\x98\x80");
  // Invalid bytes are not waited for.
  EXPECT_EQ(m.feed("a\x80").text, "a\x80");
  EXPECT_EQ(m.feed("\xFF").text, "\xFF");
  // finish() releases an incomplete tail as it is.
  EXPECT_EQ(m.feed("x\xE2").text, "x");
  EXPECT_EQ(m.finish(), "\xE2");
}

TEST(StopMatcher, ReleasedTextIsTheStreamCutBeforeTheFirstStop) {
  // Every way of cutting the stream into pieces of 1..4 bytes gives the same text.
  const std::string stream = "Sure! ##Answer: 42 <|eot|> ignored <|eot_id|> later";
  const Strings stops = {"<|eot_id|>", "##Answer: 43", "42 <|"};
  for (size_t width = 1; width <= 4; ++width) {
    for (size_t offset = 0; offset < width; ++offset) {
      Strings pieces;
      if (offset > 0) pieces.push_back(stream.substr(0, offset));
      for (size_t i = offset; i < stream.size(); i += width)
        pieces.push_back(stream.substr(i, width));
      const Streamed r = stream_through(stops, pieces);
      EXPECT_TRUE(r.stopped);
      EXPECT_EQ(r.matched, "42 <|");
      EXPECT_EQ(r.text, "Sure! ##Answer: ") << "width " << width << " offset " << offset;
    }
  }
}

}  // namespace
}  // namespace ragkit::embed
