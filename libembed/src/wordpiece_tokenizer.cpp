// WordPiece tokenization; the rules and where they come from are in wordpiece_tokenizer.h.
//
// The hot path is built for indexing throughput. Each whitespace-delimited token is first read as
// ASCII: classified, lower-cased and split at punctuation by table, its words looked up as they
// end. Only a token holding a byte >= 0x80 is read again through ICU (property lookups, NFD,
// per-code-point lower-casing). A word is settled by one hash probe when it is a vocabulary entry
// and otherwise by longest-prefix walks in a byte trie. Scratch buffers are reused across words and
// probes are string_views into them, so nothing is allocated per character or per word.
#include "ragkit/embed/wordpiece_tokenizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "ragkit/common/mapped_file.h"
#include "tokenizer/unicode_text.h"

namespace ragkit::embed {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Character classes.

// How the tokenizer's single pass treats each byte; every byte >= 0x80 is kNonAscii.
enum ByteClass : uint8_t { kAsciiWord, kAsciiPunct, kAsciiSpace, kAsciiDrop, kNonAscii };

// BertTokenizer's _is_punctuation for ASCII: every non-alphanumeric printable character,
// including symbols such as $ + < = > ^ ` | ~ that Unicode does not call punctuation.
constexpr bool is_ascii_punct(unsigned c) {
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
         (c >= 123 && c <= 126);
}

// With clean_text: \t \n \r and ' ' are whitespace, every other C0 control and DEL is dropped
// (U+0000 included). Without it nothing is dropped and whitespace is Rust's char::is_whitespace
// (the tokenizers library is the only implementation with clean_text off): \t..\r and ' '.
constexpr std::array<uint8_t, 256> make_byte_classes(bool clean_text) {
  std::array<uint8_t, 256> t{};
  for (unsigned c = 0; c < 256; ++c) {
    if (c >= 0x80) {
      t[c] = kNonAscii;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      t[c] = kAsciiSpace;
    } else if (c < 32 || c == 127) {
      t[c] = !clean_text ? (c >= '\t' && c <= '\r' ? kAsciiSpace : kAsciiWord) : kAsciiDrop;
    } else {
      t[c] = is_ascii_punct(c) ? kAsciiPunct : kAsciiWord;
    }
  }
  return t;
}
constexpr std::array<uint8_t, 256> kCleanByteClasses = make_byte_classes(true);
constexpr std::array<uint8_t, 256> kRawByteClasses = make_byte_classes(false);

constexpr std::array<char, 256> make_ascii_case_map(bool lower) {
  std::array<char, 256> t{};
  for (unsigned c = 0; c < 256; ++c) {
    t[c] = static_cast<char>(lower && c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  }
  return t;
}
constexpr std::array<char, 256> kAsciiLower = make_ascii_case_map(true);
constexpr std::array<char, 256> kAsciiSame = make_ascii_case_map(false);

// BertTokenizer's _is_chinese_char: the CJK Unified Ideographs blocks and extensions A–E plus
// the compatibility ideographs (not Hangul, Hiragana or Katakana).
constexpr bool is_cjk_ideograph(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool is_punct(char32_t c) {
  if (c < 128) return is_ascii_punct(c);
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_P_MASK) != 0;
}

// Python's str.split() and Rust's char::is_whitespace agree on White_Space outside ASCII.
bool is_whitespace(char32_t c) {
  if (c < 128) return c == ' ' || (c >= '\t' && c <= '\r');
  return u_isUWhiteSpace(static_cast<UChar32>(c));
}

constexpr char32_t kReplacement = 0xFFFD;

// Decodes the code point at s[i] (i < n) and advances i. A malformed or truncated sequence gives
// U+FFFD and consumes its maximal valid prefix (at least one byte), as Python's "replace" and
// ICU do; nothing past s[n - 1] is read.
inline char32_t decode_utf8(const unsigned char* s, size_t n, size_t& i) {
  const unsigned b0 = s[i++];
  if (b0 < 0x80) return b0;
  if (b0 < 0xC2 || b0 > 0xF4) return kReplacement;
  int need;
  char32_t cp;
  unsigned lo = 0x80, hi = 0xBF;
  if (b0 < 0xE0) {
    need = 1;
    cp = b0 & 0x1F;
  } else if (b0 < 0xF0) {
    need = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else {
    need = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // past U+10FFFF
  }
  for (int k = 0; k < need; ++k) {
    if (i >= n) return kReplacement;
    const unsigned b = s[i];
    if (b < lo || b > hi) return kReplacement;
    cp = (cp << 6) | (b & 0x3F);
    ++i;
    lo = 0x80;
    hi = 0xBF;
  }
  return cp;
}

using detail::append_utf8;

inline bool is_utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

size_t count_code_points(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += !is_utf8_continuation(c);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Hashing for the piece index. Vocabulary pieces are short (mostly under 16 bytes), so keys are
// read a word at a time with loads that never pass the key's end, and hashed with one
// 64x64->128 multiply per 8 bytes rather than a loop per byte.

inline uint64_t mix(uint64_t a, uint64_t b) {
  const __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// The first min(n, 8) bytes of p, little-endian, zero-padded; reads only p[0, n).
inline uint64_t load_head(const char* p, size_t n) {
  if (n >= 8) return load64(p);
  if (n >= 4) {  // two overlapping 4-byte loads
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);
    return uint64_t{lo} | (uint64_t{hi} << ((n - 4) * 8));
  }
  if (n == 0) return 0;
  return uint64_t{static_cast<unsigned char>(p[0])} |
         (uint64_t{static_cast<unsigned char>(p[n >> 1])} << ((n >> 1) * 8)) |
         (uint64_t{static_cast<unsigned char>(p[n - 1])} << ((n - 1) * 8));
}

inline uint64_t hash_key(const char* p, size_t n, uint64_t head) {
  uint64_t rest = 0x8EBC6AF09C88C6E3ull;
  for (size_t i = 8; i < n; i += 8) {
    rest = mix(rest ^ load_head(p + i, n - i), 0xA0761D6478BD642Full);
  }
  return mix(head ^ 0xE7037ED1A0B428DBull, rest ^ (n * 0x9E3779B97F4A7C15ull));
}

// Whether a[0, n) == b[0, n), by 8-byte words (the last one overlapping) instead of a call.
inline bool bytes_equal(const char* a, const char* b, size_t n) {
  if (n < 8) return load_head(a, n) == load_head(b, n);
  for (size_t i = 0; i + 8 < n; i += 8) {
    if (load64(a + i) != load64(b + i)) return false;
  }
  return load64(a + n - 8) == load64(b + n - 8);
}

inline uint32_t slot_check(uint64_t hash, size_t n) {
  return static_cast<uint32_t>(hash >> 32 & 0xFFFFFF00u) |
         static_cast<uint32_t>(std::min<size_t>(n, 255));
}

// ---------------------------------------------------------------------------------------------
// Configuration files.

// A special token in tokenizer_config.json is a plain string or an AddedToken object.
std::optional<std::string> special_token_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  return std::nullopt;
}

// Applies tokenizer_config.json (BertTokenizer's saved arguments) to `options`.
Status apply_tokenizer_config(const std::string& path, WordPieceOptions& options) {
  RAGKIT_ASSIGN_OR_RETURN(std::string text, read_file(path));
  try {
    const json config = json::parse(text);
    if (!config.is_object()) return Status::corruption(path + ": not a JSON object");
    if (auto it = config.find("do_lower_case"); it != config.end() && !it->is_null()) {
      options.lowercase = it->get<bool>();
    }
    if (auto it = config.find("strip_accents"); it != config.end()) {
      if (it->is_null()) {
        options.strip_accents.reset();
      } else {
        options.strip_accents = it->get<bool>();
      }
    }
    if (auto it = config.find("tokenize_chinese_chars"); it != config.end() && !it->is_null()) {
      options.handle_chinese_chars = it->get<bool>();
    }
    const std::pair<const char*, std::string*> specials[] = {
        {"unk_token", &options.unk_token},   {"cls_token", &options.cls_token},
        {"sep_token", &options.sep_token},   {"pad_token", &options.pad_token},
        {"mask_token", &options.mask_token},
    };
    for (const auto& [key, target] : specials) {
      auto it = config.find(key);
      if (it == config.end() || it->is_null()) continue;
      std::optional<std::string> token = special_token_text(*it);
      if (!token)
        return Status::corruption(path + ": '" + key + "' is neither a string nor {content}");
      *target = std::move(*token);
    }
  } catch (const std::exception& e) {
    return Status::corruption(path + ": " + e.what());
  }
  return Status::ok_status();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PieceIndex

void WordPieceTokenizer::PieceIndex::build(
    const std::vector<std::pair<std::string_view, TokenId>>& entries) {
  size_t capacity = 16;
  while (capacity < entries.size() * 2) capacity *= 2;  // load factor <= 1/2: short probe runs
  slots_.assign(capacity, Slot{});
  keys_.assign(capacity, Key{});
  mask_ = capacity - 1;
  arena_.clear();
  max_key_bytes_ = 0;
  size_t arena_bytes = 0;
  for (const auto& entry : entries) arena_bytes += entry.first.size();
  arena_.reserve(arena_bytes);
  for (const auto& [key, id] : entries) {
    const uint64_t head = load_head(key.data(), key.size());
    const uint64_t hash = hash_key(key.data(), key.size(), head);
    const uint32_t check = slot_check(hash, key.size());
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.id < 0) {
        slot = Slot{head, check, id};
        keys_[i] = Key{static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key.size())};
        arena_.append(key);
        max_key_bytes_ = std::max(max_key_bytes_, key.size());
        break;
      }
      if (slot.check == check && slot.head == head && keys_[i].length == key.size() &&
          std::memcmp(arena_.data() + keys_[i].offset, key.data(), key.size()) == 0) {
        slot.id = id;
        break;
      }
    }
  }
}

TokenId WordPieceTokenizer::PieceIndex::find(std::string_view key) const {
  if (slots_.empty()) return -1;
  const size_t n = key.size();
  const uint64_t head = load_head(key.data(), n);
  const uint64_t hash = hash_key(key.data(), n, head);
  const uint32_t check = slot_check(hash, n);
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    const Slot& slot = slots_[i];
    if (slot.id < 0) return -1;
    if (slot.check != check || slot.head != head) continue;
    // Equal heads and lengths under 255 settle keys of up to 8 bytes; longer ones compare on.
    if (n <= 8) return slot.id;
    const Key& stored = keys_[i];
    if (stored.length == n &&
        bytes_equal(arena_.data() + stored.offset + 8, key.data() + 8, n - 8)) {
      return slot.id;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// PieceTrie

void WordPieceTokenizer::PieceTrie::build(const std::vector<std::string>& vocab) {
  // Sorting the tokens makes every node's tokens one contiguous range, grouped by the next byte;
  // a queue of ranges then lays the nodes out breadth first.
  std::vector<uint32_t> order(vocab.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return vocab[a] < vocab[b]; });
  nodes_.assign(1, Node{});
  labels_.assign(1, 0);
  struct Pending {
    uint32_t begin, end, depth, node;
  };
  std::vector<Pending> queue = {{0, static_cast<uint32_t>(order.size()), 0, 0}};
  for (size_t head = 0; head < queue.size(); ++head) {
    const Pending p = queue[head];
    uint32_t i = p.begin;
    // Tokens that end here sort first; equal strings keep vocabulary order, so the last wins.
    for (; i < p.end && vocab[order[i]].size() == p.depth; ++i) {
      nodes_[p.node].id = static_cast<TokenId>(order[i]);
    }
    nodes_[p.node].first_child = static_cast<uint32_t>(nodes_.size());
    while (i < p.end) {
      const auto byte = static_cast<unsigned char>(vocab[order[i]][p.depth]);
      uint32_t j = i + 1;
      while (j < p.end && static_cast<unsigned char>(vocab[order[j]][p.depth]) == byte) ++j;
      queue.push_back({i, j, p.depth + 1, static_cast<uint32_t>(nodes_.size())});
      nodes_.push_back(Node{});
      labels_.push_back(byte);
      ++nodes_[p.node].n_children;
      i = j;
    }
  }
  root_children_.assign(256, -1);
  const Node& root = nodes_[0];
  for (uint32_t k = 0; k < root.n_children; ++k) {
    root_children_[labels_[root.first_child + k]] = static_cast<int32_t>(root.first_child + k);
  }
}

inline int32_t WordPieceTokenizer::PieceTrie::child(int32_t node, unsigned char byte) const {
  if (node == 0) return root_children_[byte];
  const Node& n = nodes_[static_cast<size_t>(node)];
  const uint8_t* first = labels_.data() + n.first_child;
  const uint8_t* last = first + n.n_children;
  if (n.n_children > 16) {
    const uint8_t* it = std::lower_bound(first, last, byte);
    return it != last && *it == byte ? static_cast<int32_t>(n.first_child + (it - first)) : -1;
  }
  for (const uint8_t* it = first; it != last && *it <= byte; ++it) {
    if (*it == byte) return static_cast<int32_t>(n.first_child + (it - first));
  }
  return -1;
}

int32_t WordPieceTokenizer::PieceTrie::walk(std::string_view prefix) const {
  int32_t node = nodes_.empty() ? -1 : 0;
  for (size_t i = 0; i < prefix.size() && node >= 0; ++i) {
    node = child(node, static_cast<unsigned char>(prefix[i]));
  }
  return node;
}

std::pair<TokenId, size_t> WordPieceTokenizer::PieceTrie::longest_prefix(
    int32_t node, std::string_view text) const {
  std::pair<TokenId, size_t> best{-1, 0};
  for (size_t i = 0; i < text.size(); ++i) {
    node = child(node, static_cast<unsigned char>(text[i]));
    if (node < 0) break;
    const TokenId id = nodes_[static_cast<size_t>(node)].id;
    // A token that is not valid UTF-8 could end inside a character; never split one.
    if (id >= 0 && (i + 1 == text.size() || !is_utf8_continuation(text[i + 1]))) {
      best = {id, i + 1};
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Construction

Result<std::unique_ptr<WordPieceTokenizer>> WordPieceTokenizer::from_vocab(
    std::vector<std::string> vocab, WordPieceOptions options) {
  if (vocab.empty()) return Status::invalid_argument("WordPiece vocabulary is empty");
  if (vocab.size() > static_cast<size_t>(std::numeric_limits<TokenId>::max())) {
    return Status::invalid_argument("WordPiece vocabulary has more than 2^31 tokens");
  }
  size_t total_bytes = 0;
  for (const std::string& token : vocab) total_bytes += token.size();
  // Trie nodes and arena offsets are 32-bit.
  if (total_bytes >= static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return Status::invalid_argument("WordPiece vocabulary text exceeds 2 GiB");
  }

  auto tokenizer = std::unique_ptr<WordPieceTokenizer>(new WordPieceTokenizer());
  std::vector<std::pair<std::string_view, TokenId>> all;
  all.reserve(vocab.size());
  for (size_t id = 0; id < vocab.size(); ++id) {
    all.emplace_back(vocab[id], static_cast<TokenId>(id));
  }
  tokenizer->index_.build(all);
  tokenizer->trie_.build(vocab);
  tokenizer->continuation_root_ = tokenizer->trie_.walk(options.continuing_subword_prefix);

  auto require = [&](const std::string& text, const char* what, TokenId& id) -> Status {
    id = tokenizer->index_.find(text);
    if (id < 0) {
      return Status::invalid_argument("WordPiece vocabulary (" + std::to_string(vocab.size()) +
                                      " tokens) has no " + what + " token '" + text + "'");
    }
    return Status::ok_status();
  };
  RAGKIT_RETURN_IF_ERROR(require(options.unk_token, "unknown", tokenizer->unk_id_));
  RAGKIT_RETURN_IF_ERROR(require(options.cls_token, "classifier", tokenizer->cls_id_));
  RAGKIT_RETURN_IF_ERROR(require(options.sep_token, "separator", tokenizer->sep_id_));
  tokenizer->pad_id_ = tokenizer->index_.find(options.pad_token);

  tokenizer->strip_accents_ = options.strip_accents.value_or(options.lowercase);
  if (tokenizer->strip_accents_) {
    // Fail here, not on the first accented word, when ICU's normalization data is missing.
    UErrorCode error = U_ZERO_ERROR;
    icu::Normalizer2::getNFDInstance(error);
    if (U_FAILURE(error)) {
      return Status::internal(std::string("ICU NFD normalizer unavailable: ") + u_errorName(error));
    }
  }
  tokenizer->mask_id_ = tokenizer->index_.find(options.mask_token);
  tokenizer->options_ = std::move(options);
  tokenizer->vocab_ = std::move(vocab);

  // Pieces: " word" for a word-initial token, "ing" for "##ing", nothing for the special ones.
  WordPieceTokenizer& t = *tokenizer;
  const std::string& prefix = t.options_.continuing_subword_prefix;
  t.piece_offsets_.assign(t.vocab_.size() + 1, 0);
  for (size_t id = 0; id < t.vocab_.size(); ++id) {
    t.piece_offsets_[id] = static_cast<uint32_t>(t.piece_bytes_.size());
    const std::string& text = t.vocab_[id];
    if (t.is_control(static_cast<TokenId>(id)) || static_cast<TokenId>(id) == t.unk_id_) continue;
    if (!prefix.empty() && text.size() > prefix.size() && text.starts_with(prefix)) {
      t.piece_bytes_.append(text, prefix.size());
    } else {
      t.piece_bytes_ += ' ';
      t.piece_bytes_ += text;
    }
  }
  t.piece_offsets_[t.vocab_.size()] = static_cast<uint32_t>(t.piece_bytes_.size());
  return tokenizer;
}

Result<std::unique_ptr<WordPieceTokenizer>> WordPieceTokenizer::from_vocab_file(
    const std::string& path, WordPieceOptions options) {
  RAGKIT_ASSIGN_OR_RETURN(std::string text, read_file(path));
  std::vector<std::string> vocab;
  vocab.reserve(text.size() / 8);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    size_t line_end = end;
    if (line_end > pos && text[line_end - 1] == '\r') --line_end;
    vocab.emplace_back(text, pos, line_end - pos);
    pos = end + 1;
  }

  std::error_code ec;
  const std::filesystem::path config_path =
      std::filesystem::path(path).parent_path() / "tokenizer_config.json";
  if (std::filesystem::is_regular_file(config_path, ec)) {
    RAGKIT_RETURN_IF_ERROR(apply_tokenizer_config(config_path.string(), options));
  }
  auto result = from_vocab(std::move(vocab), std::move(options));
  if (!result.ok()) return result.status().with_context(path);
  return result;
}

Result<std::unique_ptr<WordPieceTokenizer>> WordPieceTokenizer::from_tokenizer_json(
    std::string_view text, const std::string& name) {
  WordPieceOptions options;
  std::vector<std::string> vocab;
  try {
    const json root = json::parse(text.begin(), text.end());
    if (!root.is_object()) return Status::corruption(name + ": not a JSON object");
    auto model_it = root.find("model");
    if (model_it == root.end() || !model_it->is_object()) {
      return Status::corruption(name + ": no \"model\" object");
    }
    const json& model = *model_it;
    if (auto type = model.find("type"); type != model.end()) {
      const std::string type_name = type->get<std::string>();
      if (type_name != "WordPiece") {
        return Status::not_supported(name + ": model type '" + type_name +
                                     "' is not supported here (only WordPiece)");
      }
    } else if (!model.contains("continuing_subword_prefix") || model.contains("merges")) {
      // Old files omit the type; only WordPiece has a continuing prefix without merges.
      return Status::not_supported(name + ": model has no type and does not look like WordPiece");
    }

    auto vocab_it = model.find("vocab");
    if (vocab_it == model.end() || !vocab_it->is_object()) {
      return Status::corruption(name + ": WordPiece model has no \"vocab\" object");
    }
    const size_t n = vocab_it->size();
    vocab.resize(n);
    std::vector<bool> seen(n, false);
    for (const auto& [token, id_value] : vocab_it->items()) {
      if (!id_value.is_number_integer()) {
        return Status::corruption(name + ": vocab id of '" + token + "' is not an integer");
      }
      const int64_t id = id_value.get<int64_t>();
      if (id < 0 || static_cast<uint64_t>(id) >= n || seen[static_cast<size_t>(id)]) {
        return Status::corruption(name + ": vocab ids are not dense 0.." + std::to_string(n - 1) +
                                  " (token '" + token + "' has id " + std::to_string(id) + ")");
      }
      seen[static_cast<size_t>(id)] = true;
      vocab[static_cast<size_t>(id)] = token;
    }
    if (auto it = model.find("unk_token"); it != model.end() && !it->is_null()) {
      options.unk_token = it->get<std::string>();
    }
    if (auto it = model.find("continuing_subword_prefix"); it != model.end() && !it->is_null()) {
      options.continuing_subword_prefix = it->get<std::string>();
    }
    if (auto it = model.find("max_input_chars_per_word"); it != model.end() && !it->is_null()) {
      if (!it->is_number_unsigned()) {
        return Status::corruption(name + ": max_input_chars_per_word is not a count");
      }
      options.max_input_chars_per_word = it->get<size_t>();
    }

    // No normalizer means the text goes to the pre-tokenizer untouched.
    options.clean_text = false;
    options.handle_chinese_chars = false;
    options.lowercase = false;
    options.strip_accents = false;
    if (auto it = root.find("normalizer"); it != root.end() && !it->is_null()) {
      const std::string type = it->value("type", std::string());
      if (type != "BertNormalizer") {
        return Status::not_supported(name + ": normalizer '" + type +
                                     "' is not supported (only BertNormalizer)");
      }
      options.clean_text = it->value("clean_text", true);
      options.handle_chinese_chars = it->value("handle_chinese_chars", true);
      options.lowercase = it->value("lowercase", true);
      options.strip_accents.reset();
      if (auto strip = it->find("strip_accents"); strip != it->end() && !strip->is_null()) {
        options.strip_accents = strip->get<bool>();
      }
    }

    auto pre = root.find("pre_tokenizer");
    const std::string pre_type =
        pre != root.end() && pre->is_object() ? pre->value("type", std::string()) : "none";
    if (pre_type != "BertPreTokenizer") {
      return Status::not_supported(name + ": pre-tokenizer '" + pre_type +
                                   "' is not supported (only BertPreTokenizer)");
    }

    if (auto post = root.find("post_processor"); post != root.end() && post->is_object()) {
      const std::string type = post->value("type", std::string());
      if (type == "TemplateProcessing") {
        // The single-sequence template must be <special> $A <special>: encode() adds two ids.
        const json& single = post->at("single");
        std::vector<std::string> before, after;
        bool seen_sequence = false;
        for (const json& piece : single) {
          if (piece.contains("Sequence")) {
            seen_sequence = true;
          } else if (auto special = piece.find("SpecialToken"); special != piece.end()) {
            (seen_sequence ? after : before).push_back(special->at("id").get<std::string>());
          }
        }
        if (before.size() != 1 || after.size() != 1) {
          return Status::not_supported(name + ": post-processor template is not [CLS] $A [SEP]");
        }
        options.cls_token = before[0];
        options.sep_token = after[0];
      } else if (type == "BertProcessing" || type == "RobertaProcessing") {
        options.cls_token = post->at("cls").at(0).get<std::string>();
        options.sep_token = post->at("sep").at(0).get<std::string>();
      }
    }
    if (auto padding = root.find("padding"); padding != root.end() && padding->is_object()) {
      if (auto pad = padding->find("pad_token"); pad != padding->end() && pad->is_string()) {
        options.pad_token = pad->get<std::string>();
      }
    }
  } catch (const std::exception& e) {
    return Status::corruption(name + ": " + e.what());
  }
  auto result = from_vocab(std::move(vocab), std::move(options));
  if (!result.ok()) return result.status().with_context(name);
  return result;
}

Result<std::unique_ptr<WordPieceTokenizer>> WordPieceTokenizer::from_gguf_vocab(
    const std::vector<std::string>& tokens, WordPieceOptions options) {
  // llama.cpp's converter rewrote "##x" -> "x", "x" -> "\u2581x", and kept "[x]" as is.
  static constexpr std::string_view kWordStart = "\xE2\x96\x81";  // U+2581
  std::vector<std::string> vocab;
  vocab.reserve(tokens.size());
  for (const std::string& token : tokens) {
    if (token.starts_with(kWordStart)) {
      vocab.push_back(token.substr(kWordStart.size()));
    } else if (token.size() >= 2 && token.front() == '[' && token.back() == ']') {
      vocab.push_back(token);
    } else {
      vocab.push_back(options.continuing_subword_prefix + token);
    }
  }
  return from_vocab(std::move(vocab), std::move(options));
}

// ---------------------------------------------------------------------------------------------
// Tokenization

struct WordPieceTokenizer::Scratch {
  std::string ascii_word;  // tokenize_into's word, used as a plain char buffer
  std::string token;       // the current whitespace-delimited token, cleaned (mixed path)
  std::string normalized;  // the current token after NFD (mixed path)
  std::string word;        // the current word, normalised (mixed path)
};

void WordPieceTokenizer::append_word_pieces(std::string_view word, bool ascii,
                                            std::vector<TokenId>& out) const {
  if (word.empty()) return;
  const size_t n_chars = ascii ? word.size() : count_code_points(word);
  if (n_chars > options_.max_input_chars_per_word) {
    out.push_back(unk_id_);
    return;
  }
  // Most words are vocabulary entries: one hash probe settles them.
  if (word.size() <= index_.max_key_bytes()) {
    const TokenId id = index_.find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  const size_t mark = out.size();
  size_t start = 0;
  while (start < word.size()) {
    const int32_t root = start == 0 ? 0 : continuation_root_;
    const auto [id, length] = root < 0 ? std::pair<TokenId, size_t>{-1, 0}
                                       : trie_.longest_prefix(root, word.substr(start));
    if (id < 0) {
      out.resize(mark);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(id);
    start += length;
  }
}

void WordPieceTokenizer::append_ascii_token(std::string& token, std::vector<TokenId>& out) const {
  if (options_.lowercase) {
    for (char& c : token) c = kAsciiLower[static_cast<unsigned char>(c)];
  }
  const std::string_view view = token;
  size_t word_start = 0;
  for (size_t i = 0; i < view.size(); ++i) {
    if (is_ascii_punct(static_cast<unsigned char>(view[i]))) {
      append_word_pieces(view.substr(word_start, i - word_start), true, out);
      append_word_pieces(view.substr(i, 1), true, out);
      word_start = i + 1;
    }
  }
  append_word_pieces(view.substr(word_start), true, out);
}

void WordPieceTokenizer::append_unicode_token(std::string_view token, Scratch& scratch,
                                              std::vector<TokenId>& out) const {
  // The order is tokenizers' BertNormalizer: NFD and drop Mn, then lower-case. Lower-casing maps
  // each code point on its own, with full mappings (U+0130 'İ' -> "i\u0307") but no context, as
  // tokenizers' NormalizedString::lowercase and llama.cpp do; Python's str.lower() would turn a
  // word-final 'Σ' into 'ς' instead of 'σ', and the fast tokenizer is the one sentence-transformers
  // runs, so it is the one whose ids the models expect.
  std::string_view text = token;
  if (strip_accents_) {
    UErrorCode error = U_ZERO_ERROR;
    const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(error);
    if (U_SUCCESS(error)) {
      scratch.normalized.clear();
      icu::StringByteSink<std::string> sink(&scratch.normalized,
                                            static_cast<int32_t>(token.size()));
      nfd->normalizeUTF8(0, icu::StringPiece(token.data(), static_cast<int32_t>(token.size())),
                         sink, nullptr, error);
      if (U_SUCCESS(error)) text = scratch.normalized;
    }
  }
  std::string& word = scratch.word;
  word.clear();
  bool word_ascii = true;
  auto flush_word = [&] {
    append_word_pieces(word, word_ascii, out);
    word.clear();
    word_ascii = true;
  };
  auto add = [&](char32_t c) {
    if (is_whitespace(c)) {
      flush_word();
    } else if (is_punct(c)) {
      flush_word();
      append_utf8(word, c);
      word_ascii = c < 0x80;
      flush_word();
    } else {
      append_utf8(word, c);
      word_ascii &= c < 0x80;
    }
  };
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0; i < text.size();) {
    char32_t c = decode_utf8(bytes, text.size(), i);
    if (strip_accents_ && u_charType(static_cast<UChar32>(c)) == U_NON_SPACING_MARK) continue;
    if (options_.lowercase) {
      if (c == 0x130) {  // the one unconditional multi-character lower-case mapping
        add(U'i');
        add(0x307);
        continue;
      }
      c = static_cast<char32_t>(u_tolower(static_cast<UChar32>(c)));
    }
    add(c);
  }
  flush_word();
}

void WordPieceTokenizer::tokenize_into(std::string_view text, std::vector<TokenId>& out) const {
  // Each whitespace-delimited token is first read as ASCII: lower-cased by table into `word`,
  // split at punctuation, its words looked up as they end. At the first byte >= 0x80 its ids
  // are taken back and the whole token is read again through ICU (a combining mark changes the
  // word before it), then the ASCII reading resumes after it.
  const uint8_t* byte_class = (options_.clean_text ? kCleanByteClasses : kRawByteClasses).data();
  const char* case_map = (options_.lowercase ? kAsciiLower : kAsciiSame).data();
  Scratch scratch;
  // The word is written through a local pointer and length: std::string::push_back would reload
  // its size after every char store (a char store may alias anything).
  std::string& word_buffer = scratch.ascii_word;
  word_buffer.resize(128);
  char* word = word_buffer.data();
  size_t word_capacity = word_buffer.size();
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const size_t token_start = i;
    const size_t mark = out.size();
    size_t length = 0;
    bool non_ascii = false;
    for (; i < n; ++i) {
      const unsigned char b = s[i];
      const uint8_t c = byte_class[b];
      if (c == kAsciiWord) {
        if (length == word_capacity) {
          word_buffer.resize(2 * word_capacity);
          word = word_buffer.data();
          word_capacity = word_buffer.size();
        }
        word[length++] = case_map[b];
      } else if (c == kAsciiPunct) {
        if (length > 0) append_word_pieces({word, length}, true, out);
        length = 0;
        append_word_pieces(text.substr(i, 1), true, out);
      } else if (c == kAsciiSpace) {
        break;
      } else if (c == kNonAscii) {
        non_ascii = true;
        break;
      }  // kAsciiDrop: skipped without ending the word
    }
    if (!non_ascii) {
      if (length > 0) append_word_pieces({word, length}, true, out);
      ++i;  // past the space (or the end)
      continue;
    }
    out.resize(mark);
    i = tokenize_mixed_token(text, token_start, scratch, out);
  }
}

size_t WordPieceTokenizer::tokenize_mixed_token(std::string_view text, size_t start,
                                                Scratch& scratch, std::vector<TokenId>& out) const {
  const uint8_t* byte_class = (options_.clean_text ? kCleanByteClasses : kRawByteClasses).data();
  const bool clean = options_.clean_text;
  const bool cjk = options_.handle_chinese_chars;
  std::string& token = scratch.token;
  token.clear();
  bool token_ascii = true;
  auto flush_token = [&] {
    if (token.empty()) return;
    if (token_ascii) {
      append_ascii_token(token, out);
    } else {
      append_unicode_token(token, scratch, out);
    }
    token.clear();
    token_ascii = true;
  };

  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = start;
  while (i < n) {
    const unsigned char b = s[i];
    const uint8_t c = byte_class[b];
    if (c <= kAsciiPunct) {
      token.push_back(static_cast<char>(b));
      ++i;
      continue;
    }
    if (c == kAsciiSpace) {
      ++i;
      break;
    }
    if (c == kAsciiDrop) {
      ++i;
      continue;
    }
    const size_t char_start = i;
    const char32_t cp = decode_utf8(s, n, i);
    const uint32_t category = U_GET_GC_MASK(static_cast<UChar32>(cp));
    if (clean && (cp == kReplacement || (category & U_GC_C_MASK) != 0)) continue;
    if (u_isUWhiteSpace(static_cast<UChar32>(cp))) break;
    if (cjk && is_cjk_ideograph(cp)) {
      // An ideograph is a word of its own; it still goes through NFD (compatibility
      // ideographs decompose to unified ones).
      flush_token();
      token.append(text.data() + char_start, i - char_start);
      token_ascii = false;
      flush_token();
    } else if (cp == kReplacement) {
      append_utf8(token, cp);  // the bytes may be malformed: write a well-formed U+FFFD
      token_ascii = false;
    } else {
      token.append(text.data() + char_start, i - char_start);
      token_ascii = false;
    }
  }
  flush_token();
  return i;
}

std::vector<TokenId> WordPieceTokenizer::tokenize(std::string_view text) const {
  std::vector<TokenId> out;
  out.reserve(text.size() / 4 + 1);
  tokenize_into(text, out);
  return out;
}

std::vector<TokenId> WordPieceTokenizer::encode(std::string_view text) const {
  std::vector<TokenId> out;
  out.reserve(text.size() / 4 + 3);
  out.push_back(cls_id_);
  tokenize_into(text, out);
  out.push_back(sep_id_);
  return out;
}

bool WordPieceTokenizer::add_special_tokens(std::vector<TokenId>& ids, size_t max_tokens) const {
  // With max_tokens < 2 the result is still [CLS] [SEP]: the model needs both.
  const size_t keep = max_tokens > n_special_tokens() ? max_tokens - n_special_tokens() : 0;
  const bool truncated = ids.size() > keep;
  if (truncated) ids.resize(keep);
  ids.insert(ids.begin(), cls_id_);
  ids.push_back(sep_id_);
  return truncated;
}

std::string_view WordPieceTokenizer::token_text(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_.size()) return {};
  return vocab_[id];
}

std::string_view WordPieceTokenizer::token_piece(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_.size()) return {};
  const auto i = static_cast<size_t>(id);
  return std::string_view(piece_bytes_)
      .substr(piece_offsets_[i], piece_offsets_[i + 1] - piece_offsets_[i]);
}

bool WordPieceTokenizer::is_control(TokenId id) const {
  return id >= 0 && (id == cls_id_ || id == sep_id_ || id == pad_id_ || id == mask_id_);
}

std::optional<TokenId> WordPieceTokenizer::token_id(std::string_view text) const {
  const TokenId id = index_.find(text);
  if (id < 0) return std::nullopt;
  return id;
}

}  // namespace ragkit::embed
