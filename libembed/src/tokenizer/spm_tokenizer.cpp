// SentencePiece-BPE by scores; the rules are in spm_tokenizer.h.
//
// The pair table is built once: for every piece that text may produce and every way to cut it
// into two symbols (a piece or a single character), the pair maps to the piece, with the
// piece's score rank as priority. Tokenizing is then llama.cpp's greedy loop over table lookups,
// with no string building per pair.
#include "ragkit/embed/spm_tokenizer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <unordered_map>

#include "tokenizer/merge_table.h"
#include "tokenizer/unicode_text.h"
#include "tokenizer/vocab.h"
#include "tokenizer/word_cache.h"

namespace ragkit::embed {

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's space

std::string unescape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
      out.push_back(' ');
      i += kSpaceMark.size();
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

}  // namespace

struct SpmTokenizer::Impl {
  SpmOptions options;
  uint64_t cache_owner = detail::WordCache::new_owner();
  detail::Vocab vocab;
  // Symbols: the pieces text may produce (their token ids), then single characters that are no
  // such piece but are half of one (ids from vocab.size()).
  detail::TokenIndex symbols;
  std::array<int32_t, 128> ascii_symbol{};
  int32_t space_symbol = -1;
  detail::MergeTable pairs;
  std::array<TokenId, 256> byte_token{};  // byte fallback: <0xXX>, else the unknown token, or -1
  bool chunk_at_spaces = false;

  int32_t symbol_of(std::string_view character) const {
    if (character.size() == 1) return ascii_symbol[static_cast<unsigned char>(character[0])];
    if (character == kSpaceMark) return space_symbol;
    return symbols.find(character);
  }
  void encode_text(std::string_view normalized, std::vector<TokenId>& out) const;
  void tokenize_into(std::string_view text, bool parse_special, std::vector<TokenId>& out) const;
};

Result<std::unique_ptr<SpmTokenizer>> SpmTokenizer::create(Vocabulary vocabulary,
                                                           SpmOptions options) {
  const size_t n = vocabulary.tokens.size();
  if (!vocabulary.scores.empty() && vocabulary.scores.size() != n) {
    return Status::corruption("the vocabulary has " + std::to_string(n) + " tokens but " +
                              std::to_string(vocabulary.scores.size()) + " scores");
  }
  for (size_t i = 0; i < vocabulary.types.size(); ++i) {
    if (vocabulary.types[i] == TokenType::kByte &&
        detail::parse_byte_token(vocabulary.tokens[i]) < 0) {
      return Status::corruption("token " + std::to_string(i) + " has the byte type but is not " +
                                "spelled <0xXX>");
    }
  }
  std::vector<float> scores = std::move(vocabulary.scores);
  scores.resize(n, 0.0f);

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  detail::Vocab& vocab = impl->vocab;
  RAGKIT_RETURN_IF_ERROR(
      vocab.build(vocabulary, [](TokenId, std::string_view text, uint16_t attrs) -> std::string {
        if (attrs & detail::kAttrByte) {
          return std::string(1, static_cast<char>(detail::parse_byte_token(text)));
        }
        return unescape_spaces(text);
      }));

  // Pieces text may produce, by decreasing score; equal scores share a priority (the leftmost
  // pair then wins, as in llama.cpp). NaN scores come last.
  std::vector<TokenId> mergeable;
  for (TokenId id = 0; static_cast<size_t>(id) < n; ++id) {
    if (vocab.is_text_token(id) && !vocab.text(id).empty() && vocab.find(vocab.text(id)) == id) {
      mergeable.push_back(id);
    }
  }
  auto score_of = [&](TokenId id) {
    const float s = scores[static_cast<size_t>(id)];
    return std::isnan(s) ? -INFINITY : s;
  };
  std::vector<TokenId> by_score = mergeable;
  std::stable_sort(by_score.begin(), by_score.end(),
                   [&](TokenId a, TokenId b) { return score_of(a) > score_of(b); });
  std::vector<int32_t> priority(n, 0);
  for (size_t i = 0, rank = 0; i < by_score.size(); ++i) {
    if (i > 0 && score_of(by_score[i]) != score_of(by_score[i - 1])) ++rank;
    priority[static_cast<size_t>(by_score[i])] = static_cast<int32_t>(rank);
  }

  // Symbols: the mergeable pieces, plus the single characters that are half of a piece.
  std::vector<std::pair<std::string_view, int32_t>> entries;
  entries.reserve(mergeable.size());
  for (TokenId id : mergeable) entries.emplace_back(vocab.text(id), id);
  detail::TokenIndex pieces;
  pieces.build(entries, /*last_wins=*/true);
  std::unordered_map<std::string_view, int32_t> extra_characters;
  auto character_length = [](std::string_view s, size_t i) {
    return std::min(detail::utf8_lead_length(static_cast<unsigned char>(s[i])), s.size() - i);
  };
  auto symbol_of_half = [&](std::string_view half, bool add) -> int32_t {
    const int32_t id = pieces.find(half);
    if (id >= 0) return id;
    if (character_length(half, 0) != half.size()) return -1;  // neither a piece nor a character
    auto it = extra_characters.find(half);
    if (it != extra_characters.end()) return it->second;
    if (!add) return -1;
    const auto extra = static_cast<int32_t>(n + extra_characters.size());
    extra_characters.emplace(half, extra);
    return extra;
  };
  for (TokenId id : mergeable) {
    const std::string_view text = vocab.text(id);
    for (size_t i = 0; i < text.size(); i += character_length(text, i)) {
      symbol_of_half(text.substr(i, character_length(text, i)), /*add=*/true);
    }
  }
  for (const auto& [text, extra] : extra_characters) entries.emplace_back(text, extra);
  impl->symbols.build(entries, /*last_wins=*/true);
  impl->ascii_symbol.fill(-1);
  for (int c = 0; c < 128; ++c) {
    const char ch = static_cast<char>(c);
    impl->ascii_symbol[static_cast<size_t>(c)] = impl->symbols.find(std::string_view(&ch, 1));
  }
  impl->space_symbol = impl->symbols.find(kSpaceMark);

  // The pair table: every cut of every mergeable piece into two symbols.
  size_t n_cuts = 0;
  for (TokenId id : mergeable) n_cuts += vocab.text(id).size();
  impl->pairs.reserve(n_cuts);
  bool piece_spans_word_start = false;
  for (TokenId id : mergeable) {
    const std::string_view text = vocab.text(id);
    size_t previous = 0;  // start of the character before the cut
    for (size_t cut = character_length(text, 0); cut < text.size();
         cut += character_length(text, cut)) {
      // A "▁" after another character: merging could cross a chunk boundary.
      if (text.compare(cut, kSpaceMark.size(), kSpaceMark) == 0 &&
          text.compare(previous, kSpaceMark.size(), kSpaceMark) != 0) {
        piece_spans_word_start = true;
      }
      previous = cut;
      const int32_t left = symbol_of_half(text.substr(0, cut), false);
      const int32_t right = symbol_of_half(text.substr(cut), false);
      impl->pairs.add(left, right, {priority[static_cast<size_t>(id)], id});
    }
  }
  impl->chunk_at_spaces = !piece_spans_word_start;

  // Byte fallback, as llama.cpp's byte_to_token: <0xXX>, else the byte as a one-character token;
  // where neither exists llama.cpp throws, and we use the unknown token.
  for (int b = 0; b < 256; ++b) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    const char spelled[6] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
    TokenId id = vocab.find(std::string_view(spelled, 6));
    if (id < 0 && b < 0x80) {
      const char ch = static_cast<char>(b);
      id = vocab.find(std::string_view(&ch, 1));
    }
    if (id < 0 && vocab.unk() && !vocab.is_control(*vocab.unk())) id = *vocab.unk();
    impl->byte_token[static_cast<size_t>(b)] = id;
  }
  return std::unique_ptr<SpmTokenizer>(new SpmTokenizer(std::move(impl)));
}

SpmTokenizer::SpmTokenizer(std::unique_ptr<const Impl> impl) : impl_(std::move(impl)) {}
SpmTokenizer::~SpmTokenizer() = default;

void SpmTokenizer::Impl::encode_text(std::string_view normalized, std::vector<TokenId>& out) const {
  std::vector<detail::Symbol> row;
  detail::MergeScratch scratch;
  const auto n_tokens = static_cast<int32_t>(vocab.size());
  detail::WordCache& cache = detail::WordCache::for_thread(cache_owner);
  auto encode_chunk = [&](size_t begin, size_t end) {
    const std::string_view chunk = normalized.substr(begin, end - begin);
    if (cache.find(chunk, out)) return;
    const size_t chunk_start = out.size();
    row.clear();
    for (size_t i = begin; i < end;) {
      const size_t length =
          std::min(detail::utf8_lead_length(static_cast<unsigned char>(normalized[i])), end - i);
      row.push_back(detail::Symbol{symbol_of(normalized.substr(i, length)),
                                   static_cast<uint32_t>(i), static_cast<uint32_t>(i + length)});
      i += length;
    }
    detail::merge_symbols(pairs, row, scratch);
    for (const detail::Symbol& s : row) {
      if (s.id >= 0 && s.id < n_tokens) {
        out.push_back(s.id);
        continue;
      }
      for (uint32_t i = s.begin; i < s.end; ++i) {
        const TokenId id = byte_token[static_cast<unsigned char>(normalized[i])];
        if (id >= 0) out.push_back(id);
      }
    }
    cache.insert(chunk, out.data() + chunk_start, out.size() - chunk_start);
  };
  if (!chunk_at_spaces) {
    encode_chunk(0, normalized.size());
    return;
  }
  // Chunks start at a "▁" that follows another character: no piece spans such a boundary.
  size_t chunk_start = 0;
  bool previous_is_space = false;
  for (size_t i = 0; i < normalized.size();) {
    const bool is_space = normalized.compare(i, kSpaceMark.size(), kSpaceMark) == 0;
    if (is_space && !previous_is_space && i > chunk_start) {
      encode_chunk(chunk_start, i);
      chunk_start = i;
    }
    previous_is_space = is_space;
    i += is_space ? kSpaceMark.size()
                  : detail::utf8_lead_length(static_cast<unsigned char>(normalized[i]));
  }
  encode_chunk(chunk_start, normalized.size());
}

void SpmTokenizer::Impl::tokenize_into(std::string_view text, bool parse_special,
                                       std::vector<TokenId>& out) const {
  std::string repaired;
  if (!detail::is_valid_utf8(text)) {
    repaired = detail::repair_utf8(text);
    text = repaired;
  }
  std::vector<detail::Fragment> fragments;
  vocab.partition(text, parse_special, fragments);
  std::string normalized;
  bool previous_special = true;  // the first piece of text gets the prefix too
  for (const detail::Fragment& f : fragments) {
    if (f.token >= 0) {
      out.push_back(f.token);
      previous_special = true;
      continue;
    }
    normalized.clear();
    if (options.add_space_prefix && previous_special) normalized += kSpaceMark;
    for (size_t i = f.begin; i < f.end;) {
      const size_t space = std::min<size_t>(text.find(' ', i), f.end);
      normalized.append(text.data() + i, space - i);
      if (space < f.end) normalized += kSpaceMark;
      i = space + 1;
    }
    previous_special = false;
    encode_text(normalized, out);
  }
}

void SpmTokenizer::tokenize_into(std::string_view text, bool parse_special,
                                 std::vector<TokenId>& out) const {
  impl_->tokenize_into(text, parse_special, out);
}

const detail::Vocab& SpmTokenizer::vocab() const { return impl_->vocab; }

bool SpmTokenizer::strips_leading_space() const { return impl_->options.add_space_prefix; }

const SpmOptions& SpmTokenizer::options() const { return impl_->options; }

}  // namespace ragkit::embed
