// BPE by merge ranks; the rules are in bpe_tokenizer.h.
//
// Merges are interned at construction: every string a merge mentions becomes a symbol id (its
// token id when it is a token), and a merge becomes (left id, right id) -> (rank, result id). In
// byte-level vocabularies each byte's first symbol comes from a 256-entry table, so a word is
// merged straight from its raw bytes, never rewritten into GPT-2's alphabet.
#include "ragkit/embed/bpe_tokenizer.h"

#include <array>
#include <unordered_map>
#include <utility>

#include "tokenizer/merge_table.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/unicode_text.h"
#include "tokenizer/vocab.h"
#include "tokenizer/word_cache.h"

namespace ragkit::embed {

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581

struct PreTokenizerName {
  std::string_view name;
  PreTokenizer pre_tokenizer;
};

// llama.cpp's tokenizer.ggml.pre values (llama-vocab.cpp) for the rules implemented here.
constexpr PreTokenizerName kPreTokenizerNames[] = {
    {"default", PreTokenizer::kDefault},
    {"gpt-2", PreTokenizer::kGpt2},
    {"phi-2", PreTokenizer::kGpt2},
    {"jina-es", PreTokenizer::kGpt2},
    {"jina-de", PreTokenizer::kGpt2},
    {"jina-v1-en", PreTokenizer::kGpt2},
    {"jina-v2-es", PreTokenizer::kGpt2},
    {"jina-v2-de", PreTokenizer::kGpt2},
    {"jina-v2-code", PreTokenizer::kGpt2},
    {"roberta-bpe", PreTokenizer::kGpt2},
    {"gigachat", PreTokenizer::kGpt2},
    {"mpt", PreTokenizer::kGpt2},
    {"olmo", PreTokenizer::kGpt2},
    {"jais", PreTokenizer::kGpt2},
    {"exaone4", PreTokenizer::kGpt2},
    {"llama3", PreTokenizer::kLlama3},
    {"llama-v3", PreTokenizer::kLlama3},
    {"llama-bpe", PreTokenizer::kLlama3},
    {"falcon3", PreTokenizer::kLlama3},
    {"pixtral", PreTokenizer::kLlama3},
    {"dbrx", PreTokenizer::kLlama3},
    {"smaug-bpe", PreTokenizer::kLlama3},
    {"chatglm-bpe", PreTokenizer::kLlama3},
    {"glm4", PreTokenizer::kLlama3},
    {"qwen2", PreTokenizer::kQwen2},
    {"deepseek-r1-qwen", PreTokenizer::kQwen2},
    {"stablelm2", PreTokenizer::kQwen2},
    {"megrez", PreTokenizer::kQwen2},
    {"hunyuan", PreTokenizer::kQwen2},
    {"falcon", PreTokenizer::kFalcon},
    {"starcoder", PreTokenizer::kStarcoder},
    {"refact", PreTokenizer::kStarcoder},
    {"command-r", PreTokenizer::kStarcoder},
    {"smollm", PreTokenizer::kStarcoder},
    {"codeshell", PreTokenizer::kStarcoder},
    {"exaone", PreTokenizer::kStarcoder},
    {"minerva-7b", PreTokenizer::kStarcoder},
    {"deepseek-llm", PreTokenizer::kDeepseekLlm},
    {"deepseek-coder", PreTokenizer::kDeepseekCoder},
};

}  // namespace

std::optional<PreTokenizer> pre_tokenizer_from_name(std::string_view name) {
  if (name.empty()) return PreTokenizer::kDefault;
  for (const PreTokenizerName& entry : kPreTokenizerNames) {
    if (entry.name == name) return entry.pre_tokenizer;
  }
  return std::nullopt;
}

const char* pre_tokenizer_name(PreTokenizer pre_tokenizer) {
  switch (pre_tokenizer) {
    case PreTokenizer::kDefault:
      return "default";
    case PreTokenizer::kGpt2:
      return "gpt-2";
    case PreTokenizer::kLlama3:
      return "llama3";
    case PreTokenizer::kQwen2:
      return "qwen2";
    case PreTokenizer::kFalcon:
      return "falcon";
    case PreTokenizer::kStarcoder:
      return "starcoder";
    case PreTokenizer::kDeepseekLlm:
      return "deepseek-llm";
    case PreTokenizer::kDeepseekCoder:
      return "deepseek-coder";
    case PreTokenizer::kNone:
      return "none";
    case PreTokenizer::kMetaspace:
      return "metaspace";
  }
  return "?";
}

std::string supported_pre_tokenizer_names() {
  std::string names;
  for (const PreTokenizerName& entry : kPreTokenizerNames) {
    if (!names.empty()) names += ", ";
    names += entry.name;
  }
  return names;
}

struct BpeTokenizer::Impl {
  BpeOptions options;
  uint64_t cache_owner = detail::WordCache::new_owner();
  detail::Vocab vocab;
  detail::MergeTable merges;
  // Strings merges mention that are no token: symbol ids from vocab.size().
  detail::TokenIndex extra_symbols;
  // Byte-level: each byte's symbol and its token (-1: none, or a token tokenize() may not give).
  std::array<int32_t, 256> byte_symbol{};
  std::array<TokenId, 256> byte_token{};
  // Byte-level ignore_merges: normal tokens by the bytes they decode to.
  detail::TokenIndex by_piece;
  // SentencePiece-style byte fallback: <0xXX> tokens, -1 where missing.
  std::array<TokenId, 256> fallback_byte{};

  int32_t character_symbol(std::string_view character) const {
    const TokenId id = vocab.find(character);
    if (id >= 0) return id;
    const int32_t extra = extra_symbols.find(character);
    return extra >= 0 ? static_cast<int32_t>(vocab.size()) + extra : -1;
  }
  bool emits(int32_t symbol) const {
    return symbol >= 0 && static_cast<size_t>(symbol) < vocab.size() && vocab.is_text_token(symbol);
  }
  // The unknown token for a character no token spells (SentencePiece-style vocabularies; never
  // a control token).
  void push_unknown(std::vector<TokenId>& out, size_t word_start) const {
    const std::optional<TokenId> unk = vocab.unk();
    if (!unk || vocab.is_control(*unk)) return;
    if (options.fuse_unk && out.size() > word_start && out.back() == *unk) return;
    out.push_back(*unk);
  }
  void encode_byte_level(std::string_view text, std::vector<TokenId>& out) const;
  void encode_characters(std::string_view text, std::vector<TokenId>& out) const;
  void tokenize_into(std::string_view text, bool parse_special, std::vector<TokenId>& out) const;
};

Result<std::unique_ptr<BpeTokenizer>> BpeTokenizer::create(Vocabulary vocabulary,
                                                           BpeOptions options) {
  for (size_t i = 0; i < vocabulary.types.size(); ++i) {
    if (vocabulary.types[i] == TokenType::kByte &&
        detail::parse_byte_token(vocabulary.tokens[i]) < 0) {
      return Status::corruption("token " + std::to_string(i) +
                                " has the byte type but is not spelled <0xXX>");
    }
  }
  std::vector<std::pair<std::string, std::string>> merges = std::move(vocabulary.merges);
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  detail::Vocab& vocab = impl->vocab;
  const bool byte_level = options.byte_level;
  RAGKIT_RETURN_IF_ERROR(vocab.build(
      vocabulary, [byte_level](TokenId, std::string_view text, uint16_t attrs) -> std::string {
        std::string piece;
        if (attrs & detail::kAttrByte) {  // <0xXX>, checked below
          piece.push_back(static_cast<char>(detail::parse_byte_token(text)));
          return piece;
        }
        if (!byte_level) {
          for (size_t i = 0; i < text.size();) {
            if (text.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
              piece.push_back(' ');
              i += kSpaceMark.size();
            } else {
              piece.push_back(text[i++]);
            }
          }
          return piece;
        }
        // GPT-2's alphabet back to bytes. A character outside it is kept as it is (llama.cpp
        // writes "[UNK_BYTE_0x...]" instead).
        const auto* s = reinterpret_cast<const unsigned char*>(text.data());
        for (size_t i = 0; i < text.size();) {
          const size_t start = i;
          const size_t length = detail::utf8_sequence_length(s + i, text.size() - i);
          if (length == 0) {
            piece.push_back(text[i++]);
            continue;
          }
          const char32_t c = detail::decode_valid_utf8(s, i);
          const int byte = detail::gpt2_code_point_to_byte(c);
          if (byte >= 0) {
            piece.push_back(static_cast<char>(byte));
          } else {
            piece.append(text.substr(start, length));
          }
        }
        return piece;
      }));

  // Intern the merges' strings.
  std::unordered_map<std::string, int32_t> extras;
  auto intern = [&](const std::string& s) -> int32_t {
    const TokenId id = vocab.find(s);
    if (id >= 0) return id;
    auto [it, inserted] = extras.emplace(s, static_cast<int32_t>(extras.size()));
    return static_cast<int32_t>(vocab.size()) + it->second;
  };
  impl->merges.reserve(merges.size());
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    joined = left;
    joined += right;
    const int32_t l = intern(left);
    const int32_t r = intern(right);
    const int32_t result = intern(joined);
    impl->merges.add(l, r, {static_cast<int32_t>(rank), result});
  }
  std::vector<std::pair<std::string_view, int32_t>> entries;
  entries.reserve(extras.size());
  for (const auto& [text, extra] : extras) entries.emplace_back(text, extra);
  impl->extra_symbols.build(entries, /*last_wins=*/true);

  for (int b = 0; b < 256; ++b) {
    std::string character;
    detail::append_utf8(character, detail::byte_to_gpt2_code_point(static_cast<uint8_t>(b)));
    impl->byte_symbol[static_cast<size_t>(b)] = impl->character_symbol(character);
    const int32_t symbol = impl->byte_symbol[static_cast<size_t>(b)];
    impl->byte_token[static_cast<size_t>(b)] = impl->emits(symbol) ? symbol : -1;

    static constexpr char kHex[] = "0123456789ABCDEF";
    const char spelled[6] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
    impl->fallback_byte[static_cast<size_t>(b)] = vocab.find(std::string_view(spelled, 6));
  }
  if (options.ignore_merges) {
    entries.clear();
    for (TokenId id = 0; static_cast<size_t>(id) < vocab.size(); ++id) {
      if ((vocab.attrs(id) & detail::kAttrNormal) && !(vocab.attrs(id) & detail::kAttrControl)) {
        entries.emplace_back(byte_level ? vocab.piece(id) : vocab.text(id), id);
      }
    }
    impl->by_piece.build(entries, /*last_wins=*/true);
  }
  return std::unique_ptr<BpeTokenizer>(new BpeTokenizer(std::move(impl)));
}

BpeTokenizer::BpeTokenizer(std::unique_ptr<const Impl> impl) : impl_(std::move(impl)) {}
BpeTokenizer::~BpeTokenizer() = default;

void BpeTokenizer::Impl::encode_byte_level(std::string_view text, std::vector<TokenId>& out) const {
  detail::SplitScratch split_scratch;
  std::vector<uint32_t> word_ends;
  detail::split_words(options.pre_tokenizer, text, word_ends, split_scratch);
  std::vector<detail::Symbol> row;
  detail::MergeScratch scratch;
  detail::WordCache& cache = detail::WordCache::for_thread(cache_owner);
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  uint32_t begin = 0;
  for (uint32_t end : word_ends) {
    const std::string_view word = text.substr(begin, end - begin);
    if (options.ignore_merges) {
      const TokenId id = by_piece.find(word);
      if (id >= 0) {
        out.push_back(id);
        begin = end;
        continue;
      }
    }
    if (cache.find(word, out)) {
      begin = end;
      continue;
    }
    const size_t word_start = out.size();
    row.clear();
    for (uint32_t i = begin; i < end; ++i) row.push_back({byte_symbol[bytes[i]], i, i + 1});
    detail::merge_symbols(merges, row, scratch);
    for (const detail::Symbol& s : row) {
      if (emits(s.id)) {
        out.push_back(s.id);
        continue;
      }
      // No token: the tokens of its bytes (llama.cpp looks each byte up as a one-byte string).
      // A byte the vocabulary cannot spell is dropped, as llama.cpp drops it.
      for (uint32_t i = s.begin; i < s.end; ++i) {
        const TokenId id = byte_token[bytes[i]];
        if (id >= 0) out.push_back(id);
      }
    }
    cache.insert(word, out.data() + word_start, out.size() - word_start);
    begin = end;
  }
}

void BpeTokenizer::Impl::encode_characters(std::string_view text, std::vector<TokenId>& out) const {
  detail::SplitScratch split_scratch;
  std::vector<uint32_t> word_ends;
  detail::split_words(options.pre_tokenizer, text, word_ends, split_scratch);
  std::vector<detail::Symbol> row;
  detail::MergeScratch scratch;
  detail::WordCache& cache = detail::WordCache::for_thread(cache_owner);
  uint32_t begin = 0;
  for (uint32_t end : word_ends) {
    const std::string_view word = text.substr(begin, end - begin);
    if (options.ignore_merges) {
      const TokenId id = by_piece.find(word);
      if (id >= 0) {
        out.push_back(id);
        begin = end;
        continue;
      }
    }
    if (cache.find(word, out)) {
      begin = end;
      continue;
    }
    row.clear();
    for (uint32_t i = begin; i < end;) {
      const auto length = static_cast<uint32_t>(
          std::min<size_t>(detail::utf8_lead_length(static_cast<unsigned char>(text[i])), end - i));
      row.push_back({character_symbol(text.substr(i, length)), i, i + length});
      i += length;
    }
    detail::merge_symbols(merges, row, scratch);
    const size_t word_start = out.size();
    for (const detail::Symbol& s : row) {
      if (emits(s.id)) {
        out.push_back(s.id);
        continue;
      }
      // Character by character: the character's token, its <0xXX> bytes, or the unknown token.
      for (uint32_t i = s.begin; i < s.end;) {
        const auto length = static_cast<uint32_t>(std::min<size_t>(
            detail::utf8_lead_length(static_cast<unsigned char>(text[i])), s.end - i));
        const int32_t symbol = character_symbol(text.substr(i, length));
        bool done = false;
        if (emits(symbol)) {
          out.push_back(symbol);
          done = true;
        } else if (options.byte_fallback) {
          bool all = true;
          for (uint32_t k = i; k < i + length; ++k) {
            all &= fallback_byte[static_cast<unsigned char>(text[k])] >= 0;
          }
          if (all) {
            for (uint32_t k = i; k < i + length; ++k) {
              out.push_back(fallback_byte[static_cast<unsigned char>(text[k])]);
            }
            done = true;
          }
        }
        if (!done) push_unknown(out, word_start);
        i += length;
      }
    }
    cache.insert(word, out.data() + word_start, out.size() - word_start);
    begin = end;
  }
}

void BpeTokenizer::Impl::tokenize_into(std::string_view text, bool parse_special,
                                       std::vector<TokenId>& out) const {
  std::string repaired;
  if (!detail::is_valid_utf8(text)) {
    repaired = detail::repair_utf8(text);
    text = repaired;
  }
  std::vector<detail::Fragment> fragments;
  vocab.partition(text, parse_special, fragments);
  std::string piece;
  for (const detail::Fragment& f : fragments) {
    if (f.token >= 0) {
      out.push_back(f.token);
      continue;
    }
    std::string_view fragment = text.substr(f.begin, f.end - f.begin);
    std::string normalized;
    if (options.nfc) {
      normalized = detail::nfc_normalize(fragment);
      fragment = normalized;
    }
    if (options.byte_level) {
      if (options.add_prefix_space && fragment.front() != ' ') {
        piece.assign(1, ' ');
        piece += fragment;
        encode_byte_level(piece, out);
      } else {
        encode_byte_level(fragment, out);
      }
      continue;
    }
    // SentencePiece-style: "▁" for spaces, and the prefix.
    piece.clear();
    using SpacePrefix = BpeOptions::SpacePrefix;
    const bool starts_with_space = fragment.front() == ' ' || fragment.starts_with(kSpaceMark);
    switch (options.space_prefix) {
      case SpacePrefix::kNone:
        break;
      case SpacePrefix::kPrepend:
        piece += kSpaceMark;
        break;
      case SpacePrefix::kFirst:
        if (f.begin == 0 && !starts_with_space) piece += kSpaceMark;
        break;
      case SpacePrefix::kAlways:
        if (!starts_with_space) piece += kSpaceMark;
        break;
    }
    for (char c : fragment) {
      if (c == ' ') {
        piece += kSpaceMark;
      } else {
        piece.push_back(c);
      }
    }
    encode_characters(piece, out);
  }
}

void BpeTokenizer::tokenize_into(std::string_view text, bool parse_special,
                                 std::vector<TokenId>& out) const {
  impl_->tokenize_into(text, parse_special, out);
}

const detail::Vocab& BpeTokenizer::vocab() const { return impl_->vocab; }

bool BpeTokenizer::strips_leading_space() const {
  return !impl_->options.byte_level &&
         impl_->options.space_prefix != BpeOptions::SpacePrefix::kNone;
}

const BpeOptions& BpeTokenizer::options() const { return impl_->options; }

}  // namespace ragkit::embed
