#include "ragkit/embed/vocab_tokenizer.h"

#include "tokenizer/vocab.h"

namespace ragkit::embed {

std::vector<TokenId> VocabTokenizer::run(std::string_view text, bool parse_special,
                                         bool add_special) const {
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 3);
  if (add_special) vocab().add_bos_to(out);
  tokenize_into(text, parse_special, out);
  if (add_special) vocab().add_eos_to(out);
  return out;
}

std::vector<TokenId> VocabTokenizer::tokenize(std::string_view text) const {
  return run(text, /*parse_special=*/false, /*add_special=*/false);
}

std::vector<TokenId> VocabTokenizer::tokenize_special(std::string_view text) const {
  return run(text, /*parse_special=*/true, /*add_special=*/false);
}

std::vector<TokenId> VocabTokenizer::encode(std::string_view text) const {
  return run(text, /*parse_special=*/false, /*add_special=*/true);
}

std::vector<TokenId> VocabTokenizer::encode_prompt(std::string_view text) const {
  return run(text, /*parse_special=*/true, /*add_special=*/true);
}

size_t VocabTokenizer::n_special_tokens() const { return vocab().n_special_tokens(); }

bool VocabTokenizer::add_special_tokens(std::vector<TokenId>& ids, size_t max_tokens) const {
  return vocab().add_special_tokens(ids, max_tokens);
}

size_t VocabTokenizer::vocab_size() const { return vocab().size(); }

std::string_view VocabTokenizer::token_text(TokenId id) const {
  return vocab().in_range(id) ? vocab().text(id) : std::string_view();
}

std::optional<TokenId> VocabTokenizer::token_id(std::string_view text) const {
  const TokenId id = vocab().find(text);
  if (id < 0) return std::nullopt;
  return id;
}

std::string_view VocabTokenizer::token_piece(TokenId id) const { return vocab().piece(id); }

std::optional<TokenId> VocabTokenizer::bos_id() const { return vocab().bos(); }

std::optional<TokenId> VocabTokenizer::eos_id() const { return vocab().eos(); }

bool VocabTokenizer::is_end_of_generation(TokenId id) const {
  return vocab().is_end_of_generation(id);
}

bool VocabTokenizer::is_control(TokenId id) const { return vocab().is_control(id); }

}  // namespace ragkit::embed
