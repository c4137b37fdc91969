#include "tokenizer/merge_table.h"

#include <algorithm>
#include <cstddef>
#include <limits>

namespace ragkit::embed::detail {

void MergeTable::reserve(size_t n_pairs) {
  size_t capacity = 16;
  while (capacity < n_pairs * 2) capacity *= 2;
  if (capacity <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  shift_ = 64 - __builtin_ctzll(capacity);
  n_ = 0;
  for (const Slot& s : old) {
    if (s.key == kEmpty) continue;
    for (size_t i = slot_of(s.key);; i = (i + 1) & mask_) {
      if (slots_[i].key == kEmpty) {
        slots_[i] = s;
        ++n_;
        break;
      }
    }
  }
}

void MergeTable::grow() { reserve(std::max<size_t>(16, (n_ + 1) * 2)); }

void MergeTable::add(int32_t left, int32_t right, Merge merge) {
  if ((left | right) < 0) return;
  if ((n_ + 1) * 2 > slots_.size()) grow();
  const uint64_t key = pack(left, right);
  for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.key == key) return;
    if (s.key == kEmpty) {
      s.key = key;
      s.merge = merge;
      ++n_;
      return;
    }
  }
}

namespace {

constexpr int32_t kNoMerge = std::numeric_limits<int32_t>::max();

// Up to this many symbols a rescan per merge beats a heap: words are mostly short.
constexpr size_t kLinearLimit = 48;

void merge_linear(const MergeTable& table, std::vector<Symbol>& symbols, MergeScratch& scratch) {
  size_t n = symbols.size();
  std::vector<int32_t>& priority = scratch.priority;
  std::vector<int32_t>& result = scratch.result;
  priority.resize(n - 1);
  result.resize(n - 1);
  auto update = [&](size_t i) {  // pair (i, i + 1)
    const MergeTable::Merge* m = table.find(symbols[i].id, symbols[i + 1].id);
    priority[i] = m != nullptr ? m->priority : kNoMerge;
    result[i] = m != nullptr ? m->result : -1;
  };
  for (size_t i = 0; i + 1 < n; ++i) update(i);
  while (n > 1) {
    size_t best = 0;
    int32_t best_priority = priority[0];
    for (size_t i = 1; i + 1 < n; ++i) {
      if (priority[i] < best_priority) {
        best_priority = priority[i];
        best = i;
      }
    }
    if (best_priority == kNoMerge) break;
    symbols[best].id = result[best];
    symbols[best].end = symbols[best + 1].end;
    symbols.erase(symbols.begin() + static_cast<ptrdiff_t>(best) + 1);
    --n;
    // Pair best + 1 was (best + 1, best + 2); it is gone, and best - 1 and best changed.
    if (best + 1 < priority.size()) {
      priority.erase(priority.begin() + static_cast<ptrdiff_t>(best) + 1);
      result.erase(result.begin() + static_cast<ptrdiff_t>(best) + 1);
    } else {
      priority.pop_back();
      result.pop_back();
    }
    if (best > 0) update(best - 1);
    if (best + 1 < n) update(best);
  }
}

void merge_heap(const MergeTable& table, std::vector<Symbol>& symbols, MergeScratch& scratch) {
  const int32_t n = static_cast<int32_t>(symbols.size());
  std::vector<int32_t>& next = scratch.next;
  std::vector<int32_t>& prev = scratch.prev;
  next.resize(static_cast<size_t>(n));
  prev.resize(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    next[static_cast<size_t>(i)] = i + 1 < n ? i + 1 : -1;
    prev[static_cast<size_t>(i)] = i - 1;
  }
  using Entry = MergeScratch::HeapEntry;
  std::vector<Entry>& heap = scratch.heap;
  heap.clear();
  // A max-heap under "worse than": the top is the lowest priority, then the leftmost.
  auto worse = [](const Entry& a, const Entry& b) {
    return a.priority > b.priority || (a.priority == b.priority && a.left > b.left);
  };
  auto push = [&](int32_t left, int32_t right) {
    const int32_t left_id = symbols[static_cast<size_t>(left)].id;
    const int32_t right_id = symbols[static_cast<size_t>(right)].id;
    const MergeTable::Merge* m = table.find(left_id, right_id);
    if (m == nullptr) return;
    heap.push_back(Entry{m->priority, left, right, left_id, right_id});
    std::push_heap(heap.begin(), heap.end(), worse);
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i, i + 1);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), worse);
    const Entry e = heap.back();
    heap.pop_back();
    const auto left = static_cast<size_t>(e.left);
    const auto right = static_cast<size_t>(e.right);
    // Stale when either side has merged since the entry was pushed.
    if (next[left] != e.right || symbols[left].id != e.left_id || symbols[right].id != e.right_id) {
      continue;
    }
    const MergeTable::Merge* m = table.find(e.left_id, e.right_id);
    symbols[left].id = m->result;
    symbols[left].end = symbols[right].end;
    next[left] = next[right];
    if (next[right] >= 0) prev[static_cast<size_t>(next[right])] = e.left;
    next[right] = -2;
    if (prev[left] >= 0) push(prev[left], e.left);
    if (next[left] >= 0) push(e.left, next[left]);
  }
  size_t out = 0;
  for (int32_t i = 0; i >= 0; i = next[static_cast<size_t>(i)]) {
    symbols[out++] = symbols[static_cast<size_t>(i)];
  }
  symbols.resize(out);
}

}  // namespace

void merge_symbols(const MergeTable& table, std::vector<Symbol>& symbols, MergeScratch& scratch) {
  if (symbols.size() < 2 || table.size() == 0) return;
  if (symbols.size() <= kLinearLimit) {
    merge_linear(table, symbols, scratch);
  } else {
    merge_heap(table, symbols, scratch);
  }
}

}  // namespace ragkit::embed::detail
