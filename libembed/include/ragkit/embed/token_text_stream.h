// TokenTextStream: turns generated token ids into text as they arrive, for streaming output.
//
// A token's piece can end in the middle of a UTF-8 character (byte-fallback tokens <0xE2>, or a
// byte-level BPE token holding the first bytes of an emoji), so printing pieces as they come
// would print broken characters. push() returns only whole, valid characters and keeps the
// bytes of an unfinished one until the tokens that complete it arrive; finish() flushes what is
// left. Bytes that can never form a valid character come out as U+FFFD, one per maximal
// ill-formed subsequence (the Unicode / WHATWG rule), so the output is always valid UTF-8, and
// for ids whose pieces concatenate to valid UTF-8 the concatenated output equals those bytes.
//
// Pieces are token_piece() as they are: control tokens add nothing, and no leading space is
// removed (the first generated token of a continuation keeps its space; Tokenizer::decode()
// is the whole-sequence counterpart that strips it).
//
// Thread-safety: one stream per generation; not safe to use from two threads at once. The
// tokenizer must outlive the stream. Allocation: push(id, out) appends to the caller's buffer
// and allocates only when that buffer grows.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ragkit/embed/tokenizer.h"

namespace ragkit::embed {

class TokenTextStream {
 public:
  explicit TokenTextStream(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

  // The text token `id` completes.
  std::string push(TokenId id);
  // Appends the text token `id` completes to `out`.
  void push(TokenId id, std::string& out);
  // Appends raw bytes, as push() does with a token's piece.
  void push_bytes(std::string_view bytes, std::string& out);
  // The held-back bytes of an unfinished character, as U+FFFD; the stream is then empty.
  std::string finish();
  void finish(std::string& out);
  // Forgets any held-back bytes.
  void reset() { n_pending_ = 0; }
  // Whether bytes of an unfinished character are held back.
  bool has_pending() const { return n_pending_ > 0; }

 private:
  const Tokenizer* tokenizer_;
  char pending_[4] = {};
  uint8_t n_pending_ = 0;                    // bytes of the unfinished character held so far
  uint8_t n_needed_ = 0;                     // its full length
  uint8_t next_lo_ = 0x80, next_hi_ = 0xBF;  // the range its next byte must fall in
};

}  // namespace ragkit::embed
