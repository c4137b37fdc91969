#include "ragkit/embed/stop_matcher.h"

#include <algorithm>

namespace ragkit::embed {
namespace {

// The length of the longest proper prefix of `stop` that `text` ends with.
size_t partial_match_at_end(std::string_view text, std::string_view stop) {
  for (size_t k = std::min(stop.size() - 1, text.size()); k > 0; --k) {
    if (text.substr(text.size() - k) == stop.substr(0, k)) return k;
  }
  return 0;
}

// The largest n <= text.size() such that text[0, n) does not end inside a UTF-8 sequence that
// continues past text's end. Invalid bytes are not held: only a valid lead byte followed by too
// few continuation bytes is.
size_t complete_utf8_prefix(std::string_view text) {
  const size_t n = text.size();
  // Step back over at most 3 continuation bytes to the last lead byte.
  size_t i = n;
  while (i > 0 && n - i < 3 && (static_cast<unsigned char>(text[i - 1]) & 0xC0) == 0x80) --i;
  if (i == 0) return n;
  const auto lead = static_cast<unsigned char>(text[i - 1]);
  size_t length = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
  } else {
    return n;  // ASCII, a stray continuation byte or an invalid lead: nothing to wait for
  }
  const size_t have = n - (i - 1);
  return have < length ? i - 1 : n;
}

}  // namespace

StopMatcher::StopMatcher(std::span<const std::string> stop_strings) {
  for (const std::string& s : stop_strings) {
    if (!s.empty()) stops_.push_back(s);
  }
}

std::string_view StopMatcher::matched_stop_string() const {
  return matched_ == kNone ? std::string_view() : std::string_view(stops_[matched_]);
}

void StopMatcher::reset() {
  pending_.clear();
  out_.clear();
  matched_ = kNone;
}

StopMatcher::Output StopMatcher::feed(std::string_view piece) {
  out_.clear();
  if (stopped()) return {out_, true};
  pending_.append(piece);

  // A complete stop string. pending_ starts where no stop string can have started earlier (that
  // text was released only because no stop string could begin in it), so search all of it.
  size_t best_pos = std::string::npos;
  for (size_t s = 0; s < stops_.size(); ++s) {
    const size_t pos = pending_.find(stops_[s]);
    if (pos == std::string::npos) continue;
    if (pos < best_pos || (pos == best_pos && stops_[s].size() < stops_[matched_].size())) {
      best_pos = pos;
      matched_ = s;
    }
  }
  if (best_pos != std::string::npos) {
    out_.assign(pending_, 0, best_pos);
    pending_.clear();
    return {out_, true};
  }

  // Hold back the longest end of the text that some stop string starts with.
  size_t hold = 0;
  for (const std::string& stop : stops_)
    hold = std::max(hold, partial_match_at_end(pending_, stop));
  const size_t release =
      complete_utf8_prefix(std::string_view(pending_).substr(0, pending_.size() - hold));
  out_.assign(pending_, 0, release);
  pending_.erase(0, release);
  return {out_, false};
}

std::string_view StopMatcher::finish() {
  out_.clear();
  if (stopped()) return out_;
  out_.swap(pending_);
  return out_;
}

}  // namespace ragkit::embed
