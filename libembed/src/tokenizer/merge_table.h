// MergeTable and merge_symbols(): the greedy pair-merging loop both SentencePiece-BPE and
// byte-level BPE run over one word.
//
// A word starts as a row of symbols (one per character, or per byte for byte-level BPE). While
// some adjacent pair is in the table, the pair with the best (lowest) priority is replaced by its
// result, the leftmost one on ties. That is llama.cpp's llm_tokenizer_spm (priority = the merged
// piece's score, higher score first) and llm_tokenizer_bpe (priority = the merge's rank), and
// Hugging Face's BPE (rank, then position): they all merge the currently best pair, so one loop
// serves them all. Symbols are ids in a per-tokenizer symbol space (token ids first, then the
// non-token strings that merges mention).
//
// Thread-safety: MergeTable is immutable after construction; merge_symbols() touches only the
// caller's symbols and scratch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ragkit::embed::detail {

class MergeTable {
 public:
  struct Merge {
    int32_t priority = 0;  // lower merges first
    int32_t result = -1;   // the symbol the pair becomes
  };

  void reserve(size_t n_pairs);
  // Adds (left, right) -> merge unless the pair is already there (the first one added stays,
  // as llama.cpp's bpe_ranks.emplace keeps the first rank of a repeated merge).
  void add(int32_t left, int32_t right, Merge merge);
  // The merge of (left, right), or nullptr. Ids < 0 never match.
  const Merge* find(int32_t left, int32_t right) const {
    if ((left | right) < 0 || slots_.empty()) return nullptr;
    const uint64_t key = pack(left, right);
    for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.merge;
      if (s.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return n_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  struct Slot {
    uint64_t key = kEmpty;
    Merge merge;
  };
  static uint64_t pack(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  size_t slot_of(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_) & mask_;
  }
  void grow();

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  int shift_ = 64;
  size_t n_ = 0;
};

// One symbol of a word: its id (-1: a character no merge or token knows) and the bytes of the
// word it covers.
struct Symbol {
  int32_t id;
  uint32_t begin;
  uint32_t end;
};

struct MergeScratch {
  std::vector<int32_t> priority;  // per pair (i, i + 1) in the linear path
  std::vector<int32_t> result;
  struct HeapEntry {
    int32_t priority;
    int32_t left;  // symbol index (position order)
    int32_t right;
    int32_t left_id;
    int32_t right_id;
  };
  std::vector<HeapEntry> heap;
  std::vector<int32_t> next, prev;
};

// Merges `symbols` in place (see above); on return they are the word's final symbols in order.
void merge_symbols(const MergeTable& table, std::vector<Symbol>& symbols, MergeScratch& scratch);

}  // namespace ragkit::embed::detail
