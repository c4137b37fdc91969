#include "ragkit/embed/token_text_stream.h"

namespace ragkit::embed {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

std::string TokenTextStream::push(TokenId id) {
  std::string out;
  push(id, out);
  return out;
}

void TokenTextStream::push(TokenId id, std::string& out) {
  push_bytes(tokenizer_->token_piece(id), out);
}

void TokenTextStream::push_bytes(std::string_view bytes, std::string& out) {
  for (size_t i = 0; i < bytes.size();) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    if (n_pending_ > 0) {
      if (b >= next_lo_ && b <= next_hi_) {
        pending_[n_pending_++] = static_cast<char>(b);
        next_lo_ = 0x80;
        next_hi_ = 0xBF;
        ++i;
        if (n_pending_ == n_needed_) {
          out.append(pending_, n_pending_);
          n_pending_ = 0;
        }
        continue;
      }
      // The unfinished character is broken: one U+FFFD for it, and `b` starts afresh.
      out += kReplacement;
      n_pending_ = 0;
      continue;
    }
    ++i;
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
      continue;
    }
    next_lo_ = 0x80;
    next_hi_ = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      n_needed_ = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      n_needed_ = 3;
      if (b == 0xE0) next_lo_ = 0xA0;  // overlong
      if (b == 0xED) next_hi_ = 0x9F;  // surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
      n_needed_ = 4;
      if (b == 0xF0) next_lo_ = 0x90;  // overlong
      if (b == 0xF4) next_hi_ = 0x8F;  // past U+10FFFF
    } else {
      out += kReplacement;  // a continuation byte or a byte no character starts with
      continue;
    }
    pending_[0] = static_cast<char>(b);
    n_pending_ = 1;
  }
}

std::string TokenTextStream::finish() {
  std::string out;
  finish(out);
  return out;
}

void TokenTextStream::finish(std::string& out) {
  if (n_pending_ > 0) out += kReplacement;
  n_pending_ = 0;
}

}  // namespace ragkit::embed
