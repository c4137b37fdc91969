// Our HNSW walk (store/hnsw_search.h) on graphs FAISS built: against exact search (a beam as wide
// as the graph must find the exact top-k), against FAISS's own walk of the same graph (recall no
// worse), with selectors (rejected nodes never returned, admitted ones still found), and at the
// edges (an empty graph, k beyond the graph, scratch reused across graphs of other sizes).
#include "store/hnsw_search.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <unordered_set>
#include <vector>

#include "store/flat_ip_storage.h"
#include "store/inner_product.h"
#include "store/int8_rows.h"

namespace ragkit::retrieval::store {
namespace {

using idx_t = faiss::Index::idx_t;
constexpr size_t kDim = 48;

// Points around 40 random centres: neighbours that mean something, as embeddings have.
std::vector<float> clustered_unit_vectors(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> centres(40 * kDim);
  for (float& x : centres) x = normal(rng);
  std::vector<float> v(n * kDim);
  for (size_t i = 0; i < n; ++i) {
    const float* c = &centres[(rng() % 40) * kDim];
    double s = 0;
    for (size_t j = 0; j < kDim; ++j) {
      v[i * kDim + j] = c[j] + 0.5f * normal(rng);
      s += double(v[i * kDim + j]) * v[i * kDim + j];
    }
    for (size_t j = 0; j < kDim; ++j) v[i * kDim + j] /= static_cast<float>(std::sqrt(s));
  }
  return v;
}

std::unique_ptr<faiss::IndexHNSW> make_graph(const std::vector<float>& base) {
  std::unique_ptr<faiss::Index> index(
      faiss::index_factory(kDim, "HNSW16", faiss::METRIC_INNER_PRODUCT));
  use_simd_inner_product(index);
  index->add(static_cast<idx_t>(base.size() / kDim), base.data());
  return std::unique_ptr<faiss::IndexHNSW>(static_cast<faiss::IndexHNSW*>(index.release()));
}

const float* rows_of(const faiss::IndexHNSW& graph) {
  return static_cast<const faiss::IndexFlat*>(graph.storage)->get_xb();
}

struct TopK {
  std::vector<float> similarities;
  std::vector<idx_t> labels;
};

TopK walk(const faiss::IndexHNSW& graph, const float* query, size_t k, int ef,
          const faiss::IDSelector* selector = nullptr, const Int8Rows* compact = nullptr) {
  TopK out{std::vector<float>(k), std::vector<idx_t>(k)};
  hnsw_search_inner_product(graph.hnsw, rows_of(graph), kDim, compact, query, k, ef, selector,
                            out.similarities.data(), out.labels.data());
  return out;
}

Int8Rows compact_copy(const std::vector<float>& base) {
  Int8Rows rows(kDim);
  rows.append(base.data(), base.size() / kDim);
  return rows;
}

// Exact top-k among the rows `admitted` accepts.
TopK brute_force(const std::vector<float>& base, const float* query, size_t k,
                 const faiss::IDSelector* admitted = nullptr) {
  std::vector<std::pair<float, idx_t>> all;
  for (size_t i = 0; i < base.size() / kDim; ++i) {
    if (admitted != nullptr && !admitted->is_member(static_cast<idx_t>(i))) continue;
    all.emplace_back(inner_product(query, &base[i * kDim], kDim), static_cast<idx_t>(i));
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  TopK out;
  for (size_t i = 0; i < k && i < all.size(); ++i) {
    out.similarities.push_back(all[i].first);
    out.labels.push_back(all[i].second);
  }
  return out;
}

double recall(const std::vector<idx_t>& got, const std::vector<idx_t>& want) {
  std::unordered_set<idx_t> truth(want.begin(), want.end());
  size_t hits = 0;
  for (idx_t id : got) hits += truth.count(id);
  return static_cast<double>(hits) / static_cast<double>(want.size());
}

TEST(HnswSearch, ABeamAsWideAsTheGraphFindsTheExactTopK) {
  const auto base = clustered_unit_vectors(1500, 1);
  const auto queries = clustered_unit_vectors(10, 2);
  auto graph = make_graph(base);
  const Int8Rows rows = compact_copy(base);
  for (size_t q = 0; q < 10; ++q) {
    const float* query = &queries[q * kDim];
    const TopK want = brute_force(base, query, 10);
    for (const Int8Rows* compact : {static_cast<const Int8Rows*>(nullptr), &rows}) {
      // The int8 walk re-scores its beam on the float rows: exact too.
      const TopK got = walk(*graph, query, 10, 1500, nullptr, compact);
      EXPECT_EQ(got.labels, want.labels) << "query " << q;
      for (size_t i = 0; i < 10; ++i) {
        EXPECT_EQ(got.similarities[i], want.similarities[i]) << "query " << q << " rank " << i;
      }
    }
  }
}

TEST(HnswSearch, RecallIsNoWorseThanFaissOnTheSameGraph) {
  const auto base = clustered_unit_vectors(4000, 3);
  const auto queries = clustered_unit_vectors(50, 4);
  auto graph = make_graph(base);
  const Int8Rows rows = compact_copy(base);
  for (int ef : {16, 64}) {
    graph->hnsw.efSearch = ef;
    double ours = 0, compact = 0, faiss_recall = 0;
    for (size_t q = 0; q < 50; ++q) {
      const float* query = &queries[q * kDim];
      const TopK want = brute_force(base, query, 10);
      ours += recall(walk(*graph, query, 10, ef).labels, want.labels);
      compact += recall(walk(*graph, query, 10, ef, nullptr, &rows).labels, want.labels);
      std::vector<float> d(10);
      std::vector<idx_t> l(10);
      graph->search(1, query, 10, d.data(), l.data());
      faiss_recall += recall(l, want.labels);
    }
    EXPECT_GE(ours / 50, faiss_recall / 50 - 0.01) << "efSearch " << ef;
    EXPECT_GE(compact / 50, faiss_recall / 50 - 0.01) << "efSearch " << ef << ", int8 walk";
    EXPECT_GE(ours / 50, ef == 16 ? 0.5 : 0.85) << "efSearch " << ef;  // sanity floor
    std::printf("efSearch %d: recall@10 ours %.3f (int8 walk %.3f), FAISS %.3f\n", ef, ours / 50,
                compact / 50, faiss_recall / 50);
  }
}

TEST(HnswSearch, ScoresAreTheInnerProductsOfTheReturnedNodesBestFirst) {
  const auto base = clustered_unit_vectors(2000, 5);
  const auto query = clustered_unit_vectors(1, 6);
  auto graph = make_graph(base);
  const Int8Rows rows = compact_copy(base);
  for (const Int8Rows* compact : {static_cast<const Int8Rows*>(nullptr), &rows}) {
  const TopK got = walk(*graph, query.data(), 20, 64, nullptr, compact);
  for (size_t i = 0; i < 20; ++i) {
    ASSERT_GE(got.labels[i], 0);
    EXPECT_EQ(got.similarities[i],
              inner_product(query.data(), &base[static_cast<size_t>(got.labels[i]) * kDim], kDim));
    if (i > 0) {
      EXPECT_GE(got.similarities[i - 1], got.similarities[i]);
    }
  }
  }
}

// Admits every third node.
struct EveryThird : faiss::IDSelector {
  bool is_member(idx_t id) const override { return id % 3 == 0; }
};

TEST(HnswSearch, RejectedNodesAreWalkedThroughButNeverReturned) {
  const auto base = clustered_unit_vectors(3000, 7);
  const auto queries = clustered_unit_vectors(30, 8);
  auto graph = make_graph(base);
  EveryThird selector;
  double total = 0;
  for (size_t q = 0; q < 30; ++q) {
    const float* query = &queries[q * kDim];
    const TopK got = walk(*graph, query, 10, 64, &selector);
    for (idx_t id : got.labels) {
      ASSERT_GE(id, 0);  // plenty are admitted: the beam fills
      EXPECT_EQ(id % 3, 0);
    }
    total += recall(got.labels, brute_force(base, query, 10, &selector).labels);
    // A beam as wide as the graph is exact under the selector too.
    EXPECT_EQ(walk(*graph, query, 10, 3000, &selector).labels,
              brute_force(base, query, 10, &selector).labels);
  }
  EXPECT_GE(total / 30, 0.95);
}

TEST(HnswSearch, NothingAdmittedOrAnEmptyGraphPadsWithMinusOne) {
  auto empty = make_graph({});
  const auto query = clustered_unit_vectors(1, 9);
  TopK got = walk(*empty, query.data(), 5, 16);
  EXPECT_EQ(got.labels, std::vector<idx_t>(5, -1));

  const auto base = clustered_unit_vectors(50, 10);
  auto small = make_graph(base);
  got = walk(*small, query.data(), 80, 16);  // k beyond the graph: all 50, then padding
  EXPECT_EQ(std::count(got.labels.begin(), got.labels.end(), idx_t{-1}), 30);
  EXPECT_EQ(std::vector<idx_t>(got.labels.begin(), got.labels.begin() + 50),
            brute_force(base, query.data(), 50).labels);

  faiss::IDSelectorRange none(100, 200);  // no node has such a position
  got = walk(*small, query.data(), 5, 16, &none);
  EXPECT_EQ(got.labels, std::vector<idx_t>(5, -1));
}

TEST(HnswSearch, ScratchFromALargerGraphDoesNotLeakVisitsIntoASmallerOne) {
  // The per-thread visited marks outlive a query; searches alternating between graphs of other
  // sizes must each start clean (a stale mark would hide a node).
  const auto big_base = clustered_unit_vectors(3000, 11);
  const auto small_base = clustered_unit_vectors(300, 12);
  auto big = make_graph(big_base);
  auto small = make_graph(small_base);
  const auto queries = clustered_unit_vectors(20, 13);
  for (size_t q = 0; q < 20; ++q) {
    const float* query = &queries[q * kDim];
    EXPECT_EQ(walk(*big, query, 10, 3000).labels, brute_force(big_base, query, 10).labels);
    EXPECT_EQ(walk(*small, query, 10, 300).labels, brute_force(small_base, query, 10).labels);
  }
}

}  // namespace
}  // namespace ragkit::retrieval::store
