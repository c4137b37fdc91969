#include "ingest/document_builder.h"

#include <algorithm>

#include "ragkit/common/utf8.h"

namespace ragkit::retrieval::ingest {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence at s[0], or 0 when s[0] does not start one (overlong
// forms, surrogates, code points past U+10FFFF and cut sequences are invalid). NUL counts as
// invalid too: the C parsers downstream would stop at it.
size_t valid_sequence_length(const unsigned char* s, size_t n) {
  return s[0] == 0 ? 0 : utf8_sequence_length(s, n);
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

DecodedText decode_utf8(std::string_view bytes) {
  DecodedText decoded;
  decoded.text.reserve(bytes.size());
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  if (n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) i = 3;
  size_t run_start = i;  // start of the current verbatim run
  size_t bad = 0;
  size_t first_bad = 0;
  auto flush = [&](size_t end) {
    if (end > run_start) {
      const size_t t = decoded.text.size();
      decoded.text.append(bytes.data() + run_start, end - run_start);
      decoded.map.add({t, decoded.text.size(), run_start, end});
    }
  };
  while (i < n) {
    if (s[i] >= 0x20 && s[i] < 0x80) {  // the common case, one byte
      ++i;
      continue;
    }
    const size_t len = valid_sequence_length(s + i, n - i);
    if (len > 0) {
      i += len;
      continue;
    }
    flush(i);
    if (bad++ == 0) first_bad = i;
    const size_t t = decoded.text.size();
    decoded.text.append(kReplacement);
    decoded.map.add({t, decoded.text.size(), i, i + 1});
    ++i;
    run_start = i;
  }
  flush(n);
  if (bad > 0) {
    decoded.warnings.push_back("invalid UTF-8 at byte " + std::to_string(first_bad) + " (" +
                               std::to_string(bad) + (bad == 1 ? " byte" : " bytes") +
                               " replaced with U+FFFD)");
  }
  return decoded;
}

DocumentBuilder::DocumentBuilder(LoadedDocument& document, const SourceMap* decoded)
    : document_(document), decoded_(decoded) {}

void DocumentBuilder::begin_block(std::string heading_path, uint32_t page, bool preformatted) {
  if (open_) end_block();
  separator_start_ = document_.text.size();
  if (!document_.text.empty()) document_.text += "\n\n";
  block_start_ = document_.text.size();
  pending_ = TextBlock{};
  pending_.heading_path = std::move(heading_path);
  pending_.page = page;
  pending_.preformatted = preformatted;
  open_ = true;
}

void DocumentBuilder::end_block() {
  if (!open_) return;
  open_ = false;
  const std::string& text = document_.text;
  size_t begin = block_start_, end = text.size();
  while (begin < end && is_space(text[begin])) ++begin;
  while (end > begin && is_space(text[end - 1])) --end;
  if (begin == end) {  // nothing but whitespace: take the block and its separator back
    document_.text.resize(separator_start_);
    auto& spans = document_.source_map.spans;
    while (!spans.empty() && spans.back().text_begin >= separator_start_) spans.pop_back();
    if (!spans.empty() && spans.back().text_end > separator_start_) {
      spans.back().text_end = separator_start_;  // never happens: separators are unmapped
    }
    return;
  }
  pending_.text_begin = begin;
  pending_.text_end = end;
  document_.blocks.push_back(std::move(pending_));
}

std::string_view DocumentBuilder::open_block_text() const {
  if (!open_) return {};
  return std::string_view(document_.text).substr(block_start_);
}

void DocumentBuilder::append(std::string_view piece, size_t begin, size_t end) {
  if (piece.empty()) return;
  const size_t t = document_.text.size();
  document_.text.append(piece);
  end = std::max(begin, end);
  if (decoded_ == nullptr) {
    document_.source_map.add({t, document_.text.size(), begin, end});
    return;
  }
  const std::vector<SourceSpan>& spans = decoded_->spans;
  if (piece.size() == end - begin && !spans.empty()) {
    // A verbatim copy of parsed text: split it along the decoder's spans, so a repaired byte
    // inside a long line stays atomic and the text around it still maps byte for byte.
    auto it = std::upper_bound(spans.begin(), spans.end(), begin,
                               [](size_t v, const SourceSpan& s) { return v < s.text_begin; });
    if (it != spans.begin()) --it;
    size_t at = begin;
    for (; it != spans.end() && at < end; ++it) {
      if (it->text_end <= at) continue;
      const size_t piece_end = std::min(end, it->text_end);
      const size_t from = std::max(at, it->text_begin);
      const uint64_t byte_begin = decoded_->source_begin(from);
      const uint64_t byte_end = std::max(byte_begin, decoded_->source_end(piece_end));
      document_.source_map.add({t + (from - begin), t + (piece_end - begin), byte_begin, byte_end});
      at = piece_end;
    }
    return;
  }
  const uint64_t byte_begin = decoded_->source_begin(begin);
  const uint64_t byte_end =
      std::max(byte_begin, end > begin ? decoded_->source_end(end) : byte_begin);
  document_.source_map.add({t, document_.text.size(), byte_begin, byte_end});
}

void DocumentBuilder::append_unmapped(std::string_view piece) { document_.text.append(piece); }

void DocumentBuilder::append_words(std::string_view piece, std::string_view source,
                                   size_t window_begin, size_t window_end) {
  size_t i = 0;
  while (i < piece.size()) {
    if (is_space(piece[i])) {
      while (i < piece.size() && is_space(piece[i])) ++i;
      const std::string_view block = open_block_text();
      if (!block.empty() && !is_space(block.back())) append_unmapped(" ");
      continue;
    }
    size_t j = i;
    while (j < piece.size() && !is_space(piece[j])) ++j;
    const std::string_view word = piece.substr(i, j - i);
    i = j;
    append_located(word, source, window_begin, window_end);
  }
}

void DocumentBuilder::append_located(std::string_view piece, std::string_view source,
                                     size_t window_begin, size_t window_end) {
  if (piece.empty()) return;
  window_end = std::min(window_end, source.size());
  window_begin = std::min(window_begin, window_end);
  // A piece is searched for at most this far past the cursor: link targets and tag soup between
  // two words are rarely longer, and the bound keeps a page of unfindable words linear.
  constexpr size_t kSearchReach = 4096;
  const size_t from = std::clamp(cursor_, window_begin, window_end);
  const size_t reach = std::min(window_end, from + kSearchReach + piece.size());
  const size_t found = source.substr(0, reach).find(piece, from);
  if (found != std::string_view::npos) {
    append(piece, found, found + piece.size());
    cursor_ = found + piece.size();
  } else {
    append(piece, from, std::min(window_end, from + piece.size()));
  }
}

}  // namespace ragkit::retrieval::ingest
