// Context assembly: ranked passages -> the sources an answer is written from.
//
// Two steps, both in rank order so the better passage always wins:
//   1. drop_redundant(): a passage that repeats a better one is dropped — the same document with
//      byte ranges overlapping by more than half of the shorter one (neighbouring chunks share
//      an overlap sentence; that alone is not redundancy), or near-duplicate text anywhere
//      (Jaccard similarity of the word 3-shingles at or above `duplicate_jaccard`: the same
//      paragraph pasted into two files).
//   2. fit_to_budget(): passages are taken while their token count (as the generator's tokenizer
//      counts it, with the per-source framing) fits the budget; one that does not fit is
//      skipped and a shorter one after it may still go in. When not even the best passage
//      fits, its text is cut at a token boundary (valid UTF-8 kept) so the answer has a source.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

#include "ragkit/rag/passage.h"

namespace ragkit::rag {

struct RedundancyOptions {
  // Near-duplicates: word 3-shingle Jaccard similarity at or above this. 1 turns it off.
  double duplicate_jaccard = 0.8;  // Default: 0.8
  // Same-document overlap: share of the shorter byte range covered by the other.
  double overlap_share = 0.5;  // Default: 0.5
};

std::vector<Passage> drop_redundant(std::vector<Passage> ranked,
                                    const RedundancyOptions& options = {});

// Token count of a text as the generator sees it.
using TokenCounter = std::function<size_t(std::string_view text)>;
// Cuts `text` to at most `max_tokens` tokens (the cut text, valid UTF-8).
using TokenTruncator = std::function<std::string(std::string_view text, size_t max_tokens)>;

struct BudgetedContext {
  std::vector<Passage> passages;  // the sources, in rank order
  size_t tokens = 0;              // their token count, framing included
  size_t dropped = 0;             // passages left out for the budget
  bool truncated = false;         // the single source was cut to fit
};

// `overhead(passage)` is the framing each source takes in the prompt ("[3] path:1-9\n"), counted
// with the passage. A budget of 0 admits nothing.
BudgetedContext fit_to_budget(std::vector<Passage> ranked, size_t token_budget,
                              const TokenCounter& count_tokens, const TokenTruncator& truncate,
                              const std::function<std::string(const Passage&, size_t n)>& frame);

}  // namespace ragkit::rag
