// A loaded index has its arrays exactly full, so the first add after opening a collection
// reallocated all of them (1.5 GB of rows at a million 384-d vectors) while searches waited for
// the write. reserve_growth() makes room when the collection opens for writing: afterwards adds
// fill the room without reallocating (growth_room() drops by exactly what was added), searches
// find what they found, and the memory figure counts what is stored, not the room.
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "store/int8_rows.h"
#include "store/vector_index.h"
#include "store_test_util.h"
#include "test_env.h"

namespace ragkit::retrieval::store {

// The addresses of the large arrays: they move only when the arrays are reallocated.
struct VectorIndexInternals {
  static std::vector<const void*> arrays(const VectorIndex& index) {
    std::vector<const void*> out = {index.labels_.data()};
    const faiss::Index* inner = index.index_.get();
    if (auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(inner)) {
      out.push_back(hnsw->hnsw.neighbors.data());
      out.push_back(hnsw->hnsw.offsets.data());
      out.push_back(hnsw->hnsw.levels.data());
      inner = hnsw->storage;
    }
    if (auto* codes = dynamic_cast<const faiss::IndexFlatCodes*>(inner))
      out.push_back(codes->codes.data());
    if (index.compact_) out.push_back(index.compact_->row_address(0));
    return out;
  }
  // FAISS's efConstruction of the graph, or 0 for other index types.
  static int ef_construction(const VectorIndex& index) {
    auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(index.index_.get());
    return hnsw != nullptr ? hnsw->hnsw.efConstruction : 0;
  }
};

namespace {

constexpr uint32_t kDim = 32;

std::vector<float> unit_vectors(size_t n, uint64_t seed) {
  using retrieval::testing::random_vector;
  using retrieval::testing::unit;
  std::mt19937_64 rng(seed);
  std::vector<float> v;
  for (size_t i = 0; i < n; ++i) {
    const std::vector<float> u = unit(random_vector(rng, kDim));
    v.insert(v.end(), u.begin(), u.end());
  }
  return v;
}

std::vector<uint64_t> id_range(uint64_t first, size_t n) {
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = first + i;
  return ids;
}

std::unique_ptr<VectorIndex> saved_and_loaded(const VectorIndex& index, const std::string& factory,
                                              const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  EXPECT_TRUE(index.save(f, 7).ok());
  std::fclose(f);
  uint64_t generation = 0;
  auto loaded = VectorIndex::load(path, factory, kDim, &generation);
  EXPECT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(generation, 7u);
  return loaded.ok() ? std::move(loaded).value() : nullptr;
}

uint64_t top_hit(const VectorIndex& index, const float* v) {
  IndexQuery q;
  q.vector = v;
  q.k = 1;
  q.ef_search = 64;
  auto hits = index.search(q);
  EXPECT_TRUE(hits.ok());
  return hits.ok() && !hits->empty() ? (*hits)[0].chunk_id : 0;
}

TEST(VectorIndexHnsw, GraphsOverFloatRowsAreBuiltWithMoreCandidatesThanFaissDefault) {
  const std::string dir = ragkit::testing::make_temp_dir("ragkit-efc");
  auto created = VectorIndex::create("HNSW16", kDim);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(VectorIndexInternals::ef_construction(**created), 256);
  // Stored in index.faiss: a loaded graph grows as it was built.
  const std::vector<float> data = unit_vectors(100, 12);
  ASSERT_TRUE((*created)->add(id_range(1, 100), data.data()).ok());
  auto loaded = saved_and_loaded(**created, "HNSW16", dir + "/index.faiss");
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(VectorIndexInternals::ef_construction(*loaded), 256);
  // Inserts into an SQ8 graph are FAISS's own scalar code: its default stays (once trained; a
  // flat staging index stands in before).
  auto sq = VectorIndex::create("HNSW16,SQ8", kDim);
  ASSERT_TRUE(sq.ok());
  const std::vector<float> training = unit_vectors(1000, 13);
  ASSERT_TRUE((*sq)->add(id_range(1, 1000), training.data()).ok());
  EXPECT_EQ(VectorIndexInternals::ef_construction(**sq), 40);
}

TEST(VectorIndexGrowth, ReservedRoomIsFilledWithoutReallocating) {
  const std::string dir = ragkit::testing::make_temp_dir("ragkit-growth");
  for (const std::string factory : {"Flat", "HNSW16", "HNSW16,SQ8", "SQ8"}) {
    SCOPED_TRACE(factory);
    constexpr size_t kFirst = 3000, kMore = 1000;
    const std::vector<float> data = unit_vectors(kFirst + kMore, 11);
    auto created = VectorIndex::create(factory, kDim);
    ASSERT_TRUE(created.ok()) << created.status().to_string();
    ASSERT_TRUE((*created)->add(id_range(100, kFirst), data.data()).ok());
    auto index = saved_and_loaded(**created, factory, dir + "/index.faiss");
    ASSERT_NE(index, nullptr);

    const uint64_t bytes = index->memory_bytes();
    index->reserve_growth();
    EXPECT_EQ(index->memory_bytes(), bytes);  // room is not memory in use
    const uint64_t room = index->growth_room();
    ASSERT_GE(room, kFirst);
    const std::vector<const void*> before = VectorIndexInternals::arrays(*index);
    ASSERT_TRUE(index->add(id_range(100 + kFirst, kMore), data.data() + kFirst * kDim).ok());
    EXPECT_EQ(VectorIndexInternals::arrays(*index), before);  // nothing reallocated
    EXPECT_LE(index->growth_room(), room - kMore);
    // Without the room, the same add moves the arrays (what the test is about).
    auto plain = saved_and_loaded(**created, factory, dir + "/index.faiss");
    ASSERT_NE(plain, nullptr);
    const std::vector<const void*> plain_before = VectorIndexInternals::arrays(*plain);
    ASSERT_TRUE(plain->add(id_range(100 + kFirst, kMore), data.data() + kFirst * kDim).ok());
    EXPECT_NE(VectorIndexInternals::arrays(*plain), plain_before);
    EXPECT_EQ(index->size(), kFirst + kMore);
    // Old and new vectors are found.
    EXPECT_EQ(top_hit(*index, data.data() + 5 * kDim), 105u);
    EXPECT_EQ(top_hit(*index, data.data() + (kFirst + 5) * kDim), 100u + kFirst + 5);
  }
}

TEST(VectorIndexGrowth, IvfListsNeedNoRoom) {
  auto index = VectorIndex::create("IVF4,Flat", kDim);
  ASSERT_TRUE(index.ok());
  (*index)->reserve_growth();  // staged: a flat index stands in, and gets room
  EXPECT_GE((*index)->growth_room(), 1024u);
}

}  // namespace
}  // namespace ragkit::retrieval::store
