// The pre-tokenizer passes; what each reproduces is in pre_tokenizer.h and beside each pass.
#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "tokenizer/unicode_text.h"

namespace ragkit::embed::detail {
namespace {

constexpr uint16_t kWordClass = kWhitespace | kLetter | kNumber;

// Segment ends are appended through this, which drops empty segments (llama.cpp's _add_token
// and regex splitters never emit an empty one).
struct Emitter {
  std::vector<uint32_t>& out;
  uint32_t last;
  void to(size_t end) {
    if (end > last) {
      out.push_back(static_cast<uint32_t>(end));
      last = static_cast<uint32_t>(end);
    }
  }
};

struct Text {
  const char32_t* cp;
  const uint16_t* flags;
};

// GPT-2's regex, 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+, as
// llama.cpp's unicode_regex_split_custom_gpt2 scans it.
void gpt2_pass(const Text& t, size_t begin, size_t end, Emitter& emit) {
  auto flags_at = [&](size_t p) -> uint16_t { return p < end ? t.flags[p] : 0; };
  size_t pos = begin;
  while (pos < end) {
    const char32_t c = t.cp[pos];
    const uint16_t f = t.flags[pos];
    if (c == '\'' && pos + 1 < end) {
      const char32_t c1 = t.cp[pos + 1];
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
        pos += 2;
        emit.to(pos);
        continue;
      }
      if (pos + 2 < end) {
        const char32_t c2 = t.cp[pos + 2];
        if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
          pos += 3;
          emit.to(pos);
          continue;
        }
      }
    }
    const uint16_t f2 = c == ' ' ? flags_at(pos + 1) : f;
    if (f2 & kLetter) {
      pos += c == ' ';
      while (flags_at(pos) & kLetter) ++pos;
      emit.to(pos);
      continue;
    }
    if (f2 & kNumber) {
      pos += c == ' ';
      while (flags_at(pos) & kNumber) ++pos;
      emit.to(pos);
      continue;
    }
    if (!(f2 & kWordClass) && f2 != 0) {
      pos += c == ' ';
      for (uint16_t g = flags_at(pos); g != 0 && !(g & kWordClass); g = flags_at(pos)) ++pos;
      emit.to(pos);
      continue;
    }
    size_t n_space = 0;
    while (flags_at(pos + n_space) & kWhitespace) ++n_space;
    if (n_space > 1 && pos + n_space < end) {  // \s+(?!\S): leave the last one to the next word
      pos += n_space - 1;
      emit.to(pos);
      continue;
    }
    if (n_space > 0) {
      pos += n_space;
      emit.to(pos);
      continue;
    }
    emit.to(++pos);
  }
}

// Llama 3's regex, (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+, as llama.cpp's
// unicode_regex_split_custom_llama3 scans it. With max_digits = 1 it is Qwen2's regex (\p{N}
// instead of \p{N}{1,3}), which llama.cpp runs through std::regex; every alternative of that
// regex matches here exactly what std::regex's leftmost-alternative search does.
void llama3_pass(const Text& t, size_t begin, size_t end, size_t max_digits, Emitter& emit) {
  auto flags_at = [&](size_t p) -> uint16_t { return p < end ? t.flags[p] : 0; };
  auto lower = [](char32_t c) -> char32_t { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; };
  auto is_cr_lf = [](char32_t c) { return c == '\r' || c == '\n'; };
  size_t pos = begin;
  while (pos < end) {
    const char32_t c = t.cp[pos];
    const uint16_t f = t.flags[pos];
    if (c == '\'' && pos + 1 < end) {
      const char32_t c1 = lower(t.cp[pos + 1]);
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
        pos += 2;
        emit.to(pos);
        continue;
      }
      if (pos + 2 < end) {
        const char32_t c2 = lower(t.cp[pos + 2]);
        if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
          pos += 3;
          emit.to(pos);
          continue;
        }
      }
    }
    if (!is_cr_lf(c) && !(f & kNumber)) {  // [^\r\n\p{L}\p{N}]?\p{L}+
      if ((f & kLetter) || (flags_at(pos + 1) & kLetter)) {
        ++pos;
        while (flags_at(pos) & kLetter) ++pos;
        emit.to(pos);
        continue;
      }
    }
    if (f & kNumber) {  // \p{N}{1,max_digits}
      size_t group_start = pos;
      while (flags_at(pos) & kNumber) {
        if (++pos - group_start >= max_digits) {
          emit.to(pos);
          group_start = pos;
        }
      }
      emit.to(pos);
      continue;
    }
    // " ?[^\s\p{L}\p{N}]+[\r\n]*". llama.cpp tests the current code point's flags for being
    // non-zero (always true inside the text) where the GPT-2 scanner tests the next one's.
    const uint16_t f2 = c == ' ' ? flags_at(pos + 1) : f;
    if (!(f2 & kWordClass) && f != 0) {
      pos += c == ' ';
      for (uint16_t g = flags_at(pos); g != 0 && !(g & kWordClass); g = flags_at(pos)) ++pos;
      while (pos < end && is_cr_lf(t.cp[pos])) ++pos;
      emit.to(pos);
      continue;
    }
    size_t n_space = 0;
    size_t last_cr_lf_end = 0;
    while (flags_at(pos + n_space) & kWhitespace) {
      if (is_cr_lf(t.cp[pos + n_space])) last_cr_lf_end = pos + n_space + 1;
      ++n_space;
    }
    if (last_cr_lf_end > 0) {  // \s*[\r\n]+
      pos = last_cr_lf_end;
      emit.to(pos);
      continue;
    }
    if (n_space > 1 && pos + n_space < end) {  // \s+(?!\S)
      pos += n_space - 1;
      emit.to(pos);
      continue;
    }
    if (n_space > 0) {  // \s+
      pos += n_space;
      emit.to(pos);
      continue;
    }
    emit.to(++pos);
  }
}

// The std::regex passes. Each finds its leftmost matches in the segment; matches and the gaps
// between them become segments.

// X+ : maximal runs of the class.
template <typename Class>
void run_pass(const Text& t, size_t begin, size_t end, Class in_class, Emitter& emit) {
  size_t pos = begin;
  while (pos < end) {
    if (!in_class(t.cp[pos], t.flags[pos])) {
      ++pos;
      continue;
    }
    emit.to(pos);
    while (pos < end && in_class(t.cp[pos], t.flags[pos])) ++pos;
    emit.to(pos);
  }
  emit.to(end);
}

// X : every code point of the class on its own.
template <typename Class>
void each_pass(const Text& t, size_t begin, size_t end, Class in_class, Emitter& emit) {
  for (size_t pos = begin; pos < end; ++pos) {
    if (in_class(t.cp[pos], t.flags[pos])) {
      emit.to(pos);
      emit.to(pos + 1);
    }
  }
  emit.to(end);
}

// \s?X+ : a run of the class with the one whitespace before it. (No class here contains
// whitespace, so \s? never has to give its character back.)
template <typename Class>
void space_run_pass(const Text& t, size_t begin, size_t end, Class in_class, Emitter& emit) {
  size_t pos = begin;
  while (pos < end) {
    size_t start;
    if ((t.flags[pos] & kWhitespace) && pos + 1 < end &&
        in_class(t.cp[pos + 1], t.flags[pos + 1])) {
      start = pos;
      ++pos;
    } else if (in_class(t.cp[pos], t.flags[pos])) {
      start = pos;
    } else {
      ++pos;
      continue;
    }
    emit.to(start);
    while (pos < end && in_class(t.cp[pos], t.flags[pos])) ++pos;
    emit.to(pos);
  }
  emit.to(end);
}

// \s+$ : the whitespace that ends the segment.
void trailing_space_pass(const Text& t, size_t begin, size_t end, Emitter& emit) {
  size_t start = end;
  while (start > begin && (t.flags[start - 1] & kWhitespace)) --start;
  emit.to(start);
  emit.to(end);
}

// [0-9][0-9][0-9] : leftmost groups of three ASCII digits.
void digit_triple_pass(const Text& t, size_t begin, size_t end, Emitter& emit) {
  auto digit = [&](size_t p) { return t.cp[p] >= '0' && t.cp[p] <= '9'; };
  size_t pos = begin;
  while (pos + 2 < end) {
    if (digit(pos) && digit(pos + 1) && digit(pos + 2)) {
      emit.to(pos);
      pos += 3;
      emit.to(pos);
    } else {
      ++pos;
    }
  }
  emit.to(end);
}

// ---------------------------------------------------------------------------------------------
// Classes. On llama.cpp's collapsed text \p{N}, \p{L} and \p{P} are exactly the category bits
// (the ASCII characters it keeps as they are have the same categories). Explicit code point
// ranges are matched by std::wregex against the code points, where llama.cpp has replaced
// non-ASCII whitespace by U+000B first.

inline char32_t wregex_code_point(char32_t c, uint16_t flags) {
  return c > 0x7F && (flags & kWhitespace) ? 0x0B : c;
}

inline bool is_ascii_punct_or_symbol(char32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

// [\p{P}\$\+<=>\^~\|`]+ (falcon): every ASCII punctuation or symbol, and \p{P} beyond ASCII.
bool falcon_punct(char32_t c, uint16_t flags) {
  return c < 0x80 ? is_ascii_punct_or_symbol(c) : (flags & kPunctuation) != 0;
}

// [\p{P}\$\+<=>\^~\|]+ (default): the same without '`'.
bool default_punct(char32_t c, uint16_t flags) {
  return c < 0x80 ? is_ascii_punct_or_symbol(c) && c != '`' : (flags & kPunctuation) != 0;
}

bool number(char32_t, uint16_t flags) { return (flags & kNumber) != 0; }
bool letter(char32_t, uint16_t flags) { return (flags & kLetter) != 0; }
bool punctuation(char32_t, uint16_t flags) { return (flags & kPunctuation) != 0; }
bool cr_lf(char32_t c, uint16_t) { return c == '\r' || c == '\n'; }

struct Range {
  char32_t first, last;
};

template <size_t N>
bool in_ranges(const std::array<Range, N>& ranges, char32_t c) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), c,
                             [](char32_t v, const Range& r) { return v < r.first; });
  return it != ranges.begin() && c <= (it - 1)->last;
}

// DeepSeek LLM's letter class,
// [A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-Ֆ...]:
// the cased letters of the Unicode version it was written against.
constexpr std::array<Range, 84> kDeepseekLetters = {{
    {0x41, 0x5A},       {0x61, 0x7A},       {0xB5, 0xB5},       {0xC0, 0xD6},
    {0xD8, 0xF6},       {0xF8, 0x1BA},      {0x1BC, 0x1BF},     {0x1C4, 0x293},
    {0x295, 0x2AF},     {0x370, 0x373},     {0x376, 0x377},     {0x37B, 0x37D},
    {0x37F, 0x37F},     {0x386, 0x386},     {0x388, 0x38A},     {0x38C, 0x38C},
    {0x38E, 0x3A1},     {0x3A3, 0x3F5},     {0x3F7, 0x481},     {0x48A, 0x52F},
    {0x531, 0x556},     {0x10A0, 0x10C5},   {0x13A0, 0x13F5},   {0x13F8, 0x13FD},
    {0x1C90, 0x1CBA},   {0x1CBD, 0x1CBF},   {0x1D00, 0x1D2B},   {0x1D6B, 0x1D77},
    {0x1D79, 0x1D9A},   {0x1E00, 0x1F15},   {0x1F18, 0x1F1D},   {0x1F20, 0x1F45},
    {0x1F48, 0x1F4D},   {0x1F50, 0x1F57},   {0x1F59, 0x1F59},   {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D},   {0x1F5F, 0x1F7D},   {0x1F80, 0x1FB4},   {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE},   {0x1FC2, 0x1FC4},   {0x1FC6, 0x1FCC},   {0x1FD0, 0x1FD3},
    {0x1FD6, 0x1FDB},   {0x1FE0, 0x1FEC},   {0x1FF2, 0x1FF4},   {0x1FF6, 0x1FFC},
    {0x2102, 0x2102},   {0x2107, 0x2107},   {0x210A, 0x2113},   {0x2115, 0x2115},
    {0x2119, 0x211D},   {0x2124, 0x2124},   {0x2126, 0x2126},   {0x2128, 0x2128},
    {0x212A, 0x212D},   {0x212F, 0x2134},   {0x2139, 0x2139},   {0x213C, 0x213F},
    {0x2145, 0x2149},   {0x214E, 0x214E},   {0x2183, 0x2184},   {0x2C00, 0x2C7B},
    {0x2C7E, 0x2CE4},   {0x2CEB, 0x2CEE},   {0x2CF2, 0x2CF3},   {0xA640, 0xA66D},
    {0xA680, 0xA69B},   {0xA722, 0xA76F},   {0xA771, 0xA787},   {0xA78B, 0xA78E},
    {0xAB70, 0xABBF},   {0xFB00, 0xFB06},   {0xFB13, 0xFB17},   {0xFF21, 0xFF3A},
    {0xFF41, 0xFF5A},   {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
}};

// DeepSeek LLM's punctuation class, [!-/:-~！-／：-～‘-‟　-。] (':'-'~' includes the ASCII
// letters).
constexpr std::array<Range, 6> kDeepseekPunct = {{
    {0x21, 0x2F},
    {0x3A, 0x7E},
    {0x2018, 0x201F},
    {0x3000, 0x3002},
    {0xFF01, 0xFF0F},
    {0xFF1A, 0xFF5E},
}};

// DeepSeek's CJK class, [一-龥ࠀ-一가-퟿].
constexpr std::array<Range, 2> kDeepseekCjk = {{{0x800, 0x9FA5}, {0xAC00, 0xD7FF}}};

bool deepseek_letter(char32_t c, uint16_t flags) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  return in_ranges(kDeepseekLetters, wregex_code_point(c, flags));
}
bool deepseek_punct(char32_t c, uint16_t flags) {
  if (c < 0x80) return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x7E);
  return in_ranges(kDeepseekPunct, wregex_code_point(c, flags));
}
bool deepseek_cjk(char32_t c, uint16_t flags) {
  return c >= 0x800 && in_ranges(kDeepseekCjk, wregex_code_point(c, flags));
}

// Runs `pass(begin, end, emit)` over every segment of scratch.ends.
template <typename Pass>
void apply(SplitScratch& scratch, Pass pass) {
  scratch.next_ends.clear();
  Emitter emit{scratch.next_ends, 0};
  uint32_t begin = 0;
  for (uint32_t end : scratch.ends) {
    pass(begin, end, emit);
    emit.to(end);
    begin = end;
  }
  scratch.ends.swap(scratch.next_ends);
}

}  // namespace

void split_words(PreTokenizer pre_tokenizer, std::string_view text,
                 std::vector<uint32_t>& word_ends, SplitScratch& scratch) {
  if (text.empty()) return;
  if (pre_tokenizer == PreTokenizer::kNone) {
    word_ends.push_back(static_cast<uint32_t>(text.size()));
    return;
  }
  if (pre_tokenizer == PreTokenizer::kMetaspace) {  // a word starts at every "▁"
    static constexpr std::string_view kSpace = "\xE2\x96\x81";
    for (size_t pos = text.find(kSpace, 1); pos != std::string_view::npos;
         pos = text.find(kSpace, pos + 1)) {
      word_ends.push_back(static_cast<uint32_t>(pos));
    }
    word_ends.push_back(static_cast<uint32_t>(text.size()));
    return;
  }

  // Code points, their classes and their byte offsets.
  scratch.code_points.resize(text.size());
  scratch.flags.resize(text.size());
  scratch.byte_offsets.resize(text.size() + 1);
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = 0;
  for (size_t i = 0; i < text.size();) {
    scratch.byte_offsets[n] = static_cast<uint32_t>(i);
    const char32_t c = decode_valid_utf8(s, i);
    scratch.code_points[n] = c;
    scratch.flags[n] = code_point_flags(c);
    ++n;
  }
  scratch.byte_offsets[n] = static_cast<uint32_t>(text.size());
  const Text t{scratch.code_points.data(), scratch.flags.data()};
  scratch.ends.assign(1, static_cast<uint32_t>(n));

  auto gpt2 = [&](size_t b, size_t e, Emitter& emit) { gpt2_pass(t, b, e, emit); };
  auto runs = [&](auto in_class) {
    return [&t, in_class](size_t b, size_t e, Emitter& emit) { run_pass(t, b, e, in_class, emit); };
  };
  auto each = [&](auto in_class) {
    return
        [&t, in_class](size_t b, size_t e, Emitter& emit) { each_pass(t, b, e, in_class, emit); };
  };
  auto space_runs = [&](auto in_class) {
    return [&t, in_class](size_t b, size_t e, Emitter& emit) {
      space_run_pass(t, b, e, in_class, emit);
    };
  };
  auto digit_triples = [&](size_t b, size_t e, Emitter& emit) { digit_triple_pass(t, b, e, emit); };

  switch (pre_tokenizer) {
    case PreTokenizer::kGpt2:
      apply(scratch, gpt2);
      break;
    case PreTokenizer::kLlama3:
      apply(scratch, [&](size_t b, size_t e, Emitter& emit) { llama3_pass(t, b, e, 3, emit); });
      break;
    case PreTokenizer::kQwen2:
      apply(scratch, [&](size_t b, size_t e, Emitter& emit) { llama3_pass(t, b, e, 1, emit); });
      break;
    case PreTokenizer::kFalcon:
      apply(scratch, runs(falcon_punct));
      apply(scratch, gpt2);
      apply(scratch, digit_triples);
      break;
    case PreTokenizer::kStarcoder:
      apply(scratch, each(number));
      apply(scratch, gpt2);
      break;
    case PreTokenizer::kDeepseekLlm:
      apply(scratch, each(cr_lf));
      apply(scratch, space_runs(deepseek_letter));
      apply(scratch, space_runs(deepseek_punct));
      apply(scratch,
            [&](size_t b, size_t e, Emitter& emit) { trailing_space_pass(t, b, e, emit); });
      apply(scratch, runs(deepseek_cjk));
      apply(scratch, runs(number));
      break;
    case PreTokenizer::kDeepseekCoder:
      apply(scratch, each(cr_lf));
      apply(scratch, space_runs(letter));
      apply(scratch, space_runs(punctuation));
      apply(scratch, runs(deepseek_cjk));
      apply(scratch, each(number));
      break;
    case PreTokenizer::kDefault:
      apply(scratch, runs(default_punct));
      apply(scratch, gpt2);
      apply(scratch, runs(number));
      apply(scratch, digit_triples);
      break;
    case PreTokenizer::kNone:
    case PreTokenizer::kMetaspace:
      break;
  }
  for (uint32_t end : scratch.ends) word_ends.push_back(scratch.byte_offsets[end]);
}

}  // namespace ragkit::embed::detail
