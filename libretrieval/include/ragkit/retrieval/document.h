// Documents and chunks as the collection stores them: what a caller hands to Collection::upsert
// (DocumentInput, ChunkInput) and what it reads back (DocumentRecord, ChunkRecord).
//
// A document is identified by its key, `path` (a relative path inside the indexed folder, or
// any unique string). Every upsert gives the document a fresh 40-bit document id, and its chunks
// the ids `document_id << 24 | chunk_index`; ids are never reused, so a chunk id that was
// deleted can never come back with other text.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ragkit::retrieval {

// Bits of a chunk id that hold the chunk's index inside its document.
inline constexpr int kChunkIndexBits = 24;
inline constexpr uint64_t kMaxChunksPerDocument = uint64_t{1} << kChunkIndexBits;
inline constexpr uint64_t kMaxDocumentId = (uint64_t{1} << (64 - kChunkIndexBits)) - 1;

inline constexpr uint64_t make_chunk_id(uint64_t document_id, uint64_t chunk_index) {
  return document_id << kChunkIndexBits | chunk_index;
}
inline constexpr uint64_t document_id_of(uint64_t chunk_id) { return chunk_id >> kChunkIndexBits; }
inline constexpr uint64_t chunk_index_of(uint64_t chunk_id) {
  return chunk_id & (kMaxChunksPerDocument - 1);
}

// Where a chunk lies in its source. Ranges are half-open; 0/0 means "not known".
struct ChunkLocation {
  uint64_t byte_begin = 0;  // Default: 0
  uint64_t byte_end = 0;    // Default: 0
  uint32_t line_begin = 0;  // Default: 0 (1-based lines; 0 = unknown)
  uint32_t line_end = 0;    // Default: 0
  uint32_t page = 0;        // Default: 0 (1-based pages; 0 = not a paged format)
  // Headings above the chunk, outermost first ("Install > Linux").
  std::string heading_path;  // Default: ""
};

struct ChunkInput {
  std::string text;
  // `dimension` numbers from the collection's embedding model. Normalised to unit length on
  // insert (cosine similarity = inner product); a zero, NaN or infinite vector is an error.
  std::vector<float> embedding;
  ChunkLocation location;
};

struct DocumentInput {
  std::string path;        // the document key; must not be empty
  std::string file_type;   // Default: "" ("md", "pdf", "txt"… as the loader names it)
  int64_t mtime_ns = 0;    // Default: 0 (modification time, nanoseconds since the Unix epoch)
  uint64_t size_bytes = 0;   // Default: 0 (size of the source file)
  std::string content_hash;  // Default: "" (how the ingester detects changed files)
  std::string title;         // Default: ""
  std::map<std::string, std::string> metadata;  // Default: empty (free string fields)
  std::vector<ChunkInput> chunks;  // a document may have none (an empty file)
};

struct DocumentRecord {
  uint64_t document_id = 0;
  std::string path;
  std::string file_type;
  int64_t mtime_ns = 0;
  uint64_t size_bytes = 0;
  std::string content_hash;
  std::string title;
  std::map<std::string, std::string> metadata;
  uint32_t chunk_count = 0;

  uint64_t chunk_id(uint32_t index) const { return make_chunk_id(document_id, index); }
};

struct ChunkRecord {
  uint64_t chunk_id = 0;
  uint64_t document_id = 0;
  uint32_t index = 0;  // position in its document
  std::string text;
  ChunkLocation location;
};

}  // namespace ragkit::retrieval
