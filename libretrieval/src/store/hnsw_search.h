// A search of FAISS's HNSW graph over float vectors by inner product, written for memory latency.
//
// At a million vectors a graph walk is a chain of cache misses: each neighbour's 1.5 KB vector
// and its visited mark sit somewhere random in gigabytes. FAISS 1.7.3 computes one neighbour at a
// time through two virtual calls and keeps its candidates in a linear-scan heap, so the CPU waits
// for each vector in turn. This walk gathers a node's unvisited neighbours first (without a
// branch per neighbour), prefetches their vectors ahead of the inner products, marks visits in a
// bitset per thread (128 KB at a million nodes: it stays in L2) and keeps binary heaps in
// per-thread buffers (nothing allocated per query once warm). Given int8 copies of the rows
// (store/int8_rows.h), it walks on those, a quarter of the bytes, scoring them against the
// query's own int8 codes (an exact integer dot product, VNNI where the CPU has it), and re-scores
// only the best 4k of its final beam on the floats.
//
// It is the algorithm of Malkov & Yashunin (greedy descent through the upper layers, then a beam
// of `ef` on layer 0). Nodes a selector rejects (tombstones, filters) are walked through but never
// returned, and do not count toward the beam, as hnswlib does with its filter.
#pragma once

#include <faiss/Index.h>
#include <faiss/impl/HNSW.h>
#include <faiss/impl/IDSelector.h>

#include <cstddef>

namespace ragkit::retrieval::store {

class Int8Rows;

// The k best (largest inner product) nodes of `graph` for `query`, best first, into
// `similarities` and `labels` (node positions); -1 labels pad when fewer are found. `vectors`
// holds the graph's nodes as rows of `dimension` floats (an IndexFlat's codes). When `compact`
// holds a copy of every row, the walk scores on it and re-scores the best of its final beam on
// `vectors`; either way the similarities returned are exact. `ef` is raised to k when smaller.
// `selector` may be null.
void hnsw_search_inner_product(const faiss::HNSW& graph, const float* vectors, size_t dimension,
                               const Int8Rows* compact, const float* query, size_t k, int ef,
                               const faiss::IDSelector* selector, float* similarities,
                               faiss::Index::idx_t* labels);

}  // namespace ragkit::retrieval::store
