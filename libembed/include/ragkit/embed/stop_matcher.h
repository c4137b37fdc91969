// StopMatcher: stop strings over streamed text. The generator feeds it each token's text as it
// is produced; it says how much of the text so far can be shown now and whether a stop string
// has appeared. Text that could be the beginning of a stop string is held back until the next
// pieces decide it; when a stop string appears, the text before it is released and the stop
// string itself never is. Everything released, concatenated, is the generated text cut before
// the first stop string (or all of it, after finish()).
//
// Also held back: an incomplete UTF-8 sequence at the end of the text (a token may end in the
// middle of a character), so that what is released can be printed piece by piece. finish() and a
// stop release what is there as it is.
//
// Which stop string: the stream stops as soon as any stop string is complete (the generator
// must stop at that token). If several are complete in the same feed(), the one that starts
// first wins, the shorter on equal starts. So with stop strings "abcd" and "bc", the stream
// "a", "b", "c" stops before "bc" even though "abcd" might have followed.
//
// Thread-safety: one thread at a time. Views returned point into the matcher and stay valid
// until its next non-const call.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ragkit::embed {

class StopMatcher {
 public:
  struct Output {
    std::string_view text;  // to emit now; may be empty
    bool stopped = false;   // a stop string was found: `text` is the last text of the stream
  };

  // Empty stop strings are ignored. No stop strings: everything passes through (apart from the
  // UTF-8 hold-back).
  explicit StopMatcher(std::span<const std::string> stop_strings);

  // Appends `piece` to the stream. After a stop, further feeds return {"", true}.
  Output feed(std::string_view piece);
  // End of the stream without a stop (end-of-generation token, token limit): releases the text
  // held back. Returns "" after a stop.
  std::string_view finish();

  bool stopped() const { return matched_ != kNone; }
  // The stop string that stopped the stream; "" while not stopped.
  std::string_view matched_stop_string() const;
  // How many bytes are held back now.
  size_t held_back() const { return pending_.size(); }

  // Forgets the stream (keeps the stop strings) for the next generation.
  void reset();

 private:
  static constexpr size_t kNone = static_cast<size_t>(-1);

  std::vector<std::string> stops_;
  std::string pending_;  // text not yet released
  std::string out_;      // what the last call released
  size_t matched_ = kNone;
};

}  // namespace ragkit::embed
