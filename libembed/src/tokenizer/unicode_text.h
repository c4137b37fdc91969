// Unicode helpers for the SentencePiece-BPE and byte-level BPE tokenizers: strict UTF-8 decoding
// and repair, the code point classes the pre-tokenizers test (llama.cpp's unicode_cpt_flags: one
// general-category bit plus White_Space), and GPT-2's byte <-> code point mapping.
//
// The classes come from ICU (Unicode 15 here); llama.cpp generates the same bits from
// UnicodeData.txt, so the two agree except on code points assigned after ICU's Unicode version.
//
// Thread-safety: free functions; the lookup tables are built once, on first use, thread-safely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ragkit/common/utf8.h"

namespace ragkit::embed::detail {

// ---------------------------------------------------------------------------------------------
// UTF-8

// Validation, repair and encoding live in libcommon (ragkit/common/utf8.h), shared with the
// document loaders; the tokenizers use them under their old names.
using ragkit::append_utf8;
using ragkit::is_valid_utf8;
using ragkit::kReplacementCharacter;
using ragkit::repair_utf8;
using ragkit::utf8_sequence_length;

// Decodes the code point at s[i] of well-formed UTF-8 and advances i past it.
inline char32_t decode_valid_utf8(const unsigned char* s, size_t& i) {
  const unsigned b0 = s[i];
  if (b0 < 0x80) {
    i += 1;
    return b0;
  }
  if (b0 < 0xE0) {
    const char32_t c = ((b0 & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
    i += 2;
    return c;
  }
  if (b0 < 0xF0) {
    const char32_t c = ((b0 & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
    i += 3;
    return c;
  }
  const char32_t c = ((b0 & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) |
                     (s[i + 3] & 0x3Fu);
  i += 4;
  return c;
}

// Byte length of the UTF-8 sequence a lead byte starts (1 for continuation bytes, as llama.cpp's
// unicode_len_utf8 does); only meaningful on well-formed text.
inline size_t utf8_lead_length(unsigned char lead) {
  return lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// `text` (well-formed UTF-8) in Normalization Form C, through ICU.
std::string nfc_normalize(std::string_view text);

// ---------------------------------------------------------------------------------------------
// Code point classes, llama.cpp's unicode_cpt_flags bits. Every code point of a text has at least
// one bit set (unassigned ones have kUndefined), so 0 means "outside the text".

enum CodePointFlag : uint16_t {
  kUndefined = 0x0001,    // Cn
  kNumber = 0x0002,       // \p{N}
  kLetter = 0x0004,       // \p{L}
  kSeparator = 0x0008,    // \p{Z}
  kMark = 0x0010,         // \p{M}
  kPunctuation = 0x0020,  // \p{P}
  kSymbol = 0x0040,       // \p{S}
  kControl = 0x0080,      // \p{C} except Cn: Cc, Cf, Co, Cs
  kWhitespace = 0x0100,   // the White_Space property (\s in llama.cpp's splitters)
};

uint16_t code_point_flags(char32_t c);

// ---------------------------------------------------------------------------------------------
// GPT-2's byte-level alphabet: each byte is written as one printable code point ('!'..'~',
// '¡'..'¬', '®'..'ÿ' stand for themselves; the other 68 bytes become U+0100.. in byte order, so
// ' ' is 'Ġ' and '\n' is 'Ċ').

char32_t byte_to_gpt2_code_point(uint8_t byte);
// The byte a code point of the alphabet stands for, or -1.
int gpt2_code_point_to_byte(char32_t c);

}  // namespace ragkit::embed::detail
