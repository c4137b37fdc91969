// FlatIpStorage: FAISS's IndexFlat for inner product, with its scans and its distance computer on
// our SIMD kernels (store/inner_product.h) instead of Debian libfaiss's scalar loop.
//
// Given int8 copies of its rows (set_compact_rows, store/int8_rows.h), its distance computer
// scores on those: an HNSW insert then compares 388-byte codes instead of 1.5 KB of floats, as
// the walk of a search does. The graph's choices are as good as int8 similarities tell apart
// (errors ~1e-3); searches re-score their results on the floats.
//
// It IS an IndexFlat: same codes and the same file format (faiss::write_index writes it as an
// IndexFlat, and use_simd_inner_product() turns what faiss::read_index returns back into a
// FlatIpStorage). Where it sits decides what it speeds up:
//   - a Flat index (and the exact index that stands in for an untrained type): exact search;
//   - an HNSW graph's storage: every distance of a graph insert or walk comes from its distance
//     computer;
//   - an IVF index's coarse quantizer: the scan over the centroids that picks the lists to probe.
#pragma once

#include <faiss/IndexFlat.h>

#include <memory>

namespace ragkit::retrieval::store {

class Int8Rows;

class FlatIpStorage : public faiss::IndexFlat {
 public:
  explicit FlatIpStorage(idx_t dimension) : faiss::IndexFlat(dimension, faiss::METRIC_INNER_PRODUCT) {}

  // Exact top-k by inner product, honouring params->sel. Batches of 20 or more unfiltered
  // queries go to IndexFlat's BLAS path (k-means training of IVF quantizers), which is faster.
  void search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
              const faiss::SearchParameters* params = nullptr) const override;
  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override;

  // Distance computers made while `rows` holds a copy of every stored row score on it; null (the
  // default) or a shorter copy: on the floats. The owner keeps `rows` alive and appends to it
  // before adding here.
  void set_compact_rows(const Int8Rows* rows) { compact_rows_ = rows; }

 private:
  const Int8Rows* compact_rows_ = nullptr;
};

// Puts a FlatIpStorage, holding the same vectors, in place of a plain inner-product IndexFlat:
// `index` itself, an HNSW graph's storage or an IVF index's quantizer. Anything else is left as
// it is.
void use_simd_inner_product(std::unique_ptr<faiss::Index>& index);

}  // namespace ragkit::retrieval::store
