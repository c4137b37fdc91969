#include "store/hnsw_search.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "store/inner_product.h"
#include "store/int8_rows.h"

namespace ragkit::retrieval::store {
namespace {

using idx_t = faiss::Index::idx_t;
using NodeId = faiss::HNSW::storage_idx_t;

struct Scored {
  float similarity;
  NodeId id;
};
// std heap orders: the candidates' top is the best, the beam's top its worst.
bool better_on_top(const Scored& a, const Scored& b) { return a.similarity < b.similarity; }
bool worse_on_top(const Scored& a, const Scored& b) { return a.similarity > b.similarity; }

// What one thread reuses from query to query.
struct Scratch {
  // Bit n of visited: node n seen by the current query. A bit per node keeps a million nodes' marks
  // in 128 KB, inside the core's L2 (16-bit epoch marks took 2 MB: a miss to L3 for most of a
  // node's 64 neighbours); clearing it costs a few microseconds of a search's hundreds.
  std::vector<uint64_t> visited;
  std::vector<Scored> candidates;  // to expand, best on top
  std::vector<Scored> beam;        // the ef best admitted so far, worst on top
  std::vector<NodeId> batch;       // a node's neighbours to score
  std::vector<float> similarities;
  std::vector<int8_t> query_codes;  // the query quantized as the int8 rows are

  void begin_query(size_t nodes) {
    const size_t words = (nodes + 63) / 64;
    if (visited.size() < words) visited.resize(words);
    std::fill(visited.begin(), visited.begin() + static_cast<std::ptrdiff_t>(words), 0);
    candidates.clear();
    beam.clear();
  }
  // Marks `id` seen; returns whether it was before. Without a branch: whether a neighbour was
  // seen is a coin toss the branch predictor loses, and each miss would stall behind the load.
  uint64_t mark(NodeId id) {
    uint64_t& word = visited[static_cast<size_t>(id) >> 6];
    const uint64_t bit = uint64_t{1} << (static_cast<size_t>(id) & 63);
    const uint64_t seen = word & bit;
    word |= bit;
    return seen;
  }
  bool first_visit(NodeId id) { return mark(id) == 0; }
};

thread_local Scratch t_scratch;

// The fewest of an int8 walk's beam re-scored on the float rows (4k when k is larger).
constexpr size_t kRescoreAtLeast = 40;

inline void prefetch_bytes(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (size_t offset = 0; offset < bytes; offset += 64) __builtin_prefetch(c + offset, 0, 3);
}

// Scores nodes on their float rows.
struct FloatRows {
  const float* vectors;
  size_t dimension;
  const float* query;
  float score(NodeId id) const { return inner_product(query, row(id), dimension); }
  const void* address(NodeId id) const { return row(id); }
  size_t bytes() const { return dimension * sizeof(float); }
  const float* row(NodeId id) const { return vectors + static_cast<size_t>(id) * dimension; }
};

// Scores nodes on their int8 copies against the query's int8 codes (approximately).
struct CompactRows {
  const Int8Rows& rows;
  const int8_t* query_codes;
  float query_scale;
  float score(NodeId id) const {
    return rows.inner_product(query_codes, query_scale, static_cast<size_t>(id));
  }
  const void* address(NodeId id) const { return rows.row_address(static_cast<size_t>(id)); }
  size_t bytes() const { return rows.row_bytes(); }
};

template <typename Rows>
class Walk {
 public:
  Walk(const faiss::HNSW& graph, Rows rows, Scratch& scratch)
      : graph_(graph), rows_(rows), row_bytes_(rows.bytes()), s_(scratch) {}

  float similarity(NodeId id) const { return rows_.score(id); }

  // Scores s_.batch into s_.similarities. The inner products are short next to a miss to memory,
  // so the next rows are on their way while one is being multiplied.
  void score_batch() {
    const size_t n = s_.batch.size();
    s_.similarities.resize(n);
    constexpr size_t kAhead = 2;
    for (size_t i = 0; i < std::min(n, kAhead); ++i) {
      prefetch_bytes(rows_.address(s_.batch[i]), row_bytes_);
    }
    for (size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) prefetch_bytes(rows_.address(s_.batch[i + kAhead]), row_bytes_);
      s_.similarities[i] = rows_.score(s_.batch[i]);
    }
  }

  // Replaces the similarities of `nodes` with scores on these rows.
  void rescore(std::vector<Scored>& nodes) {
    s_.batch.clear();
    for (const Scored& node : nodes) s_.batch.push_back(node.id);
    score_batch();
    for (size_t i = 0; i < nodes.size(); ++i) nodes[i].similarity = s_.similarities[i];
  }

  void prefetch_neighbours(NodeId node) const {
    size_t begin = 0, end = 0;
    graph_.neighbor_range(node, 0, &begin, &end);
    prefetch_bytes(graph_.neighbors.data() + begin, (end - begin) * sizeof(NodeId));
  }

  // The neighbours of `node` on `level` into s_.batch: all of them, or only unvisited ones.
  void gather(NodeId node, int level, bool skip_visited) {
    size_t begin = 0, end = 0;
    graph_.neighbor_range(node, level, &begin, &end);
    s_.batch.resize(end - begin);
    NodeId* out = s_.batch.data();
    size_t n = 0;
    for (size_t i = begin; i < end; ++i) {
      const NodeId neighbour = graph_.neighbors[i];
      if (neighbour < 0) break;
      out[n] = neighbour;
      n += skip_visited ? (s_.mark(neighbour) == 0) : 1;
    }
    s_.batch.resize(n);
  }

  // Greedy descent: the node of `level` closest to the query, starting from `node`.
  void descend(NodeId& node, float& best, int level) {
    for (bool moved = true; moved;) {
      moved = false;
      gather(node, level, /*skip_visited=*/false);
      score_batch();
      for (size_t i = 0; i < s_.batch.size(); ++i) {
        if (s_.similarities[i] > best) {
          best = s_.similarities[i];
          node = s_.batch[i];
          moved = true;
        }
      }
    }
  }

  // The beam search on layer 0 from `entry`; leaves the admitted ef best in s_.beam.
  void search_layer0(NodeId entry, float entry_similarity, size_t ef,
                     const faiss::IDSelector* selector) {
    const auto admitted = [&](NodeId id) { return selector == nullptr || selector->is_member(id); };
    const auto push_candidate = [&](float sim, NodeId id) {
      s_.candidates.push_back({sim, id});
      std::push_heap(s_.candidates.begin(), s_.candidates.end(), better_on_top);
    };
    const auto offer_to_beam = [&](float sim, NodeId id) {
      s_.beam.push_back({sim, id});
      std::push_heap(s_.beam.begin(), s_.beam.end(), worse_on_top);
      if (s_.beam.size() > ef) {
        std::pop_heap(s_.beam.begin(), s_.beam.end(), worse_on_top);
        s_.beam.pop_back();
      }
    };
    s_.first_visit(entry);
    push_candidate(entry_similarity, entry);
    if (admitted(entry)) offer_to_beam(entry_similarity, entry);
    while (!s_.candidates.empty()) {
      const Scored current = s_.candidates.front();
      if (s_.beam.size() >= ef && current.similarity < s_.beam.front().similarity) break;
      std::pop_heap(s_.candidates.begin(), s_.candidates.end(), better_on_top);
      s_.candidates.pop_back();
      // The likely next node to expand: its neighbour list is on its way while this one's
      // neighbours are scored.
      if (!s_.candidates.empty()) prefetch_neighbours(s_.candidates.front().id);
      gather(current.id, 0, /*skip_visited=*/true);
      score_batch();
      for (size_t i = 0; i < s_.batch.size(); ++i) {
        const float sim = s_.similarities[i];
        if (s_.beam.size() < ef || sim > s_.beam.front().similarity) {
          push_candidate(sim, s_.batch[i]);
          if (admitted(s_.batch[i])) offer_to_beam(sim, s_.batch[i]);
        }
      }
    }
  }

 private:
  const faiss::HNSW& graph_;
  Rows rows_;
  size_t row_bytes_;
  Scratch& s_;
};

// The walk over `rows`; leaves the beam in s.beam, unsorted.
template <typename Rows>
void walk_graph(const faiss::HNSW& graph, Rows rows, size_t k, int ef,
                const faiss::IDSelector* selector, Scratch& s) {
  Walk<Rows> walk(graph, rows, s);
  NodeId node = graph.entry_point;
  float best = walk.similarity(node);
  for (int level = graph.max_level; level >= 1; --level) walk.descend(node, best, level);
  walk.search_layer0(node, best, std::max<size_t>(k, static_cast<size_t>(std::max(ef, 1))),
                     selector);
}

}  // namespace

void hnsw_search_inner_product(const faiss::HNSW& graph, const float* vectors, size_t dimension,
                               const Int8Rows* compact, const float* query, size_t k, int ef,
                               const faiss::IDSelector* selector, float* similarities,
                               idx_t* labels) {
  std::fill(labels, labels + k, idx_t{-1});
  std::fill(similarities, similarities + k, 0.0f);
  if (graph.entry_point < 0 || k == 0) return;
  Scratch& s = t_scratch;
  s.begin_query(graph.levels.size());
  const FloatRows exact{vectors, dimension, query};
  if (compact != nullptr && compact->size() == graph.levels.size()) {
    s.query_codes.resize(dimension);
    const float scale = Int8Rows::quantize(query, dimension, s.query_codes.data());
    walk_graph(graph, CompactRows{*compact, s.query_codes.data(), scale}, k, ef, selector, s);
    // Re-score the best of the beam on the float rows: the order and the similarities returned
    // are exact. The int8 similarities are off by ~1e-3, so the true top k lie far inside the
    // int8 top 4k; the rest of an ef-sized beam would cost a 1.5 KB miss each for nothing.
    const size_t rescored = std::min(s.beam.size(), std::max<size_t>(4 * k, kRescoreAtLeast));
    std::partial_sort(s.beam.begin(), s.beam.begin() + static_cast<std::ptrdiff_t>(rescored),
                      s.beam.end(),
                      [](const Scored& a, const Scored& b) { return a.similarity > b.similarity; });
    s.beam.resize(rescored);
    Walk<FloatRows>(graph, exact, s).rescore(s.beam);
  } else {
    walk_graph(graph, exact, k, ef, selector, s);
  }

  const size_t n = std::min(k, s.beam.size());
  std::partial_sort(s.beam.begin(), s.beam.begin() + static_cast<std::ptrdiff_t>(n), s.beam.end(),
                    [](const Scored& a, const Scored& b) {
                      return a.similarity != b.similarity ? a.similarity > b.similarity
                                                          : a.id < b.id;
                    });
  for (size_t i = 0; i < n; ++i) {
    similarities[i] = s.beam[i].similarity;
    labels[i] = s.beam[i].id;
  }
}

}  // namespace ragkit::retrieval::store
