// UTF-8: validation, repair and encoding, shared by the tokenizers (libembed), the document
// loaders and the text analyzer (libretrieval), and the tests and fuzzers that check their output.
//
// Well-formed means what the Unicode standard means (Table 3-7): no overlong forms, no surrogates,
// nothing past U+10FFFF. Repair replaces each maximal ill-formed subpart with one U+FFFD (the
// Unicode / WHATWG rule), the way browsers, ICU and Python's "replace" handler do.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ragkit {

constexpr char32_t kReplacementCharacter = 0xFFFD;

// Whether `text` is well-formed UTF-8.
bool is_valid_utf8(std::string_view text);

// `text` with every ill-formed sequence replaced by U+FFFD, one per maximal subpart
// ("\xE2\x82" -> one U+FFFD, "\xFF\xFF" -> two).
std::string repair_utf8(std::string_view text);

// Length in bytes of the well-formed sequence starting at s[0] (n > 0 bytes available), or 0 when
// s[0..] is ill-formed or truncated. For an ill-formed start, *maximal_subpart receives how many
// bytes form the maximal subpart (at least 1), when not null.
size_t utf8_sequence_length(const unsigned char* s, size_t n, size_t* maximal_subpart = nullptr);

// Appends the UTF-8 encoding of code point `c` (which must be a scalar value) to `out`.
void append_utf8(std::string& out, char32_t c);

}  // namespace ragkit
