#include "store/flat_ip_storage.h"

#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/FaissAssert.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/utils/Heap.h>

#include <algorithm>

#include "store/inner_product.h"
#include "store/int8_rows.h"

namespace ragkit::retrieval::store {
namespace {

using idx_t = faiss::Index::idx_t;
using TopK = faiss::CMin<float, idx_t>;  // a min-heap of the k largest inner products

// FAISS's own threshold for handing a batch of queries to BLAS.
constexpr idx_t kBlasQueries = 20;
// Rows scored per call of the kernel between heap updates.
constexpr size_t kBlockRows = 256;

class SimdIpDistanceComputer : public faiss::FlatCodesDistanceComputer {
 public:
  explicit SimdIpDistanceComputer(const faiss::IndexFlat& storage)
      : faiss::FlatCodesDistanceComputer(storage.codes.data(), storage.code_size),
        xb_(storage.get_xb()),
        d_(static_cast<size_t>(storage.d)) {}
  void set_query(const float* x) override { query_ = x; }
  float distance_to_code(const uint8_t* code) override {
    return inner_product(query_, reinterpret_cast<const float*>(code), d_);
  }
  float symmetric_dis(idx_t i, idx_t j) override {
    return inner_product(xb_ + static_cast<size_t>(i) * d_, xb_ + static_cast<size_t>(j) * d_, d_);
  }

 private:
  const float* xb_;
  size_t d_;
  const float* query_ = nullptr;
};

// Scores on the int8 copies of the rows: its codes are those copies, so FAISS's operator()(i)
// hands distance_to_code row i's codes.
class CompactIpDistanceComputer : public faiss::FlatCodesDistanceComputer {
 public:
  explicit CompactIpDistanceComputer(const Int8Rows& rows)
      : faiss::FlatCodesDistanceComputer(reinterpret_cast<const uint8_t*>(rows.row_codes(0)),
                                         rows.row_bytes()),
        rows_(rows),
        query_codes_(rows.dimension()) {}
  void set_query(const float* x) override {
    query_scale_ = Int8Rows::quantize(x, rows_.dimension(), query_codes_.data());
  }
  float distance_to_code(const uint8_t* code) override {
    return rows_.inner_product_at(query_codes_.data(), query_scale_,
                                  reinterpret_cast<const int8_t*>(code));
  }
  float symmetric_dis(idx_t i, idx_t j) override {
    return rows_.row_inner_product(static_cast<size_t>(i), static_cast<size_t>(j));
  }

 private:
  const Int8Rows& rows_;
  std::vector<int8_t> query_codes_;
  float query_scale_ = 0;
};

// Replaces *slot (an owned Index*) when it is a plain inner-product IndexFlat.
void replace_flat(faiss::Index*& slot) {
  auto* flat = dynamic_cast<faiss::IndexFlat*>(slot);
  if (flat == nullptr || dynamic_cast<FlatIpStorage*>(slot) != nullptr ||
      flat->metric_type != faiss::METRIC_INNER_PRODUCT) {
    return;
  }
  auto* fast = new FlatIpStorage(flat->d);
  fast->codes.swap(flat->codes);
  fast->ntotal = flat->ntotal;
  fast->is_trained = flat->is_trained;
  delete slot;
  slot = fast;
}

}  // namespace

void FlatIpStorage::search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
                           const faiss::SearchParameters* params) const {
  FAISS_THROW_IF_NOT(k > 0);
  const faiss::IDSelector* sel = params != nullptr ? params->sel : nullptr;
  if (n >= kBlasQueries && sel == nullptr) {
    faiss::IndexFlat::search(n, x, k, distances, labels, params);
    return;
  }
  const auto dim = static_cast<size_t>(d);
  const auto rows = static_cast<size_t>(ntotal);
  const float* xb = get_xb();
  float scores[kBlockRows];
  for (idx_t q = 0; q < n; ++q) {
    const float* query = x + static_cast<size_t>(q) * dim;
    float* dis = distances + q * k;
    idx_t* ids = labels + q * k;
    faiss::heap_heapify<TopK>(static_cast<size_t>(k), dis, ids);
    for (size_t start = 0; start < rows; start += kBlockRows) {
      const size_t count = std::min(kBlockRows, rows - start);
      if (sel == nullptr) {
        inner_products(query, xb + start * dim, count, dim, scores);
      } else {
        for (size_t i = 0; i < count; ++i) {
          scores[i] = sel->is_member(static_cast<idx_t>(start + i))
                          ? inner_product(query, xb + (start + i) * dim, dim)
                          : TopK::neutral();
        }
      }
      for (size_t i = 0; i < count; ++i) {
        // Only values better than the k-th so far enter: the neutral value never does.
        if (TopK::cmp(dis[0], scores[i])) {
          faiss::heap_replace_top<TopK>(static_cast<size_t>(k), dis, ids, scores[i],
                                        static_cast<idx_t>(start + i));
        }
      }
    }
    faiss::heap_reorder<TopK>(static_cast<size_t>(k), dis, ids);
  }
}

faiss::FlatCodesDistanceComputer* FlatIpStorage::get_FlatCodesDistanceComputer() const {
  if (compact_rows_ != nullptr && compact_rows_->size() > 0 &&
      compact_rows_->size() >= static_cast<size_t>(ntotal)) {
    return new CompactIpDistanceComputer(*compact_rows_);
  }
  return new SimdIpDistanceComputer(*this);
}

void use_simd_inner_product(std::unique_ptr<faiss::Index>& index) {
  if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index.get())) {
    if (hnsw->own_fields) replace_flat(hnsw->storage);
    return;
  }
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(index.get())) {
    if (ivf->own_fields) replace_flat(ivf->quantizer);
    return;
  }
  faiss::Index* raw = index.release();
  replace_flat(raw);
  index.reset(raw);
}

}  // namespace ragkit::retrieval::store
