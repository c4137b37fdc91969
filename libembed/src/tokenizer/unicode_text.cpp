#include "tokenizer/unicode_text.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>

#include <array>
#include <climits>
#include <vector>

namespace ragkit::embed::detail {


std::string nfc_normalize(std::string_view text) {
  if (text.size() > static_cast<size_t>(INT32_MAX)) return std::string(text);
  UErrorCode error = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(error);
  if (U_FAILURE(error)) return std::string(text);
  const icu::StringPiece piece(text.data(), static_cast<int32_t>(text.size()));
  if (nfc->isNormalizedUTF8(piece, error) && U_SUCCESS(error)) return std::string(text);
  error = U_ZERO_ERROR;
  std::string out;
  icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(text.size()));
  nfc->normalizeUTF8(0, piece, sink, nullptr, error);
  if (U_FAILURE(error)) return std::string(text);
  return out;
}

namespace {

// White_Space (PropList.txt), the list llama.cpp's tables use.
constexpr bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

uint16_t compute_flags(char32_t c) {
  uint16_t flags;
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_UPPERCASE_LETTER:
    case U_LOWERCASE_LETTER:
    case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER:
      flags = kLetter;
      break;
    case U_NON_SPACING_MARK:
    case U_ENCLOSING_MARK:
    case U_COMBINING_SPACING_MARK:
      flags = kMark;
      break;
    case U_DECIMAL_DIGIT_NUMBER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
      flags = kNumber;
      break;
    case U_SPACE_SEPARATOR:
    case U_LINE_SEPARATOR:
    case U_PARAGRAPH_SEPARATOR:
      flags = kSeparator;
      break;
    case U_CONTROL_CHAR:
    case U_FORMAT_CHAR:
    case U_PRIVATE_USE_CHAR:
    case U_SURROGATE:
      flags = kControl;
      break;
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_CONNECTOR_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
      flags = kPunctuation;
      break;
    case U_MATH_SYMBOL:
    case U_CURRENCY_SYMBOL:
    case U_MODIFIER_SYMBOL:
    case U_OTHER_SYMBOL:
      flags = kSymbol;
      break;
    default:
      flags = kUndefined;
      break;
  }
  if (is_white_space(c)) flags |= kWhitespace;
  return flags;
}

const uint16_t* bmp_flags() {
  static const std::vector<uint16_t> table = [] {
    std::vector<uint16_t> t(0x10000);
    for (char32_t c = 0; c < 0x10000; ++c) t[c] = compute_flags(c);
    return t;
  }();
  return table.data();
}

struct Gpt2Alphabet {
  std::array<char32_t, 256> byte_to_cp{};
  std::array<int16_t, 324> cp_to_byte{};  // code points 0..323
};

const Gpt2Alphabet& gpt2_alphabet() {
  static const Gpt2Alphabet alphabet = [] {
    Gpt2Alphabet a;
    a.cp_to_byte.fill(-1);
    auto printable = [](int b) {
      return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const char32_t cp = printable(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(next++);
      a.byte_to_cp[b] = cp;
      a.cp_to_byte[cp] = static_cast<int16_t>(b);
    }
    return a;
  }();
  return alphabet;
}

}  // namespace

uint16_t code_point_flags(char32_t c) {
  if (c < 0x10000) return bmp_flags()[c];
  if (c > 0x10FFFF) return kUndefined;
  return compute_flags(c);
}

char32_t byte_to_gpt2_code_point(uint8_t byte) { return gpt2_alphabet().byte_to_cp[byte]; }

int gpt2_code_point_to_byte(char32_t c) {
  const auto& table = gpt2_alphabet().cp_to_byte;
  return c < table.size() ? table[c] : -1;
}

}  // namespace ragkit::embed::detail
