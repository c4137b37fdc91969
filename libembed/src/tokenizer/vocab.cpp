#include "tokenizer/vocab.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace ragkit::embed {

bool is_end_of_generation_text(std::string_view text) {
  static constexpr std::string_view kTexts[] = {
      "<|eot_id|>",
      "<|im_end|>",
      "<|end|>",
      "<end_of_turn>",
      "<|endoftext|>",
      "<|end_of_text|>",
      "</s>",
      "<|eom_id|>",
      "<EOT>",
      "_<EOT>",
      "<end_of_utterance>",
      "<\xEF\xBD\x9C"
      "end\xE2\x96\x81"
      "of\xE2\x96\x81"
      "sentence\xEF\xBD\x9C>",  // DeepSeek
  };
  for (std::string_view t : kTexts) {
    if (t == text) return true;
  }
  return false;
}

namespace detail {

int parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(text[3]), lo = hex(text[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

namespace {

uint16_t attrs_of(TokenType type) {
  switch (type) {
    case TokenType::kNormal:
      return kAttrNormal;
    case TokenType::kUnknown:
      return kAttrUnknown;
    case TokenType::kControl:
      return kAttrControl;
    case TokenType::kUserDefined:
      return kAttrUserDefined;
    case TokenType::kUnused:
      return kAttrUnused;
    case TokenType::kByte:
      return kAttrByte;
    case TokenType::kUndefined:
      break;
  }
  return kAttrUndefined;
}

// C's isspace in the "C" locale, which tokenizer_st_partition strips with.
inline bool is_c_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

}  // namespace

Status Vocab::build(
    Vocabulary& vocabulary,
    const std::function<std::string(TokenId, std::string_view, uint16_t)>& piece_of) {
  const size_t n = vocabulary.tokens.size();
  if (n == 0) return Status::corruption("the vocabulary has no tokens");
  if (n > static_cast<size_t>(std::numeric_limits<TokenId>::max())) {
    return Status::corruption("the vocabulary has more tokens than ids can number");
  }
  if (!vocabulary.types.empty() && vocabulary.types.size() != n) {
    return Status::corruption("the vocabulary has " + std::to_string(n) + " tokens but " +
                              std::to_string(vocabulary.types.size()) + " token types");
  }
  size_t total_bytes = 0;
  for (const std::string& t : vocabulary.tokens) total_bytes += t.size();
  if (total_bytes >= std::numeric_limits<uint32_t>::max() / 4) {
    return Status::corruption("the vocabulary's token texts are too large");
  }
  auto check_role = [&](const std::optional<TokenId>& id, const char* role) -> Status {
    if (id && (*id < 0 || static_cast<size_t>(*id) >= n)) {
      return Status::corruption(std::string("the ") + role + " token id " + std::to_string(*id) +
                                " is out of range (the vocabulary has " + std::to_string(n) +
                                " tokens)");
    }
    return Status::ok_status();
  };
  RAGKIT_RETURN_IF_ERROR(check_role(vocabulary.bos, "BOS"));
  RAGKIT_RETURN_IF_ERROR(check_role(vocabulary.eos, "EOS"));
  RAGKIT_RETURN_IF_ERROR(check_role(vocabulary.unk, "unknown"));
  RAGKIT_RETURN_IF_ERROR(check_role(vocabulary.eot, "EOT"));
  RAGKIT_RETURN_IF_ERROR(check_role(vocabulary.eom, "EOM"));
  if (vocabulary.add_bos && !vocabulary.bos) {
    return Status::corruption("add_bos_token is true but the vocabulary has no BOS token");
  }
  if (vocabulary.add_eos && !vocabulary.eos) {
    return Status::corruption("add_eos_token is true but the vocabulary has no EOS token");
  }

  texts_ = std::move(vocabulary.tokens);
  attrs_.assign(n, kAttrNormal);
  if (!vocabulary.types.empty()) {
    for (size_t i = 0; i < n; ++i) attrs_[i] = attrs_of(vocabulary.types[i]);
  }
  for (TokenId id : vocabulary.lstrip_tokens) {
    RAGKIT_RETURN_IF_ERROR(check_role(id, "lstrip"));
    attrs_[static_cast<size_t>(id)] |= kAttrLstrip;
  }
  for (TokenId id : vocabulary.rstrip_tokens) {
    RAGKIT_RETURN_IF_ERROR(check_role(id, "rstrip"));
    attrs_[static_cast<size_t>(id)] |= kAttrRstrip;
  }
  // End of generation: the roles, and llama.cpp's texts, which it also makes control tokens.
  for (size_t i = 0; i < n; ++i) {
    if (is_end_of_generation_text(texts_[i])) attrs_[i] |= kAttrControl | kAttrEndOfGeneration;
  }
  for (const auto& role : {vocabulary.eos, vocabulary.eot, vocabulary.eom}) {
    if (role) attrs_[static_cast<size_t>(*role)] |= kAttrEndOfGeneration;
  }
  bos_ = vocabulary.bos;
  eos_ = vocabulary.eos;
  unk_ = vocabulary.unk;
  add_bos_ = vocabulary.add_bos;
  add_eos_ = vocabulary.add_eos;

  std::vector<std::pair<std::string_view, int32_t>> entries;
  entries.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!texts_[i].empty()) entries.emplace_back(texts_[i], static_cast<int32_t>(i));
  }
  index_.build(entries, /*last_wins=*/true);

  // Pieces, as llama_token_to_piece(special = false).
  piece_offsets_.assign(n + 1, 0);
  piece_bytes_.clear();
  for (size_t i = 0; i < n; ++i) {
    const uint16_t a = attrs_[i];
    piece_offsets_[i] = static_cast<uint32_t>(piece_bytes_.size());
    if (a & (kAttrControl | kAttrUnknown)) continue;
    if (a & kAttrUserDefined) {
      piece_bytes_ += texts_[i];
    } else if (a & (kAttrNormal | kAttrByte)) {
      piece_bytes_ += piece_of(static_cast<TokenId>(i), texts_[i], a);
    }
    if (piece_bytes_.size() >= std::numeric_limits<uint32_t>::max()) {
      return Status::corruption("the vocabulary's pieces are too large");
    }
  }
  piece_offsets_[n] = static_cast<uint32_t>(piece_bytes_.size());
  build_specials();
  return Status::ok_status();
}

std::string_view Vocab::piece(TokenId id) const {
  if (!in_range(id)) return {};
  const auto i = static_cast<size_t>(id);
  return std::string_view(piece_bytes_)
      .substr(piece_offsets_[i], piece_offsets_[i + 1] - piece_offsets_[i]);
}

void Vocab::build_specials() {
  specials_.clear();
  for (size_t i = 0; i < texts_.size(); ++i) {
    const uint16_t a = attrs_[i];
    if (!(a & (kAttrControl | kAttrUserDefined | kAttrUnknown)) || texts_[i].empty()) continue;
    specials_.push_back(Special{static_cast<TokenId>(i), static_cast<uint32_t>(texts_[i].size()),
                                (a & (kAttrControl | kAttrUnknown)) != 0, (a & kAttrLstrip) != 0,
                                (a & kAttrRstrip) != 0});
    if (!specials_.back().parse_only) has_user_defined_ = true;
  }
  std::stable_sort(specials_.begin(), specials_.end(),
                   [](const Special& a, const Special& b) { return a.length > b.length; });

  // A byte trie over the special texts, each node's children contiguous and sorted by label.
  std::vector<uint32_t> order(specials_.size());
  for (uint32_t k = 0; k < order.size(); ++k) order[k] = k;
  auto text_of = [&](uint32_t k) -> const std::string& {
    return texts_[static_cast<size_t>(specials_[k].id)];
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return text_of(a) < text_of(b); });
  trie_.assign(1, TrieNode{});
  trie_labels_.assign(1, 0);
  special_first_byte_.fill(false);
  struct Pending {
    uint32_t begin, end, depth, node;
  };
  std::vector<Pending> queue = {{0, static_cast<uint32_t>(order.size()), 0, 0}};
  for (size_t head = 0; head < queue.size(); ++head) {
    const Pending p = queue[head];
    uint32_t i = p.begin;
    // Equal texts are adjacent and the first in special order wins: the others never match.
    for (; i < p.end && text_of(order[i]).size() == p.depth; ++i) {
      int32_t& special = trie_[p.node].special;
      if (special < 0 || order[i] < static_cast<uint32_t>(special)) {
        special = static_cast<int32_t>(order[i]);
      }
    }
    trie_[p.node].first_child = static_cast<uint32_t>(trie_.size());
    while (i < p.end) {
      const auto byte = static_cast<unsigned char>(text_of(order[i])[p.depth]);
      uint32_t j = i + 1;
      while (j < p.end && static_cast<unsigned char>(text_of(order[j])[p.depth]) == byte) ++j;
      queue.push_back({i, j, p.depth + 1, static_cast<uint32_t>(trie_.size())});
      trie_.push_back(TrieNode{});
      trie_labels_.push_back(byte);
      ++trie_[p.node].n_children;
      if (p.depth == 0) special_first_byte_[byte] = true;
      i = j;
    }
  }
}

void Vocab::partition(std::string_view text, bool parse_special, std::vector<Fragment>& out) const {
  out.clear();
  const size_t n = text.size();
  if (n == 0) return;
  if (specials_.empty() || (!parse_special && !has_user_defined_)) {
    out.push_back(Fragment{-1, 0, static_cast<uint32_t>(n)});
    return;
  }

  // Which eligible special tokens occur at all: one walk of the trie from every position.
  std::vector<uint8_t> occurs(specials_.size(), 0);
  bool any = false;
  for (size_t pos = 0; pos < n; ++pos) {
    if (!special_first_byte_[static_cast<unsigned char>(text[pos])]) continue;
    uint32_t node = 0;
    for (size_t j = pos; j < n; ++j) {
      const TrieNode& parent = trie_[node];
      const auto byte = static_cast<unsigned char>(text[j]);
      uint32_t child = 0;
      for (uint32_t c = parent.first_child; c < parent.first_child + parent.n_children; ++c) {
        if (trie_labels_[c] == byte) {
          child = c;
          break;
        }
        if (trie_labels_[c] > byte) break;
      }
      if (child == 0) break;
      node = child;
      const int32_t special = trie_[node].special;
      if (special >= 0 && (parse_special || !specials_[static_cast<size_t>(special)].parse_only)) {
        occurs[static_cast<size_t>(special)] = 1;
        any = true;
      }
    }
  }
  if (!any) {
    out.push_back(Fragment{-1, 0, static_cast<uint32_t>(n)});
    return;
  }

  // Token by token in priority order, occurrences left to right: an occurrence is taken when it
  // lies wholly in text no earlier token took, which is what tokenizer_st_partition's
  // fragment-by-fragment search from the left finds. Memory stays O(text) however many
  // occurrences overlap (a run of spaces holds hundreds for MPT's space tokens).
  std::vector<uint8_t> taken(n, 0);  // 1: a special token, 2: whitespace it swallowed
  std::vector<Fragment> tokens;
  for (size_t k = 0; k < specials_.size(); ++k) {
    if (!occurs[k]) continue;
    const Special& special = specials_[k];
    const std::string_view token_text = texts_[static_cast<size_t>(special.id)];
    const size_t length = special.length;
    size_t from = 0;
    while (from + length <= n) {
      const size_t pos = text.find(token_text, from);
      if (pos == std::string_view::npos) break;
      const size_t end = pos + length;
      // The last byte of the occurrence already taken: no occurrence starting at or before it
      // is free either.
      size_t last_taken = end;
      while (last_taken > pos && !taken[last_taken - 1]) --last_taken;
      if (last_taken > pos) {
        from = last_taken;
        continue;
      }
      std::fill(taken.begin() + static_cast<ptrdiff_t>(pos),
                taken.begin() + static_cast<ptrdiff_t>(end), 1);
      if (special.lstrip) {
        for (size_t j = pos; j > 0 && !taken[j - 1] && is_c_space(text[j - 1]); --j) {
          taken[j - 1] = 2;
        }
      }
      if (special.rstrip) {
        for (size_t j = end; j < n && !taken[j] && is_c_space(text[j]); ++j) taken[j] = 2;
      }
      tokens.push_back(
          Fragment{special.id, static_cast<uint32_t>(pos), static_cast<uint32_t>(end)});
      from = end;
    }
  }
  std::sort(tokens.begin(), tokens.end(),
            [](const Fragment& a, const Fragment& b) { return a.begin < b.begin; });
  auto text_runs = [&](size_t from, size_t to) {
    size_t i = from;
    while (i < to) {
      while (i < to && taken[i]) ++i;
      const size_t start = i;
      while (i < to && !taken[i]) ++i;
      if (i > start) {
        out.push_back(Fragment{-1, static_cast<uint32_t>(start), static_cast<uint32_t>(i)});
      }
    }
  };
  size_t cursor = 0;
  for (const Fragment& token : tokens) {
    text_runs(cursor, token.begin);
    out.push_back(token);
    cursor = token.end;
  }
  text_runs(cursor, n);
}

bool Vocab::add_special_tokens(std::vector<TokenId>& ids, size_t max_tokens) const {
  const size_t n_special = n_special_tokens();
  const size_t keep = max_tokens > n_special ? max_tokens - n_special : 0;
  const bool truncated = ids.size() > keep;
  if (truncated) ids.resize(keep);
  if (add_bos_) ids.insert(ids.begin(), *bos_);
  if (add_eos_) ids.push_back(*eos_);
  return truncated;
}

}  // namespace detail
}  // namespace ragkit::embed
