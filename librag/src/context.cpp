#include "ragkit/rag/context.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <unordered_set>

namespace ragkit::rag {

namespace {

// Hashes of the passage's word 3-shingles (words: runs of letters and digits, ASCII-lowercased;
// other bytes, UTF-8 included, count as word bytes too unless they are ASCII separators).
std::unordered_set<uint64_t> shingles(std::string_view text) {
  std::vector<uint64_t> words;
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  bool in_word = false;
  for (unsigned char c : text) {
    const bool separator = c < 0x80 && !std::isalnum(c);
    if (separator) {
      if (in_word) words.push_back(h);
      h = 1469598103934665603ull;
      in_word = false;
      continue;
    }
    h = (h ^ static_cast<uint64_t>(std::tolower(c))) * 1099511628211ull;
    in_word = true;
  }
  if (in_word) words.push_back(h);
  std::unordered_set<uint64_t> out;
  if (words.size() < 3) {
    for (uint64_t w : words) out.insert(w);
    return out;
  }
  for (size_t i = 0; i + 2 < words.size(); ++i) {
    out.insert(words[i] * 0x9E3779B97F4A7C15ull ^ (words[i + 1] * 0xC2B2AE3D27D4EB4Full) ^
               (words[i + 2] + 0x165667B19E3779F9ull));
  }
  return out;
}

double jaccard(const std::unordered_set<uint64_t>& a, const std::unordered_set<uint64_t>& b) {
  if (a.empty() && b.empty()) return 1.0;
  const auto& small = a.size() <= b.size() ? a : b;
  const auto& large = a.size() <= b.size() ? b : a;
  size_t common = 0;
  for (uint64_t x : small) common += large.count(x);
  return static_cast<double>(common) / static_cast<double>(a.size() + b.size() - common);
}

bool overlapping(const Passage& a, const Passage& b, double share) {
  if (a.document_id != b.document_id) return false;
  const auto& la = a.location;
  const auto& lb = b.location;
  if (la.byte_end <= la.byte_begin || lb.byte_end <= lb.byte_begin) return false;
  const uint64_t begin = std::max(la.byte_begin, lb.byte_begin);
  const uint64_t end = std::min(la.byte_end, lb.byte_end);
  if (end <= begin) return false;
  const uint64_t shorter =
      std::min(la.byte_end - la.byte_begin, lb.byte_end - lb.byte_begin);
  return static_cast<double>(end - begin) > share * static_cast<double>(shorter);
}

}  // namespace

std::vector<Passage> drop_redundant(std::vector<Passage> ranked,
                                    const RedundancyOptions& options) {
  std::vector<Passage> kept;
  std::vector<std::unordered_set<uint64_t>> kept_shingles;
  const bool check_text = options.duplicate_jaccard < 1.0;
  for (Passage& p : ranked) {
    bool redundant = false;
    std::unordered_set<uint64_t> s;
    if (check_text) s = shingles(p.text);
    for (size_t i = 0; i < kept.size() && !redundant; ++i) {
      redundant = overlapping(kept[i], p, options.overlap_share) ||
                  (check_text && jaccard(kept_shingles[i], s) >= options.duplicate_jaccard);
    }
    if (redundant) continue;
    kept.push_back(std::move(p));
    kept_shingles.push_back(std::move(s));
  }
  return kept;
}

BudgetedContext fit_to_budget(std::vector<Passage> ranked, size_t token_budget,
                              const TokenCounter& count_tokens, const TokenTruncator& truncate,
                              const std::function<std::string(const Passage&, size_t n)>& frame) {
  BudgetedContext out;
  for (Passage& p : ranked) {
    const size_t n = out.passages.size() + 1;
    const size_t cost = count_tokens(frame(p, n));
    if (out.tokens + cost <= token_budget) {
      out.tokens += cost;
      out.passages.push_back(std::move(p));
    } else {
      ++out.dropped;
    }
  }
  if (!out.passages.empty() || ranked.empty() || token_budget == 0) return out;

  // Not even the best passage fits: cut its text so that, framed, it does.
  Passage best = std::move(ranked.front());
  std::string original = best.text;
  best.text.clear();
  const size_t framing = count_tokens(frame(best, 1));
  if (framing >= token_budget) return out;
  size_t allowed = token_budget - framing;
  // Token counts are not additive at the seam between framing and text; shrink until it fits.
  while (allowed > 0) {
    best.text = truncate(original, allowed);
    const size_t cost = count_tokens(frame(best, 1));
    if (cost <= token_budget) {
      out.tokens = cost;
      out.passages.push_back(std::move(best));
      out.truncated = true;
      --out.dropped;
      break;
    }
    allowed -= std::max<size_t>(1, (cost - token_budget));
  }
  return out;
}

}  // namespace ragkit::rag
