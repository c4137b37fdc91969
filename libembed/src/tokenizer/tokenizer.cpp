// Tokenizer's shared methods: the defaults for vocabularies without special-token parsing, and
// decode() over token_piece().
#include "ragkit/embed/tokenizer.h"

namespace ragkit::embed {

std::vector<TokenId> Tokenizer::tokenize_special(std::string_view text) const {
  return tokenize(text);
}

std::vector<TokenId> Tokenizer::encode_prompt(std::string_view text) const { return encode(text); }

std::string Tokenizer::decode(std::span<const TokenId> ids) const {
  std::string out;
  const bool strip = strips_leading_space();
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string_view piece = token_piece(ids[i]);
    // llama_detokenize removes the space only from the first token's piece, whatever it is (a
    // leading BOS, whose piece is empty, keeps the space of the token after it).
    if (i == 0 && strip && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
    out += piece;
  }
  return out;
}

}  // namespace ragkit::embed
