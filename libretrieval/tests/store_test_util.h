// Helpers for the collection tests and the crash-test child: random unit vectors, documents
// that are a deterministic function of (key, version), and brute-force references computed
// from the stored vectors without FAISS.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/retrieval/collection.h"
#include "ragkit/retrieval/search_types.h"

namespace ragkit::retrieval::testing {

inline std::vector<float> random_vector(std::mt19937_64& rng, uint32_t dimension) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(dimension);
  for (float& x : v) x = normal(rng);
  return v;
}

inline std::vector<float> unit(std::span<const float> v) {
  double norm2 = 0;
  for (float x : v) norm2 += double{x} * x;
  const auto scale = static_cast<float>(1.0 / std::sqrt(norm2));
  std::vector<float> out(v.begin(), v.end());
  for (float& x : out) x *= scale;
  return out;
}

inline uint64_t mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline uint64_t key_seed(const std::string& key, uint64_t version) {
  uint64_t h = 1469598103934665603ULL;
  for (char c : key) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ULL;
  return mix(h ^ mix(version));
}

// The document the crash test writes for (key, version): 1 to 6 chunks whose text names key,
// version and position, and whose vectors come from a generator seeded by both.
inline uint32_t chunk_count_for(const std::string& key, uint64_t version) {
  return 1 + static_cast<uint32_t>(key_seed(key, version) % 6);
}
inline std::string chunk_text_for(const std::string& key, uint64_t version, uint32_t index) {
  return "key=" + key + " version=" + std::to_string(version) + " chunk=" + std::to_string(index);
}
inline DocumentInput versioned_document(const std::string& key, uint64_t version,
                                        uint32_t dimension) {
  DocumentInput doc;
  doc.path = key;
  doc.file_type = "txt";
  doc.mtime_ns = static_cast<int64_t>(version);
  doc.content_hash = "v" + std::to_string(version);
  std::mt19937_64 rng(key_seed(key, version));
  const uint32_t n = chunk_count_for(key, version);
  for (uint32_t i = 0; i < n; ++i) {
    ChunkInput chunk;
    chunk.text = chunk_text_for(key, version, i);
    chunk.embedding = random_vector(rng, dimension);
    chunk.location.byte_begin = i * 100;
    chunk.location.byte_end = i * 100 + 99;
    doc.chunks.push_back(std::move(chunk));
  }
  return doc;
}

// The vector a test "model" gives a text: a deterministic function of its bytes.
inline std::vector<float> text_vector(std::string_view text, uint32_t dimension) {
  std::mt19937_64 rng(key_seed(std::string(text), 0));
  return random_vector(rng, dimension);
}

// The exact top k of the stored vectors by inner product with `unit_query`, among the chunks
// `admit` accepts; best first, ties by smaller chunk id.
inline std::vector<ScoredChunk> brute_force(const Collection& collection,
                                            std::span<const float> unit_query, size_t k,
                                            const std::function<bool(uint64_t)>& admit = {}) {
  std::vector<ScoredChunk> all;
  Status status = collection.for_each_vector([&](uint64_t id, std::span<const float> v) {
    if (admit && !admit(id)) return;
    double dot = 0;
    for (size_t i = 0; i < v.size(); ++i) dot += double{v[i]} * unit_query[i];
    all.push_back({id, static_cast<float>(dot)});
  });
  if (!status.ok()) return {};
  std::sort(all.begin(), all.end(), [](const ScoredChunk& a, const ScoredChunk& b) {
    return a.score != b.score ? a.score > b.score : a.chunk_id < b.chunk_id;
  });
  if (all.size() > k) all.resize(k);
  return all;
}

// Share of `reference` ids found in `hits`.
inline double recall(const std::vector<SearchHit>& hits, const std::vector<ScoredChunk>& reference) {
  if (reference.empty()) return 1.0;
  size_t found = 0;
  for (const ScoredChunk& r : reference) {
    for (const SearchHit& h : hits) {
      if (h.chunk_id == r.chunk_id) {
        ++found;
        break;
      }
    }
  }
  return static_cast<double>(found) / static_cast<double>(reference.size());
}

// Exact agreement: same length, and at every rank the same score (within float rounding of a
// dot product) and the same chunk unless the scores tie.
inline std::string compare_exact(const std::vector<SearchHit>& hits,
                                 const std::vector<ScoredChunk>& reference) {
  if (hits.size() != reference.size()) {
    return "got " + std::to_string(hits.size()) + " hits, expected " +
           std::to_string(reference.size());
  }
  for (size_t i = 0; i < hits.size(); ++i) {
    if (std::fabs(hits[i].score - reference[i].score) > 2e-5f) {
      return "rank " + std::to_string(i) + ": score " + std::to_string(hits[i].score) +
             ", expected " + std::to_string(reference[i].score);
    }
    if (hits[i].chunk_id != reference[i].chunk_id) {
      const bool tie = (i > 0 && std::fabs(reference[i - 1].score - reference[i].score) < 2e-5f) ||
                       (i + 1 < reference.size() &&
                        std::fabs(reference[i + 1].score - reference[i].score) < 2e-5f);
      if (!tie) {
        return "rank " + std::to_string(i) + ": chunk " + std::to_string(hits[i].chunk_id) +
               ", expected " + std::to_string(reference[i].chunk_id);
      }
    }
  }
  return "";
}

}  // namespace ragkit::retrieval::testing
