// FlatIpStorage against FAISS's own IndexFlatIP (the reference): same top-k with and without an
// id selector, FAISS's conventions for short results, the BLAS path for query batches; and the
// swap into HNSW graphs and IVF quantizers, which must survive FAISS's file format.
#include "store/flat_ip_storage.h"

#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "store/inner_product.h"
#include "store/int8_rows.h"

namespace ragkit::retrieval::store {
namespace {

using idx_t = faiss::Index::idx_t;

std::vector<float> unit_vectors(size_t n, size_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n * d);
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (size_t j = 0; j < d; ++j) s += std::pow(v[i * d + j] = normal(rng), 2);
    for (size_t j = 0; j < d; ++j) v[i * d + j] /= static_cast<float>(std::sqrt(s));
  }
  return v;
}

struct TopK {
  std::vector<float> distances;
  std::vector<idx_t> labels;
};

TopK search(const faiss::Index& index, const std::vector<float>& queries, idx_t k,
            const faiss::IDSelector* sel = nullptr) {
  const idx_t n = static_cast<idx_t>(queries.size()) / index.d;
  TopK out{std::vector<float>(n * k), std::vector<idx_t>(n * k)};
  faiss::SearchParameters params;
  params.sel = const_cast<faiss::IDSelector*>(sel);
  // HNSW and IVF refuse plain SearchParameters: none at all when nothing is filtered.
  index.search(n, queries.data(), k, out.distances.data(), out.labels.data(),
               sel != nullptr ? &params : nullptr);
  return out;
}

// Same ids in the same order unless two scores tie within float rounding; same scores.
void expect_same(const TopK& got, const TopK& want) {
  ASSERT_EQ(got.labels.size(), want.labels.size());
  for (size_t i = 0; i < want.labels.size(); ++i) {
    if (want.labels[i] < 0) {
      EXPECT_EQ(got.labels[i], -1) << "rank " << i;
      continue;
    }
    EXPECT_NEAR(got.distances[i], want.distances[i], 2e-5f) << "rank " << i;
    if (got.labels[i] != want.labels[i]) {
      EXPECT_NEAR(got.distances[i], want.distances[i], 2e-6f)
          << "rank " << i << ": " << got.labels[i] << " instead of " << want.labels[i];
    }
  }
}

constexpr size_t kDim = 48;

class FlatIpStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto base = unit_vectors(1000, kDim, 1);
    reference_.add(1000, base.data());
    fast_.add(1000, base.data());
    queries_ = unit_vectors(7, kDim, 2);
  }
  faiss::IndexFlatIP reference_{kDim};
  FlatIpStorage fast_{kDim};
  std::vector<float> queries_;
};

TEST_F(FlatIpStorageTest, TopKEqualsFaiss) {
  for (idx_t k : {1, 10, 257}) expect_same(search(fast_, queries_, k), search(reference_, queries_, k));
}

TEST_F(FlatIpStorageTest, AnIdSelectorFiltersInsideTheScan) {
  std::vector<idx_t> admitted;
  for (idx_t i = 0; i < 1000; i += 7) admitted.push_back(i);
  faiss::IDSelectorBatch sel(admitted.size(), admitted.data());
  const TopK got = search(fast_, queries_, 10, &sel);
  expect_same(got, search(reference_, queries_, 10, &sel));
  for (idx_t id : got.labels) EXPECT_EQ(id % 7, 0);
}

TEST_F(FlatIpStorageTest, FewerAdmittedThanKEndsWithMinusOne) {
  faiss::IDSelectorRange sel(10, 13);
  const TopK got = search(fast_, queries_, 5, &sel);
  expect_same(got, search(reference_, queries_, 5, &sel));
  EXPECT_EQ(got.labels[3], -1);
  EXPECT_EQ(got.labels[4], -1);
}

TEST_F(FlatIpStorageTest, BatchesOfQueriesGoThroughBlasWithTheSameResults) {
  const auto many = unit_vectors(40, kDim, 3);
  expect_same(search(fast_, many, 10), search(reference_, many, 10));
}

TEST_F(FlatIpStorageTest, DistanceComputerGivesInnerProducts) {
  std::unique_ptr<faiss::DistanceComputer> dc(fast_.get_distance_computer());
  dc->set_query(queries_.data());
  const float* xb = fast_.get_xb();
  for (idx_t i : {0, 1, 500, 999}) {
    double want = 0;
    for (size_t j = 0; j < kDim; ++j) want += double{queries_[j]} * xb[i * kDim + j];
    EXPECT_NEAR((*dc)(i), want, 1e-5);
  }
  double want = 0;
  for (size_t j = 0; j < kDim; ++j) want += double{xb[3 * kDim + j]} * xb[700 * kDim + j];
  EXPECT_NEAR(dc->symmetric_dis(3, 700), want, 1e-5);
}

TEST_F(FlatIpStorageTest, WithCompactRowsOfEveryRowTheDistanceComputerScoresOnThem) {
  Int8Rows compact(kDim);
  compact.append(fast_.get_xb(), 999);
  fast_.set_compact_rows(&compact);
  {
    // One row short: the copy cannot stand for the storage, the floats are used.
    std::unique_ptr<faiss::DistanceComputer> dc(fast_.get_distance_computer());
    dc->set_query(queries_.data());
    EXPECT_EQ((*dc)(5), inner_product(queries_.data(), fast_.get_xb() + 5 * kDim, kDim));
  }
  compact.append(fast_.get_xb() + 999 * kDim, 1);
  std::unique_ptr<faiss::DistanceComputer> dc(fast_.get_distance_computer());
  dc->set_query(queries_.data());
  std::vector<int8_t> codes(kDim);
  const float scale = Int8Rows::quantize(queries_.data(), kDim, codes.data());
  for (idx_t i : {0, 1, 500, 999}) {
    EXPECT_EQ((*dc)(i), compact.inner_product(codes.data(), scale, static_cast<size_t>(i)));
    EXPECT_NEAR((*dc)(i), inner_product(queries_.data(), fast_.get_xb() + i * kDim, kDim), 0.02);
  }
  EXPECT_EQ(dc->symmetric_dis(3, 700), compact.row_inner_product(3, 700));
  fast_.set_compact_rows(nullptr);
}

TEST(UseSimdInnerProduct, AGraphBuiltOnCompactRowsFindsNeighboursAsWellAsOneBuiltOnFloats) {
  constexpr size_t kRows = 3000, kQueries = 200;
  const auto base = unit_vectors(kRows, kDim, 5);
  const auto queries = unit_vectors(kQueries, kDim, 6);
  faiss::IndexFlatIP exact(kDim);
  exact.add(kRows, base.data());
  const TopK want = search(exact, queries, 10);
  Int8Rows compact(kDim);
  compact.append(base.data(), kRows);
  // FAISS inserts in parallel, and the graph then depends on the threads' timing: one thread
  // builds the same graph every run.
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  double recall_of[2] = {0, 0};
  for (int on_compact : {0, 1}) {
    std::unique_ptr<faiss::Index> index(
        faiss::index_factory(kDim, "HNSW16", faiss::METRIC_INNER_PRODUCT));
    use_simd_inner_product(index);
    auto* hnsw = static_cast<faiss::IndexHNSW*>(index.get());
    if (on_compact) static_cast<FlatIpStorage*>(hnsw->storage)->set_compact_rows(&compact);
    index->add(kRows, base.data());
    hnsw->hnsw.efSearch = 32;
    const TopK got = search(*index, queries, 10);
    size_t hits = 0;
    for (size_t q = 0; q < kQueries; ++q) {
      for (size_t a = 0; a < 10; ++a) {
        for (size_t b = 0; b < 10; ++b) hits += got.labels[q * 10 + a] == want.labels[q * 10 + b];
      }
    }
    recall_of[on_compact] = static_cast<double>(hits) / (kQueries * 10);
  }
  omp_set_num_threads(threads);
  std::printf("recall@10 at efSearch 32: graph built on floats %.4f, on int8 rows %.4f\n",
              recall_of[0], recall_of[1]);
  EXPECT_GE(recall_of[1], recall_of[0] - 0.02);
  EXPECT_GE(recall_of[1], 0.8);
}

std::unique_ptr<faiss::Index> round_trip(const faiss::Index& index) {
  faiss::VectorIOWriter writer;
  faiss::write_index(&index, &writer);
  faiss::VectorIOReader reader;
  reader.data = writer.data;
  return std::unique_ptr<faiss::Index>(faiss::read_index(&reader));
}

TEST(UseSimdInnerProduct, HnswStorageIsSwappedAndSurvivesTheFileFormat) {
  const auto base = unit_vectors(2000, kDim, 4);
  const auto queries = unit_vectors(20, kDim, 5);
  std::unique_ptr<faiss::Index> plain(
      faiss::index_factory(kDim, "HNSW16", faiss::METRIC_INNER_PRODUCT));
  std::unique_ptr<faiss::Index> fast(
      faiss::index_factory(kDim, "HNSW16", faiss::METRIC_INNER_PRODUCT));
  use_simd_inner_product(fast);
  ASSERT_NE(dynamic_cast<FlatIpStorage*>(static_cast<faiss::IndexHNSW*>(fast.get())->storage),
            nullptr);
  plain->add(2000, base.data());
  fast->add(2000, base.data());
  static_cast<faiss::IndexHNSW*>(plain.get())->hnsw.efSearch = 128;
  static_cast<faiss::IndexHNSW*>(fast.get())->hnsw.efSearch = 128;

  // The graph is built from the same distances (up to rounding), so the searches agree closely;
  // both are compared with exact search.
  faiss::IndexFlatIP exact(kDim);
  exact.add(2000, base.data());
  const TopK truth = search(exact, queries, 10);
  auto recall = [&](const TopK& got) {
    size_t hits = 0;
    for (size_t q = 0; q < 20; ++q) {
      for (size_t i = 0; i < 10; ++i) {
        for (size_t j = 0; j < 10; ++j) hits += got.labels[q * 10 + i] == truth.labels[q * 10 + j];
      }
    }
    return static_cast<double>(hits) / 200;
  };
  const TopK before = search(*fast, queries, 10);
  EXPECT_GE(recall(before), recall(search(*plain, queries, 10)) - 0.02);
  EXPECT_GE(recall(before), 0.9);

  std::unique_ptr<faiss::Index> reread = round_trip(*fast);
  use_simd_inner_product(reread);
  auto* graph = dynamic_cast<faiss::IndexHNSW*>(reread.get());
  ASSERT_NE(graph, nullptr);
  ASSERT_NE(dynamic_cast<FlatIpStorage*>(graph->storage), nullptr);
  const TopK after = search(*reread, queries, 10);
  EXPECT_EQ(after.labels, before.labels);
  EXPECT_EQ(after.distances, before.distances);
}

TEST(UseSimdInnerProduct, FlatAndIvfQuantizerAreSwappedOthersAreLeftAlone) {
  std::unique_ptr<faiss::Index> flat(faiss::index_factory(kDim, "Flat", faiss::METRIC_INNER_PRODUCT));
  use_simd_inner_product(flat);
  EXPECT_NE(dynamic_cast<FlatIpStorage*>(flat.get()), nullptr);

  std::unique_ptr<faiss::Index> ivf(
      faiss::index_factory(kDim, "IVF16,Flat", faiss::METRIC_INNER_PRODUCT));
  use_simd_inner_product(ivf);
  EXPECT_NE(dynamic_cast<FlatIpStorage*>(static_cast<faiss::IndexIVF*>(ivf.get())->quantizer),
            nullptr);
  const auto base = unit_vectors(1000, kDim, 6);
  ivf->train(1000, base.data());
  ivf->add(1000, base.data());
  static_cast<faiss::IndexIVF*>(ivf.get())->nprobe = 16;  // every list: exact
  faiss::IndexFlatIP exact(kDim);
  exact.add(1000, base.data());
  const auto queries = unit_vectors(5, kDim, 7);
  expect_same(search(*ivf, queries, 10), search(exact, queries, 10));

  std::unique_ptr<faiss::Index> sq(faiss::index_factory(kDim, "SQ8", faiss::METRIC_INNER_PRODUCT));
  faiss::Index* before = sq.get();
  use_simd_inner_product(sq);
  EXPECT_EQ(sq.get(), before);

  std::unique_ptr<faiss::Index> l2(faiss::index_factory(kDim, "Flat", faiss::METRIC_L2));
  use_simd_inner_product(l2);
  EXPECT_EQ(dynamic_cast<FlatIpStorage*>(l2.get()), nullptr);
}

}  // namespace
}  // namespace ragkit::retrieval::store
